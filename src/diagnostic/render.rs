//! The one place where diagnostics become text, rendered like rustc's by annotate-snippets
//! (the renderer rustc itself uses): `error[E0002]: ...`, `--> file:line:col`, the source
//! line, a caret under the span, its label, then `= note:` and `= help:` lines.

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::{Diagnostic, Severity};
use crate::span::{Source, Target};

/// Whether rendered diagnostics carry ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
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

/// Renders one diagnostic against the spec source it points into. Spans in a `--set`
/// override are shown in the override's own text (`<command line>`), followed by a note
/// showing the spec's text it replaced.
pub fn render(diagnostic: &Diagnostic, source: &Source, color: ColorChoice) -> String {
    let level = match diagnostic.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let title = level.primary_title(&diagnostic.message).id(diagnostic.code.as_str());
    let mut group = Group::with_title(title);
    let mut replaced = None;
    if let Some((span, label)) = &diagnostic.span {
        // One snippet per text the spans lie in, the primary span's first.
        let primary = source.resolve(*span);
        replaced = primary.piece.and_then(|piece| piece.target);
        let mut annotations = vec![(primary, AnnotationKind::Primary, label.as_str())];
        annotations.extend(
            diagnostic
                .context
                .iter()
                .map(|(span, label)| (source.resolve(*span), AnnotationKind::Context, label.as_str())),
        );
        let mut texts: Vec<(&str, &str)> = Vec::new();
        for (resolved, _, _) in &annotations {
            if !texts.contains(&(resolved.name, resolved.text)) {
                texts.push((resolved.name, resolved.text));
            }
        }
        for (name, text) in texts {
            let mut snippet = Snippet::source(text).path(name).fold(true);
            for (resolved, kind, label) in &annotations {
                if (resolved.name, resolved.text) == (name, text) {
                    snippet = snippet.annotation(kind.span(clamp(resolved.range.clone(), text)).label(*label));
                }
            }
            group = group.element(snippet);
        }
    }
    for note in &diagnostic.notes {
        group = group.element(Level::NOTE.message(note));
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help));
    }
    let mut groups = vec![group];
    if let Some(target) = replaced {
        let (span, title, label) = match target {
            Target::Replaces(span) => (span, "`--set` replaces this value of the spec", "replaced"),
            Target::AddsTo(span) => (span, "`--set` adds the argument to this", "changed"),
        };
        let resolved = source.resolve(span);
        let snippet = Snippet::source(resolved.text)
            .path(resolved.name)
            .fold(true)
            .annotation(AnnotationKind::Context.span(clamp(resolved.range.clone(), resolved.text)).label(label));
        groups.push(Group::with_title(Level::NOTE.secondary_title(title)).element(snippet));
    }
    let renderer = if color.enabled() { Renderer::styled() } else { Renderer::plain() };
    renderer.render(&groups)
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
