//! `nnspec plot TRACE --output curve.svg` (and `nnspec run --plot FILE`): loss and metric
//! curves for training and validation, drawn with plotters as SVG, or PNG through resvg.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use std::io::BufRead;

use crate::diagnostic::{Code, Diagnostic};
use crate::report::{Kind, Report};
use crate::train::TraceLine;
use crate::{input, output, project};

/// One named curve: (epoch, value) points.
type Curve = (String, Vec<(f64, f64)>);

/// The most points a curve keeps: a trace of any length draws in bounded time and memory.
const MAX_BUCKETS: usize = 1000;

/// A curve thinned as it streams in: consecutive points share a bucket, each bucket keeps its
/// lowest and highest point (so spikes stay visible), and when there are too many buckets
/// neighbours merge and later buckets take twice as many points.
#[derive(Default)]
struct Thinned {
    per_bucket: usize,
    seen: usize,
    /// Per bucket: its lowest and highest point.
    buckets: Vec<((f64, f64), (f64, f64))>,
}

impl Thinned {
    fn push(&mut self, point: (f64, f64)) {
        self.per_bucket = self.per_bucket.max(1);
        if self.seen.is_multiple_of(self.per_bucket) {
            self.buckets.push((point, point));
        } else if let Some((low, high)) = self.buckets.last_mut() {
            if point.1 < low.1 {
                *low = point;
            }
            if point.1 > high.1 {
                *high = point;
            }
        }
        self.seen += 1;
        if self.buckets.len() > MAX_BUCKETS && self.seen.is_multiple_of(2 * self.per_bucket) {
            let merged = self
                .buckets
                .chunks(2)
                .map(|pair| {
                    let low = pair.iter().map(|b| b.0).fold(pair[0].0, |a, b| if b.1 < a.1 { b } else { a });
                    let high = pair.iter().map(|b| b.1).fold(pair[0].1, |a, b| if b.1 > a.1 { b } else { a });
                    (low, high)
                })
                .collect();
            self.buckets = merged;
            self.per_bucket *= 2;
        }
    }

    fn points(&self) -> Vec<(f64, f64)> {
        let mut points = Vec::with_capacity(2 * self.buckets.len());
        for &(low, high) in &self.buckets {
            let (first, second) = if low.0 <= high.0 { (low, high) } else { (high, low) };
            points.push(first);
            if second != first {
                points.push(second);
            }
        }
        points
    }
}

/// The keys a plot draws, and their thinned curves.
const KEYS: [&str; 6] = ["loss", "val_loss", "accuracy", "val_accuracy", "r2", "val_r2"];

#[derive(Default)]
struct Curves {
    thinned: [Thinned; 6],
}

impl Curves {
    fn add(&mut self, line: &Value) {
        let Some(epoch) = line["epoch"].as_f64() else { return };
        for (key, curve) in KEYS.iter().zip(&mut self.thinned) {
            if let Some(value) = line[*key].as_f64().filter(|v| v.is_finite()) {
                curve.push((epoch, value));
            }
        }
    }

    fn curves(&self, keys: &[&str]) -> Vec<Curve> {
        keys.iter()
            .filter_map(|key| {
                let index = KEYS.iter().position(|k| k == key)?;
                let points = self.thinned[index].points();
                (!points.is_empty()).then(|| (key.to_string(), points))
            })
            .collect()
    }
}

/// Refuses an output the plot cannot be written as, before anything runs.
pub fn check_format(output_path: &Path) -> Result<(), Report> {
    let format = output_path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(format.as_deref(), Some("svg" | "png")) {
        return Ok(());
    }
    Err(Report::of_kind(
        Kind::Spec,
        vec![
            Diagnostic::error(
                Code::Output,
                format!("cannot draw `{}`: nnspec writes plots as SVG or PNG", output_path.display()),
            )
            .help("name the output file `something.svg` or `something.png`"),
        ],
    ))
}

/// Reads a trace file line by line (any length: the curves are thinned as they come) and draws it.
pub fn plot_file(trace: &Path, output_path: &Path) -> Result<(), Report> {
    check_format(output_path)?;
    project::check_roles(&[("the trace", trace)], &[("the plot output", output_path)])?;
    output::check_writable(output_path)?;
    let shown = trace.display().to_string();
    let file = input::open(trace, "trace", &shown)?;
    let mut curves = Curves::default();
    let reader = std::io::BufReader::new(input::LineLimit::new(file, input::MAX_LINE_BYTES));
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Report::from(input::cannot_read("trace", &shown, e)))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line).map_err(|e| {
            Report::from(Diagnostic::error(
                Code::DataFile,
                format!("`{shown}:{}` is not a trace line: {e}", number + 1),
            ))
        })?;
        curves.add(&value);
    }
    draw_curves(&curves, output_path)
}

