//! Parsing a CSV file's bytes into a `Table`, in parallel: the body is cut into chunks of
//! about `CHUNK_BYTES` at row boundaries (a line end outside quotes), each chunk is parsed on
//! its own (floats by `fast-float2`, text interned per chunk), and the chunks are joined in
//! file order. The result does not depend on the number of threads: every cell is parsed
//! exactly, and text codes are renumbered in order of first appearance in the file.
//!
//! Fields are separated by one delimiter byte; a field may be quoted (`"a, b"`, with `""` for
//! a quote inside), and may then span lines; spaces around a field are trimmed, as is a `\r`
//! before a line end; blank lines are skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::table::{ColumnRead, MISSING, NaValues, Table, TextColumn};

/// Bytes per parallel chunk: fixed, so that chunking never depends on the thread count.
const CHUNK_BYTES: usize = 1 << 20;

/// What went wrong, and at which byte of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub byte: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParseErrorKind {
    FieldCount { found: usize, expected: usize },
    NotANumber { column: usize, cell: String },
    NotFinite { column: usize, cell: String },
    UnclosedQuote,
    NotUtf8 { column: usize },
}

/// The 1-based line of byte `byte` of `bytes`.
pub fn line_of(bytes: &[u8], byte: usize) -> u64 {
    1 + memchr::memchr_iter(b'\n', &bytes[..byte.min(bytes.len())]).count() as u64
}

/// A field's bytes: a range of the input, or of the scratch buffer for a quoted field.
#[derive(Debug, Clone, Copy)]
enum Field {
    Input(usize, usize),
    Scratch(usize, usize),
}

fn is_space(byte: u8, delimiter: u8) -> bool {
    (byte == b' ' || byte == b'\t' || byte == b'\r') && byte != delimiter
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

/// Chunk boundaries of `bytes[start..]`: offsets just after a line end outside quotes, about
/// `CHUNK_BYTES` apart, with `start` first and `bytes.len()` last.
fn boundaries(bytes: &[u8], start: usize) -> Vec<usize> {
    let mut cuts = vec![start];
    if memchr::memchr(b'"', &bytes[start..]).is_none() {
        let mut next = start + CHUNK_BYTES;
        while next < bytes.len() {
            match memchr::memchr(b'\n', &bytes[next..]) {
                Some(offset) => {
                    cuts.push(next + offset + 1);
                    next = next + offset + 1 + CHUNK_BYTES;
                }
                None => break,
            }
        }
    } else {
        // Quoted fields may hold line ends: follow the quotes from the start.
        let mut quoted = false;
        let mut next = start + CHUNK_BYTES;
        for at in memchr::memchr2_iter(b'"', b'\n', &bytes[start..]) {
            let at = start + at;
            if bytes[at] == b'"' {
                quoted = !quoted;
            } else if !quoted && at >= next {
                cuts.push(at + 1);
                next = at + 1 + CHUNK_BYTES;
            }
        }
    }
    if *cuts.last().expect("start") < bytes.len() {
        cuts.push(bytes.len());
    }
    cuts.dedup();
    cuts
}

/// A cell as f32: whole numbers of up to 9 digits directly (converting the integer rounds
/// to nearest, as parsing its digits would), anything else by `fast-float2`.
fn parse_number(cell: &[u8]) -> Result<f32, fast_float2::Error> {
    if !cell.is_empty() && cell.len() <= 9 && cell.iter().all(u8::is_ascii_digit) {
        let n = cell.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        return Ok(n as f32);
    }
    fast_float2::parse::<f32, _>(cell)
}

/// One chunk's rows.
#[derive(Default)]
struct Chunk {
    rows: usize,
    /// Line ends before each row, counted from the chunk's start.
    lines: Vec<u32>,
    /// Number cells written into the chunk's share of the table's numbers.
    numbers: usize,
    /// Per text column: codes into the chunk's own distinct values.
    texts: Vec<(Vec<u32>, Vec<Vec<u8>>)>,
    error: Option<ParseError>,
}

/// What to read: the header's width, how each column is read, and the missing markers.
pub struct Layout<'a> {
    pub width: usize,
    pub reads: &'a [ColumnRead],
    pub na: &'a NaValues,
    pub delimiter: u8,
}

/// Builds a chunk cell by cell, its numbers into `out` (the chunk's share of the table's).
struct Builder<'l> {
    layout: &'l Layout<'l>,
    /// Numbers written so far.
    written: usize,
    /// Per header column: its index among the text columns, if it is one.
    text_index: Vec<usize>,
    chunk: Chunk,
    interned: Vec<HashMap<Vec<u8>, u32>>,
}

