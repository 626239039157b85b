//! A table handed over in memory (a DataFrame's columns, rows of dicts or of strings from
//! Python) read into a `Table` exactly as a CSV file's cells would be: text cells are trimmed,
//! parsed and interned by the same code, missing markers count as in a file; cells given as
//! numbers are taken as they are (as `f32`), and where a column is read as text, a number is
//! spelled as the value it equals among the column's known values (`1.0` finds a category
//! `1`), else as Rust prints it.

use std::collections::HashMap;

use super::cells::{Builder, trim};
use super::{Layout, ParseError, ParseErrorKind};
use crate::data::table::{ColumnRead, Table};

/// One column's cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// Numbers; NaN where a cell is missing.
    Numbers(Vec<f64>),
    /// Texts; `None` where a cell is missing.
    Texts(Vec<Option<String>>),
}

impl Cells {
    pub fn len(&self) -> usize {
        match self {
            Cells::Numbers(values) => values.len(),
            Cells::Texts(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub names: Vec<String>,
    pub columns: Vec<Cells>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Cells::len)
    }
}

/// Reads `frame` with `layout` (one read per column of the frame); `known(column)` lists the
/// values a text column is matched against, to spell numbers as they are. Errors name the
/// row (from 1) as their line.
pub fn read_frame(frame: &Frame, layout: &Layout, known: &dyn Fn(usize) -> Vec<String>) -> Result<Table, ParseError> {
    let rows = frame.rows();
    if frame.names.len() != layout.width
        || frame.columns.len() != layout.width
        || frame.columns.iter().any(|c| c.len() != rows)
    {
        let kind = ParseErrorKind::Unreadable("its columns are not of one length".into());
        return Err(ParseError { line: 0, kind });
    }
    let spellings: Vec<HashMap<u64, String>> = (0..layout.width)
        .map(|column| match (&layout.reads[column], &frame.columns[column]) {
            (ColumnRead::Text, Cells::Numbers(_)) => known(column)
                .into_iter()
                .filter_map(|value| Some((value.trim().parse::<f64>().ok().filter(|v| !v.is_nan())?, value)))
                // `-0` and `0` are the same value.
                .map(|(number, value)| ((number + 0.0).to_bits(), value))
                .collect(),
            _ => HashMap::new(),
        })
        .collect();
    let mut builder = Builder::new(layout);
    let mut out = vec![0.0f32; rows * builder.number_width];
    for row in 0..rows {
        for (column, cells) in frame.columns.iter().enumerate() {
            let read = layout.reads[column];
            let result = match (read, cells) {
                (ColumnRead::Skip, _) => Ok(()),
                (ColumnRead::Number, Cells::Numbers(values)) => {
                    builder.number(column, Some(values[row]).filter(|v| !v.is_nan()), &mut out)
                }
                (ColumnRead::Number, Cells::Texts(values)) => match &values[row] {
                    None => builder.number(column, None, &mut out),
                    Some(text) => builder.cell(column, trim(text.as_bytes(), layout.delimiter), &mut out),
                },
                (ColumnRead::Text, Cells::Texts(values)) => match &values[row] {
                    None => {
                        builder.missing_text(column);
                        Ok(())
                    }
                    Some(text) => builder.cell(column, trim(text.as_bytes(), layout.delimiter), &mut out),
                },
                (ColumnRead::Text, Cells::Numbers(values)) => {
                    let value = values[row];
                    if value.is_nan() {
                        builder.missing_text(column);
                        Ok(())
                    } else {
                        let text = match spellings[column].get(&(value + 0.0).to_bits()) {
                            Some(known) => known.clone(),
                            None => value.to_string(),
                        };
                        builder.cell(column, text.as_bytes(), &mut out)
                    }
                }
            };
            result.map_err(|kind| ParseError { line: row as u64 + 1, kind })?;
        }
        builder.chunk.lines.push(row as u64);
        builder.chunk.rows += 1;
    }
    Ok(super::join(&[builder.finish()], &[1], out, frame.names.clone(), layout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::NaValues;

    fn read(frame: &Frame, reads: &[ColumnRead], known: Vec<String>) -> Result<Table, ParseError> {
        let na = NaValues::new(None);
        let layout = Layout { width: reads.len(), reads, na: &na, delimiter: b',' };
        read_frame(frame, &layout, &|_| known.clone())
    }

    fn texts(cells: &[Option<&str>]) -> Cells {
        Cells::Texts(cells.iter().map(|c| c.map(String::from)).collect())
    }

    /// A frame reads as the CSV of its cells would: markers and `None` missing, text trimmed
    /// and parsed where a number is read; numbers spelled as the known value they equal.
    #[test]
    fn cells_read_as_a_files_cells() {
        use ColumnRead::*;
        let frame = Frame {
            names: vec!["x".into(), "s".into(), "n".into(), "c".into()],
            columns: vec![
                Cells::Numbers(vec![1.5, f64::NAN, 1e-3]),
                texts(&[Some(" 2.5 "), Some("NA"), None]),
                texts(&[Some("a"), None, Some("?")]),
                Cells::Numbers(vec![1.0, 2.0, f64::NAN]),
            ],
        };
        let table = read(&frame, &[Number, Number, Text, Text], vec!["1".into(), "2.0".into()]).unwrap();
        assert_eq!(table.rows, 3);
        assert_eq!(table.lines, [1, 2, 3]);
        assert_eq!(table.numbers[0..2], [1.5, 2.5]);
        assert!(table.numbers[2].is_nan() && table.numbers[3].is_nan());
        assert_eq!(table.numbers[4], 1e-3f64 as f32);
        assert!(table.numbers[5].is_nan());
        assert!(!table.numbers_complete);
        let strings = &table.texts[0];
        assert_eq!((strings.get(0), strings.get(1), strings.get(2)), (Some("a"), None, None));
        let spelled = &table.texts[1];
        assert_eq!((spelled.get(0), spelled.get(1), spelled.get(2)), (Some("1"), Some("2.0"), None));
        let other = read(&frame, &[Number, Number, Text, Text], vec![]).unwrap();
        assert_eq!(other.texts[1].get(1), Some("2"), "no known value: as Rust prints it");
    }

    #[test]
    fn bad_cells_name_their_row() {
        use ColumnRead::*;
        let frame = Frame { names: vec!["x".into()], columns: vec![texts(&[Some("1"), Some("one")])] };
        let error = read(&frame, &[Number], vec![]).unwrap_err();
        assert_eq!(error, ParseError { line: 2, kind: ParseErrorKind::NotANumber { column: 0, cell: "one".into() } });
        let frame = Frame { names: vec!["x".into()], columns: vec![Cells::Numbers(vec![1e300])] };
        assert!(matches!(read(&frame, &[Number], vec![]).unwrap_err().kind, ParseErrorKind::NotFinite { .. }));
        let ragged = Frame {
            names: vec!["x".into(), "y".into()],
            columns: vec![Cells::Numbers(vec![1.0, 2.0]), Cells::Numbers(vec![1.0])],
        };
        assert!(matches!(read(&ragged, &[Number, Number], vec![]).unwrap_err().kind, ParseErrorKind::Unreadable(_)));
    }
}
