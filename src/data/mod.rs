//! Training data: where rows come from (CSV files or a built-in generator), checked against
//! the model before any row is read, split into training, validation and test rows, and
//! encoded and scaled with statistics of the training rows only.

mod csv_file;
pub mod encoding;
pub mod input;
pub mod labels;
pub mod memory;
pub mod parse;
pub mod predict;
mod random;
mod scaling;
mod split;
pub mod table;
mod tabular;

pub use csv_file::{CsvLayout, FileRef, Progress, probe_csv, read_header, read_table};
pub use encoding::Encoding;
pub use input::open_input;
pub use labels::Target;
pub use parse::{Cells, Frame};
pub use scaling::Scaler;
pub use split::Splits;
pub use tabular::encode_error;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{DataSource, Model};

/// Rows of inputs and targets, each row contiguous (row-major), which is also the
/// column-major `width x rows` layout the kernels take.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub rows: usize,
    pub input_width: usize,
    pub target_width: usize,
    pub inputs: Vec<f32>,
    pub targets: Vec<f32>,
    pub input_names: Vec<String>,
    pub target_names: Vec<String>,
}

impl Dataset {
    pub fn input_row(&self, row: usize) -> &[f32] {
        &self.inputs[row * self.input_width..(row + 1) * self.input_width]
    }

    pub fn target_row(&self, row: usize) -> &[f32] {
        &self.targets[row * self.target_width..(row + 1) * self.target_width]
    }
}

/// The data a run trains on: every row, which rows go where, and the fitted encoding and
/// input scaling (the scaling is also in the encoding's slots).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dataset: Dataset,
    pub splits: Splits,
    pub scaler: Scaler,
    pub encoding: Encoding,
    /// Rows left out: a missing target, or a missing cell in a `drop` column.
    pub dropped: usize,
}

/// Checks what can be checked without reading the rows: each file exists and its header has
/// the columns the spec names, as many features as the model's input.
pub fn probe(model: &Model) -> Result<Option<CsvLayout>, Diagnostic> {
    let data = &model.data;
    for file in data.validation_file.iter().chain(&data.test_file) {
        probe_csv(file, model)?;
    }
    match &data.source {
        DataSource::Csv(csv) => probe_csv(csv, model).map(Some),
        DataSource::Random { .. } | DataSource::Xor { .. } => Ok(None),
    }
}

/// Reads (or generates) every row, splits, encodes and scales them.
pub fn load(model: &Model) -> Result<Prepared, Diagnostic> {
    load_with(model, &|_, _, _| {})
}

/// `load`, telling `progress` how the reading and parsing of each file goes.
pub fn load_with(model: &Model, progress: Progress) -> Result<Prepared, Diagnostic> {
    let mut dataset = match &model.data.source {
        DataSource::Csv(csv) => return tabular::load(model, csv, progress),
        DataSource::Random { rows, inputs, targets, seed } => {
            random::generate(*rows, *inputs, *targets, model.data.classes, *seed)
        }
        DataSource::Xor { rows, seed } => random::xor(*rows, *seed),
    };
    let own_rows = dataset.rows;
    let splits = Splits::new(model, &dataset, own_rows, 0, 0);
    check_rows(model, &splits, own_rows)?;
    if model.loss.loss == crate::kernels::loss::Loss::Bce {
        check_probabilities(&dataset.targets, dataset.target_width, "generated", 1)
            .map_err(|d| d.at(model.data.span, "this data"))?;
    }
    let scaler = Scaler::fit(model.input.scaling, &dataset, &splits.train);
    scaler.apply(&mut dataset);
    let target = match model.data.classes {
        Some(classes) => Target::Classes {
            column: dataset.target_names[0].clone(),
            labels: (0..classes).map(|k| k.to_string()).collect(),
            indices: true,
        },
        None => Target::Values { columns: dataset.target_names.clone() },
    };
    let encoding = Encoding::numeric(&dataset.input_names, target, &scaler.offset, &scaler.factor);
    Ok(Prepared { dataset, splits, scaler, encoding, dropped: 0 })
}

/// The model with its input width taken from the data when the spec wrote `input` alone.
pub fn resolve(model: &Model, prepared: &Prepared) -> Model {
    if model.input.inferred { model.with_input_width(prepared.dataset.input_width) } else { model.clone() }
}

/// Training rows are left after the split, and validation rows when early stopping needs them.
fn check_rows(model: &Model, splits: &Splits, own_rows: usize) -> Result<(), Diagnostic> {
    if splits.train.is_empty() {
        return Err(Diagnostic::error(Code::DataShape, format!("no training rows are left out of {own_rows}"))
            .at(model.data.span, "after the split")
            .help("use more data or smaller validation and test fractions"));
    }
    if model.train.early_stop.is_some() && splits.validation.is_empty() {
        return Err(Diagnostic::error(Code::DataShape, "early stopping has no validation rows: the split left none")
            .at(model.data.span, format!("{own_rows} rows"))
            .help("use a larger validation fraction or more data"));
    }
    Ok(())
}

/// Binary cross-entropy needs targets in [0, 1] (labels 0 and 1, or probabilities). `shown`
/// names the rows' file; `first_line` is the line of its first row (2 after a CSV header; 1
/// counts generated rows from 1).
pub fn check_probabilities(targets: &[f32], width: usize, shown: &str, first_line: usize) -> Result<(), Diagnostic> {
    match targets.iter().position(|t| !(0.0..=1.0).contains(t)) {
        None => Ok(()),
        Some(index) => {
            let row = index / width.max(1);
            let at =
                if first_line == 2 { format!("`{shown}:{}`", row + 2) } else { format!("{shown} row {}", row + 1) };
            Err(Diagnostic::error(
                Code::DataShape,
                format!("`bce` targets must be in [0, 1], but {at} has {}", targets[index]),
            )
            .help("binary cross-entropy takes labels 0 and 1; for more classes use `cross_entropy` with `classes: K`"))
        }
    }
}
