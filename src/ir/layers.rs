//! The model block: the input line, then layers whose widths are inferred one from the next.
//! `dense 8 tanh` becomes two IR layers (dense, then tanh), as it is two PyTorch modules.

use super::args::Args;
use super::check::Checker;
use super::model::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::kernels::activation::Activation;
use crate::kernels::init::Init;
use crate::span::Span;
use crate::syntax::ast::{self, Value, ValueKind};

const LAYERS: [&str; 5] = ["input", "dense", "dropout", "batch_norm", "layer_norm"];

impl Checker<'_> {
    pub(super) fn model(&mut self, block: &ast::ModelBlock) -> Option<(String, Input, Vec<Layer>)> {
        let mut lines = block.layers.iter();
        let input = match lines.next() {
            Some(first) if first.kind.name == "input" => self.input(first),
            Some(first) => {
                self.error(
                    Diagnostic::error(Code::Missing, "the model must start with its `input` width")
                        .at(first.kind.span, "expected `input` before this layer")
                        .help("add a first line such as `input 4`"),
                );
                // Check the remaining layers anyway, so their errors are reported too.
                lines = block.layers.iter();
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
        let mut ok = true;
        for line in lines {
            match self.layer(line, width) {
                Some(checked) => {
                    width = checked.last().map_or(width, |layer| Some(layer.outputs));
                    layers.extend(checked);
                }
                None => {
                    ok = false;
                    width = None;
                }
            }
        }
        if block.layers.len() == 1 && input.is_some() {
            self.error(
                Diagnostic::error(Code::Missing, format!("model `{}` has an input but no layer", block.name.name))
                    .at(block.name.span, "no layer after `input`")
                    .help("add a layer such as `dense 1 sigmoid`"),
            );
        }
        self.check_layer_order(&layers);
        (ok && input.is_some()).then(|| (block.name.name.clone(), input.expect("checked"), layers))
    }

    fn input(&mut self, line: &ast::Layer) -> Option<Input> {
        self.reject_args(line);
        self.reject_init(line);
        let mut width = None;
        let mut scaling = Scaling::None;
        let mut ok = true;
        for item in &line.items {
            match &item.kind {
                ValueKind::Number(n) if width.is_none() => {
                    width = self.units(*n, item.span, "input width");
                    ok &= width.is_some();
                }
                ValueKind::Ident(word)
                    if scaling == Scaling::None && matches!(word.as_str(), "standardize" | "minmax") =>
                {
                    scaling = if word == "standardize" { Scaling::Standardize } else { Scaling::MinMax };
                }
                ValueKind::Call(call) if scaling == Scaling::None && call.name.name == "minmax" => {
                    match super::columns::range_of(call, &mut |d| self.diags.push(d)) {
                        Some(range) => scaling = range,
                        None => ok = false,
                    }
                }
                ValueKind::Ident(word) => {
                    ok = false;
                    self.unknown("input scaling", word, item.span, &["standardize", "minmax"]);
                }
                _ => {
                    ok = false;
                    self.error(
                        Diagnostic::error(Code::WrongType, "`input` takes its width and an optional scaling")
                            .at(item.span, "unexpected here")
                            .help("write for example `input 4 standardize`"),
                    );
                }
            }
        }
        // Without a width, the data's columns give it (`data::resolve`).
        if !ok {
            return None;
        }
        Some(Input { width: width.unwrap_or(0), inferred: width.is_none(), scaling, span: line.span })
    }

    fn reject_init(&mut self, line: &ast::Layer) {
        if let Some(init) = &line.init {
            self.error(
                Diagnostic::error(Code::WrongType, format!("`{}` has no weights to initialise", line.kind.name))
                    .at(init.span, "`init` is not allowed here"),
            );
        }
    }

    fn reject_args(&mut self, line: &ast::Layer) {
        if line.args.is_some() {
            self.error(
                Diagnostic::error(Code::WrongType, format!("`{}` takes no arguments in parentheses", line.kind.name))
                    .at(line.kind.span, "remove the parentheses")
                    .help(format!("write `{} ...` with its values after it", line.kind.name)),
            );
        }
    }

    /// A positive whole number of units.
    pub(super) fn units(&mut self, n: f64, span: Span, what: &str) -> Option<usize> {
        if n.fract() == 0.0 && (1.0..=1e9).contains(&n) {
            Some(n as usize)
        } else {
            self.error(
                Diagnostic::error(Code::OutOfRange, format!("the {what} must be a whole number of at least 1"))
                    .at(span, format!("{what} {n}")),
            );
            None
        }
    }

    /// The IR layers one line becomes; `inputs` is `None` when an earlier error hid the width.
    fn layer(&mut self, line: &ast::Layer, inputs: Option<usize>) -> Option<Vec<Layer>> {
        let name = line.kind.name.as_str();
        let (kinds, outputs) = match name {
            "dense" => self.dense(line)?,
            "dropout" => (vec![self.dropout(line)?], None),
            "batch_norm" | "layer_norm" => self.norm(line)?,
            "input" => {
                self.error(
                    Diagnostic::error(Code::Duplicate, "`input` may only be the first line of a model")
                        .at(line.kind.span, "a second `input`"),
                );
                return None;
            }
            _ if Activation::KEYWORDS.contains(&name) => {
                self.reject_init(line);
                let value = Value {
                    kind: match &line.args {
                        Some(args) => {
                            ValueKind::Call(ast::Call { name: line.kind.clone(), args: args.clone(), span: line.span })
                        }
                        None => ValueKind::Ident(name.to_string()),
                    },
                    span: line.kind.span,
                };
                let activation = self.activation(&value)?;
                if let Some(extra) = line.items.first() {
                    self.error(
                        Diagnostic::error(Code::WrongType, format!("`{name}` takes nothing after it"))
                            .at(extra.span, "unexpected here"),
                    );
                    return None;
                }
                (vec![LayerKind::Activation(activation)], None)
            }
            _ => {
                let known: Vec<&str> = LAYERS.iter().chain(&Activation::KEYWORDS).copied().collect();
                self.unknown("layer", name, line.kind.span, &known);
                return None;
            }
        };
        let mut width = inputs?;
        let mut layers = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            let out = if i == 0 { outputs.unwrap_or(width) } else { width };
            layers.push(Layer { kind, inputs: width, outputs: out, span: line.span });
            width = out;
        }
        Some(layers)
    }

    /// `dense UNITS [ACTIVATION] [init INIT]`: the layer kinds and the unit count.
    fn dense(&mut self, line: &ast::Layer) -> Option<(Vec<LayerKind>, Option<usize>)> {
        self.reject_args(line);
        let mut units = None;
        let mut activation = None;
        let mut ok = true;
        for item in &line.items {
            match &item.kind {
                ValueKind::Number(n) if units.is_none() && activation.is_none() => {
                    units = self.units(*n, item.span, "unit count");
                    ok &= units.is_some();
                }
                ValueKind::Ident(_) | ValueKind::Call(_) if activation.is_none() => {
                    activation = self.activation(item);
                    ok &= activation.is_some();
                }
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
        let init = match &line.init {
            Some(value) => self.init(value),
            None => Some(Init::Default),
        };
        if units.is_none() && ok {
            self.error(
                Diagnostic::error(Code::Missing, "`dense` needs its number of units")
                    .at(line.kind.span, "unit count missing")
                    .help("write for example `dense 16 relu`"),
            );
        }
        let units = units?;
        let mut kinds = vec![LayerKind::Dense { init: init? }];
        if let Some(activation) = activation.filter(|a| *a != Activation::Identity) {
            kinds.push(LayerKind::Activation(activation));
        }
        ok.then_some((kinds, Some(units)))
    }

    /// `dropout P`.
    fn dropout(&mut self, line: &ast::Layer) -> Option<LayerKind> {
        self.reject_args(line);
        self.reject_init(line);
        match line.items.as_slice() {
            [Value { kind: ValueKind::Number(p), span }] => {
                // Checked as the kernels hold it: 0.9999999999999 is 1.0 in f32.
                if (0.0..1.0).contains(p) && (*p as f32) < 1.0 {
                    Some(LayerKind::Dropout { p: *p as f32 })
                } else {
                    let label = if (0.0..1.0).contains(p) {
                        format!("{p} is 1 in f32, which drops everything")
                    } else {
                        format!("{p} is outside [0, 1)")
                    };
                    self.error(
                        Diagnostic::error(Code::OutOfRange, "the dropout probability must be in [0, 1)")
                            .at(*span, label)
                            .help("it is the fraction of values dropped, e.g. `dropout 0.1`"),
                    );
                    None
                }
            }
            _ => {
                self.error(
                    Diagnostic::error(Code::WrongType, "`dropout` takes one number, the drop probability")
                        .at(line.span, "expected `dropout P`")
                        .help("write for example `dropout 0.1`"),
                );
                None
            }
        }
    }

    /// `batch_norm [ACTIVATION]`, `layer_norm(eps: 1e-5) [ACTIVATION]`.
    fn norm(&mut self, line: &ast::Layer) -> Option<(Vec<LayerKind>, Option<usize>)> {
        self.reject_init(line);
        let name = line.kind.name.as_str();
        let args = line.args.as_deref().unwrap_or(&[]);
        let kind = if name == "batch_norm" {
            let mut args = Args::bind(name, line.kind.span, args, &["eps", "momentum"], 0, &mut self.diags);
            let eps = args.number_where("eps", 1e-5, "a number above 0", |e| e > 0.0) as f32;
            let momentum = args.number_where("momentum", 0.1, "in (0, 1]", |m| m > 0.0 && m <= 1.0) as f32;
            LayerKind::BatchNorm { eps, momentum }
        } else {
            let mut args = Args::bind(name, line.kind.span, args, &["eps"], 0, &mut self.diags);
            let eps = args.number_where("eps", 1e-5, "a number above 0", |e| e > 0.0) as f32;
            LayerKind::LayerNorm { eps }
        };
        let mut kinds = vec![kind];
        match line.items.as_slice() {
            [] => {}
            [activation] => {
                let activation = self.activation(activation)?;
                if activation != Activation::Identity {
                    kinds.push(LayerKind::Activation(activation));
                }
            }
            [_, extra, ..] => {
                self.error(
                    Diagnostic::error(Code::WrongType, format!("`{name}` takes at most an activation after it"))
                        .at(extra.span, "unexpected here"),
                );
                return None;
            }
        }
        Some((kinds, None))
    }

    /// An activation: `relu`, `leaky_relu(0.2)`, `elu(alpha: 1)`.
    fn activation(&mut self, value: &Value) -> Option<Activation> {
        let (name, span, args) = self.named(value, "an activation")?;
        let Some(default) = Activation::from_keyword(name) else {
            self.unknown("activation", name, span, &Activation::KEYWORDS);
            return None;
        };
        match default {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                let mut args = Args::bind(name, value.span, args, &["alpha"], 1, &mut self.diags);
                let alpha = args.number_where("alpha", f64::from(alpha), "a number above 0", |a| a > 0.0) as f32;
                Some(if name == "elu" { Activation::Elu { alpha } } else { Activation::LeakyRelu { alpha } })
            }
            other => {
                Args::bind(name, value.span, args, &[], 0, &mut self.diags);
                Some(other)
            }
        }
    }

    fn init(&mut self, value: &Value) -> Option<Init> {
        let (name, span, args) = self.named(value, "an initialiser")?;
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
                Args::bind(name, value.span, args, &[], 0, &mut self.diags);
                Some(init)
            }
            None => {
                self.unknown("initialiser", name, span, &Init::KEYWORDS);
                None
            }
        }
    }

    /// Softmax belongs at the end: anywhere else it is almost always a mistake.
    fn check_layer_order(&mut self, layers: &[Layer]) {
        let last = layers.len().saturating_sub(1);
        for (i, layer) in layers.iter().enumerate() {
            if layer.kind == LayerKind::Activation(Activation::Softmax) && i != last {
                self.error(
                    Diagnostic::error(Code::LossMismatch, "`softmax` may only end the model")
                        .at(layer.span, "softmax before the last layer")
                        .help("use another activation here, e.g. `relu`"),
                );
            }
        }
    }
}
