//! The fitted encoding of a table's columns into model inputs: one serialisable object, fitted
//! on the training rows only, saved in the weights file (metadata `nnspec.encoding`, JSON) and
//! applied identically by training, `predict` and `eval`.
//!
//! Each feature column becomes one or more input slots, in order:
//!
//! | kind | raw slots | missing cell |
//! |---|---|---|
//! | `number` | the value | `fill` (mean, median, most frequent or a constant of the training rows), or an error, or the row dropped |
//! | `category` | one-hot over `vocabulary`, then `<other>` if `other` | zeros, or the `fill` category, or the row dropped |
//! | `binary` | 1 for `positive`, 0 for `negative` | `fill`, or an error, or the row dropped |
//!
//! With `indicator`, one more slot is 1 where the cell was missing. A category value outside
//! the vocabulary goes to `<other>`, or to all zeros without it; a binary value that is
//! neither is treated as missing. Every slot is then scaled: `(raw - offset) * factor`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::labels::{Target, sort_labels};
use super::table::{MISSING, NaValues, Table};
use crate::ir::{ColumnKind, Missing, Scaling};

/// The format marker of the encoding's JSON.
pub const FORMAT: &str = "nnspec-encoding-1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    pub format: String,
    pub features: Vec<Feature>,
    pub target: Target,
    /// Columns carried to `predict`'s output, never features.
    pub ids: Vec<String>,
    /// Cells that count as missing; compared without regard to case when `na_ignore_case`.
    pub na_values: Vec<String>,
    pub na_ignore_case: bool,
}

/// One feature column and the input slots it becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub column: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
    /// The missing-value strategy: `error`, `drop`, `mean`, `median`, `most_frequent`,
    /// `constant` or `zeros`.
    pub missing: String,
    /// Whether the last slot flags a missing cell.
    pub indicator: bool,
    pub slots: Vec<Slot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// `fill`: the value a missing cell takes (before scaling), if the strategy fills.
    Number {
        fill: Option<f32>,
    },
    /// `fill`: the category a missing cell takes (`most_frequent`), if any.
    Category {
        vocabulary: Vec<String>,
        other: bool,
        fill: Option<String>,
    },
    Binary {
        negative: String,
        positive: String,
        fill: Option<f32>,
    },
}

/// An input slot: its name (`column`, `column=value`, `column=<other>`, `column=<missing>`)
/// and its scaling, `x = (raw - offset) * factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub name: String,
    pub offset: f32,
    pub factor: f32,
}

/// A feature to fit: its column, its declaration and its slot scaling.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    pub column: String,
    pub kind: ColumnKind,
    pub scaling: Scaling,
}

/// Why a row cannot be encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodeError {
    /// A missing cell in a column whose strategy does not fill (`error` or `drop`).
    Missing { row: usize, column: String, strategy: String },
    /// A feature column is not in the file's header.
    NoColumn { column: String },
}

/// Why the encoding cannot be fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct FitError {
    pub column: String,
    pub reason: String,
}

fn missing_name(missing: Missing) -> String {
    match missing {
        Missing::Constant(_) => "constant".into(),
        other => other.describe(),
    }
}

/// The value `missing` fills a number column with, from the training rows' `values`.
fn number_fill(missing: Missing, values: &mut [f64]) -> Option<f32> {
    let n = values.len();
    match missing {
        Missing::Error | Missing::Drop | Missing::Zeros => (missing == Missing::Zeros).then_some(0.0),
        Missing::Constant(value) => Some(value),
        _ if n == 0 => Some(0.0),
        Missing::Mean => Some((values.iter().sum::<f64>() / n as f64) as f32),
        Missing::Median => {
            values.sort_by(f64::total_cmp);
            Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 } as f32)
        }
        Missing::MostFrequent => {
            values.sort_by(f64::total_cmp);
            let (mut best, mut best_count, mut i) = (values[0], 0, 0);
            while i < n {
                let run = values[i..].iter().take_while(|&&v| v == values[i]).count();
                if run > best_count {
                    (best, best_count) = (values[i], run);
                }
                i += run;
            }
            Some(best as f32)
        }
    }
}

