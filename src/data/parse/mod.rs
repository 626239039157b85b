//! Parsing a CSV file's body into a `Table`, in parallel: the body is cut into chunks of
//! about `CHUNK_BYTES` at row boundaries (a line end outside quotes; see `chunks`), each
//! chunk is parsed on its own (whole numbers eight bytes at a time, other numbers by
//! `fast-float2`, text interned per chunk), straight into its share of the table's numbers,
//! and the chunks are joined in file order. The result does not depend on the number of
//! threads: every cell is parsed exactly, and text codes are renumbered in order of first
//! appearance in the file.
//!
//! Fields are separated by one delimiter byte; a field may be quoted (`"a, b"`, with `""` for
//! a quote inside), and may then span lines; spaces around a field are trimmed, as is a `\r`
//! before a line end; blank lines are skipped.

mod cells;
mod chunks;
mod frame;
mod plain;
mod quoted;
mod runs;
mod swar;

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::table::{ColumnRead, MISSING, NaValues, Table, TextColumn};
use chunks::Piece;

pub use frame::{Cells, Frame, read_frame};
pub use quoted::split_line;

/// Bytes per parallel chunk: fixed, so that chunking never depends on the thread count.
const CHUNK_BYTES: usize = 1 << 20;

/// What went wrong, and on which line of the file (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: u64,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    /// A row with another number of fields than the header.
    FieldCount { found: usize, expected: usize },
    /// A cell of a number column that is neither a number nor a missing marker.
    NotANumber { column: usize, cell: String },
    /// A cell of a number column that is infinite or NaN written out, or too large for f32.
    NotFinite { column: usize, cell: String },
    /// A quoted field that runs to the end of the file.
    UnclosedQuote,
    /// A text cell that is not UTF-8.
    NotUtf8 { column: usize },
    /// The file could not be read to its end, or changed while it was read.
    Unreadable(String),
}

/// A file's body, the rows after its header line.
pub enum Body<'a> {
    /// `bytes[start..]`, in memory (a decompressed file); `bytes[start]` is on line `first_line`.
    Bytes { bytes: &'a [u8], start: usize, first_line: u64 },
    /// Bytes `start..end` of a regular file, read chunk by chunk as they are parsed.
    File { file: &'a File, start: usize, end: usize, first_line: u64 },
}

/// Which part of the work `progress` hears about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    Reading,
    Parsing,
}

/// Told `(stage, bytes done, bytes)` as the work goes.
pub type ParseProgress<'a> = &'a (dyn Fn(Stage, u64, u64) + Sync);

/// One chunk's rows.
#[derive(Default)]
pub struct Chunk {
    rows: usize,
    /// Line ends before each row, counted from the chunk's start.
    lines: Vec<u64>,
    /// Number cells written into the chunk's share of the table's numbers.
    numbers: usize,
    /// Per text column: codes into the chunk's own distinct values.
    texts: Vec<(Vec<u32>, Vec<Vec<u8>>)>,
    /// Whether a number cell was missing (read as NaN).
    missing_numbers: bool,
    /// The first error, at a byte of the bytes the chunk was parsed from.
    error: Option<(usize, ParseErrorKind)>,
}

/// What to read: the header's width, how each column is read, and the missing markers.
pub struct Layout<'a> {
    pub width: usize,
    pub reads: &'a [ColumnRead],
    pub na: &'a NaValues,
    pub delimiter: u8,
}

/// Parses the body of a file with `layout`.
pub fn parse_body(
    body: Body,
    header: Vec<String>,
    layout: &Layout,
    progress: ParseProgress,
) -> Result<Table, ParseError> {
    parse_body_in(body, header, layout, progress, CHUNK_BYTES)
}

/// `parse_body` with chunks of about `chunk_bytes` (tests cut small files into many chunks).
fn parse_body_in(
    body: Body,
    header: Vec<String>,
    layout: &Layout,
    progress: ParseProgress,
    chunk_bytes: usize,
) -> Result<Table, ParseError> {
    let delimiter = layout.delimiter;
    match body {
        Body::Bytes { bytes, start, first_line } => {
            progress(Stage::Reading, bytes.len() as u64, bytes.len() as u64);
            let pieces = chunks::in_memory(bytes, start, first_line, delimiter, chunk_bytes);
            parse_pieces(Source::Bytes(bytes), &pieces, header, layout, progress)
        }
        Body::File { file, start, end, first_line } => {
            let reading = |done, total| progress(Stage::Reading, done, total);
            match chunks::in_file(file, start, end, first_line, chunk_bytes, &reading)? {
                Some(pieces) => parse_pieces(Source::File(file, end), &pieces, header, layout, progress),
                None => {
                    let mut bytes = Vec::new();
                    chunks::read_range(file, start, end, &mut bytes)?;
                    let pieces = chunks::in_memory(&bytes, 0, first_line, delimiter, chunk_bytes);
                    parse_pieces(Source::Bytes(&bytes), &pieces, header, layout, progress)
                }
            }
        }
    }
}

/// Where the chunks' bytes are: in memory, or in a file of the given size.
#[derive(Clone, Copy)]
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a File, usize),
}

/// Bytes read past a chunk's end, so that its last cells can be read eight bytes at a time.
const LOOKAHEAD: usize = 64;

