//! Column declarations of a CSV source: what each column is (number, category, binary, id,
//! ignored), how its missing cells are filled, how it is scaled; which cells count as missing;
//! the delimiter; and how target cells become classes.
//!
//! ```text
//! data csv("penguins.csv", target: "species", classes: auto,
//!          columns: [category(["island", "sex"]),
//!                    number(["bill_length_mm", "body_mass_g"], missing: mean),
//!                    id("rowid")])
//! ```
//!
//! A feature column that no declaration names is a `number` with no missing-value strategy,
//! as every column was before declarations existed.

use super::args::Args;
use super::check::Checker;
use super::model::Scaling;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast::{self, Value, ValueKind};

/// The missing-value markers when a spec gives none, compared without regard to case.
pub const DEFAULT_NA_VALUES: [&str; 6] = ["", "NA", "N/A", "NaN", "null", "?"];

/// How a CSV file is read beyond its column names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableOptions {
    pub columns: Vec<ColumnDecl>,
    /// Cells that mean "missing", compared exactly; `None`: `DEFAULT_NA_VALUES`, any case.
    pub na_values: Option<Vec<String>>,
    /// The field separator; `None`: inferred from the header (`,` `;` tab `|`).
    pub delimiter: Option<u8>,
}

impl TableOptions {
    /// The declaration of `column`, if there is one.
    pub fn declared(&self, column: &str) -> Option<&ColumnDecl> {
        self.columns.iter().find(|c| c.name == column)
    }
}

/// One declared column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    pub name: String,
    pub kind: ColumnKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// One slot: the value, filled when missing, then scaled.
    Number { missing: Missing, indicator: bool, scale: Option<Scaling> },
    /// One-hot: a slot per value seen in the training rows (the most frequent `max_categories`
    /// of those seen at least `min_frequency` times), an `other` slot if asked for the rest and
    /// for values never seen; without it those rows have all zeros.
    Category { missing: Missing, indicator: bool, max_categories: Option<usize>, min_frequency: usize, other: bool },
    /// One slot: 1 for `positive` (default: the second of the two values, sorted), 0 for the other.
    Binary { missing: Missing, indicator: bool, positive: Option<String> },
    /// Not a feature: carried to `predict`'s output.
    Id,
    /// Not a feature, not carried.
    Ignore,
}

impl ColumnKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ColumnKind::Number { .. } => "number",
            ColumnKind::Category { .. } => "category",
            ColumnKind::Binary { .. } => "binary",
            ColumnKind::Id => "id",
            ColumnKind::Ignore => "ignore",
        }
    }

    /// The default for feature columns that no declaration names.
    pub fn default_number() -> ColumnKind {
        ColumnKind::Number { missing: Missing::Error, indicator: false, scale: None }
    }
}

/// What a missing cell becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Missing {
    /// A missing cell is a data error (the default for numbers).
    Error,
    /// The mean of the training rows' values.
    Mean,
    /// The median of the training rows' values (the lower middle for an even count).
    Median,
    /// The most frequent value of the training rows (ties: the smallest).
    MostFrequent,
    Constant(f32),
    /// All-zero slots (the default for categories).
    Zeros,
    /// The row is left out of training, validation, test and `eval`; `predict` refuses it.
    Drop,
}

impl Missing {
    pub fn describe(self) -> String {
        match self {
            Missing::Error => "error".into(),
            Missing::Mean => "mean".into(),
            Missing::Median => "median".into(),
            Missing::MostFrequent => "most_frequent".into(),
            Missing::Constant(value) => format!("constant({value})"),
            Missing::Zeros => "zeros".into(),
            Missing::Drop => "drop".into(),
        }
    }
}

/// How target cells become class indices.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ClassLabels {
    /// Not a classifier with `classes`: targets are numbers.
    #[default]
    None,
    /// `classes: K`: class indices 0..K-1; a column of text labels is mapped by inferring
    /// its K labels, sorted.
    Indices,
    /// `classes: ["a", "b"]` or `classes: [1, 2, 3]`: class i is the i-th label.
    Listed(Vec<String>),
    /// `classes: auto`: the distinct labels of the training file, sorted (numerically when
    /// every label is a number).
    Inferred,
}

const COLUMN_KINDS: [&str; 5] = ["number", "category", "binary", "id", "ignore"];

