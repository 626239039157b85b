//! The column encoding (docs/encoding.md) as exported models apply it. An exported model takes
//! one number per raw feature column, not per input slot:
//!
//! | column kind | the number | missing cell | a value not in the encoding |
//! |---|---|---|---|
//! | `number` | the value | NaN | (none) |
//! | `category` | its index in `vocabulary` | NaN | [`UNSEEN`] (-1) |
//! | `binary` | 0 for `negative`, 1 for `positive` | NaN | [`UNSEEN`] (-1) |
//!
//! and turns them into the input slots with [`Tables`]: each column's missing cell (NaN, or
//! for binary columns any negative code) takes the column's `fill`; each slot then takes its
//! column's filled number (`value`), 1 where it equals the slot's `code` (one-hot; the
//! `<other>` slot's code is -1), or 1 where the cell was missing (`indicator`). A cell nnspec
//! refuses (a missing number without a fill, a category of a `drop` column) has a NaN fill, so
//! the row's outputs are NaN. Every step is exact in f32, so the slots equal nnspec's.

use std::path::Path;

use crate::data::encoding::{EncodeError, Encoding, FeatureKind};
use crate::data::table::{ColumnRead, Table};
use crate::diagnostic::{Code, Diagnostic};

/// The code of a category or binary value that is not in the encoding.
pub const UNSEEN: f32 = -1.0;
/// The filled code of a missing category whose strategy gives all zeros: a code no slot has
/// (not [`UNSEEN`], which the `<other>` slot takes).
pub const NO_SLOT: f32 = -2.0;

/// A raw column an exported model reads, and how its cells become its number.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    pub name: String,
    pub kind: InputKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    Number,
    /// The code of a value is its index in `vocabulary` (sorted).
    Category {
        vocabulary: Vec<String>,
    },
    /// `negative` is 0, `positive` is 1.
    Binary {
        negative: String,
        positive: String,
    },
}

impl InputKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            InputKind::Number => "number",
            InputKind::Category { .. } => "category",
            InputKind::Binary { .. } => "binary",
        }
    }
}

/// What an input slot takes from its column's filled number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotRule {
    /// The number itself (a number, or a binary column's 0 or 1).
    Value,
    /// 1 where the number equals this code, else 0 (a one-hot slot; -1 is `<other>`).
    Code(f32),
    /// 1 where the cell was missing, else 0.
    Indicator,
}

/// The encoding as per-column and per-slot tables (what the exported models hold).
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    pub columns: Vec<InputColumn>,
    /// Per column: the number a missing cell takes; NaN where nnspec cannot encode it.
    pub fill: Vec<f32>,
    /// Per column: whether negative codes count as missing (binary columns, whose third
    /// values nnspec treats as missing).
    pub binary: Vec<bool>,
    /// Per slot: its column.
    pub slot_column: Vec<usize>,
    pub slots: Vec<SlotRule>,
}

impl Tables {
    /// The tables of a fitted encoding, or why the encoding is inconsistent (a weights file's,
    /// written by something else).
    pub fn of(encoding: &Encoding) -> Result<Tables, String> {
        let mut tables = Tables {
            columns: Vec::new(),
            fill: Vec::new(),
            binary: Vec::new(),
            slot_column: Vec::new(),
            slots: Vec::new(),
        };
        for (index, feature) in encoding.features.iter().enumerate() {
            let wrong = |what: &str| format!("its column encoding is inconsistent: column `{}` {what}", feature.column);
            let (kind, fill, mut slots) = match &feature.kind {
                FeatureKind::Number { fill } => (InputKind::Number, fill.unwrap_or(f32::NAN), vec![SlotRule::Value]),
                FeatureKind::Binary { negative, positive, fill } => (
                    InputKind::Binary { negative: negative.clone(), positive: positive.clone() },
                    fill.unwrap_or(f32::NAN),
                    vec![SlotRule::Value],
                ),
                FeatureKind::Category { vocabulary, other, fill } => {
                    if vocabulary.windows(2).any(|pair| pair[0] >= pair[1]) {
                        return Err(wrong("has a vocabulary that is not sorted or repeats a value"));
                    }
                    // As nnspec encodes it: `drop` refuses a missing cell; a fill outside the
                    // vocabulary (or none) gives all zeros.
                    let fill = if feature.missing == "drop" {
                        f32::NAN
                    } else {
                        fill.as_ref()
                            .and_then(|f| vocabulary.binary_search(f).ok())
                            .map_or(NO_SLOT, |index| index as f32)
                    };
                    let mut slots: Vec<SlotRule> = (0..vocabulary.len()).map(|c| SlotRule::Code(c as f32)).collect();
                    if *other {
                        slots.push(SlotRule::Code(UNSEEN));
                    }
                    if vocabulary.len() >= 1 << 24 {
                        return Err(wrong("has more categories than float codes count exactly"));
                    }
                    (InputKind::Category { vocabulary: vocabulary.clone() }, fill, slots)
                }
            };
            if feature.indicator {
                slots.push(SlotRule::Indicator);
            }
            if slots.len() != feature.slots.len() {
                return Err(wrong(&format!(
                    "has {} slot(s) where its kind gives {}",
                    feature.slots.len(),
                    slots.len()
                )));
            }
            tables.binary.push(matches!(kind, InputKind::Binary { .. }));
            tables.columns.push(InputColumn { name: feature.column.clone(), kind });
            tables.fill.push(fill);
            tables.slot_column.extend(std::iter::repeat_n(index, slots.len()));
            tables.slots.extend(slots);
        }
        Ok(tables)
    }

