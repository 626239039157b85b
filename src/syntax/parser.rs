//! The pest grammar (`grammar/nnspec.pest`) and the walk from its parse tree to the AST.

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

#[derive(Parser)]
#[grammar = "../grammar/nnspec.pest"]
struct NnParser;

/// Parses a spec. A syntax error stops parsing and is returned as one diagnostic.
pub fn parse(text: &str) -> Result<Spec, Diagnostic> {
    let mut pairs = NnParser::parse(Rule::spec, text).map_err(|error| syntax_error(error, text))?;
    let spec = pairs.next().expect("the spec rule always yields one pair");
    let statements = spec
        .into_inner()
        .filter(|pair| pair.as_rule() != Rule::EOI)
        .map(statement)
        .collect();
    Ok(Spec { statements })
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let span = pair.as_span();
    Span::new(span.start(), span.end())
}

/// The inner pairs of a statement, without its keyword token.
fn without_keyword(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|inner| {
        !matches!(
            inner.as_rule(),
            Rule::kw_model | Rule::kw_loss | Rule::kw_optimizer | Rule::kw_data | Rule::kw_train | Rule::kw_init
        )
    })
}

fn statement(pair: Pair<Rule>) -> Statement {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::model => {
            let mut inner = without_keyword(pair);
            let name = ident(inner.next().expect("model has a name"));
            Statement::Model(ModelBlock {
                name,
                layers: inner.map(layer).collect(),
                span,
            })
        }
        Rule::loss => Statement::Loss(value(without_keyword(pair).next().expect("loss has a value"))),
        Rule::optimizer => Statement::Optimizer(value(without_keyword(pair).next().expect("optimizer has a value"))),
        Rule::data => Statement::Data {
            calls: without_keyword(pair).map(call).collect(),
            span,
        },
        Rule::train => Statement::Train {
            args: without_keyword(pair).map(arg).collect(),
            span,
        },
        Rule::unknown_statement => Statement::Unknown(ident(pair.into_inner().next().expect("has a keyword"))),
        rule => unreachable!("not a statement: {rule:?}"),
    }
}

fn layer(pair: Pair<Rule>) -> Layer {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let kind = ident(inner.next().expect("layer has a kind"));
    let mut items = Vec::new();
    let mut init = None;
    for item in inner {
        if item.as_rule() == Rule::init_clause {
            init = without_keyword(item).next().map(value);
        } else {
            items.push(value(item));
        }
    }
    Layer {
        kind,
        items,
        init,
        span,
    }
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}

fn call(pair: Pair<Rule>) -> Call {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let name = ident(inner.next().expect("call has a name"));
    Call {
        name,
        args: inner.map(arg).collect(),
        span,
    }
}

fn arg(pair: Pair<Rule>) -> Arg {
    let span = span_of(&pair);
    let mut inner: Vec<Pair<Rule>> = pair.into_inner().collect();
    let value = value(inner.pop().expect("arg has a value"));
    let name = inner.pop().map(ident);
    Arg { name, value, span }
}

fn value(pair: Pair<Rule>) -> Value {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        // The grammar only accepts well-formed numbers, which always parse; an overflow
        // such as `1e999` becomes infinity and is rejected by range checks.
        Rule::number => ValueKind::Number(pair.as_str().parse().unwrap_or(f64::NAN)),
        Rule::string => ValueKind::Str(unescape(pair.into_inner().next().map_or("", |inner| inner.as_str()))),
        Rule::ident => ValueKind::Ident(pair.as_str().to_string()),
        Rule::call => ValueKind::Call(call(pair)),
        Rule::list => ValueKind::List(pair.into_inner().map(value).collect()),
        rule => unreachable!("not a value: {rule:?}"),
    };
    Value { kind, span }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns pest's error into a diagnostic whose expectations are words a user knows.
