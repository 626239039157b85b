//! The train block: `train { epochs: 200, batch: 16, seed: 42, early_stop(patience: 20) }`.

use super::args::Args;
use super::check::Checker;
use super::model::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{self, ValueKind};

/// The train block's options, written as calls.
const OPTIONS: [&str; 2] = ["early_stop", "reduce_lr"];

impl Checker<'_> {
    pub(super) fn train(&mut self, args: &[ast::Arg], span: Span) -> Option<Train> {
        // `early_stop(...)` is the block's one positional item; the rest are named.
        let (calls, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            args.iter().partition(|arg| arg.name.is_none() && matches!(arg.value.kind, ValueKind::Call(_)));
        // `metrics` is bound on its own, so that the unknown-argument note keeps listing the
        // block's settings (and its snapshots stay as they were).
        let (metrics_args, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            named.into_iter().partition(|arg| arg.name.as_ref().is_some_and(|n| n.name == "metrics"));
        // `early_stop: ...` is the call written as an argument.
        let (misplaced, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            named.into_iter().partition(|arg| arg.name.as_ref().is_some_and(|n| OPTIONS.contains(&n.name.as_str())));
        for arg in misplaced {
            let name = arg.name.as_ref().map_or("", |n| n.name.as_str());
            self.error(
                Diagnostic::error(Code::WrongType, format!("`{name}` is written as a call, not as `{name}: ...`"))
                    .at(arg.span, "not a call")
                    .help(format!("write `{name}(patience: 10)`")),
            );
        }
        let named: Vec<ast::Arg> = named.into_iter().cloned().collect();
        let params = ["epochs", "batch", "seed", "shuffle", "log_every", "drop_last"];
        let others = ["metrics", "early_stop(...)", "reduce_lr(...)"];
        let mut args = Args::bind_among("train", span, &named, &params, 0, &others, &mut self.diags);
        args.require("epochs", "10");
        let epochs = args.count("epochs", 1, 1);
        let batch = match args.value("batch").map(|v| &v.kind) {
            None => Batch::Rows(32),
            Some(ValueKind::Ident(word)) if word == "full" => Batch::Full,
            Some(ValueKind::Number(_)) => Batch::Rows(args.count("batch", 32, 1)),
            Some(_) => {
                let value = args.value("batch").expect("given");
                args.wrong_type_of("batch", "a number of rows or `full`", value);
                Batch::Rows(32)
            }
        };
        let seed = args.count("seed", 0, 0) as u64;
        let shuffle = args.boolean("shuffle", true);
        let log_every = args.count("log_every", 1, 1);
        let drop_last = args.boolean("drop_last", false);
        drop(args);
        if let [_, again, ..] = metrics_args.as_slice() {
            self.error(
                Diagnostic::error(Code::Duplicate, "argument `metrics` of `train` is given twice")
                    .at(again.span, "given again here")
                    .with_context(metrics_args[0].span, "first given here")
                    .help("remove one of them"),
            );
        }
        let metrics = metrics_args.first().map(|arg| self.extra_metrics(&arg.value)).unwrap_or_default();
        let (mut early_stop, mut reduce_lr, mut seen) = (None, None, Vec::new());
        for arg in calls {
            let ValueKind::Call(call) = &arg.value.kind else {
                continue;
            };
            let name = call.name.name.as_str();
            if !OPTIONS.contains(&name) {
                self.unknown("train option", name, call.name.span, &OPTIONS);
                continue;
            }
            if seen.contains(&name) {
                self.error(
                    Diagnostic::error(Code::Duplicate, format!("`{name}` is given twice"))
                        .at(call.span, "given again here"),
                );
                continue;
            }
            seen.push(name);
            if name == "early_stop" {
                early_stop = self.early_stop(call);
            } else {
                reduce_lr = self.reduce_lr(call);
            }
        }
        Some(Train { epochs, batch, seed, shuffle, log_every, drop_last, early_stop, reduce_lr, metrics, span })
    }

    /// `metrics: [precision, recall, f1, auc]`.
    fn extra_metrics(&mut self, value: &ast::Value) -> Vec<ExtraMetric> {
        let items = match &value.kind {
            ValueKind::List(items) => items.as_slice(),
            _ => std::slice::from_ref(value),
        };
        let mut out = Vec::new();
        for item in items {
            let metric = match &item.kind {
                ValueKind::Ident(word) => match word.as_str() {
                    "precision" => Some(ExtraMetric::Precision),
                    "recall" => Some(ExtraMetric::Recall),
                    "f1" => Some(ExtraMetric::F1),
                    "auc" => Some(ExtraMetric::Auc),
                    other => {
                        self.unknown("metric", other, item.span, &ExtraMetric::KEYWORDS);
                        None
                    }
                },
                other => {
                    self.error(
                        Diagnostic::error(Code::WrongType, format!("a metric is a name, found {}", other.describe()))
                            .at(item.span, "expected e.g. `f1`"),
                    );
                    None
                }
            };
            if let Some(metric) = metric.filter(|m| !out.contains(m)) {
                out.push(metric);
            }
        }
        out
    }

    /// `reduce_lr(monitor: val_loss, factor: 0.1, patience: 10, min_delta: 0, min_lr: 0)`.
    fn reduce_lr(&mut self, call: &ast::Call) -> Option<ReduceLr> {
        let params = ["monitor", "factor", "patience", "min_delta", "min_lr"];
        let mut args = Args::bind("reduce_lr", call.span, &call.args, &params, 0, &mut self.diags);
        let monitor = match args.value("monitor") {
            None => Monitor::ValLoss,
            Some(value) => monitor_of(&mut args, value)?,
        };
        Some(ReduceLr {
            monitor,
            factor: args.number_where("factor", 0.1, "in (0, 1)", |f| f > 0.0 && f < 1.0),
            patience: args.count("patience", 10, 0),
            min_delta: args.number_where("min_delta", 0.0, "at least 0", |d| d >= 0.0),
            min_lr: args.number_where("min_lr", 0.0, "at least 0", |d| d >= 0.0),
        })
    }

    fn early_stop(&mut self, call: &ast::Call) -> Option<EarlyStop> {
        let params = ["monitor", "patience", "min_delta", "restore_best"];
        let mut args = Args::bind("early_stop", call.span, &call.args, &params, 0, &mut self.diags);
        let monitor = match args.value("monitor") {
            None => Monitor::ValLoss,
            Some(value) => monitor_of(&mut args, value)?,
        };
        Some(EarlyStop {
            monitor,
            patience: args.count("patience", 10, 1),
            min_delta: args.number_where("min_delta", 0.0, "at least 0", |d| d >= 0.0),
            restore_best: args.boolean("restore_best", true),
        })
    }
}

/// A monitored metric's name: `val_loss`, `val_f1`, ...
pub(super) fn monitor_of(args: &mut Args, value: &ast::Value) -> Option<Monitor> {
    let keys: Vec<&str> = Monitor::ALL.iter().map(|m| m.key()).collect();
    if let ValueKind::Ident(word) = &value.kind
        && let Some(monitor) = Monitor::ALL.iter().find(|m| m.key() == word)
    {
        return Some(*monitor);
    }
    let word = if let ValueKind::Ident(word) = &value.kind { word.as_str() } else { "" };
    args.error(
        Diagnostic::error(Code::WrongType, format!("`monitor` is one of {}", keys.join(", ")))
            .at(value.span, "not a monitored metric")
            .help(
                crate::diagnostic::did_you_mean(word, keys.iter().copied())
                    .unwrap_or_else(|| "write `monitor: val_loss`".into()),
            ),
    );
    None
}

/// A warning for a model with batch norm whose training batches can have one row: the last
/// batch of each epoch (`rows` training rows do not divide into whole batches with one left
/// over), or every batch. Batch norm turns a one-row batch into its shift alone (its variance is
/// 0), where PyTorch refuses to train on it. `None` with `drop_last` or without batch norm.
pub fn one_row_batch_warning(model: &Model, rows: usize) -> Option<Diagnostic> {
    let norm = model.layers.iter().find(|layer| matches!(layer.kind, LayerKind::BatchNorm { .. }))?;
    let batch = model.train.batch.rows_for(rows);
    let last = rows % batch;
    let (what, label) = if batch == 1 {
        ("every training batch has one row".to_string(), format!("batches of 1 row ({rows} training row(s))"))
    } else if last == 1 && !model.train.drop_last {
        (
            "the last training batch of each epoch has one row".to_string(),
            format!("{rows} training rows make {} batch(es) of {batch} and one of 1", rows / batch),
        )
    } else {
        return None;
    };
    Some(
        Diagnostic::warning(Code::OutOfRange, format!("{what}, which batch norm cannot normalise"))
            .at(model.train.span, label)
            .with_context(norm.span, "normalises over each training batch")
            .note("a one-row batch has variance 0: batch norm outputs its shift alone (PyTorch refuses such a batch)")
            .help(if batch == 1 {
                "use larger batches, e.g. `batch: 16`"
            } else {
                "add `drop_last: true` to the train block (the short batch is left out of each epoch), or change the batch size or the split"
            }),
    )
}
