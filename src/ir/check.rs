//! The semantic checker: resolves names, applies defaults, infers every layer's shape and
//! collects every error it finds before giving up. Each statement has its own file:
//! `layers.rs`, `data.rs`, `optimizer.rs`, `train.rs`; checks across statements are here.

use std::path::Path;

use super::model::*;
use crate::diagnostic::{Code, Diagnostic, Severity, did_you_mean};
use crate::kernels::activation::Activation;
use crate::kernels::loss::Loss;
use crate::span::Span;
use crate::syntax::ast::{self, Statement, Value, ValueKind};

use super::args::Args;

const STATEMENTS: [&str; 5] = ["model", "loss", "optimizer", "data", "train"];

/// A valid model and the warnings its spec deserves.
#[derive(Debug, Clone)]
pub struct Checked {
    pub model: Model,
    pub warnings: Vec<Diagnostic>,
}

/// Checks a parsed spec. `spec_dir` is where relative data paths start; `source_len` lets a
/// missing statement point at the end of the file. On failure, every error and warning found.
pub fn check(spec: &ast::Spec, spec_dir: &Path, source_len: usize) -> Result<Checked, Vec<Diagnostic>> {
    let mut checker = Checker { diags: Vec::new(), spec_dir, end: Span::new(source_len, source_len) };
    let model = checker.spec(spec);
    if checker.diags.iter().any(|d| d.severity == Severity::Error) {
        Err(checker.diags)
    } else {
        Ok(Checked { model: model.expect("a spec without errors yields a model"), warnings: checker.diags })
    }
}

/// The errors of the statements that parsed in a spec with syntax errors: those each
/// statement shows on its own (unknown names, duplicates, wrong types, values out of range).
/// Checks that need the whole spec (a missing statement, a loss that does not fit the model)
/// wait until the syntax is fixed: with a statement unparsed, they would mislead.
pub fn check_statements(spec: &ast::Spec, spec_dir: &Path, source_len: usize) -> Vec<Diagnostic> {
    let diagnostics = match check(spec, spec_dir, source_len) {
        Ok(checked) => checked.warnings,
        Err(diagnostics) => diagnostics,
    };
    let local = [Code::UnknownName, Code::Duplicate, Code::WrongType, Code::OutOfRange];
    diagnostics.into_iter().filter(|d| d.severity == Severity::Error && local.contains(&d.code)).collect()
}

pub(super) struct Checker<'a> {
    pub diags: Vec<Diagnostic>,
    pub spec_dir: &'a Path,
    end: Span,
}