impl Encoding {
    /// Fits every feature on `train` (row indices of `table`): fill values, vocabularies, the
    /// two values of binary columns. Slots start unscaled; `set_scaling` fills in the scaling
    /// once it is fitted. Returns the encoding and each slot's scaling kind.
    pub fn fit(
        specs: &[FeatureSpec],
        table: &Table,
        train: &[usize],
        target: Target,
        ids: Vec<String>,
        na: &NaValues,
        na_ignore_case: bool,
    ) -> Result<(Encoding, Vec<Scaling>), FitError> {
        let mut features = Vec::with_capacity(specs.len());
        let mut scalings = Vec::new();
        // Columns by name in one pass: wide tables fit in linear time.
        let columns: std::collections::HashMap<&str, usize> =
            table.header.iter().enumerate().map(|(i, name)| (name.as_str(), i)).collect();
        for spec in specs {
            let column = columns[spec.column.as_str()];
            let fail = |reason: String| FitError { column: spec.column.clone(), reason };
            let (kind, missing, indicator) = match &spec.kind {
                ColumnKind::Number { missing, indicator, .. } => {
                    let slot = table.number_slot(column);
                    let width = table.number_columns.len();
                    // Only strategies that fill from the training rows read them.
                    let fitted = matches!(missing, Missing::Mean | Missing::Median | Missing::MostFrequent);
                    let mut values: Vec<f64> = if fitted {
                        train
                            .iter()
                            .map(|&r| table.numbers[r * width + slot])
                            .filter(|v| !v.is_nan())
                            .map(f64::from)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    (FeatureKind::Number { fill: number_fill(*missing, &mut values) }, *missing, *indicator)
                }
                ColumnKind::Category { missing, indicator, max_categories, min_frequency, other } => {
                    let text = table.text(column);
                    let mut counts = vec![0usize; text.values.len()];
                    for &r in train {
                        if text.codes[r] != MISSING {
                            counts[text.codes[r] as usize] += 1;
                        }
                    }
                    // The most frequent first (ties by value), then the cut-offs, then sorted.
                    let mut order: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] >= *min_frequency).collect();
                    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then_with(|| text.values[a].cmp(&text.values[b])));
                    let fill = (*missing == Missing::MostFrequent)
                        .then(|| order.first().map(|&c| text.values[c].clone()))
                        .flatten();
                    order.truncate(max_categories.unwrap_or(usize::MAX));
                    let mut vocabulary: Vec<String> = order.into_iter().map(|c| text.values[c].clone()).collect();
                    vocabulary.sort();
                    if vocabulary.is_empty() && !other {
                        return Err(fail("no value of the training rows is frequent enough to be a category".into()));
                    }
                    (FeatureKind::Category { vocabulary, other: *other, fill }, *missing, *indicator)
                }
                ColumnKind::Binary { missing, indicator, positive } => {
                    let text = table.text(column);
                    let mut seen = vec![false; text.values.len()];
                    for &r in train {
                        if text.codes[r] != MISSING {
                            seen[text.codes[r] as usize] = true;
                        }
                    }
                    let mut values: Vec<String> =
                        (0..seen.len()).filter(|&c| seen[c]).map(|c| text.values[c].clone()).collect();
                    sort_labels(&mut values);
                    if values.len() != 2 {
                        let shown: Vec<String> = values.iter().take(5).map(|v| format!("`{v}`")).collect();
                        return Err(fail(format!(
                            "a binary column holds two distinct values, but its training rows hold {}{}",
                            values.len(),
                            if shown.is_empty() { String::new() } else { format!(": {}", shown.join(", ")) }
                        )));
                    }
                    let (negative, positive) = match positive {
                        Some(p) if *p == values[0] => (values[1].clone(), values[0].clone()),
                        Some(p) if *p == values[1] => (values[0].clone(), values[1].clone()),
                        Some(p) => {
                            return Err(fail(format!(
                                "`positive: \"{p}\"` is not one of its values `{}` and `{}`",
                                values[0], values[1]
                            )));
                        }
                        None => (values[0].clone(), values[1].clone()),
                    };
                    let mut ones: Vec<f64> = train
                        .iter()
                        .filter(|&&r| text.codes[r] != MISSING)
                        .map(|&r| f64::from(u8::from(text.values[text.codes[r] as usize] == positive)))
                        .collect();
                    let fill = number_fill(*missing, &mut ones);
                    (FeatureKind::Binary { negative, positive, fill }, *missing, *indicator)
                }
                ColumnKind::Id | ColumnKind::Ignore => unreachable!("not a feature"),
            };
            let mut slots: Vec<Slot> = match &kind {
                FeatureKind::Number { .. } | FeatureKind::Binary { .. } => vec![slot(spec.column.clone())],
                FeatureKind::Category { vocabulary, other, .. } => {
                    let mut slots: Vec<Slot> =
                        vocabulary.iter().map(|v| slot(format!("{}={v}", spec.column))).collect();
                    if *other {
                        slots.push(slot(format!("{}=<other>", spec.column)));
                    }
                    slots
                }
            };
            let value_scaling = if matches!(kind, FeatureKind::Number { .. }) { spec.scaling } else { Scaling::None };
            scalings.extend(std::iter::repeat_n(value_scaling, slots.len()));
            if indicator {
                slots.push(slot(format!("{}=<missing>", spec.column)));
                scalings.push(Scaling::None);
            }
            features.push(Feature {
                column: spec.column.clone(),
                kind,
                missing: missing_name(missing),
                indicator,
                slots,
            });
        }
        let encoding =
            Encoding { format: FORMAT.to_string(), features, target, ids, na_values: na.describe(), na_ignore_case };
        Ok((encoding, scalings))
    }

    /// An encoding of plain numeric features (weights saved before encodings existed).
    pub fn numeric(features: &[String], target: Target, offset: &[f32], factor: &[f32]) -> Encoding {
        let features = features
            .iter()
            .enumerate()
            .map(|(i, name)| Feature {
                column: name.clone(),
                kind: FeatureKind::Number { fill: None },
                missing: "error".into(),
                indicator: false,
                slots: vec![Slot { name: name.clone(), offset: offset[i], factor: factor[i] }],
            })
            .collect();
        let na = NaValues::new(None);
        Encoding {
            format: FORMAT.into(),
            features,
            target,
            ids: Vec::new(),
            na_values: na.describe(),
            na_ignore_case: true,
        }
    }

    /// The resolved columns as text: per feature its kind, slot count and fitted statistics;
    /// then the target's classes (what `nnspec check` and `plan` print).
    pub fn describe(&self) -> String {
        let mut out = format!("columns ({} input slots):\n", self.width());
        for feature in &self.features {
            let value = &feature.slots[0];
            let scaled = if value.offset == 0.0 && value.factor == 1.0 {
                String::new()
            } else {
                format!("; scaled (x - {}) * {}", value.offset, value.factor)
            };
            let fitted = match &feature.kind {
                FeatureKind::Number { fill } => {
                    let fill = fill.map(|f| format!(" {f}")).unwrap_or_default();
                    format!("missing: {}{fill}{scaled}", feature.missing)
                }
                FeatureKind::Category { vocabulary, other, fill } => {
                    let mut text = vocabulary.join(", ");
                    if *other {
                        text += ", <other>";
                    }
                    let fill = fill.as_ref().map(|f| format!(" {f}")).unwrap_or_default();
                    format!("{text}; missing: {}{fill}", feature.missing)
                }
                FeatureKind::Binary { negative, positive, fill } => {
                    let fill = fill.map(|f| format!(" {f}")).unwrap_or_default();
                    format!("{negative} = 0, {positive} = 1; missing: {}{fill}", feature.missing)
                }
            };
            let kind = match feature.kind {
                FeatureKind::Number { .. } => "number",
                FeatureKind::Category { .. } => "category",
                FeatureKind::Binary { .. } => "binary",
            };
            let indicator = if feature.indicator { "; indicator" } else { "" };
            out += &format!("  {:<24}{kind:<10}{:>4}  {fitted}{indicator}\n", feature.column, feature.slots.len());
        }
        match &self.target {
            Target::Classes { column, labels, indices: false } => {
                out += &format!("target {column}: classes {}\n", labels.join(", "));
            }
            Target::Classes { column, labels, indices: true } => {
                out += &format!("target {column}: class indices 0..{}\n", labels.len() - 1);
            }
            Target::Values { columns } => out += &format!("target {}: values\n", columns.join(", ")),
        }
        if !self.ids.is_empty() {
            out += &format!("ids: {}\n", self.ids.join(", "));
        }
        out
    }

    /// The input width: every feature's slots.
    pub fn width(&self) -> usize {
        self.features.iter().map(|f| f.slots.len()).sum()
    }

    pub fn slot_names(&self) -> Vec<String> {
        self.features.iter().flat_map(|f| f.slots.iter().map(|s| s.name.clone())).collect()
    }

    /// Every slot's scaling, in order.
    pub fn offsets_and_factors(&self) -> (Vec<f32>, Vec<f32>) {
        let slots = self.features.iter().flat_map(|f| &f.slots);
        (slots.clone().map(|s| s.offset).collect(), slots.map(|s| s.factor).collect())
    }

    /// Records the fitted scaling of every slot.
    pub fn set_scaling(&mut self, offset: &[f32], factor: &[f32]) {
        let slots = self.features.iter_mut().flat_map(|f| f.slots.iter_mut());
        for ((slot, &o), &f) in slots.zip(offset).zip(factor) {
            (slot.offset, slot.factor) = (o, f);
        }
    }

    /// The missing-value markers this encoding was fitted with.
    pub fn na(&self) -> NaValues {
        if self.na_ignore_case { NaValues::new(None) } else { NaValues::new(Some(&self.na_values)) }
    }

    /// Whether feature `feature` of `row` cannot be encoded and the row must be dropped.
    pub fn drops(&self, table: &Table, row: usize) -> bool {
        // Few features drop rows (usually none): only theirs are looked up.
        self.features
            .iter()
            .filter(|f| f.missing == "drop")
            .any(|f| table.header.iter().position(|h| *h == f.column).is_some_and(|c| table.is_missing(row, c)))
    }

    /// `raw_slots` of every row of `table`, taking the table's numbers as they are when the
    /// features are exactly its number columns, in order, with no missing cell (a table of
    /// numbers, as most are: no copy).
    pub fn encode_all(&self, table: Table) -> Result<Vec<f32>, (EncodeError, Table)> {
        let plain = self.features.len() == table.number_columns.len()
            && self.features.iter().zip(&table.number_columns).all(|(f, &c)| {
                matches!(f.kind, FeatureKind::Number { .. }) && !f.indicator && table.header[c] == f.column
            })
            && (table.numbers_complete
                || !table.numbers.par_chunks(1 << 16).any(|part| part.iter().any(|v| v.is_nan())));
        if plain {
            return Ok(table.numbers);
        }
        let rows: Vec<usize> = (0..table.rows).collect();
        self.raw_slots(&table, &rows).map_err(|e| (e, table))
    }

    /// The raw (unscaled) slots of `rows` of `table`, row-major.
    pub fn raw_slots(&self, table: &Table, rows: &[usize]) -> Result<Vec<f32>, EncodeError> {
        let sources = self.bind(table)?;
        let width = self.width();
        let mut out = vec![0.0f32; rows.len() * width];
        const CHUNK: usize = 1024;
        let errors: Vec<Option<EncodeError>> = out
            .par_chunks_mut(CHUNK * width.max(1))
            .zip(rows.par_chunks(CHUNK))
            .map(|(out, rows)| {
                for (slots, &row) in out.chunks_exact_mut(width.max(1)).zip(rows) {
                    if let Err(error) = self.encode_row(table, &sources, row, slots) {
                        return Some(error);
                    }
                }
                None
            })
            .collect();
        match errors.into_iter().flatten().next() {
            Some(error) => Err(error),
            None => Ok(out),
        }
    }

    /// Where each feature's cells are in `table`.
    fn bind(&self, table: &Table) -> Result<Vec<Source>, EncodeError> {
        let columns: std::collections::HashMap<&str, usize> =
            table.header.iter().enumerate().map(|(i, name)| (name.as_str(), i)).collect();
        self.features
            .iter()
            .map(|feature| {
                let column = *columns
                    .get(feature.column.as_str())
                    .ok_or_else(|| EncodeError::NoColumn { column: feature.column.clone() })?;
                Ok(match &feature.kind {
                    FeatureKind::Number { .. } => Source::Number(table.number_slot(column)),
                    FeatureKind::Category { vocabulary, other, .. } => {
                        let text = table.text(column);
                        let unseen = if *other { Cell::Slot(vocabulary.len()) } else { Cell::Zeros };
                        let map = text
                            .values
                            .iter()
                            .map(|v| vocabulary.binary_search(v).map_or(unseen, Cell::Slot))
                            .collect();
                        Source::Text { column: table.text_columns.binary_search(&column).expect("text"), map }
                    }
                    FeatureKind::Binary { positive, negative, .. } => {
                        let text = table.text(column);
                        let map = text
                            .values
                            .iter()
                            .map(|v| {
                                if v == positive {
                                    Cell::Slot(1)
                                } else if v == negative {
                                    Cell::Slot(0)
                                } else {
                                    Cell::Missing
                                }
                            })
                            .collect();
                        Source::Text { column: table.text_columns.binary_search(&column).expect("text"), map }
                    }
                })
            })
            .collect()
    }

    fn encode_row(&self, table: &Table, sources: &[Source], row: usize, out: &mut [f32]) -> Result<(), EncodeError> {
        let mut at = 0;
        let numbers = table.number_columns.len();
        for (feature, source) in self.features.iter().zip(sources) {
            let width = feature.slots.len();
            let slots = &mut out[at..at + width];
            at += width;
            let cell = match source {
                Source::Number(slot) => {
                    let value = table.numbers[row * numbers + slot];
                    if value.is_nan() { Cell::Missing } else { Cell::Value(value) }
                }
                Source::Text { column, map } => match table.texts[*column].codes[row] {
                    MISSING => Cell::Missing,
                    code => map[code as usize],
                },
            };
            let value_slots = width - usize::from(feature.indicator);
            if feature.indicator {
                slots[width - 1] = f32::from(u8::from(cell == Cell::Missing));
            }
            let missing =
                || EncodeError::Missing { row, column: feature.column.clone(), strategy: feature.missing.clone() };
            match (&feature.kind, cell) {
                (FeatureKind::Number { .. }, Cell::Value(value)) => slots[0] = value,
                (FeatureKind::Number { fill } | FeatureKind::Binary { fill, .. }, Cell::Missing) => {
                    slots[0] = fill.ok_or_else(missing)?;
                }
                (FeatureKind::Binary { .. }, Cell::Slot(bit)) => slots[0] = bit as f32,
                (FeatureKind::Category { .. }, Cell::Slot(index)) => {
                    slots[..value_slots].fill(0.0);
                    slots[index] = 1.0;
                }
                (FeatureKind::Category { .. }, Cell::Zeros) => slots[..value_slots].fill(0.0),
                (FeatureKind::Category { vocabulary, fill, .. }, Cell::Missing) => {
                    if feature.missing == "drop" {
                        return Err(missing());
                    }
                    slots[..value_slots].fill(0.0);
                    if let Some(index) = fill.as_ref().and_then(|f| vocabulary.binary_search(f).ok()) {
                        slots[index] = 1.0;
                    }
                }
                (_, _) => unreachable!("cells match their feature's kind"),
            }
        }
        Ok(())
    }
}

