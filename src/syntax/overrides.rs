//! `--set key=value`: changes to a spec made on the command line, applied to the AST before
//! checking, so an overridden value is checked exactly like one written in the file.
//!
//! Keys name a statement and an argument: `train.epochs`, `train.batch`, `optimizer.lr`,
//! `optimizer.schedule`, `data.path`, `data.target`; `loss` and `optimizer` replace the whole
//! statement's value (`--set loss=mae`). A value is written as in a spec (`5`, `0.1`, `mae`,
//! `adam(lr: 0.01)`, `"y"`, `["a", "b"]`), except that where the spec's argument is a string
//! (`data.path`, `data.target`, ...), the text itself is the string unless quoted or a list:
//! `--set data.target=x1`, `--set data.path=data/other.csv`; in a list, and in a list of
//! classes, each bare word is a string: `--set 'data.classes=[no, yes]'`.
//!
//! Each override becomes a piece of the spec's `Source` (shown as `--set key=value` from
//! `<command line>`), and its value's spans point into that piece: an error in an overridden
//! value is shown where the user typed it, with a note showing the spec's text it replaced.

use super::ast::{Arg, Call, Ident, Spec, Statement, Value, ValueKind};
use super::parser::parse_value;
use super::shift::Shift;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::span::{Source, Span, Target};

/// Where overrides are shown to come from.
const ORIGIN: &str = "<command line>";

/// How an override is shown: as the user typed it.
const PREFIX: &str = "--set ";

/// The arguments of a `csv` source that take strings (or lists of strings): a bare word given
/// to one of them is that string.
const STRING_ARGUMENTS: [&str; 6] = ["path", "target", "features", "ignore", "na_values", "delimiter"];

/// Applies `key=value` overrides in order. Each is added to `source` as a piece its values'
/// spans point into, with what it changed in the spec recorded.
pub fn apply(spec: &mut Spec, overrides: &[String], source: &mut Source) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    for text in overrides {
        let start = source.add_piece(ORIGIN, format!("{PREFIX}{text}"));
        match apply_one(spec, text, start + PREFIX.len()) {
            Ok(target) => source.set_target(start, target),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The span of `part` (a slice of `text`) in the source, where `text` starts at `at`.
fn span_in(text: &str, part: &str, at: usize) -> Span {
    let offset = part.as_ptr() as usize - text.as_ptr() as usize;
    Span::new(at + offset, at + offset + part.len())
}

/// What an override's value must be, which decides how its text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Anything a spec may write there: the text is parsed as in a spec.
    Value,
    /// A string (or a list of strings): unless quoted or a list, the text itself is the string;
    /// in a list, a bare word is a string.
    Text,
    /// Class labels: a word alone (`auto`) stays a word, but each word of a list is a label.
    Labels,
}

/// An override's value as typed, with its span in the source.
struct Typed<'a> {
    text: &'a str,
    span: Span,
}

impl Typed<'_> {
    /// The value, read as `expect` says.
    fn value(&self, expect: Expect) -> Result<Value, Diagnostic> {
        if expect == Expect::Text && !self.text.starts_with(['"', '[']) {
            return Ok(Value { kind: ValueKind::Str(self.text.to_string()), span: self.span });
        }
        let mut value = parse_value(self.text).map_err(|mut error| {
            if let Some((span, _)) = error.span.as_mut() {
                span.shift(self.span.start);
            }
            error.note(
                "a value is written as in a spec: `5`, `0.1`, `mae`, `adam(lr: 0.01)`, `\"y\"`, `[\"a\", \"b\"]` \
                 (quoted for the shell: `--set 'data.target=\"y\"'`)",
            )
        })?;
        value.shift(self.span.start);
        match expect {
            Expect::Text => words_as_strings(&mut value),
            Expect::Labels => {
                if let ValueKind::List(labels) = &mut value.kind {
                    labels.iter_mut().for_each(words_as_strings);
                }
            }
            Expect::Value => {}
        }
        Ok(value)
    }
}

