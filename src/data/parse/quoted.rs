//! A chunk with quotes: each record is split into fields first (a quoted field may hold the
//! delimiter, `""` for a quote, and line ends), then each field is parsed as a cell. Also the
//! header line's split.

use super::cells::{Builder, is_space};
use super::{Chunk, Layout, ParseErrorKind};

/// A field's bytes: a range of the input, or of the scratch buffer for a quoted field.
#[derive(Debug, Clone, Copy)]
enum Field {
    Input(usize, usize),
    Scratch(usize, usize),
}

/// Splits the record that starts at `pos` into `fields`; returns the position after its line
/// end (or the end of `bytes`), or `Err(byte)` for a quote that never closes.
fn split_record(
    bytes: &[u8],
    mut pos: usize,
    delimiter: u8,
    fields: &mut Vec<Field>,
    scratch: &mut Vec<u8>,
) -> Result<usize, usize> {
    fields.clear();
    scratch.clear();
    let n = bytes.len();
    loop {
        while pos < n && is_space(bytes[pos], delimiter) && bytes[pos] != b'\n' {
            pos += 1;
        }
        if pos < n && bytes[pos] == b'"' {
            let open = pos;
            pos += 1;
            let start = scratch.len();
            loop {
                let Some(offset) = memchr::memchr(b'"', &bytes[pos..]) else { return Err(open) };
                let quote = pos + offset;
                if quote + 1 < n && bytes[quote + 1] == b'"' {
                    scratch.extend_from_slice(&bytes[pos..=quote]);
                    pos = quote + 2;
                } else {
                    scratch.extend_from_slice(&bytes[pos..quote]);
                    pos = quote + 1;
                    break;
                }
            }
            // Anything between the closing quote and the delimiter is kept, unquoted.
            while pos < n && bytes[pos] != delimiter && bytes[pos] != b'\n' {
                scratch.push(bytes[pos]);
                pos += 1;
            }
            while scratch.len() > start && is_space(scratch[scratch.len() - 1], delimiter) {
                scratch.pop();
            }
            fields.push(Field::Scratch(start, scratch.len()));
        } else {
            let start = pos;
            while pos < n && bytes[pos] != delimiter && bytes[pos] != b'\n' {
                pos += 1;
            }
            let mut end = pos;
            while end > start && is_space(bytes[end - 1], delimiter) {
                end -= 1;
            }
            fields.push(Field::Input(start, end));
        }
        if pos >= n {
            return Ok(n);
        }
        if bytes[pos] == delimiter {
            pos += 1;
            continue;
        }
        return Ok(pos + 1);
    }
}

fn field<'a>(bytes: &'a [u8], scratch: &'a [u8], field: Field) -> &'a [u8] {
    match field {
        Field::Input(start, end) => &bytes[start..end],
        Field::Scratch(start, end) => &scratch[start..end],
    }
}

/// The fields of one line (a header), trimmed and unquoted; `Err` for an unclosed quote.
pub fn split_line(line: &[u8], delimiter: u8) -> Result<Vec<Vec<u8>>, usize> {
    let (mut fields, mut scratch) = (Vec::new(), Vec::new());
    split_record(line, 0, delimiter, &mut fields, &mut scratch)?;
    Ok(fields.iter().map(|&f| field(line, &scratch, f).to_vec()).collect())
}

/// Parses the rows of `bytes[start..end]`.
pub fn parse(bytes: &[u8], start: usize, end: usize, layout: &Layout, out: &mut [f32]) -> Chunk {
    let body = &bytes[..end];
    let mut builder = Builder::new(layout);
    let (mut fields, mut scratch) = (Vec::with_capacity(layout.width), Vec::new());
    let (mut pos, mut newlines) = (start, 0u64);
    while pos < end {
        let row_start = pos;
        let next = match split_record(body, pos, layout.delimiter, &mut fields, &mut scratch) {
            Ok(next) => next,
            Err(byte) => {
                builder.chunk.error = Some((byte, ParseErrorKind::UnclosedQuote));
                return builder.finish();
            }
        };
        let line_ends = if scratch.is_empty() {
            u64::from(next > 0 && body[next - 1] == b'\n')
        } else {
            memchr::memchr_iter(b'\n', &body[row_start..next]).count() as u64
        };
        pos = next;
        let blank = fields.len() == 1 && field(body, &scratch, fields[0]).is_empty();
        if blank {
            newlines += line_ends;
            continue;
        }
        if fields.len() != layout.width {
            let kind = ParseErrorKind::FieldCount { found: fields.len(), expected: layout.width };
            builder.chunk.error = Some((row_start, kind));
            return builder.finish();
        }
        builder.chunk.lines.push(newlines);
        newlines += line_ends;
        for (column, &f) in fields.iter().enumerate() {
            if let Err(kind) = builder.cell(column, field(body, &scratch, f), out) {
                builder.chunk.error = Some((row_start, kind));
                return builder.finish();
            }
        }
        builder.chunk.rows += 1;
    }
    builder.finish()
}
