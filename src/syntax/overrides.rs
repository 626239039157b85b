//! `--set key=value`: changes to a spec made on the command line, applied to the AST before
//! checking, so an overridden value is checked exactly like one written in the file.
//!
//! Keys name a statement and an argument: `train.epochs`, `train.batch`, `optimizer.lr`,
//! `optimizer.schedule`, `data.path`, `data.target`; `loss` and `optimizer` replace the whole
//! statement's value (`--set loss=mae`).

use super::ast::{Arg, Call, Ident, Spec, Statement, Value, ValueKind};
use super::parser::parse_value;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};

/// Applies `key=value` overrides in order. A new value takes the span of the text it replaces
/// (or of its statement), so any error in it points at the right place of the spec.
pub fn apply(spec: &mut Spec, overrides: &[String]) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    for text in overrides {
        if let Err(error) = apply_one(spec, text) {
            errors.push(error);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn apply_one(spec: &mut Spec, text: &str) -> Result<(), Diagnostic> {
    let bad = |message: String| Diagnostic::error(Code::UnknownName, format!("--set {text}: {message}"));
    let (key, value_text) = text.split_once('=').ok_or_else(|| {
        Diagnostic::error(Code::Syntax, format!("--set {text}: expected `key=value`"))
            .help("for example `--set train.epochs=5`")
    })?;
    let mut value = parse_value(value_text.trim())
        .map_err(|d| Diagnostic::error(Code::Syntax, format!("--set {text}: the value is not valid: {}", d.message)))?;
    let (statement, argument) = match key.trim().split_once('.') {
        Some((statement, argument)) => (statement, Some(argument)),
        None => (key.trim(), None),
    };
    const STATEMENTS: [&str; 4] = ["loss", "optimizer", "data", "train"];
    let found = spec.statements.iter_mut().find(|s| match s {
        Statement::Loss(_) => statement == "loss",
        Statement::Optimizer(_) => statement == "optimizer",
        Statement::Data { .. } => statement == "data",
        Statement::Train { .. } => statement == "train",
        Statement::Model(_) | Statement::Unknown(_) => false,
    });
    let Some(found) = found else {
        if statement == "model" {
            return Err(bad("the model cannot be changed with `--set`; edit the spec".into()));
        }
        return Err(bad(format!("no `{statement}` statement to change")).help_opt(did_you_mean(statement, STATEMENTS)));
    };
    match (found, argument) {
        (Statement::Loss(old) | Statement::Optimizer(old), None) => {
            reanchor(&mut value, old.span);
            *old = value;
        }
        (Statement::Optimizer(old), Some(argument)) => match &mut old.kind {
            ValueKind::Call(call) => set_argument(&mut call.args, argument, value, call.span),
            ValueKind::Ident(name) => {
                let span = old.span;
                reanchor(&mut value, span);
                let call = Call {
                    name: Ident { name: name.clone(), span },
                    args: vec![Arg { name: Some(Ident { name: argument.to_string(), span }), value, span }],
                    span,
                };
                *old = Value { kind: ValueKind::Call(call), span };
            }
            _ => return Err(bad("the optimizer is not a call".into())),
        },
        (Statement::Data { calls, .. }, Some(argument)) => {
            let source = calls.first_mut().ok_or_else(|| bad("the data statement is empty".into()))?;
            set_argument(&mut source.args, argument, value, source.span);
        }
        (Statement::Train { args, span }, Some(argument)) => set_argument(args, argument, value, *span),
        (_, None) => return Err(bad(format!("name an argument, as in `{statement}.NAME=VALUE`"))),
        (_, Some(_)) => {
            return Err(bad(format!("`{statement}` has no arguments to set; use `--set {statement}=VALUE`")));
        }
    }
    Ok(())
}

/// Points every span inside `value` at `span`: the parsed override's own offsets index the
/// `--set` text, not the spec, so errors inside it point at the text it replaces.
fn reanchor(value: &mut Value, span: crate::span::Span) {
    value.span = span;
    match &mut value.kind {
        ValueKind::Call(call) => {
            call.span = span;
            call.name.span = span;
            for arg in &mut call.args {
                arg.span = span;
                if let Some(name) = &mut arg.name {
                    name.span = span;
                }
                reanchor(&mut arg.value, span);
            }
        }
        ValueKind::List(items) => items.iter_mut().for_each(|item| reanchor(item, span)),
        ValueKind::Number(_) | ValueKind::Str(_) | ValueKind::Ident(_) => {}
    }
}

/// Replaces the named argument, or adds it. Unknown names are left to the checker, which
/// reports them with a did-you-mean like any other.
fn set_argument(args: &mut Vec<Arg>, name: &str, mut value: Value, fallback: crate::span::Span) {
    match args.iter_mut().find(|arg| arg.name.as_ref().is_some_and(|n| n.name == name)) {
        Some(arg) => {
            reanchor(&mut value, arg.value.span);
            arg.value = value;
        }
        None => {
            reanchor(&mut value, fallback);
            args.push(Arg { name: Some(Ident { name: name.to_string(), span: fallback }), value, span: fallback });
        }
    }
}