/// Parses one chunk into `out`: its bytes from `source` (through `buffer` for a file).
fn parse_piece(
    source: Source,
    piece: &Piece,
    layout: &Layout,
    buffer: &mut Vec<u8>,
    out: &mut [f32],
) -> Result<Chunk, ParseError> {
    let (bytes, start, end) = match source {
        Source::Bytes(bytes) => (bytes, piece.start, piece.end),
        Source::File(file, size) => {
            chunks::read_range(file, piece.start, (piece.end + LOOKAHEAD).min(size), buffer)?;
            // The room in `out` was counted from the first pass's line ends.
            if memchr::memchr_iter(b'\n', &buffer[..piece.end - piece.start]).count() != piece.line_ends {
                let kind = ParseErrorKind::Unreadable("it changed while it was read".into());
                return Err(ParseError { line: piece.first_line, kind });
            }
            (buffer.as_slice(), 0, piece.end - piece.start)
        }
    };
    let mut chunk = if memchr::memchr(b'"', &bytes[start..end]).is_none() {
        plain::parse(bytes, start, end, layout, out)
    } else {
        quoted::parse(bytes, start, end, layout, out)
    };
    match chunk.error.take() {
        None if chunk.numbers > out.len() => {
            let kind = ParseErrorKind::Unreadable("it holds more rows than its size allows (a bug in nnspec)".into());
            Err(ParseError { line: piece.first_line, kind })
        }
        None => Ok(chunk),
        Some((byte, kind)) => {
            let line = piece.first_line + memchr::memchr_iter(b'\n', &bytes[start..byte]).count() as u64;
            Err(ParseError { line, kind })
        }
    }
}

/// The most rows `piece` can hold: one per line end, and one more after the last unless it
/// ends a line; and as a row of `width` fields has `width - 1` delimiters and a line end
/// (the last row of a file may lack it), at most `(bytes + 1) / width`. The second bound
/// keeps a file of blank lines under a wide header from asking for more than its own size.
fn most_rows(piece: &Piece, width: usize) -> usize {
    let by_lines = piece.line_ends + usize::from(!piece.ends_line);
    by_lines.min((piece.end - piece.start + 1) / width.max(1))
}

fn parse_pieces(
    source: Source,
    pieces: &[Piece],
    header: Vec<String>,
    layout: &Layout,
    progress: ParseProgress,
) -> Result<Table, ParseError> {
    let total: u64 = pieces.iter().map(|p| (p.end - p.start) as u64).sum();
    let done = AtomicU64::new(0);
    let number_width = layout.reads.iter().filter(|r| **r == ColumnRead::Number).count();
    // Each chunk parses its numbers straight into its share of one buffer, sized by the most
    // rows it can hold; shares left partly unused (blank lines) are closed up after.
    let room: Vec<usize> = pieces.iter().map(|p| most_rows(p, layout.width) * number_width).collect();
    let mut numbers = vec![0.0f32; room.iter().sum()];
    let mut shares: Vec<&mut [f32]> = Vec::with_capacity(room.len());
    let mut rest = numbers.as_mut_slice();
    for &size in &room {
        let (share, tail) = rest.split_at_mut(size);
        shares.push(share);
        rest = tail;
    }
    let chunks: Vec<Result<Chunk, ParseError>> = pieces
        .par_iter()
        .zip(shares)
        .map_init(Vec::new, |buffer, (piece, out)| {
            let chunk = parse_piece(source, piece, layout, buffer, out);
            let size = (piece.end - piece.start) as u64;
            progress(Stage::Parsing, done.fetch_add(size, Ordering::Relaxed) + size, total);
            chunk
        })
        .collect();
    // The first error in the file.
    let chunks: Vec<Chunk> = chunks.into_iter().collect::<Result<_, _>>()?;
    let (mut from, mut to) = (0, 0);
    for (chunk, &size) in chunks.iter().zip(&room) {
        if from != to {
            numbers.copy_within(from..from + chunk.numbers, to);
        }
        from += size;
        to += chunk.numbers;
    }
    numbers.truncate(to);
    let first_lines: Vec<u64> = pieces.iter().map(|p| p.first_line).collect();
    Ok(join(&chunks, &first_lines, numbers, header, layout))
}

/// The table of `chunks` in file order (chunk `i` starting on line `first_lines[i]`), with
/// their `numbers` already joined.
fn join(chunks: &[Chunk], first_lines: &[u64], numbers: Vec<f32>, header: Vec<String>, layout: &Layout) -> Table {
    let number_columns: Vec<usize> = (0..layout.width).filter(|&c| layout.reads[c] == ColumnRead::Number).collect();
    let text_columns: Vec<usize> = (0..layout.width).filter(|&c| layout.reads[c] == ColumnRead::Text).collect();
    let rows: usize = chunks.iter().map(|c| c.rows).sum();
    let mut lines = Vec::with_capacity(rows);
    for (chunk, first) in chunks.iter().zip(first_lines) {
        lines.extend(chunk.lines.iter().map(|&l| first + l));
    }
    let mut texts = Vec::with_capacity(text_columns.len());
    for t in 0..text_columns.len() {
        let mut column = TextColumn { codes: Vec::with_capacity(rows), values: Vec::new() };
        let mut global: HashMap<&[u8], u32> = HashMap::new();
        for chunk in chunks {
            let (codes, values) = &chunk.texts[t];
            let remap: Vec<u32> = values
                .iter()
                .map(|value| {
                    *global.entry(value.as_slice()).or_insert_with(|| {
                        // Checked as UTF-8 when it was interned.
                        column.values.push(String::from_utf8_lossy(value).into_owned());
                        (column.values.len() - 1) as u32
                    })
                })
                .collect();
            column.codes.extend(codes.iter().map(|&c| if c == MISSING { MISSING } else { remap[c as usize] }));
        }
        texts.push(column);
    }
    let numbers_complete = !chunks.iter().any(|c| c.missing_numbers);
    Table {
        header,
        rows,
        lines,
        number_columns,
        numbers,
        numbers_complete,
        text_columns,
        texts,
        delimiter: layout.delimiter,
    }
}

#[cfg(test)]
mod tests;