impl<'l> Builder<'l> {
    fn new(layout: &'l Layout<'l>) -> Builder<'l> {
        let mut text_index = vec![usize::MAX; layout.width];
        let mut texts = 0;
        for (column, read) in layout.reads.iter().enumerate() {
            if *read == ColumnRead::Text {
                text_index[column] = texts;
                texts += 1;
            }
        }
        let chunk = Chunk { texts: vec![Default::default(); texts], ..Chunk::default() };
        Builder { layout, written: 0, text_index, chunk, interned: vec![HashMap::new(); texts] }
    }

    fn finish(mut self) -> Chunk {
        self.chunk.numbers = self.written;
        self.chunk
    }

    /// Parses `cell` of `column`; a number goes to `out` at `written`.
    #[inline]
    fn cell(&mut self, column: usize, cell: &[u8], out: &mut [f32]) -> Result<(), ParseErrorKind> {
        match self.layout.reads[column] {
            ColumnRead::Skip => {}
            ColumnRead::Number => {
                let value = match parse_number(cell) {
                    Ok(value) if value.is_finite() => value,
                    _ if self.layout.na.contains(cell) => f32::NAN,
                    parsed => {
                        let cell = String::from_utf8_lossy(cell).into_owned();
                        return Err(if parsed.is_ok() {
                            ParseErrorKind::NotFinite { column, cell }
                        } else {
                            ParseErrorKind::NotANumber { column, cell }
                        });
                    }
                };
                out[self.written] = value;
                self.written += 1;
            }
            ColumnRead::Text => {
                let at = self.text_index[column];
                let code = if self.layout.na.contains(cell) {
                    MISSING
                } else {
                    let values = &mut self.chunk.texts[at].1;
                    match self.interned[at].get(cell) {
                        Some(&code) => code,
                        None => {
                            if std::str::from_utf8(cell).is_err() {
                                return Err(ParseErrorKind::NotUtf8 { column });
                            }
                            let code = values.len() as u32;
                            values.push(cell.to_vec());
                            self.interned[at].insert(cell.to_vec(), code);
                            code
                        }
                    }
                };
                self.chunk.texts[at].0.push(code);
            }
        }
        Ok(())
    }
}

fn trim(mut cell: &[u8], delimiter: u8) -> &[u8] {
    while let [first, rest @ ..] = cell
        && is_space(*first, delimiter)
    {
        cell = rest;
    }
    while let [rest @ .., last] = cell
        && is_space(*last, delimiter)
    {
        cell = rest;
    }
    cell
}

fn parse_chunk(bytes: &[u8], start: usize, end: usize, layout: &Layout, out: &mut [f32]) -> Chunk {
    let body = &bytes[..end];
    if memchr::memchr(b'"', &body[start..]).is_none() {
        return parse_plain_chunk(body, start, layout, out);
    }
    let mut builder = Builder::new(layout);
    let (mut fields, mut scratch) = (Vec::with_capacity(layout.width), Vec::new());
    let (mut pos, mut newlines) = (start, 0u32);
    while pos < end {
        let row_start = pos;
        let next = match split_record(body, pos, layout.delimiter, &mut fields, &mut scratch) {
            Ok(next) => next,
            Err(byte) => {
                builder.chunk.error = Some(ParseError { byte, kind: ParseErrorKind::UnclosedQuote });
                return builder.finish();
            }
        };
        let line_ends = if scratch.is_empty() {
            u32::from(next > 0 && body[next - 1] == b'\n')
        } else {
            memchr::memchr_iter(b'\n', &body[row_start..next]).count() as u32
        };
        pos = next;
        let blank = fields.len() == 1 && field(body, &scratch, fields[0]).is_empty();
        if blank {
            newlines += line_ends;
            continue;
        }
        if fields.len() != layout.width {
            let kind = ParseErrorKind::FieldCount { found: fields.len(), expected: layout.width };
            builder.chunk.error = Some(ParseError { byte: row_start, kind });
            return builder.finish();
        }
        builder.chunk.lines.push(newlines);
        newlines += line_ends;
        for (column, &f) in fields.iter().enumerate() {
            if let Err(kind) = builder.cell(column, field(body, &scratch, f), out) {
                builder.chunk.error = Some(ParseError { byte: row_start, kind });
                return builder.finish();
            }
        }
        builder.chunk.rows += 1;
    }
    builder.finish()
}