fn syntax_error(error: pest::error::Error<Rule>, text: &str) -> Diagnostic {
    let (start, end) = match error.location {
        InputLocation::Pos(pos) => (pos, pos),
        InputLocation::Span((start, end)) => (start, end),
    };
    // Point at the offending token (or the end of the line), not at an empty position.
    let end = if end > start {
        end
    } else {
        let rest = &text[start.min(text.len())..];
        let token = rest
            .find(|c: char| c.is_whitespace() || "(),:{}[]".contains(c))
            .unwrap_or(rest.len());
        start + token.max(rest.chars().next().map_or(0, char::len_utf8))
    };
    let found = describe_found(&text[start.min(text.len())..end.min(text.len())]);
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut words: Vec<&str> = positives.iter().filter_map(|rule| rule_words(*rule)).collect();
            words.sort_unstable();
            words.dedup();
            words
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    Diagnostic::error(Code::Syntax, message)
        .at(Span::new(start, end), "unexpected here")
        .help_opt(syntax_help(
            &expected,
            &text[start.min(text.len())..end.min(text.len())],
        ))
}

fn describe_found(token: &str) -> String {
    match token.chars().next() {
        None => "end of file".to_string(),
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(_) => format!("`{token}`"),
    }
}

fn syntax_help(expected: &[&str], token: &str) -> Option<String> {
    if token.starts_with('=') {
        return Some("named arguments use a colon: `name: value`".to_string());
    }
    if expected.contains(&"`}`") && expected.contains(&"a new line") {
        return Some("put each layer or statement on its own line, or separate them with `;`".to_string());
    }
    None
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The name of a grammar rule as a user would say it; `None` hides rules that only add noise.
fn rule_words(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::spec | Rule::statement => "a statement (model, loss, optimizer, data, train)",
        Rule::model | Rule::kw_model => "`model`",
        Rule::layer => "a layer",
        Rule::init_clause | Rule::kw_init => "`init`",
        Rule::loss | Rule::kw_loss => "`loss`",
        Rule::optimizer | Rule::kw_optimizer => "`optimizer`",
        Rule::data | Rule::kw_data => "`data`",
        Rule::train | Rule::kw_train => "`train`",
        Rule::unknown_statement => "a statement (model, loss, optimizer, data, train)",
        Rule::value => "a value",
        Rule::call => "a call like `name(...)`",
        Rule::arg | Rule::arg_list => "an argument",
        Rule::list => "a list `[...]`",
        Rule::number => "a number",
        Rule::string | Rule::string_inner => "a string",
        Rule::ident => "a name",
        Rule::eol | Rule::nl => "a new line",
        Rule::keyword | Rule::ident_char | Rule::WHITESPACE | Rule::COMMENT => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> String {
        match parse(text) {
            Ok(spec) => format!("{spec:?}"),
            Err(diagnostic) => format!(
                "error {:?}: {}",
                diagnostic.span.map(|s| s.0.range()),
                diagnostic.message
            ),
        }
    }

    #[test]
    fn parses_a_layer_with_activation_and_init() {
        insta::assert_snapshot!(summary("model m {\n  input 2\n  dense 4 tanh init uniform(-1, 1e-1)\n}"), @r#"Spec { statements: [Model(ModelBlock { name: Ident { name: "m", span: Span { start: 6, end: 7 } }, layers: [Layer { kind: Ident { name: "input", span: Span { start: 12, end: 17 } }, items: [Value { kind: Number(2.0), span: Span { start: 18, end: 19 } }], init: None, span: Span { start: 12, end: 19 } }, Layer { kind: Ident { name: "dense", span: Span { start: 22, end: 27 } }, items: [Value { kind: Number(4.0), span: Span { start: 28, end: 29 } }, Value { kind: Ident("tanh"), span: Span { start: 30, end: 34 } }], init: Some(Value { kind: Call(Call { name: Ident { name: "uniform", span: Span { start: 40, end: 47 } }, args: [Arg { name: None, value: Value { kind: Number(-1.0), span: Span { start: 48, end: 50 } }, span: Span { start: 48, end: 50 } }, Arg { name: None, value: Value { kind: Number(0.1), span: Span { start: 52, end: 56 } }, span: Span { start: 52, end: 56 } }], span: Span { start: 40, end: 57 } }), span: Span { start: 40, end: 57 } }), span: Span { start: 22, end: 57 } }], span: Span { start: 0, end: 59 } })] }"#);
    }
}
