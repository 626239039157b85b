//! Human-readable text for the terminal: the model summary, the per-epoch line and the
//! end-of-run summary.

use crate::data::{CsvLayout, Prepared};
use crate::ir::{DataSource, LayerKind, Model, Scaling};
use crate::plan::Plan;
use crate::train::{ClassReport, Confusion, Metrics, Outcome, StopReason, TraceLine};

fn layer_name(kind: &LayerKind) -> String {
    match kind {
        LayerKind::Dense { init } => format!("dense (init {})", init.describe()),
        LayerKind::Activation(activation) => activation.describe(),
        LayerKind::Dropout { p } => format!("dropout {p}"),
        LayerKind::BatchNorm { .. } => "batch_norm".into(),
        LayerKind::LayerNorm { .. } => "layer_norm".into(),
    }
}

/// The model's layers, their output widths and parameter counts.
pub fn model(model: &Model, plan: &Plan) -> String {
    let mut out = format!("model {}\n", model.name);
    out.push_str(&format!("  {:<34}{:>8}{:>12}\n", "layer", "output", "parameters"));
    let range;
    let scaling = match model.input.scaling {
        Scaling::None => "input",
        Scaling::Standardize => "input (standardized)",
        Scaling::MinMax => "input (min-max scaled)",
        Scaling::Range { low, high } => {
            range = format!("input (scaled from [{low}, {high}])");
            &range
        }
    };
    out.push_str(&format!("  {scaling:<34}{:>8}{:>12}\n", model.input.width, ""));
    for layer in &model.layers {
        let params = layer.kind.parameter_count(layer.inputs, layer.outputs);
        let params = if params == 0 { String::new() } else { params.to_string() };
        out.push_str(&format!("  {:<34}{:>8}{params:>12}\n", layer_name(&layer.kind), layer.outputs));
    }
    let mut optimizer = model.optimizer.optimizer.describe();
    if model.optimizer.schedule != crate::kernels::schedule::Schedule::Constant {
        optimizer += &format!(", schedule {}", model.optimizer.schedule.describe());
    }
    if let Some(clip) = model.optimizer.clip_norm {
        optimizer += &format!(", clip_norm {clip}");
    }
    out.push_str(&format!(
        "  {} parameters; loss {}; optimizer {optimizer}\n",
        plan.parameter_count(),
        model.loss.loss.describe(),
    ));
    out
}

/// Where the data comes from and which columns feed the model.
pub fn data(model: &Model, layout: Option<&CsvLayout>) -> String {
    let classes = model.data.classes.map(|k| format!(", {k} classes")).unwrap_or_default();
    match (&model.data.source, layout) {
        (DataSource::Csv(csv), Some(layout)) => {
            let names =
                |columns: &[usize]| columns.iter().map(|&c| layout.header[c].as_str()).collect::<Vec<_>>().join(", ");
            format!(
                "data {}: features {} -> targets {}{classes}",
                csv.shown,
                names(&layout.features),
                names(&layout.targets)
            )
        }
        (DataSource::Random { rows, inputs, targets, seed }, _) => {
            format!("data random: {rows} rows of {inputs} input(s) and {targets} target(s){classes}, seed {seed}")
        }
        (DataSource::Xor { rows, seed }, _) => format!("data xor: {rows} rows, seed {seed}"),
        (DataSource::Csv(csv), None) => format!("data {}", csv.shown),
    }
}

/// Row counts of the splits.
pub fn splits(prepared: &Prepared) -> String {
    let splits = &prepared.splits;
    let mut text = format!("rows: {} train", splits.train.len());
    if !splits.validation.is_empty() {
        text += &format!(", {} validation", splits.validation.len());
    }
    if !splits.test.is_empty() {
        text += &format!(", {} test", splits.test.len());
    }
    if prepared.dropped > 0 {
        text += &format!(" ({} left out: a missing target or a missing `drop` cell)", prepared.dropped);
    }
    text
}

