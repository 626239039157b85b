//! The abstract syntax of a spec: what the text says, before any meaning is checked.
//! Names are kept as written (with spans) so that `check` can suggest corrections.

use crate::span::Span;

/// A whole `.nn` file: its statements in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Model(ModelBlock),
    /// `loss mse`, `loss huber(delta: 1)`.
    Loss(Value),
    /// `optimizer sgd(lr: 0.01)`.
    Optimizer(Value),
    /// `data csv(...) split(...)`: a source followed by modifiers.
    Data {
        calls: Vec<Call>,
        span: Span,
    },
    /// `train { epochs: 10, batch: 32 }`.
    Train {
        args: Vec<Arg>,
        span: Span,
    },
    /// A statement whose keyword is not known; kept for a did-you-mean.
    Unknown(Ident),
}

/// `model name { layer... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelBlock {
    pub name: Ident,
    pub layers: Vec<Layer>,
    pub span: Span,
}

/// One line of a model block: `dense 16 relu init he`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub kind: Ident,
    /// Positional items after the kind, in order.
    pub items: Vec<Value>,
    pub init: Option<Value>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Number(f64),
    Str(String),
    Ident(String),
    Call(Call),
    List(Vec<Value>),
}

/// `name(arg, key: value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A positional (`name == None`) or named argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}

impl ValueKind {
    /// What kind of value this is, in words, for "expected a number, found a string".
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Number(_) => "a number",
            ValueKind::Str(_) => "a string",
            ValueKind::Ident(_) => "a name",
            ValueKind::Call(_) => "a call",
            ValueKind::List(_) => "a list",
        }
    }
}
