//! `nnspec predict` and `nnspec eval`: trained weights applied to new rows (see
//! `crate::trained`), printed or written.

use std::path::Path;

use serde_json::json;

use super::{Context, emit, load, summary, warn};
use crate::report::Report;
use crate::spec::Spec;
use crate::train::ClassReport;
use crate::trained::Trained;
use crate::{output, project};

fn load_trained(spec: &Path, weights: &Path, ctx: &Context) -> Result<(Spec, Trained), Report> {
    let spec = load(spec, &[], ctx)?;
    let trained = Trained::load(&spec, weights)?;
    for warning in trained.warnings() {
        warn(Some(warning.clone()), ctx.color);
    }
    Ok((spec, trained))
}

pub fn predict(
    spec: &Path,
    weights: &Path,
    input: &Path,
    output_path: Option<&Path>,
    ctx: &Context,
) -> Result<(), Report> {
    let (spec, trained) = load_trained(spec, weights, ctx)?;
    if let Some(path) = output_path {
        let mut inputs = spec.inputs();
        inputs.extend([("the weights", weights.to_path_buf()), ("the input", input.to_path_buf())]);
        project::check_roles(&inputs, &[("the predictions output", path)])?;
        output::check_writable(path)?;
    }
    trained.check_memory(input, ctx.max_memory)?;
    let rows = trained.read_rows(input)?;
    let mut predictions = trained.predict(&rows.dataset)?;
    predictions.ids = rows.ids;
    let text = predictions.to_csv();
    match output_path {
        Some(path) => Ok(output::write_atomic(path, text.as_bytes())?),
        None => emit(&text),
    }
}

pub fn eval(spec: &Path, weights: &Path, data: &Path, json_output: bool, ctx: &Context) -> Result<(), Report> {
    let (_, trained) = load_trained(spec, weights, ctx)?;
    trained.check_memory(data, ctx.max_memory)?;
    let evaluation = trained.evaluate_file(data)?;
    let report = evaluation.confusion.as_ref().map(ClassReport::of);
    if json_output {
        let value = json!({
            "rows": evaluation.rows,
            "dropped": evaluation.dropped,
            "metrics": evaluation.metrics,
            "confusion": evaluation.confusion,
            "classes": report,
        });
        return emit(&format!("{value}\n"));
    }
    let metrics = &evaluation.metrics;
    let mut text = format!("rows: {}\n", evaluation.rows);
    if evaluation.dropped > 0 {
        text += &format!("dropped: {} (a missing target or a missing `drop` cell)\n", evaluation.dropped);
    }
    text += &format!("loss: {:.6}\n", metrics.loss);
    for (name, value) in metrics.named() {
        if let Some(value) = value {
            text += &format!("{name}: {value:.6}\n");
        }
    }
    if let (Some(confusion), Some(report)) = (&evaluation.confusion, &report) {
        text += &summary::confusion_matrix(confusion);
        text += &report.to_text(confusion);
    }
    emit(&text)
}
