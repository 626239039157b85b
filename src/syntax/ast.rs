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

/// One line of a model block: `dense 16 relu init he`, `batch_norm(momentum: 0.2) relu`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub kind: Ident,
    /// Arguments when the kind is written as a call: `leaky_relu(0.2)`.
    pub args: Option<Vec<Arg>>,
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

/// Specs print back in a canonical form: one statement per line, layers indented, numbers in
/// Rust's shortest round-trip form, comments dropped.
mod display {
    use std::fmt::{self, Display, Formatter};

    use super::*;

    fn join<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }

    impl Display for Value {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            match &self.kind {
                // Plain notation for whole numbers and unless scientific is two or more characters
                // shorter: `60000`, `0.005`, `1e-4`.
                // A literal too large for f64 (`1e400`) is infinite: printed as a literal that
                // reads back the same, never as `inf`, which would not parse.
                ValueKind::Number(n) if n.is_infinite() => f.write_str(if *n > 0.0 { "1e999" } else { "-1e999" }),
                ValueKind::Number(n) => {
                    let (plain, scientific) = (format!("{n}"), format!("{n:e}"));
                    let whole = n.fract() == 0.0 && n.abs() < 1e15;
                    f.write_str(if !whole && scientific.len() + 2 <= plain.len() { &scientific } else { &plain })
                }
                ValueKind::Str(text) => write!(f, "\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
                ValueKind::Ident(name) => write!(f, "{name}"),
                ValueKind::Call(call) => write!(f, "{call}"),
                ValueKind::List(items) => {
                    write!(f, "[")?;
                    join(f, items)?;
                    write!(f, "]")
                }
            }
        }
    }

    impl Display for Call {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write!(f, "{}(", self.name.name)?;
            join(f, &self.args)?;
            write!(f, ")")
        }
    }

    impl Display for Arg {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            match &self.name {
                Some(name) => write!(f, "{}: {}", name.name, self.value),
                None => write!(f, "{}", self.value),
            }
        }
    }

    impl Display for Layer {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.kind.name)?;
            if let Some(args) = &self.args {
                write!(f, "(")?;
                join(f, args)?;
                write!(f, ")")?;
            }
            for item in &self.items {
                write!(f, " {item}")?;
            }
            if let Some(init) = &self.init {
                write!(f, " init {init}")?;
            }
            Ok(())
        }
    }

    impl Display for Statement {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            match self {
                Statement::Model(block) => {
                    writeln!(f, "model {} {{", block.name.name)?;
                    for layer in &block.layers {
                        writeln!(f, "    {layer}")?;
                    }
                    write!(f, "}}")
                }
                Statement::Loss(value) => write!(f, "loss {value}"),
                Statement::Optimizer(value) => write!(f, "optimizer {value}"),
                Statement::Data { calls, .. } => {
                    write!(f, "data")?;
                    calls.iter().try_for_each(|call| write!(f, " {call}"))
                }
                Statement::Train { args, .. } => {
                    write!(f, "train {{ ")?;
                    join(f, args)?;
                    write!(f, " }}")
                }
                Statement::Unknown(ident) => write!(f, "{} ...", ident.name),
            }
        }
    }

    impl Display for Spec {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            self.statements.iter().try_for_each(|statement| writeln!(f, "{statement}"))
        }
    }
}