fn apply_one(spec: &mut Spec, text: &str, at: usize) -> Result<Target, Diagnostic> {
    let whole = Span::new(at, at + text.len());
    let (key_text, value_text) = text.split_once('=').ok_or_else(|| {
        Diagnostic::error(Code::Syntax, "`--set` takes `key=value`")
            .at(whole, "no `=`")
            .help("for example `--set train.epochs=5`")
    })?;
    let key = key_text.trim();
    let typed = Typed { text: value_text.trim(), span: span_in(text, value_text.trim(), at) };
    let (statement, argument) = match key.split_once('.') {
        Some((statement, argument)) => (statement.trim(), Some(argument.trim())),
        None => (key, None),
    };
    let statement_span = span_in(text, statement, at);
    let argument_span = argument.map(|argument| span_in(text, argument, at));
    const STATEMENTS: [&str; 4] = ["loss", "optimizer", "data", "train"];
    let bad = |message: String, label: &str| {
        Diagnostic::error(Code::UnknownName, format!("`--set`: {message}")).at(statement_span, label)
    };
    if !STATEMENTS.contains(&statement) {
        if statement == "model" {
            return Err(bad("the model cannot be changed with `--set`".into(), "not settable")
                .help("edit the spec's `model` block"));
        }
        return Err(bad(format!("no statement `{statement}` to change"), "not a statement")
            .note("the keys are `loss`, `optimizer`, `optimizer.ARG`, `data.ARG` and `train.ARG`")
            .help_opt(did_you_mean(statement, STATEMENTS)));
    }
    let found = spec.statements.iter_mut().find(|s| match s {
        Statement::Loss(_) => statement == "loss",
        Statement::Optimizer(_) => statement == "optimizer",
        Statement::Data { .. } => statement == "data",
        Statement::Train { .. } => statement == "train",
        Statement::Model(_) | Statement::Unknown(_) => false,
    });
    let Some(found) = found else {
        return Err(Diagnostic::error(Code::Missing, format!("`--set`: the spec has no `{statement}` statement"))
            .at(statement_span, "nothing to change")
            .help(format!("add a `{statement}` statement to the spec")));
    };
    let named = |argument: &str, span: Span| Ident { name: argument.to_string(), span };
    match (found, argument.zip(argument_span)) {
        (Statement::Loss(old) | Statement::Optimizer(old), None) => {
            let replaced = old.span;
            *old = typed.value(Expect::Value)?;
            Ok(Target::Replaces(replaced))
        }
        (Statement::Optimizer(old), Some((argument, span))) => match &mut old.kind {
            // Every optimizer takes `lr` by position too.
            ValueKind::Call(call) => set_argument(call, named(argument, span), &typed, Expect::Value, &["lr"]),
            ValueKind::Ident(name) => {
                let at = old.span;
                let value = typed.value(Expect::Value)?;
                let arg = Arg { name: Some(named(argument, span)), span: span.to(value.span), value };
                let name = Ident { name: name.clone(), span: at };
                *old = Value { kind: ValueKind::Call(Call { name, args: vec![arg], span: at }), span: at };
                Ok(Target::AddsTo(at))
            }
            _ => Err(bad("the optimizer is not a call".into(), "cannot set an argument")),
        },
        (Statement::Data { calls, .. }, Some((argument, span))) => {
            let source = calls.first_mut().ok_or_else(|| bad("the data statement is empty".into(), "empty"))?;
            let csv = source.name.name == "csv";
            let expect = match argument {
                _ if !csv => Expect::Value,
                "classes" => Expect::Labels,
                _ if STRING_ARGUMENTS.contains(&argument) => Expect::Text,
                _ => Expect::Value,
            };
            let positional: &[&str] = if csv { &["path"] } else { &[] };
            set_argument(source, named(argument, span), &typed, expect, positional)
        }
        (Statement::Train { args, span: train_span }, Some((argument, span))) => {
            let mut block = Call { name: named("train", *train_span), args: std::mem::take(args), span: *train_span };
            let target = set_argument(&mut block, named(argument, span), &typed, Expect::Value, &[]);
            *args = block.args;
            target
        }
        (_, None) => Err(bad(format!("name an argument, as in `{statement}.NAME=VALUE`"), "no argument named")),
        (_, Some(_)) => Err(bad(
            format!("`{statement}` has no arguments to set; use `--set {statement}=VALUE`"),
            "takes a whole value",
        )),
    }
}

