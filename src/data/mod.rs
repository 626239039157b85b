//! Training data: where rows come from (a CSV file or a built-in generator), checked against
//! the model before any row is read, then held in memory as f32.

mod csv_file;
mod random;

pub use csv_file::{CsvLayout, probe_csv};

use crate::diagnostic::Diagnostic;
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

/// Checks what can be checked without reading the rows: the file exists and its header has
/// the columns the spec names, as many features as the model's input.
pub fn probe(model: &Model) -> Result<Option<CsvLayout>, Diagnostic> {
    match &model.data.source {
        DataSource::Csv(csv) => probe_csv(csv, model).map(Some),
        DataSource::Random { .. } => Ok(None),
    }
}

/// Reads (or generates) every row.
pub fn load(model: &Model) -> Result<Dataset, Diagnostic> {
    match &model.data.source {
        DataSource::Csv(csv) => {
            let layout = probe_csv(csv, model)?;
            csv_file::load_csv(csv, &layout, model)
        }
        DataSource::Random {
            rows,
            inputs,
            targets,
            seed,
        } => Ok(random::generate(*rows, *inputs, *targets, *seed)),
    }
}
