//! Binding a call's arguments to its parameters, with every misuse reported: unknown names
//! (with a did-you-mean), duplicates, too many positional arguments, wrong types, bad ranges.

use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::span::Span;
use crate::syntax::ast::{Arg, Value, ValueKind};

/// Whether a number survives the conversion to f32 that every kernel uses: finite, and not
/// rounded to zero unless it is zero.
fn fits_f32(n: f64) -> bool {
    let single = n as f32;
    single.is_finite() && (n == 0.0 || single != 0.0)
}

/// The arguments of one call (or of the train block), bound to parameter names.
pub struct Args<'a, 'd> {
    owner: String,
    owner_span: Span,
    bound: Vec<(&'static str, &'a Arg)>,
    diags: &'d mut Vec<Diagnostic>,
}

impl<'a, 'd> Args<'a, 'd> {
    /// Binds `args` to `params`; the first `positional` parameters may also be given by position.
    pub fn bind(
        owner: &str,
        owner_span: Span,
        args: &'a [Arg],
        params: &[&'static str],
        positional: usize,
        diags: &'d mut Vec<Diagnostic>,
    ) -> Self {
        Args::bind_among(owner, owner_span, args, params, positional, &[], diags)
    }

    /// `bind`, where the owner also takes `others` bound elsewhere (the train block's
    /// `early_stop(...)`): an unknown name's note lists them too, and may suggest them.
    pub fn bind_among(
        owner: &str,
        owner_span: Span,
        args: &'a [Arg],
        params: &[&'static str],
        positional: usize,
        others: &[&'static str],
        diags: &'d mut Vec<Diagnostic>,
    ) -> Self {
        let mut bound: Vec<(&'static str, &'a Arg)> = Vec::new();
        let mut next_position = 0;
        for arg in args {
            let param = match &arg.name {
                Some(name) => match params.iter().find(|p| **p == name.name) {
                    Some(param) => *param,
                    None => {
                        let all = || params.iter().chain(others);
                        let known = all().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
                        let names = all().map(|p| p.trim_end_matches("(...)"));
                        diags.push(
                            Diagnostic::error(Code::UnknownName, format!("`{owner}` has no argument `{}`", name.name))
                                .at(name.span, "unknown argument")
                                .note(format!("`{owner}` takes {known}"))
                                .help_opt(did_you_mean(&name.name, names)),
                        );
                        continue;
                    }
                },
                None if next_position < positional.min(params.len()) => {
                    next_position += 1;
                    params[next_position - 1]
                }
                None => {
                    let message = if positional == 0 {
                        format!("`{owner}` takes only named arguments")
                    } else {
                        format!("`{owner}` takes at most {positional} positional argument(s)")
                    };
                    diags.push(
                        Diagnostic::error(Code::WrongType, message)
                            .at(arg.span, "unexpected argument")
                            .help(format!("name it, as in `{}: ...`", params.first().copied().unwrap_or("name"))),
                    );
                    continue;
                }
            };
            if let Some((_, first)) = bound.iter().find(|(p, _)| *p == param) {
                diags.push(
                    Diagnostic::error(Code::Duplicate, format!("argument `{param}` of `{owner}` is given twice"))
                        .at(arg.span, "given again here")
                        .with_context(first.span, "first given here")
                        .help("remove one of them"),
                );
                continue;
            }
            bound.push((param, arg));
        }
        Args { owner: owner.to_string(), owner_span, bound, diags }
    }

    fn get(&self, param: &str) -> Option<&'a Arg> {
        self.bound.iter().find(|(p, _)| *p == param).map(|(_, arg)| *arg)
    }

    pub fn has(&self, param: &str) -> bool {
        self.get(param).is_some()
    }

    /// Reports a required argument that is absent.
    pub fn require(&mut self, param: &str, example: &str) {
        if !self.has(param) {
            let owner = self.owner.clone();
            self.diags.push(
                Diagnostic::error(Code::Missing, format!("`{owner}` needs the argument `{param}`"))
                    .at(self.owner_span, format!("`{param}` is missing"))
                    .help(format!("add `{param}: {example}`")),
            );
        }
    }

    pub fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn wrong_type(&mut self, param: &str, expected: &str, value: &Value) {
        let owner = self.owner.clone();
        self.diags.push(
            Diagnostic::error(
                Code::WrongType,
                format!("argument `{param}` of `{owner}` must be {expected}, found {}", value.kind.describe()),
            )
            .at(value.span, format!("expected {expected}")),
        );
    }

    fn out_of_range(&mut self, param: &str, value: &Value, rule: &str) {
        let owner = self.owner.clone();
        self.diags.push(
            Diagnostic::error(Code::OutOfRange, format!("argument `{param}` of `{owner}` must be {rule}"))
                .at(value.span, format!("not {rule}")),
        );
    }

    /// A number, if given and of the right type.
    pub fn number(&mut self, param: &str) -> Option<(f64, Span)> {
        let arg = self.get(param)?;
        match arg.value.kind {
            ValueKind::Number(n) => Some((n, arg.value.span)),
            _ => {
                self.wrong_type(param, "a number", &arg.value);
                None
            }
        }
    }

    /// A finite number satisfying `valid`, described by `rule` in the error; `default` if absent.
    pub fn number_where(&mut self, param: &str, default: f64, rule: &str, valid: impl Fn(f64) -> bool) -> f64 {
        match self.number(param) {
            Some((n, _)) if fits_f32(n) && valid(n) => n,
            Some((n, _)) => {
                let arg = self.get(param).expect("just read");
                let rule =
                    if valid(n) || !n.is_finite() { "a number that f32 can hold (up to about 3.4e38)" } else { rule };
                self.out_of_range(param, &arg.value, rule);
                default
            }
            None => default,
        }
    }

    /// A whole number from `min` to 10^15; `default` if absent.
    pub fn count(&mut self, param: &str, default: usize, min: usize) -> usize {
        const MAX: f64 = 1e15;
        // Peeked without reporting: `number_where` reports a value of the wrong type once.
        let too_large = self.get(param).is_some_and(|arg| matches!(arg.value.kind, ValueKind::Number(n) if n > MAX));
        let rule = if too_large {
            "a whole number of at most 1e15".to_string()
        } else {
            format!("a whole number of at least {min}")
        };
        let n = self.number_where(param, default as f64, &rule, |n| n.fract() == 0.0 && n >= min as f64 && n <= MAX);
        n as usize
    }

    /// A string, if given and of the right type.
    pub fn string(&mut self, param: &str) -> Option<(String, Span)> {
        let arg = self.get(param)?;
        match &arg.value.kind {
            ValueKind::Str(text) => Some((text.clone(), arg.value.span)),
            _ => {
                self.wrong_type(param, "a string", &arg.value);
                None
            }
        }
    }

    /// One string or a list of strings.
    pub fn strings(&mut self, param: &str) -> Option<Vec<String>> {
        let arg = self.get(param)?;
        match &arg.value.kind {
            ValueKind::Str(text) => Some(vec![text.clone()]),
            ValueKind::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.kind {
                        ValueKind::Str(text) => out.push(text.clone()),
                        _ => self.wrong_type(param, "a list of strings", item),
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong_type(param, "a string or a list of strings", &arg.value);
                None
            }
        }
    }

    /// `true` or `false`; `default` if absent.
    pub fn boolean(&mut self, param: &str, default: bool) -> bool {
        let Some(arg) = self.get(param) else {
            return default;
        };
        match &arg.value.kind {
            ValueKind::Ident(word) if word == "true" => true,
            ValueKind::Ident(word) if word == "false" => false,
            _ => {
                self.wrong_type(param, "`true` or `false`", &arg.value);
                default
            }
        }
    }

    /// The raw value, for arguments with their own syntax (`batch: full`).
    pub fn value(&self, param: &str) -> Option<&'a Value> {
        self.get(param).map(|arg| &arg.value)
    }

    pub fn wrong_type_of(&mut self, param: &str, expected: &str, value: &Value) {
        self.wrong_type(param, expected, value);
    }
}
