//! A chunk without quotes. Each row is first read on the fast path: cells parsed as they are
//! found, whole numbers eight bytes at a time, no search for the line end first. A row the
//! fast path does not take as it is (spaces around cells, a blank line, a wrong field count,
//! a cell that is not a number, `\r\n` line ends) is undone and read again on the general
//! path, which finds its line end, splits and trims its cells, and names any error. Both
//! paths give the same cells, so the result does not depend on which read a row.

use super::cells::{Builder, is_space, trim};
use super::runs::digit_cells;
use super::swar::{leading_digits, word_at};
use super::{Chunk, Layout, ParseErrorKind};
use crate::data::table::ColumnRead;

/// Parses the rows of `bytes[start..end]` (the rest of `bytes` may be looked at, never read
/// as cells).
pub fn parse(bytes: &[u8], start: usize, end: usize, layout: &Layout, out: &mut [f32]) -> Chunk {
    // A digit as the delimiter would make digits end cells: only the general path splits
    // such rows as the text says.
    parse_with(bytes, start, end, layout, out, !layout.delimiter.is_ascii_digit())
}

/// `parse`, trying the fast path first when `try_fast`.
pub fn parse_with(bytes: &[u8], start: usize, end: usize, layout: &Layout, out: &mut [f32], try_fast: bool) -> Chunk {
    let mut builder = Builder::new(layout);
    let steps = steps(layout);
    let (mut pos, mut newlines) = (start, 0u64);
    let mut lines = Vec::new();
    while pos < end {
        let row_start = pos;
        let fast = if !try_fast || is_space(bytes[pos], layout.delimiter) || bytes[pos] == b'\n' {
            None
        } else {
            fast_row(&mut builder, &steps, bytes, pos, end, out)
        };
        pos = match fast {
            Some(next) => next,
            None => {
                builder.undo_row();
                match general_row(&mut builder, bytes, pos, end, out) {
                    Ok(Row::Blank(next)) => {
                        newlines += 1;
                        pos = next;
                        continue;
                    }
                    Ok(Row::Read(next)) => next,
                    Err(kind) => {
                        builder.chunk.error = Some((row_start, kind));
                        break;
                    }
                }
            }
        };
        lines.push(newlines);
        newlines += 1;
        builder.chunk.rows += 1;
    }
    builder.chunk.lines = lines;
    builder.finish()
}

/// How the fast path reads a row: runs of number cells that end with the delimiter, read
/// in one tight loop, and single cells (text, skipped, or the last cell of the row).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Numbers(usize),
    Cell(usize),
}

/// The steps of a row of `layout`.
fn steps(layout: &Layout) -> Vec<Step> {
    let mut steps = Vec::new();
    let last = layout.width.saturating_sub(1);
    for (column, &read) in layout.reads.iter().enumerate() {
        match (read, steps.last_mut()) {
            (ColumnRead::Number, Some(Step::Numbers(count))) if column != last => *count += 1,
            (ColumnRead::Number, _) if column != last => steps.push(Step::Numbers(1)),
            _ => steps.push(Step::Cell(column)),
        }
    }
    steps
}

/// The row at `pos`, if each of its cells ends with the delimiter (the last with the line
/// end) and parses: the position after it. `None` leaves the row half-written.
#[inline]
fn fast_row(
    builder: &mut Builder,
    steps: &[Step],
    bytes: &[u8],
    mut pos: usize,
    end: usize,
    out: &mut [f32],
) -> Option<usize> {
    let layout = builder.layout;
    let (delimiter, last) = (layout.delimiter, layout.width - 1);
    let mut column = 0;
    for &step in steps {
        match step {
            Step::Numbers(count) => {
                let written = builder.written;
                pos = digit_cells(bytes, pos, delimiter, out.get_mut(written..written + count)?)?;
                builder.written = written + count;
                column += count;
            }
            Step::Cell(at) => {
                debug_assert_eq!(at, column);
                let ends = if column == last { b'\n' } else { delimiter };
                if layout.reads[column] == ColumnRead::Number
                    && let Some(word) = word_at(bytes, pos)
                    && let Some((value, len)) = leading_digits(word)
                    && (word >> (8 * len)) as u8 == ends
                {
                    *out.get_mut(builder.written)? = value as f32;
                    builder.written += 1;
                    pos += len + 1;
                } else {
                    let cell_end = memchr::memchr2(delimiter, b'\n', &bytes[pos..end]).map_or(end, |i| pos + i);
                    // The last cell of the file may end without a line end.
                    let found = if cell_end == end { b'\n' } else { bytes[cell_end] };
                    if found != ends {
                        return None;
                    }
                    builder.cell(column, trim(&bytes[pos..cell_end], delimiter), out).ok()?;
                    pos = cell_end + 1;
                }
                column += 1;
            }
        }
    }
    Some(pos.min(end))
}

enum Row {
    /// Nothing but spaces: skipped. The position after its line end.
    Blank(usize),
    /// A row was read. The position after its line end.
    Read(usize),
}

/// The row at `pos`, split at its line end first: cells trimmed, errors named.
fn general_row(
    builder: &mut Builder,
    bytes: &[u8],
    pos: usize,
    end: usize,
    out: &mut [f32],
) -> Result<Row, ParseErrorKind> {
    let (delimiter, width) = (builder.layout.delimiter, builder.layout.width);
    let line_end = memchr::memchr(b'\n', &bytes[pos..end]).map_or(end, |i| pos + i);
    let line = &bytes[pos..line_end];
    let next = (line_end + 1).min(end);
    if trim(line, delimiter).is_empty() && !line.contains(&delimiter) {
        return Ok(Row::Blank(next));
    }
    // The field count first, as the quoted parser splits a record before it reads a cell:
    // a row wrong in both ways gives the same error whichever path reads it.
    let found = memchr::memchr_iter(delimiter, line).count() + 1;
    if found != width {
        return Err(ParseErrorKind::FieldCount { found, expected: width });
    }
    for (column, cell) in line.split(|&b| b == delimiter).enumerate() {
        builder.cell(column, trim(cell, delimiter), out)?;
    }
    Ok(Row::Read(next))
}