    /// Whether the tables change nothing: every column a number without a fill or an
    /// indicator, one slot each (a missing cell stays NaN, as nnspec refuses it).
    pub fn is_identity(&self) -> bool {
        self.columns.iter().all(|c| c.kind == InputKind::Number)
            && self.fill.iter().all(|f| f.is_nan())
            && self.slots.iter().all(|s| *s == SlotRule::Value)
    }

    /// The input slots of rows of codes (`self.columns.len()` per row), unscaled: what the
    /// exported models compute, here for tests and as the reference of the rules above.
    pub fn slots_of(&self, codes: &[f32]) -> Vec<f32> {
        let width = self.columns.len().max(1);
        let mut out = Vec::with_capacity(codes.len() / width * self.slots.len());
        for row in codes.chunks_exact(width) {
            let missing: Vec<bool> =
                row.iter().zip(&self.binary).map(|(x, &binary)| x.is_nan() || (binary && *x < 0.0)).collect();
            let filled: Vec<f32> =
                row.iter().zip(&missing).zip(&self.fill).map(|((&x, &m), &f)| if m { f } else { x }).collect();
            for (&column, rule) in self.slot_column.iter().zip(&self.slots) {
                let x = filled[column];
                out.push(match rule {
                    SlotRule::Indicator => f32::from(u8::from(missing[column])),
                    SlotRule::Value => x,
                    SlotRule::Code(_) if x.is_nan() => x,
                    SlotRule::Code(code) => f32::from(u8::from(x == *code)),
                });
            }
        }
        out
    }

    /// The codes of `rows` of `table`, one per column, row-major.
    pub fn codes(&self, table: &Table, rows: &[usize]) -> Result<Vec<f32>, EncodeError> {
        enum Source<'t> {
            Number(usize),
            Text(&'t crate::data::table::TextColumn, Vec<f32>),
        }
        let mut sources = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let index = table
                .header
                .iter()
                .position(|h| *h == column.name)
                .ok_or_else(|| EncodeError::NoColumn { column: column.name.clone() })?;
            sources.push(match &column.kind {
                InputKind::Number => Source::Number(table.number_slot(index)),
                InputKind::Category { vocabulary } => {
                    let text = table.text(index);
                    let map = text.values.iter().map(|v| vocabulary.binary_search(v).map_or(UNSEEN, |c| c as f32));
                    Source::Text(text, map.collect())
                }
                InputKind::Binary { negative, positive } => {
                    let text = table.text(index);
                    let code = |v: &String| {
                        if v == negative {
                            0.0
                        } else if v == positive {
                            1.0
                        } else {
                            UNSEEN
                        }
                    };
                    Source::Text(text, text.values.iter().map(code).collect())
                }
            });
        }
        let numbers = table.number_columns.len();
        let mut out = Vec::with_capacity(rows.len() * sources.len());
        for &row in rows {
            for source in &sources {
                out.push(match source {
                    Source::Number(at) => table.numbers[row * numbers + at],
                    Source::Text(text, map) => match text.codes[row] {
                        crate::data::table::MISSING => f32::NAN,
                        code => map[code as usize],
                    },
                });
            }
        }
        Ok(out)
    }
}