/// A bare word (or a list of them) given where a string is expected is that string.
fn words_as_strings(value: &mut Value) {
    match &mut value.kind {
        ValueKind::Ident(word) => value.kind = ValueKind::Str(std::mem::take(word)),
        ValueKind::List(items) => items.iter_mut().for_each(words_as_strings),
        _ => {}
    }
}

/// Replaces the named argument (or the positional one standing for it: `positional` lists the
/// parameters that may be given by position, in order), or adds it. A value replacing a string
/// is read as a string. Unknown names are left to the checker, which reports them with a
/// did-you-mean like any other.
fn set_argument(
    call: &mut Call,
    name: Ident,
    typed: &Typed,
    expect: Expect,
    positional: &[&str],
) -> Result<Target, Diagnostic> {
    let by_name = call.args.iter().position(|arg| arg.name.as_ref().is_some_and(|n| n.name == name.name));
    let by_position = || {
        let index = positional.iter().position(|p| *p == name.name)?;
        let leading = call.args.iter().take_while(|arg| arg.name.is_none()).count();
        (index < leading).then_some(index)
    };
    match by_name.or_else(by_position) {
        Some(index) => {
            let arg = &mut call.args[index];
            let expect = if matches!(arg.value.kind, ValueKind::Str(_)) { Expect::Text } else { expect };
            let replaced = arg.value.span;
            arg.value = typed.value(expect)?;
            Ok(Target::Replaces(replaced))
        }
        None => {
            let value = typed.value(expect)?;
            let span = name.span.to(value.span);
            call.args.push(Arg { name: Some(name), value, span });
            Ok(Target::AddsTo(call.span))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "loss mse\noptimizer sgd(0.1)\ndata csv(\"a.csv\", target: \"y\")\ntrain { epochs: 3 }\n";

    fn applied(overrides: &[&str]) -> (Spec, Source) {
        let mut spec = crate::syntax::parse(SPEC).expect("valid");
        let mut source = Source::new("m.nn", SPEC);
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        apply(&mut spec, &overrides, &mut source).expect("applies");
        (spec, source)
    }

    #[test]
    fn values_point_into_the_override_and_remember_what_they_replaced() {
        let (spec, source) = applied(&["train.epochs=-1"]);
        let Statement::Train { args, .. } = &spec.statements[3] else { panic!() };
        let resolved = source.resolve(args[0].value.span);
        assert_eq!((resolved.name, &resolved.text[resolved.range]), ("<command line>", "-1"));
        let Some(Target::Replaces(replaced)) = source.pieces()[0].target else { panic!() };
        assert_eq!(&SPEC[replaced.range()], "3");
    }

    #[test]
    fn positional_arguments_are_replaced_and_bare_words_are_strings_where_strings_are_expected() {
        let (spec, _) = applied(&["data.path=b.csv", "data.target=x1", "optimizer.lr=0.5"]);
        let Statement::Data { calls, .. } = &spec.statements[2] else { panic!() };
        assert_eq!(calls[0].args.len(), 2, "the positional path is replaced, not given twice");
        assert_eq!(calls[0].args[0].value.kind, ValueKind::Str("b.csv".into()));
        assert_eq!(calls[0].args[1].value.kind, ValueKind::Str("x1".into()));
        let Statement::Optimizer(Value { kind: ValueKind::Call(sgd), .. }) = &spec.statements[1] else { panic!() };
        assert_eq!((sgd.args.len(), &sgd.args[0].value.kind), (1, &ValueKind::Number(0.5)));
    }

    #[test]
    fn a_bad_key_is_shown_in_the_override() {
        let mut spec = crate::syntax::parse(SPEC).expect("valid");
        let mut source = Source::new("m.nn", SPEC);
        let errors = apply(&mut spec, &["trian.epochs=5".to_string()], &mut source).unwrap_err();
        let (span, _) = errors[0].span.clone().expect("located");
        let resolved = source.resolve(span);
        assert_eq!(&resolved.text[resolved.range], "trian");
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `train`?"));
    }
}
