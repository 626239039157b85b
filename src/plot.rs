//! Loss and metric curves of a trace, drawn with plotters as SVG, or PNG through resvg
//! (`nnspec plot TRACE --output curve.svg`, `nnspec run --plot FILE`): training and validation
//! curves against whole epochs, the loss optionally on a logarithmic axis, the best or restored
//! epoch marked, the spec's name as the title and the test metrics beneath it.

use std::io::BufRead;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::report::{Kind, Report};
use crate::run::Run;
use crate::{input, output, project};

/// How a plot is drawn, beyond its curves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Style {
    /// The title (default: the trace file's name).
    pub title: Option<String>,
    /// The loss on a logarithmic axis (losses that span decades).
    pub log_loss: bool,
}

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

/// What a plot shows: the thinned curves, the epoch it marks and the test metrics.
#[derive(Default)]
struct Curves {
    thinned: [Thinned; 6],
    /// The epochs with the lowest validation and training losses so far, with those losses.
    lowest_validation: Option<(f64, f64)>,
    lowest_train: Option<(f64, f64)>,
    /// The marked epoch and its label (default: the lowest loss).
    mark: Option<(f64, String)>,
    /// The test metrics of the last line that has them, `(key, value)`.
    test: Vec<(String, f64)>,
}

impl Curves {
    fn add(&mut self, line: &Value) {
        let Some(epoch) = line["epoch"].as_f64() else { return };
        for (key, curve) in KEYS.iter().zip(&mut self.thinned) {
            if let Some(value) = line[*key].as_f64().filter(|v| v.is_finite()) {
                curve.push((epoch, value));
            }
        }
        for (key, lowest) in [("val_loss", &mut self.lowest_validation), ("loss", &mut self.lowest_train)] {
            if let Some(loss) = line[key].as_f64().filter(|v| v.is_finite())
                && lowest.is_none_or(|(_, low)| loss < low)
            {
                *lowest = Some((epoch, loss));
            }
        }
        if let Some(object) = line.as_object() {
            let test: Vec<(String, f64)> = object
                .iter()
                .filter(|(key, _)| key.starts_with("test_"))
                .filter_map(|(key, value)| Some((key.clone(), value.as_f64()?)))
                .collect();
            if !test.is_empty() {
                self.test = test;
            }
        }
    }

