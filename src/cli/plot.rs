//! `nnspec plot TRACE --output curve.svg` (and `nnspec run --plot FILE`): loss and metric
//! curves for training and validation, drawn with plotters as SVG.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::output;
use crate::report::{Kind, Report};

/// One named curve: (epoch, value) points.
type Curve = (String, Vec<(f64, f64)>);

fn curves(lines: &[Value], keys: &[&str]) -> Vec<Curve> {
    keys.iter()
        .map(|key| {
            let points = lines
                .iter()
                .filter_map(|line| Some((line["epoch"].as_f64()?, line[*key].as_f64()?)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            (key.to_string(), points)
        })
        .filter(|(_, points): &Curve| !points.is_empty())
        .collect()
}

/// Reads a trace file and draws it.
pub fn plot_file(trace: &Path, output_path: &Path) -> Result<(), Report> {
    let text = std::fs::read_to_string(trace).map_err(|e| {
        Report::from(Diagnostic::error(Code::DataFile, format!("cannot read `{}`: {e}", trace.display())))
    })?;
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).map_err(|e| {
            Report::from(Diagnostic::error(
                Code::DataFile,
                format!("`{}:{}` is not a trace line: {e}", trace.display(), number + 1),
            ))
        })?;
        lines.push(value);
    }
    plot(&lines, output_path)
}

/// Draws loss (top) and the metric (bottom: accuracy, or R² for regression) against epochs.
pub fn plot(lines: &[Value], output_path: &Path) -> Result<(), Report> {
    let format = output_path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(format.as_deref(), Some("svg" | "png")) {
        return Err(Report::of_kind(
            Kind::Spec,
            vec![
                Diagnostic::error(
                    Code::Output,
                    format!("cannot draw `{}`: nnspec writes plots as SVG or PNG", output_path.display()),
                )
                .help("name the output file `something.svg` or `something.png`"),
            ],
        ));
    }
    let losses = curves(lines, &["loss", "val_loss"]);
    if losses.is_empty() {
        return Err(Report::from(Diagnostic::error(Code::DataFile, "the trace has no epochs to plot")));
    }
    let metric_keys: &[&str] = if lines.iter().any(|l| l.get("accuracy").is_some()) {
        &["accuracy", "val_accuracy"]
    } else {
        &["r2", "val_r2"]
    };
    let metrics = curves(lines, metric_keys);
    let mut svg = String::new();
    draw(&mut svg, &losses, &metrics, metric_keys[0])
        .map_err(|e| Report::from(Diagnostic::error(Code::Output, format!("cannot draw the plot: {e}"))))?;
    let bytes = if format.as_deref() == Some("png") { to_png(&svg)? } else { svg.into_bytes() };
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
