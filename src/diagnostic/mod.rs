//! Structured errors and warnings: `{ code, message, span, labels, help }`. Every stage
//! produces these; `render` is the only place that turns them into text.

mod aliases;
pub mod explain;
mod render;

pub use render::{ColorChoice, render, render_all};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::span::{Source, Span};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// Stable error codes. A code is never reused for another meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The text does not follow the grammar.
    Syntax,
    /// A keyword, layer, activation, loss, optimizer, argument... that nnspec does not know.
    UnknownName,
    /// The same statement or argument given twice.
    Duplicate,
    /// An argument of the wrong type (a string where a number is expected...).
    WrongType,
    /// A value outside its allowed range.
    OutOfRange,
    /// A required statement or argument is absent.
    Missing,
    /// The loss cannot be computed on the model's output.
    LossMismatch,
    /// The run would not fit in the memory allowed.
    TooLarge,
    /// A path nnspec will not use: outside the project, or an output that is also an input
    /// or another output of the same command.
    PathPolicy,
    /// The model's width does not match what the spec says of its data (generated inputs,
    /// the target columns named): an invalid spec, found before any data is read.
    Width,
    /// A data file is missing, unreadable or malformed.
    DataFile,
    /// The data's columns do not match the spec.
    DataShape,
    /// Training failed at run time (divergence).
    Runtime,
    /// An output file cannot be written.
    Output,
    /// The run was interrupted (Ctrl-C).
    Interrupted,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "E0001",
            Code::UnknownName => "E0002",
            Code::Duplicate => "E0003",
            Code::WrongType => "E0004",
            Code::OutOfRange => "E0005",
            Code::Missing => "E0006",
            Code::LossMismatch => "E0007",
            Code::TooLarge => "E0008",
            Code::PathPolicy => "E0009",
            Code::Width => "E0010",
            Code::DataFile => "E0100",
            Code::DataShape => "E0101",
            Code::Runtime => "E0200",
            Code::Output => "E0201",
            Code::Interrupted => "E0202",
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// Where a span lies in its file, 1-based, columns in characters (as editors count them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl Location {
    /// Where `span` lies: in the spec's file, or in a `--set` override (`<command line>`).
    pub fn of(span: Span, source: &Source) -> Location {
        let (file, line, column) = source.locate(span.start);
        let (_, end_line, end_column) = source.locate(span.end.max(span.start));
        Location { file: file.to_string(), line, column, end_line, end_column }
    }
}

/// One error or warning, with the span it is about.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// The primary span and its label; `None` for errors not tied to the spec's text.
    pub span: Option<(Span, String)>,
    /// Secondary spans that explain the primary one.
    pub context: Vec<(Span, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
    /// The primary span's file, line and column, once the diagnostic has met its source
    /// (`Report::with_source`, `Diagnostic::locate`).
    pub location: Option<Location>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            context: Vec::new(),
            notes: Vec::new(),
            help: None,
            location: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some((span, label.into()));
        self
    }

    pub fn with_context(mut self, span: Span, label: impl Into<String>) -> Self {
        self.context.push((span, label.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Resolves the primary span's line and column in `source`.
    pub fn locate(&mut self, source: &Source) {
        if let Some((span, _)) = &self.span {
            self.location = Some(Location::of(*span, source));
        }
    }
}

/// The form editors and CI annotations read: `severity`, `code`, `message`, then `file`,
/// `line`, `column`, `end_line`, `end_column` and `label` where the diagnostic points into a
/// source, `notes` and `help`.
impl Serialize for Diagnostic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("severity", self.severity.as_str())?;
        map.serialize_entry("code", self.code.as_str())?;
        map.serialize_entry("message", &self.message)?;
        if let Some(location) = &self.location {
            map.serialize_entry("file", &location.file)?;
            map.serialize_entry("line", &location.line)?;
            map.serialize_entry("column", &location.column)?;
            map.serialize_entry("end_line", &location.end_line)?;
            map.serialize_entry("end_column", &location.end_column)?;
        }
        if let Some((_, label)) = &self.span {
            map.serialize_entry("label", label)?;
        }
        map.serialize_entry("notes", &self.notes)?;
        map.serialize_entry("help", &self.help)?;
        map.end()
    }
}

/// A number for a message: six significant digits, in scientific notation when it is very
/// large or small (a diverged loss of 1e60 is not sixty digits long).
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || (1e-4..1e6).contains(&magnitude) || !value.is_finite() {
        let text = format!("{value:.6}");
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        if trimmed.is_empty() || trimmed == "-" { "0".to_string() } else { trimmed.to_string() }
    } else {
        format!("{value:.5e}")
    }
}

/// Names longer than this get no suggestion: no keyword is that long, and comparing them
/// would cost time and memory for nothing.
const MAX_SUGGESTED_LEN: usize = 64;

/// The help for an unknown keyword among `candidates`: nnspec's name for another framework's
/// (`learning_rate` is `lr`), else the closest candidate if it is a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    aliases::suggest(name, &candidates).or_else(|| closest_name(name, candidates))
}

/// The closest candidate to a misspelled name, if one is close enough to be a likely typo:
/// for names the user chose (columns), where other frameworks' keywords mean nothing.
pub fn closest_name<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    if name.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let best = candidates
        .into_iter()
        .filter(|candidate| candidate.len() <= MAX_SUGGESTED_LEN)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .min_by_key(|(distance, _)| *distance)?;
    let limit = (name.chars().count() / 3).max(1) + usize::from(name.len() > 6);
    (best.0 <= limit).then(|| format!("did you mean `{}`?", best.1))
}

/// Edit distance with adjacent transpositions (optimal string alignment), case-insensitive:
/// `mea` is one edit from `mae`, as a typist would count it. Three rows of the table suffice.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["sigmoid", "tanh", "relu", "identity"];
        assert_eq!(did_you_mean("sigmoud", names).as_deref(), Some("did you mean `sigmoid`?"));
        assert_eq!(did_you_mean("Relu", names).as_deref(), Some("did you mean `relu`?"));
        assert_eq!(did_you_mean("softmax", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(did_you_mean("mea", ["mse", "mae"]).as_deref(), Some("did you mean `mae`?"));
    }

    #[test]
    fn numbers_in_messages_are_short_whatever_their_size() {
        // A diverged loss of 1e60 was printed with sixty digits.
        assert_eq!(number(1.2345678e60), "1.23457e60");
        assert_eq!(number(-3.4e38), "-3.40000e38");
        assert_eq!(number(0.0012345678), "0.001235");
        assert_eq!(number(2.5e-9), "2.50000e-9");
        assert_eq!((number(f64::INFINITY), number(0.0)), ("inf".to_string(), "0".to_string()));
    }

    #[test]
    fn other_frameworks_names_come_before_edit_distance_but_not_for_columns() {
        let monitors = ["val_loss", "val_accuracy", "val_f1", "val_auc"];
        assert_eq!(
            did_you_mean("val_acc", monitors).as_deref(),
            Some("did you mean `val_accuracy`? (nnspec's name for `val_acc`)")
        );
        // One letter from `val_auc`: edit distance alone gets it wrong.
        assert_eq!(closest_name("val_acc", monitors).as_deref(), Some("did you mean `val_auc`?"));
        assert_eq!(closest_name("label", ["target", "x"]), None);
    }
}
