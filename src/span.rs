//! Byte ranges into the spec source, carried by every AST and IR node so that any later
//! stage can point a diagnostic at the text that caused it.
//!
//! A source may also hold pieces of text that stand for part of the spec without being in its
//! file: the command line's `--set key=value` overrides. Each piece takes offsets past the end
//! of the file's text, so a span still is two numbers, and a diagnostic about an overridden
//! value points into the override as the user typed it (`Source::resolve` says where).

use serde::Serialize;

/// A half-open byte range `start..end` into one source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A spec's text with the name it is shown under in diagnostics.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it, shown in `--> file:line:col`.
    pub name: String,
    pub text: String,
    /// Byte offset where each line starts, so locating a span is a binary search, not a scan.
    line_starts: Vec<usize>,
    /// Text standing for part of the spec from elsewhere (`--set` overrides), in order.
    pieces: Vec<Piece>,
}

/// A one-line text outside the spec's file that stands for part of the spec: a `--set`
/// override, shown as the user wrote it on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Where it is shown to come from (`<command line>`).
    pub name: String,
    /// The text, e.g. `--set train.epochs=-1`.
    pub text: String,
    /// The offset of its first byte: past the file's text and every earlier piece.
    pub start: usize,
    /// The part of the spec it changes, once applied.
    pub target: Option<Target>,
}

/// What a piece did to the spec's own text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// It replaces the value at this span.
    Replaces(Span),
    /// It adds an argument to the statement or call at this span.
    AddsTo(Span),
}

/// Where a span lies: in the spec's file or in one of its pieces, with the range inside that
/// text.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// The file's name or the piece's.
    pub name: &'a str,
    /// The whole text the range indexes.
    pub text: &'a str,
    pub range: std::ops::Range<usize>,
    /// The piece, when the span lies in one.
    pub piece: Option<&'a Piece>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { name: name.into(), text, line_starts, pieces: Vec::new() }
    }

    /// Adds a piece shown as `text` from `name`; returns the offset of its first byte. Pieces
    /// start one byte past the end of what came before, so an empty span at the end of the
    /// file never falls into one.
    pub fn add_piece(&mut self, name: impl Into<String>, text: impl Into<String>) -> usize {
        let start = self.pieces.last().map_or(self.text.len(), |p| p.start + p.text.len()) + 1;
        self.pieces.push(Piece { name: name.into(), text: text.into(), start, target: None });
        start
    }

    /// Records what the piece starting at `start` changed in the spec.
    pub fn set_target(&mut self, start: usize, target: Target) {
        if let Some(piece) = self.pieces.iter_mut().find(|p| p.start == start) {
            piece.target = Some(target);
        }
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The text a span lies in (the file's, or a piece's) and its range there, clamped into
    /// that text.
    pub fn resolve(&self, span: Span) -> Resolved<'_> {
        let piece = self.pieces.iter().rev().find(|p| span.start >= p.start);
        match piece {
            Some(piece) => {
                let start = (span.start - piece.start).min(piece.text.len());
                let end = span.end.saturating_sub(piece.start).clamp(start, piece.text.len());
                Resolved { name: &piece.name, text: &piece.text, range: start..end, piece: Some(piece) }
            }
            None => {
                let start = span.start.min(self.text.len());
                Resolved {
                    name: &self.name,
                    text: &self.text,
                    range: start..span.end.clamp(start, self.text.len()),
                    piece: None,
                }
            }
        }
    }

    /// The name, 1-based line and column (in characters) of a span's start, in the text it
    /// lies in.
    pub fn locate(&self, offset: usize) -> (&str, usize, usize) {
        let resolved = self.resolve(Span::new(offset, offset));
        match resolved.piece {
            Some(piece) => {
                let at = floor_char_boundary(&piece.text, resolved.range.start);
                (&piece.name, 1 + piece.text[..at].matches('\n').count(), piece.text[..at].chars().count() + 1)
            }
            None => {
                let (line, column) = self.line_col(offset);
                (&self.name, line, column)
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let source = Source::new("x.nn", "ab\nc\u{e9}d\n");
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(3), (2, 1));
        // 'é' is two bytes: the 'd' after it is the third character of line 2.
        assert_eq!(source.line_col(6), (2, 3));
        assert_eq!(source.line_col(99), (3, 1));
    }

    #[test]
    fn pieces_take_offsets_past_the_file_and_resolve_into_their_own_text() {
        let mut source = Source::new("x.nn", "loss mse\n");
        let first = source.add_piece("<command line>", "--set loss=mae");
        let second = source.add_piece("<command line>", "--set train.epochs=-1");
        assert_eq!(first, 10);
        assert_eq!(second, first + "--set loss=mae".len() + 1);
        // The empty span at the end of the file stays in the file.
        assert!(source.resolve(Span::new(9, 9)).piece.is_none());
        let epochs = second + "--set train.epochs=".len();
        let resolved = source.resolve(Span::new(epochs, epochs + 2));
        assert_eq!((resolved.name, &resolved.text[resolved.range.clone()]), ("<command line>", "-1"));
        assert_eq!(source.locate(epochs), ("<command line>", 1, 20));
        assert_eq!(source.locate(5), ("x.nn", 1, 6));
        source.set_target(second, Target::Replaces(Span::new(0, 4)));
        assert_eq!(source.pieces()[1].target, Some(Target::Replaces(Span::new(0, 4))));
    }
}
