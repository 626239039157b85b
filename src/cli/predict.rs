//! `nnspec predict` and `nnspec eval`: trained weights applied to new rows (see
//! `crate::trained`), printed or written.

use std::path::Path;

use serde_json::json;

use super::{emit, load, summary, warn};
use crate::diagnostic::ColorChoice;
use crate::output;
use crate::report::Report;
use crate::trained::Trained;

fn load_trained(spec: &Path, weights: &Path, color: ColorChoice) -> Result<Trained, Report> {
    let spec = load(spec, &[], color)?;
    let trained = Trained::load(&spec, weights)?;
    for warning in trained.warnings() {
        warn(Some(warning.clone()), color);
    }
    Ok(trained)
}

pub fn predict(
    spec: &Path,
    weights: &Path,
    input: &Path,
    output_path: Option<&Path>,
    color: ColorChoice,
) -> Result<(), Report> {
    let trained = load_trained(spec, weights, color)?;
    if let Some(path) = output_path {
        output::check_writable(path)?;
    }
    let text = trained.predict(&trained.read_inputs(input)?).to_csv();
    match output_path {
        Some(path) => Ok(output::write_atomic(path, text.as_bytes())?),
        None => emit(&text),
    }
}

pub fn eval(spec: &Path, weights: &Path, data: &Path, json_output: bool, color: ColorChoice) -> Result<(), Report> {
    let trained = load_trained(spec, weights, color)?;
    let evaluation = trained.evaluate(&trained.read_labelled(data)?);
    if json_output {
        let value =
            json!({ "rows": evaluation.rows, "metrics": evaluation.metrics, "confusion": evaluation.confusion });
        return emit(&format!("{value}\n"));
    }
    let metrics = &evaluation.metrics;
    let mut text = format!("rows: {}\nloss: {:.6}\n", evaluation.rows, metrics.loss);
    for (name, value) in
        [("accuracy", metrics.accuracy), ("mae", metrics.mae), ("rmse", metrics.rmse), ("r2", metrics.r2)]
    {
        if let Some(value) = value {
            text += &format!("{name}: {value:.6}\n");
        }
    }
    if let Some(confusion) = &evaluation.confusion {
        text += &summary::confusion_matrix(confusion);
    }
    emit(&text)
}
