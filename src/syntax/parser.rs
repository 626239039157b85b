//! The pest grammar (`grammar/nnspec.pest`) and the walk from its parse tree to the AST.

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::shift::Shift;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

#[derive(Parser)]
#[grammar = "../grammar/nnspec.pest"]
struct NnParser;

/// Parses a spec. After a syntax error, each statement is parsed on its own (see `recover`),
/// so that every broken statement gets its error.
pub fn parse(text: &str) -> Result<Spec, Vec<Diagnostic>> {
    parse_tolerant(text).map_err(|recovered| recovered.errors)
}

/// What a spec with syntax errors still gives: each broken statement's syntax error, and the
/// statements that parse on their own (or once a `name=value` is read as `name: value`), so
/// that the checker can report their errors too.
#[derive(Debug)]
pub struct Recovered {
    pub errors: Vec<Diagnostic>,
    /// The statements that parsed, with spans into the whole text.
    pub spec: Spec,
}

/// `parse`, keeping what parses of a spec with syntax errors.
pub fn parse_tolerant(text: &str) -> Result<Spec, Recovered> {
    let nothing = |errors| Recovered { errors, spec: Spec { statements: Vec::new() } };
    check_nesting(text).map_err(|d| nothing(vec![d]))?;
    match NnParser::parse(Rule::spec, text) {
        Ok(pairs) => Ok(Spec { statements: statements(pairs) }),
        Err(error) => Err(recover(text).unwrap_or_else(|| nothing(vec![syntax_error(error, text)]))),
    }
}

/// The statements of a parsed `spec` rule.
fn statements(mut pairs: pest::iterators::Pairs<'_, Rule>) -> Vec<Statement> {
    let spec = pairs.next().expect("the spec rule always yields one pair");
    spec.into_inner().filter(|pair| pair.as_rule() != Rule::EOI).map(statement).collect()
}

/// Parses one value (for `--set key=value`).
pub fn parse_value(text: &str) -> Result<Value, Diagnostic> {
    check_nesting(text)?;
    let mut pairs = NnParser::parse(Rule::value_only, text).map_err(|error| syntax_error(error, text))?;
    let only = pairs.next().expect("value_only yields one pair");
    let inner = inner(only).find(|pair| pair.as_rule() != Rule::EOI).expect("a value");
    Ok(value(inner))
}

/// After a syntax error, parses each top-level statement on its own (a statement starts at a
/// line beginning with a letter) so that one run reports the error of every broken statement,
/// and keeps the statements that parse. `None` when no single statement fails alone (the error
/// spans statements).
fn recover(text: &str) -> Option<Recovered> {
    let mut starts: Vec<usize> = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for w in starts.windows(2) {
        let region = &text[w[0]..w[1]];
        let error = match NnParser::parse(Rule::spec, region) {
            Ok(pairs) => {
                parsed.extend(statements(pairs).into_iter().map(|mut s| {
                    s.shift(w[0]);
                    s
                }));
                continue;
            }
            Err(error) => error,
        };
        if let Some(repaired) = repair(region, &error) {
            parsed.extend(repaired.into_iter().map(|mut s| {
                s.shift(w[0]);
                s
            }));
        }
        let mut diagnostic = syntax_error(error, region);
        if let Some((span, _)) = diagnostic.span.as_mut() {
            if span.start == region.len() && w[1] < text.len() {
                diagnostic.message = diagnostic.message.replace("found end of file", "found the next statement");
            }
            *span = Span::new(span.start + w[0], span.end + w[0]);
        }
        errors.push(diagnostic);
    }
    (!errors.is_empty()).then_some(Recovered { errors, spec: Spec { statements: parsed } })
}

/// Repairs tried on one broken statement, at most: each reads one `=` as `:`.
const MAX_REPAIRS: usize = 8;

/// The statements of `region` once each `=` where a `:` was expected (`lr=0.1`, as Keras and
/// Python write arguments) is read as `:`, if that makes it parse. Same length, same spans.
fn repair(region: &str, error: &pest::error::Error<Rule>) -> Option<Vec<Statement>> {
    let mut text = region.to_string();
    let mut error = error.clone();
    for _ in 0..MAX_REPAIRS {
        let at = match error.location {
            InputLocation::Pos(at) | InputLocation::Span((at, _)) => at,
        };
        if text.as_bytes().get(at) != Some(&b'=') {
            return None;
        }
        text.replace_range(at..at + 1, ":");
        match NnParser::parse(Rule::spec, &text) {
            Ok(pairs) => return Some(statements(pairs)),
            Err(next) => error = next,
        }
    }
    None
}

