//! One cell into its column: a number into the chunk's share of the table's numbers, a text
//! interned into the chunk's own distinct values.

use std::collections::HashMap;

use super::{Chunk, Layout, ParseErrorKind};
use crate::data::table::{ColumnRead, MISSING};

/// Whether `byte` is a space that is trimmed around a field (unless it is the delimiter).
pub fn is_space(byte: u8, delimiter: u8) -> bool {
    (byte == b' ' || byte == b'\t' || byte == b'\r') && byte != delimiter
}

/// `cell` without the spaces around it.
pub fn trim(mut cell: &[u8], delimiter: u8) -> &[u8] {
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

/// A cell as f32: whole numbers of up to 9 digits directly (converting the integer rounds
/// to nearest, as parsing its digits would), anything else by `fast-float2`.
pub fn parse_number(cell: &[u8]) -> Result<f32, fast_float2::Error> {
    if !cell.is_empty() && cell.len() <= 9 && cell.iter().all(u8::is_ascii_digit) {
        let n = cell.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
        return Ok(n as f32);
    }
    fast_float2::parse::<f32, _>(cell)
}

/// Builds a chunk cell by cell, its numbers into `out` (the chunk's share of the table's).
pub struct Builder<'l> {
    pub layout: &'l Layout<'l>,
    /// Numbers written so far.
    pub written: usize,
    /// Number columns per row.
    pub number_width: usize,
    /// Per header column: its index among the text columns, if it is one.
    text_index: Vec<usize>,
    pub chunk: Chunk,
    interned: Vec<HashMap<Vec<u8>, u32>>,
}

impl<'l> Builder<'l> {
    pub fn new(layout: &'l Layout<'l>) -> Builder<'l> {
        let mut text_index = vec![usize::MAX; layout.width];
        let mut texts = 0;
        for (column, read) in layout.reads.iter().enumerate() {
            if *read == ColumnRead::Text {
                text_index[column] = texts;
                texts += 1;
            }
        }
        let number_width = layout.reads.iter().filter(|r| **r == ColumnRead::Number).count();
        let chunk = Chunk { texts: vec![Default::default(); texts], ..Chunk::default() };
        Builder { layout, written: 0, number_width, text_index, chunk, interned: vec![HashMap::new(); texts] }
    }

    pub fn finish(mut self) -> Chunk {
        self.chunk.numbers = self.written;
        self.chunk
    }

    /// Forgets the cells of a row that was begun but not finished: each finished row wrote
    /// one number per number column and one code per text column.
    pub fn undo_row(&mut self) {
        let rows = self.chunk.rows;
        self.written = rows * self.number_width;
        for (codes, _) in &mut self.chunk.texts {
            codes.truncate(rows);
        }
    }

    /// A number cell given as a value, not as text (`None`: missing).
    pub fn number(&mut self, column: usize, value: Option<f64>, out: &mut [f32]) -> Result<(), ParseErrorKind> {
        let value = match value {
            None => {
                self.chunk.missing_numbers = true;
                f32::NAN
            }
            Some(value) if (value as f32).is_finite() => value as f32,
            Some(value) => return Err(ParseErrorKind::NotFinite { column, cell: value.to_string() }),
        };
        if let Some(slot) = out.get_mut(self.written) {
            *slot = value;
        }
        self.written += 1;
        Ok(())
    }

    /// A text cell that is missing whatever the markers say.
    pub fn missing_text(&mut self, column: usize) {
        self.chunk.texts[self.text_index[column]].0.push(MISSING);
    }

    /// Parses `cell` of `column`; a number goes to `out` at `written`.
    #[inline]
    pub fn cell(&mut self, column: usize, cell: &[u8], out: &mut [f32]) -> Result<(), ParseErrorKind> {
        match self.layout.reads[column] {
            ColumnRead::Skip => {}
            ColumnRead::Number => {
                let value = match parse_number(cell) {
                    Ok(value) if value.is_finite() => value,
                    _ if self.layout.na.contains(cell) => {
                        self.chunk.missing_numbers = true;
                        f32::NAN
                    }
                    parsed => {
                        let cell = String::from_utf8_lossy(cell).into_owned();
                        return Err(if parsed.is_ok() {
                            ParseErrorKind::NotFinite { column, cell }
                        } else {
                            ParseErrorKind::NotANumber { column, cell }
                        });
                    }
                };
                // Room for every row is counted before (`most_rows`); a row that would not fit
                // is one that fails anyway, so it is counted, not written.
                if let Some(slot) = out.get_mut(self.written) {
                    *slot = value;
                }
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