/// The statements of a spec, each at most once.
#[derive(Default)]
struct Statements<'s> {
    model: Option<&'s ast::ModelBlock>,
    loss: Option<&'s Value>,
    optimizer: Option<&'s Value>,
    data: Option<(&'s [ast::Call], Span)>,
    train: Option<(&'s [ast::Arg], Span)>,
    /// Statements that an unknown keyword was probably meant to be: already reported.
    misspelled: Vec<&'static str>,
}

fn statement_span(statement: &Statement) -> Span {
    match statement {
        Statement::Model(block) => block.span,
        Statement::Loss(value) | Statement::Optimizer(value) => value.span,
        Statement::Data { span, .. } | Statement::Train { span, .. } => *span,
        Statement::Unknown(ident) => ident.span,
    }
}

impl Checker<'_> {
    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn spec(&mut self, spec: &ast::Spec) -> Option<Model> {
        let statements = self.collect_statements(spec);
        let network = statements.model.map(|block| self.model(block));
        let loss = statements.loss.map(|value| self.loss(value));
        let optimizer = statements.optimizer.map(|value| self.optimizer(value));
        let data = statements.data.map(|(calls, span)| self.data(calls, span));
        let train = statements.train.map(|(args, span)| self.train(args, span));
        let required = [
            ("model", network.is_some(), "model m { input 2; dense 1 sigmoid }"),
            ("loss", loss.is_some(), "loss mse"),
            ("optimizer", optimizer.is_some(), "optimizer sgd(lr: 0.01)"),
            ("data", data.is_some(), "data csv(\"data/train.csv\", target: \"y\")"),
            ("train", train.is_some(), "train { epochs: 10, batch: 32 }"),
        ];
        for (name, present, example) in required {
            // A misspelled keyword already has its error, with the right fix.
            if !present && !statements.misspelled.contains(&name) {
                self.error(
                    Diagnostic::error(Code::Missing, format!("the spec has no `{name}` statement"))
                        .at(self.end, format!("no `{name}` statement before the end of the file"))
                        .help(format!("add one, for example `{example}`")),
                );
            }
        }
        let (name, input, layers) = network??;
        let mut model =
            Model { name, input, layers, loss: loss??, optimizer: optimizer??, data: data??, train: train?? };
        // `classes: auto` has as many classes as the model has outputs (two for one sigmoid);
        // the data must then hold that many labels.
        if model.data.labels == ClassLabels::Inferred {
            let output = model.output_width();
            model.data.classes = Some(if model.loss.loss == Loss::Bce && output == 1 { 2 } else { output });
        }
        // A generated source knows its width now; a CSV file's columns give it with the data.
        if model.input.inferred {
            match model.data.source {
                DataSource::Random { inputs, .. } => model = model.with_input_width(inputs),
                DataSource::Xor { .. } => model = model.with_input_width(2),
                DataSource::Csv(_) => {}
            }
        }
        self.cross_check(&model);
        Some(model)
    }

    fn collect_statements<'s>(&mut self, spec: &'s ast::Spec) -> Statements<'s> {
        let mut found = Statements::default();
        let mut first_spans: Vec<(&str, Span)> = Vec::new();
        for statement in &spec.statements {
            let keyword = match statement {
                Statement::Model(block) => {
                    found.model.get_or_insert(block);
                    "model"
                }
                Statement::Loss(value) => {
                    found.loss.get_or_insert(value);
                    "loss"
                }
                Statement::Optimizer(value) => {
                    found.optimizer.get_or_insert(value);
                    "optimizer"
                }
                Statement::Data { calls, span } => {
                    found.data.get_or_insert((calls, *span));
                    "data"
                }
                Statement::Train { args, span } => {
                    found.train.get_or_insert((args, *span));
                    "train"
                }
                Statement::Unknown(ident) => {
                    found.misspelled.extend(STATEMENTS.iter().filter(|s| did_you_mean(&ident.name, [**s]).is_some()));
                    self.error(
                        Diagnostic::error(Code::UnknownName, format!("unknown statement `{}`", ident.name))
                            .at(ident.span, "not a statement nnspec knows")
                            .note("a spec has the statements `model`, `loss`, `optimizer`, `data` and `train`")
                            .help_opt(did_you_mean(&ident.name, STATEMENTS)),
                    );
                    continue;
                }
            };
            let span = statement_span(statement);
            if let Some((_, first)) = first_spans.iter().find(|(k, _)| *k == keyword) {
                self.error(
                    Diagnostic::error(Code::Duplicate, format!("`{keyword}` is declared twice"))
                        .at(span, "declared again here")
                        .with_context(*first, "first declared here")
                        .help("a spec has one of each statement: remove one of them"),
                );
            } else {
                first_spans.push((keyword, span));
            }
        }
        found
    }

    /// A keyword-like value: `mse` or `huber(delta: 1)`; returns the name, its span and the call's args.
    pub fn named<'v>(&mut self, value: &'v Value, what: &str) -> Option<(&'v str, Span, &'v [ast::Arg])> {
        match &value.kind {
            ValueKind::Ident(word) => Some((word, value.span, &[])),
            ValueKind::Call(call) => Some((&call.name.name, call.name.span, &call.args)),
            other => {
                self.error(
                    Diagnostic::error(Code::WrongType, format!("expected {what} name, found {}", other.describe()))
                        .at(value.span, format!("expected {what}")),
                );
                None
            }
        }
    }

    /// Reports an unknown name of some kind, listing the known ones and the closest.
    pub fn unknown(&mut self, what: &str, name: &str, span: Span, known: &[&str]) {
        self.error(
            Diagnostic::error(Code::UnknownName, format!("unknown {what} `{name}`"))
                .at(span, format!("not {} nnspec knows", with_article(what)))
                .note(format!("{} are: {}", plural(what), known.join(", ")))
                .help_opt(did_you_mean(name, known.iter().copied())),
        );
    }

    fn loss(&mut self, value: &Value) -> Option<LossSpec> {
        let (name, span, args) = self.named(value, "a loss")?;
        let loss = match name {
            "mse" => Loss::Mse,
            "mae" => Loss::Mae,
            "bce" => Loss::Bce,
            "cross_entropy" => Loss::CrossEntropy,
            "huber" => {
                let mut args = Args::bind(name, value.span, args, &["delta"], 1, &mut self.diags);
                let delta = args.number_where("delta", 1.0, "a number above 0", |d| d > 0.0);
                return Some(LossSpec { loss: Loss::Huber { delta: delta as f32 }, span: value.span });
            }
            _ => {
                self.unknown("loss", name, span, &Loss::KEYWORDS);
                return None;
            }
        };
        Args::bind(name, value.span, args, &[], 0, &mut self.diags);
        Some(LossSpec { loss, span: value.span })
    }

    /// Checks that need several statements at once.
    fn cross_check(&mut self, model: &Model) {
        let output = model.output_width();
        let last_span = model.layers.last().map_or(model.input.span, |layer| layer.span);
        let final_activation = model.output_activation();
        let loss_span = model.loss.span;
        match model.loss.loss {
            Loss::Bce if final_activation != Some(Activation::Sigmoid) => self.error(
                Diagnostic::error(Code::LossMismatch, "`bce` needs outputs in [0, 1], from a final `sigmoid`")
                    .at(loss_span, "binary cross-entropy")
                    .with_context(last_span, "this last layer is not a `sigmoid`")
                    .help(if final_activation == Some(Activation::Softmax) {
                        "with a `softmax` over the classes use `loss cross_entropy`; for `bce` end the model with `dense 1 sigmoid`"
                    } else {
                        "end the model with a `sigmoid` activation, e.g. `dense 1 sigmoid`"
                    }),
            ),
            Loss::CrossEntropy => {
                if final_activation != Some(Activation::Softmax) {
                    self.error(
                        Diagnostic::error(Code::LossMismatch, "`cross_entropy` needs a final `softmax`")
                            .at(loss_span, "softmax cross-entropy")
                            .with_context(last_span, "this last layer is not a `softmax`")
                            .help("end the model with `dense K softmax`, K the number of classes"),
                    );
                }
                match model.data.classes {
                    None => self.error(
                        Diagnostic::error(Code::Missing, "`cross_entropy` needs the number of classes")
                            .at(model.data.span, "no `classes: K` here")
                            .with_context(loss_span, "integer class targets")
                            .help(format!("add `classes: {output}` to the data source")),
                    ),
                    Some(classes) if classes != output => self.error(
                        Diagnostic::error(
                            Code::LossMismatch,
                            format!("the data has {classes} classes but the model has {output} outputs"),
                        )
                        .at(last_span, format!("{output} outputs"))
                        .with_context(model.data.span, format!("{classes} classes"))
                        .help(format!("make the last layer `dense {classes} softmax`")),
                    ),
                    Some(_) => {}
                }
            }
            Loss::Mse | Loss::Mae | Loss::Huber { .. } if final_activation == Some(Activation::Softmax) => {
                self.diags.push(
                    Diagnostic::warning(
                        Code::LossMismatch,
                        format!("`{}` after a `softmax` is rarely what you want", model.loss.loss.keyword()),
                    )
                    .at(loss_span, "a regression loss")
                    .with_context(last_span, "on probabilities")
                    .help("for classification use `loss cross_entropy` with `classes: K` in the data"),
                )
            }
            _ => {}
        }
        if model.optimizer.optimizer.lr() > 10.0 {
            self.diags.push(
                Diagnostic::warning(
                    Code::OutOfRange,
                    format!(
                        "a learning rate of {} is unusually high",
                        crate::diagnostic::number(model.optimizer.optimizer.lr())
                    ),
                )
                .at(model.optimizer.span, "learning rate above 10")
                .help("training usually diverges above 1; typical rates are 0.001 to 0.1"),
            );
        }
        let dense_layers = model.layers.iter().filter(|l| matches!(l.kind, LayerKind::Dense { .. })).count();
        let hidden_sigmoids: Vec<&Layer> = model.layers[..model.layers.len().saturating_sub(1)]
            .iter()
            .filter(|l| l.kind == LayerKind::Activation(Activation::Sigmoid))
            .collect();
        if dense_layers >= 4 && hidden_sigmoids.len() >= 2 {
            self.diags.push(
                Diagnostic::warning(Code::LossMismatch, "sigmoid hidden layers in a deep network learn slowly")
                    .at(hidden_sigmoids[0].span, "a hidden sigmoid")
                    .note("sigmoid's gradient is at most 0.25, so it shrinks through every such layer")
                    .help("use `relu`, `gelu` or `tanh` in hidden layers"),
            );
        }
        let trainable = model.layers.iter().any(|layer| {
            matches!(layer.kind, LayerKind::Dense { .. } | LayerKind::BatchNorm { .. } | LayerKind::LayerNorm { .. })
        });
        if !trainable {
            self.error(
                Diagnostic::error(Code::Missing, format!("model `{}` has nothing to train", model.name))
                    .at(last_span, "no layer with weights")
                    .help("add a `dense` layer, e.g. `dense 3 softmax`"),
            );
        }
        if model.data.classes.is_some() && !model.loss.loss.is_classifier() {
            self.error(
                Diagnostic::error(
                    Code::LossMismatch,
                    format!("`classes` needs a classification loss, not `{}`", model.loss.loss.keyword()),
                )
                .at(model.data.span, "class targets")
                .with_context(loss_span, "a regression loss")
                .help("use `loss cross_entropy` (or `bce` for two classes), or remove `classes`"),
            );
        }
        if model.loss.loss == Loss::Bce && model.data.classes.is_some_and(|k| k != 2) {
            self.error(
                Diagnostic::error(Code::LossMismatch, "`bce` takes two classes")
                    .at(model.data.span, "more than two classes")
                    .help("use `loss cross_entropy` with a final `softmax` for more classes"),
            );
        }
        let target_width = model.target_width();
        let (inputs, targets) = match &model.data.source {
            DataSource::Random { inputs, targets, .. } => (Some(*inputs), Some(*targets)),
            DataSource::Xor { .. } => (Some(2), Some(1)),
            // The CSV's feature count is known only from its header, checked with the data.
            DataSource::Csv(csv) => (None, Some(csv.targets.len())),
        };
        if let Some(inputs) = inputs.filter(|&inputs| inputs != model.input.width) {
            self.error(
                Diagnostic::error(
                    Code::Width,
                    format!("the data has {inputs} input column(s) but the model's input is {}", model.input.width),
                )
                .at(model.data.span, format!("{inputs} input(s)"))
                .with_context(model.input.span, format!("input width {}", model.input.width)),
            );
        }
        // Without `classes`, cross-entropy already has its own error; a width error would mislead.
        let classes_missing = model.loss.loss == Loss::CrossEntropy && model.data.classes.is_none();
        match targets.filter(|&targets| targets != target_width && !classes_missing) {
            Some(targets) if model.data.classes.is_some() && targets != 1 => self.error(
                Diagnostic::error(Code::Width, format!("class labels are one column, but `target` names {targets}"))
                    .at(model.data.span, format!("{targets} target columns"))
                    .help("name the one column that holds the class labels"),
            ),
            // Two classes in one column of labels: `bce` takes one output, the probability of the
            // second class.
            Some(_)
                if model.data.classes.is_some()
                    && model.loss.loss == Loss::Bce
                    && final_activation == Some(Activation::Sigmoid) =>
            {
                self.error(
                    Diagnostic::error(
                        Code::Width,
                        format!("`bce` on two classes needs one output, but the model has {output}"),
                    )
                    .at(last_span, format!("{output} outputs"))
                    .with_context(model.data.span, "two classes in one column of labels")
                    .note("the one output is the probability of the second class")
                    .help("end the model with `dense 1 sigmoid`, or use `loss cross_entropy` with `dense 2 softmax`"),
                )
            }
            // A regression loss with classes, or a final `softmax` under `bce`: their own errors
            // above say what to change.
            Some(_) if model.data.classes.is_some() => {}
            Some(targets) => self.error(
                Diagnostic::error(
                    Code::Width,
                    format!("the data has {targets} target column(s) but the model has {output} output(s)"),
                )
                .at(model.data.span, format!("{targets} target(s)"))
                .with_context(last_span, format!("{output} output(s)"))
                .help("make the last layer's width the number of target columns"),
            ),
            None => {}
        }
        if let Some(early_stop) = model.train.early_stop {
            let has_validation = model.data.split.validation > 0.0 || model.data.validation_file.is_some();
            if !has_validation {
                self.error(
                    Diagnostic::error(Code::Missing, "early stopping needs validation data")
                        .at(model.train.span, format!("monitors `{}`", early_stop.monitor.key()))
                        .with_context(model.data.span, "no validation split here")
                        .help("add `split(validation: 0.2)` after the data source"),
                );
            }
            self.check_monitor(model, early_stop.monitor);
        }
        if let Some(reduce_lr) = model.train.reduce_lr {
            let has_validation = model.data.split.validation > 0.0 || model.data.validation_file.is_some();
            if !has_validation {
                self.error(
                    Diagnostic::error(Code::Missing, "`reduce_lr` needs validation data")
                        .at(model.train.span, format!("monitors `{}`", reduce_lr.monitor.key()))
                        .with_context(model.data.span, "no validation split here")
                        .help("add `split(validation: 0.2)` after the data source"),
                );
            }
            self.check_monitor(model, reduce_lr.monitor);
        }
        for metric in &model.train.metrics {
            if !model.loss.loss.is_classifier() {
                self.error(
                    Diagnostic::error(Code::LossMismatch, "`metrics` are classification metrics and need a classifier")
                        .at(model.train.span, format!("asks for `{}`", metric.keyword()))
                        .with_context(loss_span, "a regression loss")
                        .help("regression reports MAE, RMSE and R² already; remove `metrics`"),
                );
                break;
            }
        }
    }
}