/// Every row of a CSV file as the numbers an exported model takes (`tables.columns.len()`
/// per row, row-major), read as `predict` reads it (the encoding's missing-value markers, the
/// spec's delimiter); other columns are ignored.
pub fn codes_of_file(
    tables: &Tables,
    encoding: &Encoding,
    path: &Path,
    delimiter: Option<u8>,
) -> Result<(usize, Vec<f32>), Diagnostic> {
    let shown = path.display().to_string();
    let file = crate::data::FileRef { path, shown: &shown, spans: None };
    let reads = |header: &[String]| -> Result<Vec<ColumnRead>, Diagnostic> {
        let mut reads = vec![ColumnRead::Skip; header.len()];
        for column in &tables.columns {
            let at = header.iter().position(|h| *h == column.name).ok_or_else(|| {
                Diagnostic::error(
                    Code::DataShape,
                    format!("feature column `{}` is not in the header of `{shown}`", column.name),
                )
            })?;
            reads[at] = if column.kind == InputKind::Number { ColumnRead::Number } else { ColumnRead::Text };
        }
        Ok(reads)
    };
    let table = crate::data::read_table(&file, delimiter, &encoding.na(), &reads, &|_, _, _| {})?;
    let rows: Vec<usize> = (0..table.rows).collect();
    let codes = tables.codes(&table, &rows).map_err(|e| crate::data::encode_error(e, &file, &table))?;
    Ok((table.rows, codes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::encoding::{Feature, Slot};
    use crate::data::labels::Target;

    fn slot(name: &str) -> Slot {
        Slot { name: name.into(), offset: 0.0, factor: 1.0 }
    }

    fn feature(column: &str, kind: FeatureKind, missing: &str, indicator: bool, slots: usize) -> Feature {
        let slots = (0..slots).map(|i| slot(&format!("{column}{i}"))).collect();
        Feature { column: column.into(), kind, missing: missing.into(), indicator, slots }
    }

    fn encoding(features: Vec<Feature>) -> Encoding {
        let mut encoding = Encoding::numeric(&[], Target::Values { columns: vec!["y".into()] }, &[], &[]);
        encoding.features = features;
        encoding
    }

    /// Each rule checked by hand against docs/encoding.md: a category with `<other>` and a
    /// most-frequent fill, one with zeros for missing cells and an indicator, a binary column
    /// with a fill, a number with a fill and one without.
    #[test]
    fn codes_become_the_slots_nnspec_encodes() {
        let vocabulary: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let features = vec![
            feature(
                "c",
                FeatureKind::Category { vocabulary: vocabulary.clone(), other: true, fill: Some("b".into()) },
                "most_frequent",
                false,
                3,
            ),
            feature("z", FeatureKind::Category { vocabulary, other: false, fill: None }, "zeros", true, 3),
            feature(
                "s",
                FeatureKind::Binary { negative: "no".into(), positive: "yes".into(), fill: Some(0.25) },
                "mean",
                true,
                2,
            ),
            feature("x", FeatureKind::Number { fill: Some(7.5) }, "constant", false, 1),
            feature("e", FeatureKind::Number { fill: None }, "error", false, 1),
        ];
        let tables = Tables::of(&encoding(features)).unwrap();
        assert!(!tables.is_identity());
        let nan = f32::NAN;
        #[rustfmt::skip]
        let codes = [
            0.0, 1.0, 1.0, 2.0, 3.0,    // every cell present
            UNSEEN, UNSEEN, UNSEEN, nan, 4.0, // unseen values, a missing number with a fill
            nan, nan, nan, 5.0, nan,    // missing everywhere: the last one cannot be encoded
        ];
        let slots = tables.slots_of(&codes);
        #[rustfmt::skip]
        let expected = [
            1.0, 0.0, 0.0,  0.0, 1.0, 0.0,  1.0, 0.0,  2.0, 3.0,
            0.0, 0.0, 1.0,  0.0, 0.0, 0.0,  0.25, 1.0,  7.5, 4.0,
            0.0, 1.0, 0.0,  0.0, 0.0, 1.0,  0.25, 1.0,  5.0, nan,
        ];
        assert_eq!(slots.len(), expected.len());
        for (i, (a, b)) in slots.iter().zip(&expected).enumerate() {
            assert!(a == b || a.is_nan() && b.is_nan(), "slot {i}: {a} != {b}");
        }
    }

    #[test]
    fn plain_numbers_are_the_identity_and_bad_encodings_are_refused() {
        let plain = encoding(vec![feature("x", FeatureKind::Number { fill: None }, "error", false, 1)]);
        assert!(Tables::of(&plain).unwrap().is_identity());
        let dropped = encoding(vec![feature(
            "c",
            FeatureKind::Category { vocabulary: vec!["a".into()], other: false, fill: None },
            "drop",
            false,
            1,
        )]);
        assert!(Tables::of(&dropped).unwrap().fill[0].is_nan(), "a `drop` category cannot be encoded");
        let unsorted = encoding(vec![feature(
            "c",
            FeatureKind::Category { vocabulary: vec!["b".into(), "a".into()], other: false, fill: None },
            "zeros",
            false,
            2,
        )]);
        assert!(Tables::of(&unsorted).unwrap_err().contains("not sorted"));
        let short = encoding(vec![feature("x", FeatureKind::Number { fill: None }, "error", true, 1)]);
        assert!(Tables::of(&short).unwrap_err().contains("has 1 slot(s) where its kind gives 2"));
    }
}