impl Checker<'_> {
    /// `columns: [number("x", missing: mean), category(["a", "b"]), id("rowid")]`.
    pub(super) fn columns(&mut self, value: &Value) -> Vec<ColumnDecl> {
        let ValueKind::List(items) = &value.kind else {
            self.error(
                Diagnostic::error(Code::WrongType, format!("`columns` is a list, found {}", value.kind.describe()))
                    .at(value.span, "expected `[...]`")
                    .help("write `columns: [category(\"island\"), number(\"age\", missing: mean)]`"),
            );
            return Vec::new();
        };
        let mut out: Vec<ColumnDecl> = Vec::new();
        for item in items {
            let ValueKind::Call(call) = &item.kind else {
                self.error(
                    Diagnostic::error(
                        Code::WrongType,
                        format!(
                            "a column declaration is a call such as `category(\"x\")`, found {}",
                            item.kind.describe()
                        ),
                    )
                    .at(item.span, "expected a column declaration")
                    .note(format!("column kinds are: {}", COLUMN_KINDS.join(", "))),
                );
                continue;
            };
            for decl in self.column(call) {
                if let Some(first) = out.iter().find(|c| c.name == decl.name) {
                    self.error(
                        Diagnostic::error(Code::Duplicate, format!("column `{}` is declared twice", decl.name))
                            .at(decl.span, "declared again here")
                            .with_context(first.span, "first declared here"),
                    );
                    continue;
                }
                out.push(decl);
            }
        }
        out
    }

    fn column(&mut self, call: &ast::Call) -> Vec<ColumnDecl> {
        let kind_name = call.name.name.as_str();
        let params: &[&'static str] = match kind_name {
            "number" => &["name", "missing", "indicator", "scale"],
            "category" => &["name", "missing", "indicator", "max_categories", "min_frequency", "other"],
            "binary" => &["name", "missing", "indicator", "positive"],
            "id" | "ignore" => &["name"],
            other => {
                self.unknown("column kind", other, call.name.span, &COLUMN_KINDS);
                return Vec::new();
            }
        };
        let mut args = Args::bind(kind_name, call.span, &call.args, params, 1, &mut self.diags);
        args.require("name", "\"column\"");
        let names = args.strings("name").unwrap_or_default();
        let missing_default = if kind_name == "category" { Missing::Zeros } else { Missing::Error };
        let missing = match args.value("missing") {
            None => missing_default,
            Some(value) => missing_of(&mut args, kind_name, value).unwrap_or(missing_default),
        };
        let indicator = args.boolean("indicator", false);
        let kind = match kind_name {
            "number" => {
                let scale = args.value("scale").and_then(|value| scale_of(&mut args, value));
                ColumnKind::Number { missing, indicator, scale }
            }
            "category" => ColumnKind::Category {
                missing,
                indicator,
                max_categories: args.has("max_categories").then(|| args.count("max_categories", 1, 1)),
                min_frequency: args.count("min_frequency", 1, 1),
                other: args.boolean("other", false),
            },
            "binary" => ColumnKind::Binary { missing, indicator, positive: args.string("positive").map(|(s, _)| s) },
            "id" => ColumnKind::Id,
            _ => ColumnKind::Ignore,
        };
        drop(args);
        names.into_iter().map(|name| ColumnDecl { name, kind: kind.clone(), span: call.span }).collect()
    }

    /// `classes: 3`, `classes: ["a", "b"]`, `classes: [1, 2, 3]` or `classes: auto`.
    pub(super) fn classes(&mut self, value: &Value) -> Option<(Option<usize>, ClassLabels)> {
        match &value.kind {
            ValueKind::Number(n) if n.fract() == 0.0 && *n >= 2.0 && *n <= 1e9 => {
                Some((Some(*n as usize), ClassLabels::Indices))
            }
            ValueKind::Number(_) => {
                let rule = "a whole number of at least 2";
                self.error(
                    Diagnostic::error(Code::OutOfRange, format!("argument `classes` of `csv` must be {rule}"))
                        .at(value.span, format!("not {rule}")),
                );
                None
            }
            ValueKind::Ident(word) if word == "auto" => Some((None, ClassLabels::Inferred)),
            ValueKind::List(items) => {
                let mut labels = Vec::new();
                for item in items {
                    match &item.kind {
                        ValueKind::Str(text) => labels.push(text.clone()),
                        ValueKind::Number(n) => labels.push(n.to_string()),
                        other => {
                            self.error(
                                Diagnostic::error(
                                    Code::WrongType,
                                    format!("a class label is a string or a number, found {}", other.describe()),
                                )
                                .at(item.span, "not a label"),
                            );
                            return None;
                        }
                    }
                }
                if labels.len() < 2 {
                    self.error(
                        Diagnostic::error(Code::OutOfRange, "`classes` lists fewer than two labels")
                            .at(value.span, "at least two classes")
                            .help("list every class, e.g. `classes: [\"no\", \"yes\"]`"),
                    );
                    return None;
                }
                for (i, label) in labels.iter().enumerate() {
                    if labels[..i].contains(label) {
                        self.error(
                            Diagnostic::error(Code::Duplicate, format!("class `{label}` is listed twice"))
                                .at(value.span, "each label once"),
                        );
                        return None;
                    }
                }
                Some((Some(labels.len()), ClassLabels::Listed(labels)))
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::OutOfRange,
                        "`classes` is a whole number of at least 2, a list of labels, or `auto`",
                    )
                    .at(value.span, "not a class count or labels")
                    .help("write `classes: 3`, `classes: [\"cat\", \"dog\"]` or `classes: auto`"),
                );
                None
            }
        }
    }
}