fn slot(name: String) -> Slot {
    Slot { name, offset: 0.0, factor: 1.0 }
}

/// A cell of a bound column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    Value(f32),
    /// A category's one-hot slot, or a binary column's bit.
    Slot(usize),
    /// A category value with no slot.
    Zeros,
    Missing,
}

enum Source {
    /// The position in a row of the table's numbers.
    Number(usize),
    /// A text column and what each of its codes becomes.
    Text { column: usize, map: Vec<Cell> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse::{Body, Layout, parse_body};
    use crate::data::table::ColumnRead;

    fn table(text: &str, reads: &[ColumnRead]) -> Table {
        let na = NaValues::new(None);
        let header: Vec<String> = text.lines().next().unwrap().split(',').map(String::from).collect();
        let layout = Layout { width: reads.len(), reads, na: &na, delimiter: b',' };
        let body = Body::Bytes { bytes: text.as_bytes(), start: text.find('\n').unwrap() + 1, first_line: 2 };
        parse_body(body, header, &layout, &|_, _, _| {}).unwrap()
    }

    fn spec(column: &str, kind: ColumnKind) -> FeatureSpec {
        FeatureSpec { column: column.into(), kind, scaling: Scaling::None }
    }

    fn fit(specs: &[FeatureSpec], table: &Table, train: &[usize]) -> Encoding {
        let target = Target::Values { columns: vec![] };
        Encoding::fit(specs, table, train, target, vec![], &NaValues::new(None), true).unwrap().0
    }

    fn number(missing: Missing, indicator: bool) -> ColumnKind {
        ColumnKind::Number { missing, indicator, scale: None }
    }

    /// Fill values computed by hand from the training rows 0..4 (values 1, 2, 2, 7; row 4's
    /// 100 is not a training row).
    #[test]
    fn every_number_strategy_fills_from_training_rows() {
        use ColumnRead::Number;
        let t = table("x\n1\n2\nNA\n2\n7\n100\n", &[Number]);
        let train = [0, 1, 2, 3, 4];
        let encode = |missing: Missing| fit(&[spec("x", number(missing, true))], &t, &train).raw_slots(&t, &[2, 5]);
        assert_eq!(encode(Missing::Mean).unwrap(), [3.0, 1.0, 100.0, 0.0]);
        assert_eq!(encode(Missing::Median).unwrap(), [2.0, 1.0, 100.0, 0.0]);
        assert_eq!(encode(Missing::MostFrequent).unwrap(), [2.0, 1.0, 100.0, 0.0]);
        assert_eq!(encode(Missing::Constant(-1.0)).unwrap(), [-1.0, 1.0, 100.0, 0.0]);
        for strategy in [Missing::Error, Missing::Drop] {
            let error = encode(strategy).unwrap_err();
            assert_eq!(error, EncodeError::Missing { row: 2, column: "x".into(), strategy: strategy.describe() });
        }
        let drop = fit(&[spec("x", number(Missing::Drop, false))], &t, &train);
        assert!(drop.drops(&t, 2) && !drop.drops(&t, 1));
    }

    #[test]
    fn categories_one_hot_with_other_and_unseen_values() {
        use ColumnRead::Text;
        let t = table("c\nb\na\nb\nc\nb\na\nz\n?\n", &[Text]);
        let train = [0, 1, 2, 3, 4, 5];
        let category = |max, min, other| ColumnKind::Category {
            missing: Missing::Zeros,
            indicator: false,
            max_categories: max,
            min_frequency: min,
            other,
        };
        let plain = fit(&[spec("c", category(None, 1, false))], &t, &train);
        assert_eq!(plain.slot_names(), ["c=a", "c=b", "c=c"]);
        // Unseen `z` and missing `?` are all zeros, never an error.
        assert_eq!(plain.raw_slots(&t, &[0, 6, 7]).unwrap(), [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // `c` (seen once) falls below min_frequency 2 and goes to `<other>` with `z`.
        let trimmed = fit(&[spec("c", category(None, 2, true))], &t, &train);
        assert_eq!(trimmed.slot_names(), ["c=a", "c=b", "c=<other>"]);
        assert_eq!(trimmed.raw_slots(&t, &[3, 6]).unwrap(), [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let top = fit(&[spec("c", category(Some(1), 1, false))], &t, &train);
        assert_eq!(top.slot_names(), ["c=b"], "the most frequent value");
    }

    #[test]
    fn binary_columns_take_the_second_value_as_positive() {
        use ColumnRead::Text;
        let t = table("s\nyes\nno\nNA\nyes\nmaybe\n", &[Text]);
        let binary = |positive: Option<&str>| ColumnKind::Binary {
            missing: Missing::MostFrequent,
            indicator: false,
            positive: positive.map(String::from),
        };
        let encoding = fit(&[spec("s", binary(None))], &t, &[0, 1, 2, 3]);
        // yes=1, no=0, missing -> most frequent (yes), unseen `maybe` -> treated as missing.
        assert_eq!(encoding.raw_slots(&t, &[0, 1, 2, 4]).unwrap(), [1.0, 0.0, 1.0, 1.0]);
        let flipped = fit(&[spec("s", binary(Some("no")))], &t, &[0, 1, 2, 3]);
        assert_eq!(flipped.raw_slots(&t, &[0, 1]).unwrap(), [0.0, 1.0]);
        let target = Target::Values { columns: vec![] };
        let error =
            Encoding::fit(&[spec("s", binary(None))], &t, &[0, 1, 4], target, vec![], &NaValues::new(None), true);
        assert!(error.unwrap_err().reason.contains("training rows hold 3: `maybe`, `no`, `yes`"));
    }

    #[test]
    fn round_trips_through_json() {
        use ColumnRead::{Number, Text};
        let t = table("x,c\n1,a\n2,b\n", &[Number, Text]);
        let kind = ColumnKind::Category {
            missing: Missing::Zeros,
            indicator: true,
            max_categories: None,
            min_frequency: 1,
            other: true,
        };
        let mut encoding = fit(&[spec("x", number(Missing::Mean, false)), spec("c", kind)], &t, &[0, 1]);
        encoding.set_scaling(&[1.5, 0.0, 0.0, 0.0, 0.0], &[2.0, 1.0, 1.0, 1.0, 1.0]);
        let text = serde_json::to_string(&encoding).unwrap();
        assert!(text.contains(r#""kind":"category","vocabulary":["a","b"],"other":true"#), "{text}");
        let back: Encoding = serde_json::from_str(&text).unwrap();
        assert_eq!(back, encoding);
        assert_eq!(back.width(), 5);
    }
}
