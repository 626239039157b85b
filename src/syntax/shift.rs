//! Moving an AST's spans: a statement parsed on its own (after a syntax error) or a `--set`
//! value parsed from its own text has offsets into that text; shifting them by where the text
//! starts makes them offsets into the source.

use super::ast::{Arg, Call, Ident, Layer, Statement, Value, ValueKind};
use crate::span::Span;

/// Adds `by` to every span inside.
pub trait Shift {
    fn shift(&mut self, by: usize);
}

impl Shift for Span {
    fn shift(&mut self, by: usize) {
        *self = Span::new(self.start + by, self.end + by);
    }
}

impl Shift for Ident {
    fn shift(&mut self, by: usize) {
        self.span.shift(by);
    }
}

impl Shift for Value {
    fn shift(&mut self, by: usize) {
        self.span.shift(by);
        match &mut self.kind {
            ValueKind::Call(call) => call.shift(by),
            ValueKind::List(items) => items.iter_mut().for_each(|item| item.shift(by)),
            ValueKind::Number(_) | ValueKind::Str(_) | ValueKind::Ident(_) => {}
        }
    }
}

impl Shift for Arg {
    fn shift(&mut self, by: usize) {
        self.span.shift(by);
        if let Some(name) = &mut self.name {
            name.shift(by);
        }
        self.value.shift(by);
    }
}

impl Shift for Call {
    fn shift(&mut self, by: usize) {
        self.span.shift(by);
        self.name.shift(by);
        self.args.iter_mut().for_each(|arg| arg.shift(by));
    }
}

impl Shift for Layer {
    fn shift(&mut self, by: usize) {
        self.span.shift(by);
        self.kind.shift(by);
        self.args.iter_mut().flatten().for_each(|arg| arg.shift(by));
        self.items.iter_mut().for_each(|item| item.shift(by));
        if let Some(init) = &mut self.init {
            init.shift(by);
        }
    }
}

impl Shift for Statement {
    fn shift(&mut self, by: usize) {
        match self {
            Statement::Model(block) => {
                block.span.shift(by);
                block.name.shift(by);
                block.layers.iter_mut().for_each(|layer| layer.shift(by));
            }
            Statement::Loss(value) | Statement::Optimizer(value) => value.shift(by),
            Statement::Data { calls, span } => {
                span.shift(by);
                calls.iter_mut().for_each(|call| call.shift(by));
            }
            Statement::Train { args, span } => {
                span.shift(by);
                args.iter_mut().for_each(|arg| arg.shift(by));
            }
            Statement::Unknown(ident) => ident.shift(by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_of_a_statement_moves() {
        let text = "model m {\n  input 2\n  leaky_relu(0.2) init uniform(-1, 1)\n}\ntrain { epochs: 3, early_stop(patience: 2) }\n";
        let mut spec = crate::syntax::parse(text).expect("valid");
        let padded = format!("{}{text}", " ".repeat(7));
        let expected = crate::syntax::parse(&padded).expect("valid");
        spec.statements.iter_mut().for_each(|statement| statement.shift(7));
        assert_eq!(format!("{spec:?}"), format!("{expected:?}"));
    }
}