/// `na_values: ["NA", "-"]` and `delimiter: ";"` of a `csv` source.
pub(super) fn table_options(args: &mut Args, columns: Vec<ColumnDecl>) -> TableOptions {
    let na_values = args.strings("na_values");
    let delimiter = match args.string("delimiter") {
        None => None,
        Some((text, span)) => {
            let text = if text == "tab" { "\t".to_string() } else { text };
            match text.as_bytes() {
                [byte] if !matches!(byte, b'"' | b'\n' | b'\r') && byte.is_ascii() => Some(*byte),
                _ => {
                    args.error(
                        Diagnostic::error(Code::OutOfRange, "`delimiter` is one ASCII character")
                            .at(span, "not a single character")
                            .help("write `delimiter: \";\"`, `delimiter: \"\\t\"` or `delimiter: \"|\"`"),
                    );
                    None
                }
            }
        }
    };
    TableOptions { columns, na_values, delimiter }
}

fn missing_of(args: &mut Args, kind: &str, value: &Value) -> Option<Missing> {
    let allowed: &[&str] = match kind {
        "category" => &["zeros", "most_frequent", "drop"],
        "number" | "binary" => &["mean", "median", "most_frequent", "constant", "drop", "error"],
        _ => &[],
    };
    let (word, call) = match &value.kind {
        ValueKind::Ident(word) => (word.as_str(), None),
        ValueKind::Call(call) => (call.name.name.as_str(), Some(call)),
        _ => ("", None),
    };
    if !allowed.contains(&word) {
        args.error(
            Diagnostic::error(
                Code::WrongType,
                format!("`missing` of a `{kind}` column is one of {}", allowed.join(", ")),
            )
            .at(value.span, "not a missing-value strategy")
            .help_opt(crate::diagnostic::did_you_mean(word, allowed.iter().copied())),
        );
        return None;
    }
    Some(match word {
        "mean" => Missing::Mean,
        "median" => Missing::Median,
        "most_frequent" => Missing::MostFrequent,
        "zeros" => Missing::Zeros,
        "drop" => Missing::Drop,
        "error" => Missing::Error,
        _ => {
            let number = call.and_then(|c| c.args.first()).and_then(|a| match a.value.kind {
                ValueKind::Number(n) if (n as f32).is_finite() => Some(n as f32),
                _ => None,
            });
            match number {
                Some(n) if call.is_some_and(|c| c.args.len() == 1) => Missing::Constant(n),
                _ => {
                    args.error(
                        Diagnostic::error(Code::WrongType, "`constant` takes the value to fill in")
                            .at(value.span, "expected `constant(V)`")
                            .help("write `missing: constant(0)`"),
                    );
                    return None;
                }
            }
        }
    })
}

/// `scale: standardize`, `minmax`, `minmax(0, 255)` or `none`.
fn scale_of(args: &mut Args, value: &Value) -> Option<Scaling> {
    match &value.kind {
        ValueKind::Ident(word) if word == "standardize" => Some(Scaling::Standardize),
        ValueKind::Ident(word) if word == "minmax" => Some(Scaling::MinMax),
        ValueKind::Ident(word) if word == "none" => Some(Scaling::None),
        ValueKind::Call(call) if call.name.name == "minmax" => range_of(call, &mut |d| args.error(d)),
        _ => {
            args.error(
                Diagnostic::error(Code::WrongType, "`scale` is `standardize`, `minmax`, `minmax(low, high)` or `none`")
                    .at(value.span, "not a scaling"),
            );
            None
        }
    }
}

/// The bounds of `minmax(low, high)`, with `low < high`.
pub(super) fn range_of(call: &ast::Call, report: &mut dyn FnMut(Diagnostic)) -> Option<Scaling> {
    let numbers: Vec<f64> = call
        .args
        .iter()
        .filter_map(|a| match (&a.name, &a.value.kind) {
            (None, ValueKind::Number(n)) => Some(*n),
            _ => None,
        })
        .collect();
    match numbers[..] {
        [low, high] if call.args.len() == 2 && low < high && (low as f32) < (high as f32) => {
            Some(Scaling::Range { low: low as f32, high: high as f32 })
        }
        _ => {
            report(
                Diagnostic::error(Code::OutOfRange, "`minmax(low, high)` takes two numbers with low < high")
                    .at(call.span, "expected e.g. `minmax(0, 255)`"),
            );
            None
        }
    }
}