/// Brackets deeper than this are refused before parsing: pest's parser recurses once per level,
/// and no spec needs more than a handful.
const MAX_NESTING: usize = 64;

/// Refuses input nested deeper than `MAX_NESTING`, so that no input can overflow the stack.
fn check_nesting(text: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    for (offset, c) in text.char_indices() {
        // As in the grammar: a comment ends at a line break (`\n` or `\r`), and so does a
        // string unless the break is escaped (an unterminated string is a syntax error later).
        match c {
            _ if in_string => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' || c == '\n' || c == '\r' {
                    in_string = false;
                }
            }
            '\n' | '\r' => in_comment = false,
            _ if in_comment => {}
            '#' => in_comment = true,
            '"' => in_string = true,
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::error(
                        Code::Syntax,
                        format!("brackets nested more than {MAX_NESTING} deep"),
                    )
                    .at(Span::new(offset, offset + 1), "too deep")
                    .help("a spec needs only a few levels: `call(arg: [value])`"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let span = pair.as_span();
    Span::new(span.start(), span.end())
}

/// The meaningful inner pairs: without keyword and punctuation tokens.
fn inner(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|inner| {
        !matches!(
            inner.as_rule(),
            Rule::kw_model
                | Rule::kw_loss
                | Rule::kw_optimizer
                | Rule::kw_data
                | Rule::kw_train
                | Rule::kw_init
                | Rule::open_brace
                | Rule::close_brace
                | Rule::open_paren
                | Rule::close_paren
                | Rule::open_bracket
                | Rule::close_bracket
                | Rule::comma
                | Rule::colon
        )
    })
}

fn statement(pair: Pair<Rule>) -> Statement {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::model => {
            let mut parts = inner(pair);
            let name = ident(parts.next().expect("model has a name"));
            Statement::Model(ModelBlock { name, layers: parts.map(layer).collect(), span })
        }
        Rule::loss => Statement::Loss(value(inner(pair).next().expect("loss has a value"))),
        Rule::optimizer => Statement::Optimizer(value(inner(pair).next().expect("optimizer has a value"))),
        Rule::data => Statement::Data { calls: inner(pair).map(call).collect(), span },
        Rule::train => Statement::Train { args: inner(pair).map(arg).collect(), span },
        Rule::unknown_statement => Statement::Unknown(ident(inner(pair).next().expect("has a keyword"))),
        rule => unreachable!("not a statement: {rule:?}"),
    }
}

fn layer(pair: Pair<Rule>) -> Layer {
    let span = span_of(&pair);
    let mut parts = inner(pair);
    let head = parts.next().expect("layer has a kind");
    let (kind, args) = match head.as_rule() {
        Rule::call => {
            let call = call(head);
            (call.name, Some(call.args))
        }
        _ => (ident(head), None),
    };
    let mut items = Vec::new();
    let mut init = None;
    for item in parts {
        if item.as_rule() == Rule::init_clause {
            init = inner(item).next().map(value);
        } else {
            items.push(value(item));
        }
    }
    Layer { kind, args, items, init, span }
}

fn ident(pair: Pair<Rule>) -> Ident {
    Ident { name: pair.as_str().to_string(), span: span_of(&pair) }
}

fn call(pair: Pair<Rule>) -> Call {
    let span = span_of(&pair);
    let mut parts = inner(pair);
    let name = ident(parts.next().expect("call has a name"));
    Call { name, args: parts.map(arg).collect(), span }
}

fn arg(pair: Pair<Rule>) -> Arg {
    let span = span_of(&pair);
    let mut parts: Vec<Pair<Rule>> = inner(pair).collect();
    let value = value(parts.pop().expect("arg has a value"));
    let name = parts.pop().map(ident);
    Arg { name, value, span }
}