/// `parse_chunk` for a chunk without quotes: each field is parsed as it is found.
fn parse_plain_chunk(body: &[u8], start: usize, layout: &Layout, out: &mut [f32]) -> Chunk {
    let mut builder = Builder::new(layout);
    let (delimiter, width, n, reads) = (layout.delimiter, layout.width, body.len(), layout.reads);
    let (mut pos, mut newlines) = (start, 0u32);
    let mut lines = Vec::new();
    let mut written = 0;
    while pos < n {
        let row_start = pos;
        let line_end = memchr::memchr(b'\n', &body[pos..]).map_or(n, |i| pos + i);
        let line = &body[pos..line_end];
        pos = line_end + 1;
        if trim(line, delimiter).is_empty() && !line.contains(&delimiter) {
            newlines += 1;
            continue;
        }
        let (mut column, mut at) = (0, 0);
        let error = loop {
            // The common cell, a whole number right up to the delimiter, in one pass.
            if column < width && reads[column] == ColumnRead::Number {
                let (mut j, mut value) = (at, 0u32);
                let limit = (at + 9).min(line.len());
                while j < limit {
                    let digit = line[j].wrapping_sub(b'0');
                    if digit > 9 {
                        break;
                    }
                    value = value * 10 + u32::from(digit);
                    j += 1;
                }
                if j > at && (j == line.len() || line[j] == delimiter) {
                    out[written] = value as f32;
                    written += 1;
                    column += 1;
                    if j == line.len() {
                        break None;
                    }
                    at = j + 1;
                    continue;
                }
            }
            let field_end = memchr::memchr(delimiter, &line[at..]).map_or(line.len(), |i| at + i);
            if column < width {
                builder.written = written;
                let result = builder.cell(column, trim(&line[at..field_end], delimiter), out);
                written = builder.written;
                if let Err(kind) = result {
                    break Some(kind);
                }
            }
            column += 1;
            if field_end == line.len() {
                break None;
            }
            at = field_end + 1;
        };
        let error = error
            .or_else(|| (column != width).then_some(ParseErrorKind::FieldCount { found: column, expected: width }));
        if let Some(kind) = error {
            builder.chunk.error = Some(ParseError { byte: row_start, kind });
            break;
        }
        lines.push(newlines);
        newlines += 1;
        builder.chunk.rows += 1;
    }
    builder.written = written;
    builder.chunk.lines = lines;
    builder.finish()
}