    /// The marked epoch: the one given, else the lowest (validation) loss.
    fn mark(&self) -> Option<(f64, String)> {
        self.mark.clone().or_else(|| match (self.lowest_validation, self.lowest_train) {
            (Some((epoch, _)), _) => Some((epoch, format!("lowest val_loss (epoch {epoch})"))),
            (None, Some((epoch, _))) => Some((epoch, format!("lowest loss (epoch {epoch})"))),
            (None, None) => None,
        })
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

/// Reads a trace file line by line (any length: the curves are thinned as they come) and draws
/// it, marking the epoch of the lowest validation (else training) loss.
pub fn plot_file(trace: &Path, output_path: &Path, style: &Style) -> Result<(), Report> {
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
    let title = style
        .title
        .clone()
        .unwrap_or_else(|| trace.file_stem().map_or_else(|| shown.clone(), |stem| stem.to_string_lossy().into_owned()));
    draw_curves(&curves, &title, style.log_loss, output_path)
}

/// Draws the trace of a run that just ended, titled with the spec's name (unless the style
/// names another), marking the epoch whose weights the run left when early stopping restored
/// them, else its best epoch.
pub fn plot_run(run: &Run, spec_name: &str, output_path: &Path, style: &Style) -> Result<(), Report> {
    let mut curves = Curves::default();
    for line in &run.outcome.trace {
        curves.add(&serde_json::to_value(line).expect("a trace line serialises"));
    }
    let outcome = &run.outcome;
    curves.mark = match (outcome.restored, &outcome.best) {
        (Some(epoch), _) => Some((epoch as f64, format!("restored weights (epoch {epoch})"))),
        (None, Some(best)) => Some((best.epoch as f64, format!("best (epoch {})", best.epoch))),
        (None, None) => None,
    };
    let title = style.title.clone().unwrap_or_else(|| format!("{} ({spec_name})", run.plan.name));
    draw_curves(&curves, &title, style.log_loss, output_path)
}

/// Draws loss (top) and the metric (bottom: accuracy, or R² for regression) against epochs.
fn draw_curves(curves: &Curves, title: &str, log_loss: bool, output_path: &Path) -> Result<(), Report> {
    check_format(output_path)?;
    let png = output_path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let losses = curves.curves(&["loss", "val_loss"]);
    if losses.is_empty() {
        return Err(Report::from(Diagnostic::error(Code::DataFile, "the trace has no epochs to plot")));
    }
    let accuracy = curves.curves(&["accuracy", "val_accuracy"]);
    let (metrics, metric) =
        if accuracy.is_empty() { (curves.curves(&["r2", "val_r2"]), "r2") } else { (accuracy, "accuracy") };
    let test = curves.test.iter().map(|(key, value)| format!("{key} {value:.4}")).collect::<Vec<_>>().join("   ");
    let figure = Figure { title, test: &test, log_loss, mark: curves.mark() };
    let mut svg = String::new();
    draw(&mut svg, &figure, &losses, &metrics, metric)
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

/// What the figure shows besides its curves.
struct Figure<'a> {
    title: &'a str,
    /// The test metrics, as one line of text (empty without a test split).
    test: &'a str,
    log_loss: bool,
    /// The epoch marked on both panels, and its legend label.
    mark: Option<(f64, String)>,
}

type Failure = Box<dyn std::error::Error>;

fn draw(svg: &mut String, figure: &Figure, losses: &[Curve], metrics: &[Curve], metric: &str) -> Result<(), Failure> {
    let root = SVGBackend::with_string(svg, (900, 740)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(if figure.test.is_empty() { 40 } else { 64 });
    header.draw(&Text::new(figure.title.to_string(), (20, 10), ("sans-serif", 24).into_font()))?;
    if !figure.test.is_empty() {
        header.draw(&Text::new(format!("test: {}", figure.test), (20, 40), ("sans-serif", 16).into_font()))?;
    }
    let panels = body.split_evenly((if metrics.is_empty() { 1 } else { 2 }, 1));
    for (index, (panel, (curves, label))) in panels.iter().zip([(losses, "loss"), (metrics, metric)]).enumerate() {
        let points = curves.iter().flat_map(|(_, p)| p.iter());
        let log = index == 0 && figure.log_loss;
        // A logarithmic axis shows the positive values only.
        let (x_max, y_min, y_max) = points
            .filter(|(_, v)| !log || *v > 0.0)
            .fold((1.0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), &(e, v)| (x.max(e), lo.min(v), hi.max(v)));
        // plotters' tick search needs a range it can subtract: beyond 1e30 a trace has diverged.
        if y_min.abs().max(y_max.abs()) > 1e30 || !x_max.is_finite() || x_max > 1e15 {
            return Err("the values are too large to plot".into());
        }
        let x_range = 0..(x_max.ceil() as i64).max(1);
        if log {
            if !y_min.is_finite() {
                return Err("a logarithmic loss axis needs losses above 0".into());
            }
            let range = ((y_min / 1.2)..(y_max * 1.2)).log_scale();
            panel_chart(panel, label, x_range, range, (y_min / 1.2, y_max * 1.2), curves, figure.mark.as_ref())?;
        } else {
            // Computed so that it cannot overflow; a range that is still not finite is refused
            // (plotters would loop forever on it).
            let pad = (y_max * 0.05 - y_min * 0.05).max(1e-9);
            if !(y_min - pad).is_finite() {
                return Err("the values are too large to plot".into());
            }
            let (low, high) = (y_min - pad, y_max + pad);
            panel_chart(panel, label, x_range, low..high, (low, high), curves, figure.mark.as_ref())?;
        }
    }
    root.present()?;
    Ok(())
}

/// One panel: its curves against whole epochs on `y`, and the marked epoch as a dashed line.
fn panel_chart<Y>(
    panel: &DrawingArea<SVGBackend<'_>, Shift>,
    label: &str,
    x_range: std::ops::Range<i64>,
    y: Y,
    (low, high): (f64, f64),
    curves: &[Curve],
    mark: Option<&(f64, String)>,
) -> Result<(), Failure>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];
    let mut chart = ChartBuilder::on(panel)
        .caption(label, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y)?;
    // Epochs are whole numbers: integer ticks, never 2.5.
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(label)
        .x_label_formatter(&|x| x.to_string())
        .y_label_formatter(&|y| tick(*y))
        .max_light_lines(2)
        .draw()?;
    for ((name, points), color) in curves.iter().zip(colors) {
        let points = points.iter().map(|&(epoch, value)| (epoch as i64, value));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if let Some((epoch, name)) = mark {
        let style = RGBColor(90, 90, 90).stroke_width(1);
        let line = [(*epoch as i64, low), (*epoch as i64, high)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, style))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}

/// A tick label: three significant digits, no trailing zeros (`0.3`, not `0.30000000000000004`).
fn tick(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let decimals = (2 - value.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
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

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(1.0), "1");
        assert_eq!(tick(0.0125), "0.0125");
        assert_eq!(tick(2500.0), "2500");
        assert_eq!(tick(-0.5), "-0.5");
    }
}
