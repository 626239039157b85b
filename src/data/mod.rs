//! Training data: where rows come from (CSV files or a built-in generator), checked against
//! the model before any row is read, split into training, validation and test rows, and
//! scaled with statistics of the training rows only.

mod csv_file;
pub mod memory;
mod random;
mod scaling;
mod split;

pub use csv_file::{CsvLayout, check_classes, probe_csv, read_columns};
pub use scaling::Scaler;
pub use split::Splits;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{CsvSource, DataSource, Model};

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

    fn append(&mut self, other: Dataset) {
        self.rows += other.rows;
        self.inputs.extend(other.inputs);
        self.targets.extend(other.targets);
    }
}

/// The data a run trains on: every row, which rows go where, and the fitted input scaling.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub dataset: Dataset,
    pub splits: Splits,
    pub scaler: Scaler,
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

fn load_file(csv: &CsvSource, model: &Model) -> Result<Dataset, Diagnostic> {
    let layout = probe_csv(csv, model)?;
    csv_file::load_csv(csv, &layout, model)
}

/// Reads (or generates) every row, splits and scales them.
pub fn load(model: &Model) -> Result<Prepared, Diagnostic> {
    let mut dataset = match &model.data.source {
        DataSource::Csv(csv) => load_file(csv, model)?,
        DataSource::Random { rows, inputs, targets, seed } => {
            random::generate(*rows, *inputs, *targets, model.data.classes, *seed)
        }
        DataSource::Xor { rows, seed } => random::xor(*rows, *seed),
    };
    let own_rows = dataset.rows;
    // Separate validation and test files follow the main rows; their counts locate them.
    let mut append = |file: &Option<CsvSource>| -> Result<usize, Diagnostic> {
        let Some(file) = file else { return Ok(0) };
        let rows = load_file(file, model)?;
        let count = rows.rows;
        dataset.append(rows);
        Ok(count)
    };
    let validation_rows = append(&model.data.validation_file)?;
    let test_rows = append(&model.data.test_file)?;
    let splits = Splits::new(model, &dataset, own_rows, validation_rows, test_rows);
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
    if model.loss.loss == crate::kernels::loss::Loss::Bce {
        // Each file's rows, named by that file and its own line numbers.
        let width = dataset.target_width;
        let parts = [
            (csv_of(&model.data.source), own_rows),
            (model.data.validation_file.as_ref(), validation_rows),
            (model.data.test_file.as_ref(), test_rows),
        ];
        let mut start = 0;
        for (csv, rows) in parts {
            let targets = &dataset.targets[start * width..(start + rows) * width];
            start += rows;
            match csv {
                Some(csv) => {
                    check_probabilities(targets, width, &csv.shown, 2).map_err(|d| d.at(csv.span, "this file"))?
                }
                None => check_probabilities(targets, width, "generated", 1)
                    .map_err(|d| d.at(model.data.span, "this data"))?,
            }
        }
    }
    let scaler = Scaler::fit(model.input.scaling, &dataset, &splits.train);
    scaler.apply(&mut dataset);
    Ok(Prepared { dataset, splits, scaler })
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

fn csv_of(source: &DataSource) -> Option<&CsvSource> {
    match source {
        DataSource::Csv(csv) => Some(csv),
        _ => None,
    }
}