/// Parses the body of a file (`bytes[body..]`, after the header line) with `layout`;
/// `progress` is told `(bytes parsed, body bytes)` as chunks finish.
pub fn parse_body(
    bytes: &[u8],
    body: usize,
    header: Vec<String>,
    layout: &Layout,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Table, ParseError> {
    let cuts = boundaries(bytes, body);
    let total = (bytes.len() - body) as u64;
    let done = AtomicU64::new(0);
    let number_width = layout.reads.iter().filter(|r| **r == ColumnRead::Number).count();
    // Each chunk parses its numbers straight into its share of one buffer, sized by its line
    // ends (at least its rows); shares left partly unused (blank lines) are closed up after.
    let line_ends: Vec<usize> =
        cuts.par_windows(2).map(|w| memchr::memchr_iter(b'\n', &bytes[w[0]..w[1]]).count()).collect();
    let room: Vec<usize> = cuts
        .windows(2)
        .zip(&line_ends)
        .map(|(w, &lines)| (lines + usize::from(bytes[w[1] - 1] != b'\n')) * number_width)
        .collect();
    let mut numbers = vec![0.0f32; room.iter().sum()];
    let mut shares: Vec<&mut [f32]> = Vec::with_capacity(room.len());
    let mut rest = numbers.as_mut_slice();
    for &size in &room {
        let (share, tail) = rest.split_at_mut(size);
        shares.push(share);
        rest = tail;
    }
    let chunks: Vec<Chunk> = cuts
        .par_windows(2)
        .zip(shares)
        .map(|(w, out)| {
            let chunk = parse_chunk(bytes, w[0], w[1], layout, out);
            let finished = done.fetch_add((w[1] - w[0]) as u64, Ordering::Relaxed) + (w[1] - w[0]) as u64;
            progress(finished, total);
            chunk
        })
        .collect();
    if let Some(error) = chunks.iter().find_map(|c| c.error.clone()) {
        return Err(error);
    }
    let number_columns: Vec<usize> = (0..layout.width).filter(|&c| layout.reads[c] == ColumnRead::Number).collect();
    debug_assert_eq!(number_columns.len(), number_width);
    let text_columns: Vec<usize> = (0..layout.width).filter(|&c| layout.reads[c] == ColumnRead::Text).collect();
    let rows: usize = chunks.iter().map(|c| c.rows).sum();
    // Line numbers: the header's line ends, then each chunk's from where the last one ended.
    let mut lines = Vec::with_capacity(rows);
    let mut line_base = line_of(bytes, body);
    for (chunk, &ends) in chunks.iter().zip(&line_ends) {
        lines.extend(chunk.lines.iter().map(|&l| line_base + u64::from(l)));
        line_base += ends as u64;
    }
    let (mut from, mut to) = (0, 0);
    for (chunk, &size) in chunks.iter().zip(&room) {
        if from != to {
            numbers.copy_within(from..from + chunk.numbers, to);
        }
        from += size;
        to += chunk.numbers;
    }
    numbers.truncate(to);
    let mut texts = Vec::with_capacity(text_columns.len());
    for t in 0..text_columns.len() {
        let mut column = TextColumn { codes: Vec::with_capacity(rows), values: Vec::new() };
        let mut global: HashMap<&[u8], u32> = HashMap::new();
        for chunk in &chunks {
            let (codes, values) = &chunk.texts[t];
            let remap: Vec<u32> = values
                .iter()
                .map(|value| {
                    *global.entry(value.as_slice()).or_insert_with(|| {
                        column.values.push(String::from_utf8(value.clone()).expect("checked UTF-8"));
                        (column.values.len() - 1) as u32
                    })
                })
                .collect();
            column.codes.extend(codes.iter().map(|&c| if c == MISSING { MISSING } else { remap[c as usize] }));
        }
        texts.push(column);
    }
    Ok(Table { header, rows, lines, number_columns, numbers, text_columns, texts, delimiter: layout.delimiter })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, reads: &[ColumnRead]) -> Result<Table, ParseError> {
        let bytes = text.as_bytes();
        let header_end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
        let na = NaValues::new(None);
        let layout = Layout { width: reads.len(), reads, na: &na, delimiter: b',' };
        parse_body(bytes, header_end, vec![], &layout, &|_, _| {})
    }

    #[test]
    fn numbers_text_quotes_missing_and_lines() {
        use ColumnRead::*;
        let text = "x,name,y\n1.5,\"a, b\",2\n\n NA , \"say \"\"hi\"\"\" ,3\r\n-2e3,a, b\n4,\"two\nlines\",?\n";
        let table = parse(text, &[Number, Text, Text]).unwrap();
        assert_eq!(table.rows, 4);
        assert_eq!(table.lines, vec![2, 4, 5, 6]);
        assert_eq!(table.numbers[0], 1.5);
        assert!(table.numbers[1].is_nan());
        assert_eq!(table.numbers[2], -2000.0);
        let names = &table.texts[0];
        assert_eq!(names.get(0), Some("a, b"));
        assert_eq!(names.get(1), Some("say \"hi\""));
        assert_eq!(names.get(2), Some("a"));
        assert_eq!(names.get(3), Some("two\nlines"));
        assert_eq!(table.texts[1].get(3), None, "`?` is missing");
        assert_eq!(table.texts[1].get(2), Some("b"));
    }

    #[test]
    fn errors_name_their_byte() {
        use ColumnRead::*;
        let text = "x,y\n1,2\n3,oops\n";
        let error = parse(text, &[Number, Number]).unwrap_err();
        assert_eq!(line_of(text.as_bytes(), error.byte), 3);
        assert_eq!(error.kind, ParseErrorKind::NotANumber { column: 1, cell: "oops".into() });
        let error = parse("x,y\n1,2\n3\n", &[Number, Number]).unwrap_err();
        assert_eq!(error.kind, ParseErrorKind::FieldCount { found: 1, expected: 2 });
        let error = parse("x,y\n1,inf\n", &[Number, Number]).unwrap_err();
        assert!(matches!(error.kind, ParseErrorKind::NotFinite { column: 1, .. }));
        assert_eq!(parse("x\n\"open\n", &[Text]).unwrap_err().kind, ParseErrorKind::UnclosedQuote);
    }

    /// Many chunks give the same table as one: codes follow first appearance in the file.
    #[test]
    fn chunks_join_in_file_order() {
        let mut text = String::from("v,c\n");
        for i in 0..500_000 {
            text += &format!("{},{}\n", i % 1000, ["q", "p", "r"][(i / 7) % 3]);
        }
        assert!(text.len() > 2 * CHUNK_BYTES);
        let table = parse(&text, &[ColumnRead::Number, ColumnRead::Text]).unwrap();
        assert_eq!(table.rows, 500_000);
        assert_eq!(table.texts[0].values, ["q", "p", "r"]);
        for row in [0, 123_457, 499_999] {
            assert_eq!(table.numbers[row], (row % 1000) as f32);
            assert_eq!(table.texts[0].get(row), Some(["q", "p", "r"][(row / 7) % 3]));
            assert_eq!(table.lines[row], row as u64 + 2);
        }
    }
}
