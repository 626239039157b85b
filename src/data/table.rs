//! A CSV file as read, before any encoding: its header, and for each column either numbers
//! (missing cells as NaN) or text (codes into the column's distinct values). Which columns are
//! numbers and which are text is decided by the spec before reading, so each cell is parsed
//! once, into its final form.

/// The code of a missing cell in a text column.
pub const MISSING: u32 = u32::MAX;

/// How a column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRead {
    /// A float; a missing-value marker becomes NaN; anything else is an error.
    Number,
    /// Any text, interned; a missing-value marker becomes `MISSING`.
    Text,
    /// Not read at all.
    Skip,
}

/// A text column: one code per row into `values` (in order of first appearance in the file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextColumn {
    pub codes: Vec<u32>,
    pub values: Vec<String>,
}

impl TextColumn {
    pub fn get(&self, row: usize) -> Option<&str> {
        match self.codes[row] {
            MISSING => None,
            code => Some(&self.values[code as usize]),
        }
    }
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: usize,
    /// The file line (from 1) each row starts on, for messages.
    pub lines: Vec<u64>,
    /// Header indices of the number columns, in header order.
    pub number_columns: Vec<usize>,
    /// `rows x number_columns.len()`, row-major; NaN where a cell is missing.
    pub numbers: Vec<f32>,
    /// True when it is known that no number cell is missing (the parser saw none); false
    /// when some may be.
    pub numbers_complete: bool,
    /// Header indices of the text columns, in header order, and their cells.
    pub text_columns: Vec<usize>,
    pub texts: Vec<TextColumn>,
    pub delimiter: u8,
}

impl Table {
    /// Column `column` (a header index) of `row`, if it was read as a number.
    pub fn number(&self, row: usize, column: usize) -> f32 {
        self.numbers[row * self.number_columns.len() + self.number_slot(column)]
    }

    /// The text column with header index `column`.
    pub fn text(&self, column: usize) -> &TextColumn {
        // Columns are in header order: found by binary search, so wide tables stay fast.
        let at = self.text_columns.binary_search(&column).expect("a text column");
        &self.texts[at]
    }

    /// Where number column `column` sits in a row of `numbers`.
    pub fn number_slot(&self, column: usize) -> usize {
        self.number_columns.binary_search(&column).expect("a number column")
    }

    /// Whether `cell` of column `column` is missing, whichever way it was read.
    pub fn is_missing(&self, row: usize, column: usize) -> bool {
        if self.number_columns.binary_search(&column).is_ok() {
            self.number(row, column).is_nan()
        } else {
            self.text(column).codes[row] == MISSING
        }
    }
}

/// The delimiters inferred from a header, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The delimiter a header line uses: the candidate that occurs most often outside quotes
/// (`,` when none occurs).
pub fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &byte in header {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = DELIMITERS.iter().position(|&d| d == byte) {
            counts[i] += 1;
        }
    }
    let best = (0..DELIMITERS.len()).max_by_key(|&i| (counts[i], usize::MAX - i)).expect("candidates");
    if counts[best] == 0 { b',' } else { DELIMITERS[best] }
}

/// How a delimiter reads in a message.
pub fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_string(),
        other => format!("`{}`", other as char),
    }
}

/// Which cells count as missing.
#[derive(Debug, Clone)]
pub struct NaValues {
    values: Vec<Vec<u8>>,
    ignore_case: bool,
}

impl NaValues {
    /// The spec's list, compared exactly, or the defaults, compared without regard to case.
    pub fn new(listed: Option<&[String]>) -> NaValues {
        match listed {
            Some(values) => {
                NaValues { values: values.iter().map(|v| v.trim().as_bytes().to_vec()).collect(), ignore_case: false }
            }
            None => NaValues {
                values: crate::ir::DEFAULT_NA_VALUES.iter().map(|v| v.as_bytes().to_vec()).collect(),
                ignore_case: true,
            },
        }
    }

    pub fn contains(&self, cell: &[u8]) -> bool {
        self.values.iter().any(|v| if self.ignore_case { v.eq_ignore_ascii_case(cell) } else { v == cell })
    }

    /// The markers, for the encoding's record.
    pub fn describe(&self) -> Vec<String> {
        self.values.iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_outside_quotes() {
        assert_eq!(sniff_delimiter(b"a,b,c"), b',');
        assert_eq!(sniff_delimiter(b"a;b;c"), b';');
        assert_eq!(sniff_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter(b"a|b"), b'|');
        assert_eq!(sniff_delimiter(b"\"x,y,z\";b"), b';', "commas inside quotes do not count");
        assert_eq!(sniff_delimiter(b"single"), b',');
    }

    #[test]
    fn missing_markers() {
        let defaults = NaValues::new(None);
        assert!(defaults.contains(b"") && defaults.contains(b"na") && defaults.contains(b"NULL"));
        assert!(!defaults.contains(b"0"));
        let listed = NaValues::new(Some(&["-".to_string()]));
        assert!(listed.contains(b"-") && !listed.contains(b"NA"));
    }
}
