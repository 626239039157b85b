//! The one place where diagnostics become text, rendered like rustc's by annotate-snippets
//! (the renderer rustc itself uses): `error[E0002]: ...`, `--> file:line:col`, the source
//! line, a caret under the span, its label, then `= note:` and `= help:` lines.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::{Diagnostic, Severity};
use crate::span::Source;

/// Whether rendered diagnostics carry ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
        }
    }
}

/// Renders one diagnostic against the spec source it points into.
pub fn render(diagnostic: &Diagnostic, source: &Source, color: ColorChoice) -> String {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = level.primary_title(&diagnostic.message).id(diagnostic.code.as_str());
    let mut group = Group::with_title(title);
    if let Some((span, label)) = &diagnostic.span {
        let mut snippet = Snippet::source(&source.text)
            .path(&source.name)
            .fold(true)
            .annotation(AnnotationKind::Primary.span(clamp(span.range(), &source.text)).label(label));
        for (span, label) in &diagnostic.context {
            snippet = snippet.annotation(AnnotationKind::Context.span(clamp(span.range(), &source.text)).label(label));
        }
        group = group.element(snippet);
    }
    for note in &diagnostic.notes {
        group = group.element(Level::NOTE.message(note));
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help));
    }
    let renderer = if color.enabled() { Renderer::styled() } else { Renderer::plain() };
    renderer.render(&[group])
}

/// At most this many diagnostics are shown; a count stands for the rest.
const MAX_RENDERED: usize = 50;

/// Renders several diagnostics, separated by blank lines, ending with a count of the errors.
pub fn render_all(diagnostics: &[Diagnostic], source: &Source, color: ColorChoice) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics.iter().take(MAX_RENDERED) {
        out.push_str(&render(diagnostic, source, color));
        out.push_str("\n\n");
    }
    if diagnostics.len() > MAX_RENDERED {
        out.push_str(&format!("... and {} more\n", diagnostics.len() - MAX_RENDERED));
    }
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    if errors > 1 {
        out.push_str(&format!("error: {errors} errors in {}\n", source.name));
    }
    if let Some(first) = diagnostics.iter().find(|d| d.severity == Severity::Error) {
        out.push_str(&format!(
            "For more information about this error, try `nnspec explain {}`.\n",
            first.code.as_str()
        ));
    }
    out
}

/// Keeps a span inside the text and on character boundaries, so no span can make the
/// renderer panic (an empty span at the end of the file points just past the last character).
fn clamp(range: std::ops::Range<usize>, text: &str) -> std::ops::Range<usize> {
    let mut start = range.start.min(text.len());
    let mut end = range.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}
