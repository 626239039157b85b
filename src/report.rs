//! `Report`: why an operation of the library failed, as data any front end can use. It holds
//! the diagnostics, what kind of failure they are (which decides the exit code and the Python
//! exception) and the spec source they point into, so it renders itself: no front end threads
//! a source through its calls to print an error.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::{Code, ColorChoice, Diagnostic, Severity, render_all};
use crate::span::Source;

/// What kind of failure a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The spec (or a command-line argument standing for part of it) is invalid: exit 2.
    Spec,
    /// A data, weights, checkpoint or configuration file is missing or malformed: exit 1.
    Data,
    /// Training failed (divergence) or an output could not be written: exit 1.
    Run,
    /// The run was interrupted (Ctrl-C): exit 130.
    Interrupted,
}

impl Kind {
    /// The kind a diagnostic's code implies.
    pub fn of(code: Code) -> Kind {
        match code {
            Code::DataFile | Code::DataShape => Kind::Data,
            Code::Runtime | Code::Output => Kind::Run,
            Code::Interrupted => Kind::Interrupted,
            _ => Kind::Spec,
        }
    }

    /// The process exit code the command line uses for it.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Spec => 2,
            Kind::Data | Kind::Run => 1,
            Kind::Interrupted => 130,
        }
    }
}

/// A failure: its kind, its diagnostics (errors first, possibly with warnings) and the source
/// they point into, when they point into one.
#[derive(Debug, Clone)]
pub struct Report {
    kind: Kind,
    diagnostics: Vec<Diagnostic>,
    source: Option<Arc<Source>>,
}

impl Report {
    /// A report of `diagnostics`, its kind taken from the first error's code.
    pub fn new(diagnostics: Vec<Diagnostic>) -> Report {
        let kind = diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .or(diagnostics.first())
            .map_or(Kind::Run, |d| Kind::of(d.code));
        Report { kind, diagnostics, source: None }
    }

    /// A report of a stated kind, whatever its codes say.
    pub fn of_kind(kind: Kind, diagnostics: Vec<Diagnostic>) -> Report {
        Report { kind, diagnostics, source: None }
    }

    /// Attaches the source the diagnostics' spans point into (unless one is attached already)
    /// and resolves their file, line and column.
    pub fn with_source(mut self, source: &Arc<Source>) -> Report {
        if self.source.is_none() {
            for diagnostic in &mut self.diagnostics {
                diagnostic.locate(source);
            }
            self.source = Some(Arc::clone(source));
        }
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    pub fn source(&self) -> Option<&Source> {
        self.source.as_deref()
    }

    /// The first error's message (the whole report is `Display`).
    pub fn message(&self) -> &str {
        self.diagnostics.iter().find(|d| d.severity == Severity::Error).map_or("", |d| d.message.as_str())
    }

    /// The rendering a terminal shows, with colour as `color` asks.
    pub fn render(&self, color: ColorChoice) -> String {
        let empty;
        let source = match &self.source {
            Some(source) => source.as_ref(),
            None => {
                empty = Source::new("<none>", "");
                &empty
            }
        };
        render_all(&self.diagnostics, source, color)
    }
}

impl From<Diagnostic> for Report {
    fn from(diagnostic: Diagnostic) -> Report {
        Report::new(vec![diagnostic])
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(ColorChoice::Never).trim_end())
    }
}

impl std::error::Error for Report {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    #[test]
    fn a_report_renders_against_its_own_source_and_locates_its_diagnostics() {
        let source = Arc::new(Source::new("m.nn", "model m {\n  dense 8 tanhh\n}\n"));
        let report = Report::new(vec![
            Diagnostic::error(Code::UnknownName, "unknown activation `tanhh`").at(Span::new(20, 25), "here"),
        ])
        .with_source(&source);
        assert_eq!(report.kind(), Kind::Spec);
        assert_eq!(report.exit_code(), 2);
        let location = report.diagnostics()[0].location.as_ref().expect("located");
        assert_eq!((location.file.as_str(), location.line, location.column), ("m.nn", 2, 11));
        let text = report.to_string();
        assert!(text.contains("--> m.nn:2:11") && text.contains("tanhh"), "{text}");
    }

    #[test]
    fn the_kind_follows_the_first_error_code() {
        assert_eq!(Report::from(Diagnostic::error(Code::DataFile, "x")).exit_code(), 1);
        assert_eq!(Report::from(Diagnostic::error(Code::Runtime, "x")).kind(), Kind::Run);
        assert_eq!(Report::from(Diagnostic::error(Code::Interrupted, "x")).exit_code(), 130);
        let warning_then_error = vec![Diagnostic::warning(Code::Syntax, "w"), Diagnostic::error(Code::DataShape, "e")];
        assert_eq!(Report::new(warning_then_error).kind(), Kind::Data);
    }
}
