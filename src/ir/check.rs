//! The semantic checker: resolves names, applies defaults, infers every layer's shape and
//! collects every error it finds before giving up.

use std::path::Path;

use super::args::Args;
use super::model::*;
use crate::diagnostic::{Code, Diagnostic, Severity, did_you_mean};
use crate::kernels::activation::Activation;
use crate::kernels::init::Init;
use crate::kernels::loss::Loss;
use crate::kernels::optim::{Optimizer, Sgd};
use crate::span::Span;
use crate::syntax::ast::{self, Statement, Value, ValueKind};

const STATEMENTS: [&str; 5] = ["model", "loss", "optimizer", "data", "train"];
const LAYERS: [&str; 2] = ["input", "dense"];
const DATA_SOURCES: [&str; 2] = ["csv", "random"];

/// Checks a parsed spec. `spec_dir` is where relative data paths start; `source_len` lets a
/// missing statement point at the end of the file.
pub fn check(spec: &ast::Spec, spec_dir: &Path, source_len: usize) -> Result<Model, Vec<Diagnostic>> {
    let mut checker = Checker {
        diags: Vec::new(),
        spec_dir,
        end: Span::new(source_len, source_len),
    };
    let model = checker.spec(spec);
    if checker.diags.iter().any(|d| d.severity == Severity::Error) {
        Err(checker.diags)
    } else {
        Ok(model.expect("a spec without errors yields a model"))
    }
}