fn metrics(prefix: &str, m: &Metrics) -> String {
    let mut text = format!("{prefix}loss {:.6}", m.loss);
    for (name, value) in m.named() {
        if let Some(value) = value {
            text += &format!("  {prefix}{name} {value:.4}");
        }
    }
    text
}

/// One logged epoch.
pub fn epoch_line(line: &TraceLine) -> String {
    let mut text = format!("epoch {:>5}  step {:>7}  {}", line.epoch, line.step, metrics("", &line.train));
    if let Some(validation) = &line.validation {
        text += &format!("  {}", metrics("val_", validation));
    }
    text + &format!("  lr {:.3e}  {:.3}s", line.lr, line.elapsed_s)
}

/// How the run ended, its final and best metrics and the confusion matrix.
pub fn outcome(outcome: &Outcome) -> String {
    let mut out = String::new();
    let Some(last) = outcome.trace.last() else { return out };
    match &outcome.stop {
        StopReason::Completed => {
            out += &format!("done: {} epochs, {} steps in {:.3} s\n", last.epoch, last.step, last.elapsed_s)
        }
        StopReason::EarlyStop { best_epoch, restored } => {
            out += &format!("stopped early at epoch {}: no improvement since epoch {best_epoch}", last.epoch);
            if *restored {
                out += &format!("; restored the weights of epoch {best_epoch}");
            }
            out += &format!(" ({} steps in {:.3} s)\n", last.step, last.elapsed_s);
        }
    }
    let scores = |line: &TraceLine| match &line.validation {
        Some(validation) => format!("{}  {}", metrics("", &line.train), metrics("val_", validation)),
        None => metrics("", &line.train),
    };
    // With restored weights, the last epoch is not what the run leaves: both are shown, and
    // the test metrics are said to be the restored weights'.
    let restored = outcome.restored.zip(outcome.weights_line());
    match restored {
        Some((epoch, kept)) => {
            out += &format!("last   epoch {}  {}\n", last.epoch, scores(last));
            out += &format!("model  epoch {epoch} (restored; what --save writes)  {}\n", scores(kept));
        }
        None => out += &format!("final  {}\n", scores(last)),
    }
    if let Some(test) = &last.test {
        let whose = restored.map(|(epoch, _)| format!("  (the restored weights of epoch {epoch})")).unwrap_or_default();
        out += &format!("test   {}{whose}\n", metrics("test_", test));
    }
    if let Some(best) = outcome.best.as_ref().filter(|_| restored.is_none()) {
        let metrics = match &best.validation {
            Some(validation) => metrics("val_", validation),
            None => metrics("", &best.train),
        };
        out += &format!("best   epoch {}  {metrics}\n", best.epoch);
    }
    if let Some(confusion) = &outcome.confusion {
        out += &confusion_matrix(confusion);
        out += &ClassReport::of(confusion).to_text(confusion);
    }
    out
}

pub fn confusion_matrix(confusion: &Confusion) -> String {
    let k = confusion.classes;
    let cell = confusion.counts.iter().max().map_or(1, |m| m.to_string().len()).max(k.to_string().len()) + 2;
    let mut out = format!("confusion matrix on the {} rows (rows: true class, columns: predicted)\n", confusion.split);
    let names: Vec<String> = (0..k).map(|c| confusion.name(c)).collect();
    let cell = cell.max(names.iter().map(|n| n.len() + 2).max().unwrap_or(0));
    let first = names.iter().map(String::len).max().unwrap_or(0).max(4) + 2;
    out += &format!("{:>first$}", "");
    for name in &names {
        out += &format!("{name:>cell$}");
    }
    out += "\n";
    for (actual, name) in names.iter().enumerate() {
        out += &format!("{name:>first$}");
        for predicted in 0..k {
            out += &format!("{:>cell$}", confusion.counts[actual * k + predicted]);
        }
        out += "\n";
    }
    out
}
