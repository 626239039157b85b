//! Human-readable text for the terminal: the model summary and the per-epoch line.

use crate::data::CsvLayout;
use crate::ir::{DataSource, LayerKind, Model};
use crate::plan::Plan;
use crate::train::TraceLine;

/// The model's layers, their output shapes and parameter counts.
pub fn model(model: &Model, plan: &Plan) -> String {
    let mut out = format!("model {}\n", model.name);
    out.push_str(&format!("  {:<34}{:>8}{:>12}\n", "layer", "output", "parameters"));
    out.push_str(&format!("  {:<34}{:>8}{:>12}\n", "input", model.input.width, ""));
    for layer in &model.layers {
        let LayerKind::Dense { activation, init } = layer.kind;
        let name = format!("dense {} ({})", activation.keyword(), init.describe());
        let params = layer.inputs * layer.outputs + layer.outputs;
        out.push_str(&format!("  {name:<34}{:>8}{params:>12}\n", layer.outputs));
    }
    out.push_str(&format!(
        "  {} parameters; loss {}; optimizer {}\n",
        plan.parameter_count(),
        model.loss.loss.keyword(),
        model.optimizer.optimizer.describe()
    ));
    out
}

/// Where the data comes from and which columns feed the model.
pub fn data(model: &Model, layout: Option<&CsvLayout>) -> String {
    match (&model.data.source, layout) {
        (DataSource::Csv(csv), Some(layout)) => {
            let names = |columns: &[usize]| {
                columns
                    .iter()
                    .map(|&c| layout.header[c].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "data {}: features {} -> targets {}",
                csv.shown,
                names(&layout.features),
                names(&layout.targets)
            )
        }
        (
            DataSource::Random {
                rows,
                inputs,
                targets,
                seed,
            },
            _,
        ) => {
            format!("data random: {rows} rows of {inputs} input(s) and {targets} target(s), seed {seed}")
        }
        (DataSource::Csv(csv), None) => format!("data {}", csv.shown),
    }
}

/// One logged epoch.
pub fn epoch_line(line: &TraceLine) -> String {
    let mut text = format!("epoch {:>5}  step {:>7}  loss {:.6}", line.epoch, line.step, line.loss);
    if let Some(accuracy) = line.accuracy {
        text.push_str(&format!("  accuracy {accuracy:.4}"));
    }
    text.push_str(&format!("  {:.3}s", line.elapsed_s));
    text
}