struct Checker<'a> {
    diags: Vec<Diagnostic>,
    spec_dir: &'a Path,
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
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn spec(&mut self, spec: &ast::Spec) -> Option<Model> {
        let statements = self.collect_statements(spec);
        let end = self.end;
        let misspelled = statements.misspelled.clone();
        let missing = |name: &str, example: &str| {
            Diagnostic::error(Code::Missing, format!("the spec has no `{name}` statement"))
                .at(end, format!("no `{name}` statement before the end of the file"))
                .help(format!("add one, for example `{example}`"))
        };
        let report_missing = |checker: &mut Self, name: &str, example: &str| {
            // A misspelled keyword already has its error, with the right fix.
            if !misspelled.contains(&name) {
                checker.error(missing(name, example));
            }
        };
        let network = match statements.model {
            Some(block) => self.model(block),
            None => {
                report_missing(self, "model", "model m { input 2; dense 1 sigmoid }");
                None
            }
        };
        let loss = match statements.loss {
            Some(value) => self.loss(value),
            None => {
                report_missing(self, "loss", "loss mse");
                None
            }
        };
        let optimizer = match statements.optimizer {
            Some(value) => self.optimizer(value),
            None => {
                report_missing(self, "optimizer", "optimizer sgd(lr: 0.01)");
                None
            }
        };
        let data = match statements.data {
            Some((calls, span)) => self.data(calls, span),
            None => {
                report_missing(self, "data", "data csv(\"data/train.csv\", target: \"y\")");
                None
            }
        };
        let train = match statements.train {
            Some((args, span)) => self.train(args, span),
            None => {
                report_missing(self, "train", "train { epochs: 10, batch: 32 }");
                None
            }
        };
        let (name, input, layers) = network?;
        let model = Model {
            name,
            input,
            layers,
            loss: loss?,
            optimizer: optimizer?,
            data: data?,
            train: train?,
        };
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
                    found
                        .misspelled
                        .extend(STATEMENTS.iter().filter(|s| did_you_mean(&ident.name, [**s]).is_some()));
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

    fn model(&mut self, block: &ast::ModelBlock) -> Option<(String, Input, Vec<Layer>)> {
        let mut layers_ast = block.layers.iter();
        let input = match layers_ast.next() {
            Some(first) if first.kind.name == "input" => self.input(first),
            Some(first) => {
                self.error(
                    Diagnostic::error(Code::Missing, "the model must start with its `input` width")
                        .at(first.kind.span, "expected `input` before this layer")
                        .help("add a first line such as `input 4`"),
                );
                // Check the remaining layers anyway, so their errors are reported too.
                layers_ast = block.layers.iter();
                None
            }
            None => {
                self.error(
                    Diagnostic::error(Code::Missing, format!("model `{}` has no layers", block.name.name))
                        .at(block.name.span, "this model is empty")
                        .help("declare its input and at least one layer, e.g. `input 2` then `dense 1 sigmoid`"),
                );
                return None;
            }
        };
        let mut width = input.as_ref().map(|input| input.width);
        let mut layers = Vec::new();
        for layer in layers_ast {
            match self.layer(layer, width) {
                Some(checked) => {
                    width = Some(checked.outputs);
                    layers.push(checked);
                }
                None => width = None,
            }
        }
        if block.layers.len() == 1 && input.is_some() {
            self.error(
                Diagnostic::error(
                    Code::Missing,
                    format!("model `{}` has an input but no layer", block.name.name),
                )
                .at(block.name.span, "no layer after `input`")
                .help("add a layer such as `dense 1 sigmoid`"),
            );
        }
        Some((block.name.name.clone(), input?, layers))
    }

    fn input(&mut self, layer: &ast::Layer) -> Option<Input> {
        let mut width = None;
        for item in &layer.items {
            match (&item.kind, width) {
                (ValueKind::Number(n), None) => width = self.units(*n, item.span, "input width"),
                _ => self.error(
                    Diagnostic::error(Code::WrongType, "`input` takes one number, its width")
                        .at(item.span, "unexpected here"),
                ),
            }
        }
        self.reject_init(layer);
        if width.is_none() && layer.items.is_empty() {
            self.error(
                Diagnostic::error(Code::Missing, "`input` needs its width")
                    .at(layer.span, "width missing")
                    .help("write for example `input 4`"),
            );
        }
        width.map(|width| Input {
            width,
            span: layer.span,
        })
    }

    fn reject_init(&mut self, layer: &ast::Layer) {
        if let Some(init) = &layer.init {
            self.error(
                Diagnostic::error(
                    Code::WrongType,
                    format!("`{}` has no weights to initialise", layer.kind.name),
                )
                .at(init.span, "`init` is not allowed here"),
            );
        }
    }

    /// A positive whole number of units.
    fn units(&mut self, n: f64, span: Span, what: &str) -> Option<usize> {
        if n.fract() == 0.0 && (1.0..=1e9).contains(&n) {
            Some(n as usize)
        } else {
            self.error(
                Diagnostic::error(
                    Code::OutOfRange,
                    format!("the {what} must be a whole number of at least 1"),
                )
                .at(span, format!("{what} {n}")),
            );
            None
        }
    }

    /// A layer after `input`; `inputs` is `None` when an earlier error hid the width.
    fn layer(&mut self, layer: &ast::Layer, inputs: Option<usize>) -> Option<Layer> {
        match layer.kind.name.as_str() {
            "dense" => self.dense(layer, inputs),
            "input" => {
                self.error(
                    Diagnostic::error(Code::Duplicate, "`input` may only be the first line of a model")
                        .at(layer.kind.span, "a second `input`"),
                );
                None
            }
            other => {
                self.error(
                    Diagnostic::error(Code::UnknownName, format!("unknown layer `{other}`"))
                        .at(layer.kind.span, "not a layer nnspec knows")
                        .note(format!("layers are: {}", LAYERS.join(", ")))
                        .help_opt(did_you_mean(other, LAYERS)),
                );
                None
            }
        }
    }

    fn dense(&mut self, layer: &ast::Layer, inputs: Option<usize>) -> Option<Layer> {
        let mut units = None;
        let mut activation = None;
        let mut ok = true;
        for item in &layer.items {
            match &item.kind {
                ValueKind::Number(n) if units.is_none() && activation.is_none() => {
                    units = self.units(*n, item.span, "unit count");
                    ok &= units.is_some();
                }
                ValueKind::Ident(word) if activation.is_none() => match Activation::from_keyword(word) {
                    Some(found) => activation = Some(found),
                    None => {
                        ok = false;
                        self.error(
                            Diagnostic::error(Code::UnknownName, format!("unknown activation `{word}`"))
                                .at(item.span, "not an activation nnspec knows")
                                .note(format!("activations are: {}", activation_list()))
                                .help_opt(did_you_mean(word, Activation::ALL.map(Activation::keyword))),
                        );
                    }
                },
                _ => {
                    ok = false;
                    self.error(
                        Diagnostic::error(Code::WrongType, "unexpected item in a `dense` layer")
                            .at(item.span, "not expected here")
                            .help("write `dense UNITS ACTIVATION init INIT`, e.g. `dense 16 relu init he`"),
                    );
                }
            }
        }
        let init = match &layer.init {
            Some(value) => self.init(value),
            None => Some(Init::Default),
        };
        if units.is_none() && ok {
            self.error(
                Diagnostic::error(Code::Missing, "`dense` needs its number of units")
                    .at(layer.kind.span, "unit count missing")
                    .help("write for example `dense 16 relu`"),
            );
        }
        let activation = activation.unwrap_or(Activation::Identity);
        Some(Layer {
            kind: LayerKind::Dense {
                activation,
                init: init?,
            },
            inputs: inputs?,
            outputs: units?,
            span: layer.span,
        })
    }

    fn init(&mut self, value: &Value) -> Option<Init> {
        let (name, args, span) = match &value.kind {
            ValueKind::Ident(word) => (word.as_str(), &[][..], value.span),
            ValueKind::Call(call) => (call.name.name.as_str(), call.args.as_slice(), call.name.span),
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("`init` takes an initialiser, found {}", value.kind.describe()),
                    )
                    .at(value.span, "expected an initialiser")
                    .help(format!("initialisers are: {}", Init::KEYWORDS.join(", "))),
                );
                return None;
            }
        };
        if name == "uniform" {
            let mut args = Args::bind("uniform", value.span, args, &["low", "high"], 2, &mut self.diags);
            args.require("low", "-1");
            args.require("high", "1");
            let low = args.number_where("low", 0.0, "a finite number", |_| true);
            let high = args.number_where("high", 1.0, "a finite number", |_| true);
            if low >= high {
                self.error(
                    Diagnostic::error(Code::OutOfRange, "`uniform(low, high)` needs low < high")
                        .at(value.span, format!("low {low} is not below high {high}")),
                );
                return None;
            }
            return Some(Init::Uniform { low, high });
        }
        match Init::from_keyword(name) {
            Some(init) => {
                if !args.is_empty() {
                    self.error(
                        Diagnostic::error(Code::WrongType, format!("`{name}` takes no arguments"))
                            .at(value.span, "remove the arguments"),
                    );
                }
                Some(init)
            }
            None => {
                self.error(
                    Diagnostic::error(Code::UnknownName, format!("unknown initialiser `{name}`"))
                        .at(span, "not an initialiser nnspec knows")
                        .note(format!("initialisers are: {}", Init::KEYWORDS.join(", ")))
                        .help_opt(did_you_mean(name, Init::KEYWORDS)),
                );
                None
            }
        }
    }

    /// A keyword-like value: `mse` or `mse()`; returns the name, its span and the call's args.
    fn named<'v>(&mut self, value: &'v Value, what: &str) -> Option<(&'v str, Span, &'v [ast::Arg])> {
        match &value.kind {
            ValueKind::Ident(word) => Some((word, value.span, &[])),
            ValueKind::Call(call) => Some((&call.name.name, call.name.span, &call.args)),
            other => {
                self.error(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("expected a {what} name, found {}", other.describe()),
                    )
                    .at(value.span, format!("expected a {what}")),
                );
                None
            }
        }
    }

    fn loss(&mut self, value: &Value) -> Option<LossSpec> {
        let (name, span, args) = self.named(value, "loss")?;
        let Some(loss) = Loss::from_keyword(name) else {
            self.error(
                Diagnostic::error(Code::UnknownName, format!("unknown loss `{name}`"))
                    .at(span, "not a loss nnspec knows")
                    .note(format!("losses are: {}", Loss::ALL.map(Loss::keyword).join(", ")))
                    .help_opt(did_you_mean(name, Loss::ALL.map(Loss::keyword))),
            );
            return None;
        };
        Args::bind(name, value.span, args, &[], 0, &mut self.diags);
        Some(LossSpec { loss, span: value.span })
    }

    fn optimizer(&mut self, value: &Value) -> Option<OptimizerSpec> {
        let (name, span, args) = self.named(value, "optimizer")?;
        let optimizer = match name {
            "sgd" => {
                let mut args = Args::bind(name, value.span, args, &["lr"], 1, &mut self.diags);
                let lr = args.number_where("lr", Sgd::default().lr, "a number above 0", |lr| lr > 0.0);
                Optimizer::Sgd(Sgd { lr })
            }
            _ => {
                self.error(
                    Diagnostic::error(Code::UnknownName, format!("unknown optimizer `{name}`"))
                        .at(span, "not an optimizer nnspec knows")
                        .note(format!("optimizers are: {}", Optimizer::KEYWORDS.join(", ")))
                        .help_opt(did_you_mean(name, Optimizer::KEYWORDS)),
                );
                return None;
            }
        };
        Some(OptimizerSpec {
            optimizer,
            span: value.span,
        })
    }

    fn data(&mut self, calls: &[ast::Call], span: Span) -> Option<Data> {
        let (source_call, modifiers) = calls.split_first()?;
        for modifier in modifiers {
            self.error(
                Diagnostic::error(
                    Code::UnknownName,
                    format!("unknown data modifier `{}`", modifier.name.name),
                )
                .at(modifier.name.span, "not a data modifier nnspec knows")
                .note("this version of nnspec has no data modifiers"),
            );
        }
        let name = source_call.name.name.as_str();
        let source = match name {
            "csv" => {
                let params = ["path", "target", "features", "ignore"];
                let mut args = Args::bind("csv", source_call.span, &source_call.args, &params, 1, &mut self.diags);
                args.require("path", "\"data/train.csv\"");
                args.require("target", "\"y\"");
                let path = args.string("path");
                let targets = args.strings("target");
                let features = args.strings("features");
                let ignore = args.strings("ignore").unwrap_or_default();
                if targets.as_ref().is_some_and(Vec::is_empty) {
                    let value = args.value("target").expect("present");
                    args.error(
                        Diagnostic::error(Code::OutOfRange, "`target` names no column")
                            .at(value.span, "empty list")
                            .help("name at least one target column"),
                    );
                }
                let (shown, path_span) = path?;
                DataSource::Csv(CsvSource {
                    path: self.spec_dir.join(&shown),
                    shown,
                    targets: targets?,
                    features,
                    ignore,
                    span: path_span,
                })
            }
            "random" => {
                let params = ["rows", "inputs", "targets", "seed"];
                let mut args = Args::bind(
                    "random",
                    source_call.span,
                    &source_call.args,
                    &params,
                    0,
                    &mut self.diags,
                );
                args.require("rows", "100");
                args.require("inputs", "1");
                let rows = args.count("rows", 1, 1);
                let inputs = args.count("inputs", 1, 1);
                let targets = args.count("targets", 1, 1);
                let seed = args.count("seed", 0, 0) as u64;
                DataSource::Random {
                    rows,
                    inputs,
                    targets,
                    seed,
                }
            }
            other => {
                self.error(
                    Diagnostic::error(Code::UnknownName, format!("unknown data source `{other}`"))
                        .at(source_call.name.span, "not a data source nnspec knows")
                        .note(format!("data sources are: {}", DATA_SOURCES.join(", ")))
                        .help_opt(did_you_mean(other, DATA_SOURCES)),
                );
                return None;
            }
        };
        Some(Data { source, span })
    }

    fn train(&mut self, args: &[ast::Arg], span: Span) -> Option<Train> {
        let params = ["epochs", "batch", "seed", "shuffle", "log_every"];
        let mut args = Args::bind("train", span, args, &params, 0, &mut self.diags);
        args.require("epochs", "10");
        let epochs = args.count("epochs", 1, 1);
        let batch = match args.value("batch") {
            None => Batch::Rows(32),
            Some(Value {
                kind: ValueKind::Ident(word),
                ..
            }) if word == "full" => Batch::Full,
            Some(Value {
                kind: ValueKind::Number(_),
                ..
            }) => Batch::Rows(args.count("batch", 32, 1)),
            Some(other) => {
                args.wrong_type_of("batch", "a number of rows or `full`", other);
                Batch::Rows(32)
            }
        };
        let seed = args.count("seed", 0, 0) as u64;
        let shuffle = args.boolean("shuffle", true);
        let log_every = args.count("log_every", 1, 1);
        Some(Train {
            epochs,
            batch,
            seed,
            shuffle,
            log_every,
            span,
        })
    }

    /// Checks that need several statements at once.
    fn cross_check(&mut self, model: &Model) {
        let output = model.output_width();
        let last_span = model.layers.last().map_or(model.input.span, |layer| layer.span);
        if model.loss.loss == Loss::Bce && model.output_activation() != Some(Activation::Sigmoid) {
            self.error(
                Diagnostic::error(
                    Code::LossMismatch,
                    "`bce` needs outputs in [0, 1], from a final `sigmoid`",
                )
                .at(model.loss.span, "binary cross-entropy")
                .with_context(last_span, "this last layer does not end in `sigmoid`")
                .help("end the model with a `sigmoid` activation, e.g. `dense 1 sigmoid`"),
            );
        }
        let (inputs, targets) = match &model.data.source {
            DataSource::Random { inputs, targets, .. } => (Some(*inputs), *targets),
            // The CSV's feature count is known only from its header, checked with the data.
            DataSource::Csv(csv) => (None, csv.targets.len()),
        };
        if let Some(inputs) = inputs.filter(|&inputs| inputs != model.input.width) {
            self.error(
                Diagnostic::error(
                    Code::DataShape,
                    format!(
                        "the data has {inputs} input column(s) but the model's input is {}",
                        model.input.width
                    ),
                )
                .at(model.data.span, format!("{inputs} input(s)"))
                .with_context(model.input.span, format!("input width {}", model.input.width)),
            );
        }
        if targets != output {
            self.error(
                Diagnostic::error(
                    Code::DataShape,
                    format!("the data has {targets} target column(s) but the model has {output} output(s)"),
                )
                .at(model.data.span, format!("{targets} target(s)"))
                .with_context(last_span, format!("{output} output(s)"))
                .help("make the last layer's width the number of target columns"),
            );
        }
    }
}

fn activation_list() -> String {
    Activation::ALL.map(Activation::keyword).join(", ")
}