fn value(pair: Pair<Rule>) -> Value {
    let span = span_of(&pair);
    let kind = match pair.as_rule() {
        // The grammar only accepts well-formed numbers, which always parse; an overflow
        // such as `1e999` becomes infinity and is rejected by range checks.
        Rule::number => ValueKind::Number(pair.as_str().parse().unwrap_or(f64::NAN)),
        Rule::string => ValueKind::Str(unescape(inner(pair).next().map_or("", |inner| inner.as_str()))),
        Rule::ident => ValueKind::Ident(pair.as_str().to_string()),
        Rule::call => ValueKind::Call(call(pair)),
        Rule::list => ValueKind::List(inner(pair).map(value).collect()),
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
        let token = rest.find(|c: char| c.is_whitespace() || "(),:{}[]".contains(c)).unwrap_or(rest.len());
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
        .help_opt(syntax_help(&expected, &text[start.min(text.len())..end.min(text.len())]))
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
        Rule::open_brace => "`{`",
        Rule::close_brace => "`}`",
        Rule::open_paren => "`(`",
        Rule::close_paren => "`)`",
        Rule::open_bracket => "a list `[...]`",
        Rule::close_bracket => "`]`",
        Rule::comma => "`,`",
        Rule::colon => "`:`",
        Rule::keyword | Rule::ident_char | Rule::WHITESPACE | Rule::COMMENT | Rule::value_only => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsed spec printed back canonically, or the error with its byte range.
    fn summary(text: &str) -> String {
        match parse(text) {
            Ok(spec) => spec.to_string(),
            Err(diagnostics) => diagnostics
                .iter()
                .map(|d| format!("error {:?}: {}", d.span.as_ref().map(|s| s.0.range()), d.message))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn parses_layers_with_activation_and_init() {
        insta::assert_snapshot!(summary("model m {\n  input 2\n  dense 4 tanh init uniform(-1, 1e-1)\n}"), @"
        model m {
            input 2
            dense 4 tanh init uniform(-1, 0.1)
        }
        ");
    }

    #[test]
    fn comments_blank_lines_and_semicolons_separate_statements() {
        insta::assert_snapshot!(summary("# top\n\nloss mse # trailing\n\noptimizer sgd(lr: 2.5e-3); loss bce\n"), @"
        loss mse
        optimizer sgd(lr: 0.0025)
        loss bce
        ");
    }

    #[test]
    fn arguments_may_span_lines() {
        insta::assert_snapshot!(summary("data csv(\n  \"d.csv\",\n  target: [\"a\", \"b\"],\n)\ntrain {\n  epochs: 3,\n  batch: full\n}"), @r#"
        data csv("d.csv", target: ["a", "b"])
        train { epochs: 3, batch: full }
        "#);
    }

    #[test]
    fn strings_keep_escapes() {
        insta::assert_snapshot!(summary(r#"data csv("a \"q\" \\ b.csv", target: "y")"#), @r#"data csv("a \"q\" \\ b.csv", target: "y")"#);
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        // `lossy` is an unknown statement, not `loss` followed by `y`.
        insta::assert_snapshot!(summary("lossy mse\nmodels x"), @"
        lossy ...
        models ...
        ");
    }

    #[test]
    fn every_broken_statement_gets_its_syntax_error() {
        insta::assert_snapshot!(summary("loss\noptimizer sgd(lr = 0.1)\ndata csv(\"a.csv\")\ntrain { epochs 3 }\n"), @"
        error Some(4..5): expected a list `[...]`, a name, a number or a string, found end of line
        error Some(22..23): expected `(`, `)`, `,` or `:`, found `=`
        error Some(62..63): expected `(`, `,`, `:` or `}`, found `3`
        ");
    }

    #[test]
    fn statements_that_parse_are_kept_after_a_syntax_error() {
        let text = "loss mse\noptimizer adam(learning_rate=0.01, betas=2)\ndata csv(\"a.csv\"\ntrain { epochs: 3 }\n";
        let recovered = parse_tolerant(text).unwrap_err();
        assert_eq!(recovered.errors.len(), 2, "{:?}", recovered.errors);
        // The optimizer parses once each `=` is read as `:`; the data statement does not.
        let kept: Vec<String> = recovered.spec.statements.iter().map(|s| s.to_string()).collect();
        assert_eq!(kept, ["loss mse", "optimizer adam(learning_rate: 0.01, betas: 2)", "train { epochs: 3 }"]);
        let Statement::Train { span, .. } = &recovered.spec.statements[2] else { panic!("train") };
        assert_eq!(&text[span.range()], "train { epochs: 3 }");
    }

    #[test]
    fn syntax_errors_name_what_was_expected() {
        insta::assert_snapshot!(summary("loss\n"), @"error Some(4..5): expected a list `[...]`, a name, a number or a string, found end of line");
        insta::assert_snapshot!(summary("optimizer sgd(lr = 0.1)"), @"error Some(17..18): expected `(`, `)`, `,` or `:`, found `=`");
        insta::assert_snapshot!(summary("model m {\n  input 2\n"), @"error Some(20..20): expected `}` or a layer, found end of file");
        insta::assert_snapshot!(summary("train { epochs: 1e }"), @"error Some(17..18): expected `,` or `}`, found `e`");
    }
}