/// Draws the trace of a run that just ended.
pub fn plot(trace: &[TraceLine], output_path: &Path) -> Result<(), Report> {
    let mut curves = Curves::default();
    for line in trace {
        curves.add(&serde_json::to_value(line).expect("a trace line serialises"));
    }
    draw_curves(&curves, output_path)
}

/// Draws loss (top) and the metric (bottom: accuracy, or R² for regression) against epochs.
fn draw_curves(curves: &Curves, output_path: &Path) -> Result<(), Report> {
    check_format(output_path)?;
    let png = output_path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let losses = curves.curves(&["loss", "val_loss"]);
    if losses.is_empty() {
        return Err(Report::from(Diagnostic::error(Code::DataFile, "the trace has no epochs to plot")));
    }
    let accuracy = curves.curves(&["accuracy", "val_accuracy"]);
    let (metrics, metric) =
        if accuracy.is_empty() { (curves.curves(&["r2", "val_r2"]), "r2") } else { (accuracy, "accuracy") };
    let mut svg = String::new();
    draw(&mut svg, &losses, &metrics, metric)
        .map_err(|e| Report::from(Diagnostic::error(Code::Output, format!("cannot draw the plot: {e}"))))?;
    let bytes = if png { to_png(&svg)? } else { svg.into_bytes() };
    output::write_atomic(output_path, &bytes)?;
    Ok(())
}

/// Rasterises the SVG with resvg, with the system's fonts for the labels.
fn to_png(svg: &str) -> Result<Vec<u8>, Report> {
    let failed = |why: String| Report::from(Diagnostic::error(Code::Output, format!("cannot draw the PNG: {why}")));
    let mut options = resvg::usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // The plot asks for "sans-serif": map it to a sans font this system has (DejaVu Sans on
    // Debian), or any font at all, so the labels are drawn.
    let family = {
        let names: Vec<String> =
            fonts.faces().flat_map(|face| face.families.iter().map(|(name, _)| name.clone())).collect();
        names.iter().find(|n| n.contains("Sans") && !n.contains("Mono")).or(names.first()).cloned()
    };
    if let Some(family) = family {
        fonts.set_sans_serif_family(family.clone());
        options.font_family = family;
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| failed(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| failed("empty image".into()))?;
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| failed(e.to_string()))
}

fn draw(svg: &mut String, losses: &[Curve], metrics: &[Curve], metric: &str) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (900, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((if metrics.is_empty() { 1 } else { 2 }, 1));
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];
    for (panel, (curves, label)) in panels.iter().zip([(losses, "loss"), (metrics, metric)]) {
        let points = curves.iter().flat_map(|(_, p)| p.iter());
        let (x_max, y_min, y_max) = points
            .fold((1.0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), &(e, v)| (x.max(e), lo.min(v), hi.max(v)));
        // Computed so that it cannot overflow; a range that is still not finite is refused
        // (plotters would loop forever on it).
        let pad = (y_max * 0.05 - y_min * 0.05).max(1e-9);
        // plotters' tick search needs a range it can subtract: beyond 1e30 a trace has diverged.
        if y_min.abs().max(y_max.abs()) > 1e30 || !(y_min - pad).is_finite() || !x_max.is_finite() || x_max > 1e15 {
            return Err("the values are too large to plot".into());
        }
        let mut chart = ChartBuilder::on(panel)
            .caption(label, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, (y_min - pad)..(y_max + pad))?;
        chart.configure_mesh().x_desc("epoch").y_desc(label).draw()?;
        for ((name, points), color) in curves.iter().zip(colors) {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_curve_is_thinned_to_its_envelope() {
        let mut curve = Thinned::default();
        for epoch in 0..1_000_000u32 {
            let spike = if epoch == 777_777 { 50.0 } else { 0.0 };
            curve.push((f64::from(epoch), f64::from(epoch % 10) + spike));
        }
        let points = curve.points();
        assert!(points.len() <= 4 * MAX_BUCKETS, "{} points", points.len());
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "in epoch order");
        assert!(points.contains(&(777_777.0, 57.0)), "the spike survives");
        assert_eq!(points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min), 0.0);
        let mut short = Thinned::default();
        (0..5).for_each(|e| short.push((f64::from(e), 1.0)));
        assert_eq!(short.points().len(), 5, "short curves keep every point");
    }
}