impl Checker<'_> {
    /// A monitored metric must exist for the model: classification metrics for classifiers
    /// (AUC for two classes), regression metrics for regression.
    pub(super) fn check_monitor(&mut self, model: &Model, monitor: Monitor) {
        let key = monitor.key();
        let classifier = model.loss.loss.is_classifier();
        let classification = matches!(
            monitor,
            Monitor::ValAccuracy | Monitor::ValPrecision | Monitor::ValRecall | Monitor::ValF1 | Monitor::ValAuc
        );
        let regression = matches!(monitor, Monitor::ValMae | Monitor::ValRmse | Monitor::ValR2);
        let binary = model.loss.loss == Loss::Bce && model.output_width() == 1
            || model.loss.loss == Loss::CrossEntropy && model.output_width() == 2;
        let problem = if classification && !classifier {
            Some(("needs a classifier", "a regression loss"))
        } else if regression && classifier {
            Some(("needs a regression loss", "a classifier"))
        } else if monitor == Monitor::ValAuc && !binary {
            Some(("needs a binary classifier", "not two classes"))
        } else {
            None
        };
        if let Some((need, found)) = problem {
            self.error(
                Diagnostic::error(Code::LossMismatch, format!("`{key}` {need}"))
                    .at(model.train.span, format!("monitors `{key}`"))
                    .with_context(model.loss.span, found)
                    .help("monitor `val_loss` instead"),
            );
        }
    }
}

fn plural(what: &str) -> String {
    if what.ends_with('s') { format!("{what}es") } else { format!("{what}s") }
}

fn with_article(what: &str) -> String {
    let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {what}")
}
