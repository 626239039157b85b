//! What the exported models do to a raw row before the first layer, fitted on the training
//! rows: the column encoding (numbers filled, categories one-hot, indicators; see
//! [`super::columns`]) and the per-slot affine input scaling (`standardize`, `minmax`). Every
//! exporter renders these steps (the PyTorch module as buffers and a `preprocess` method, the
//! training script as a fit on its own training rows, ONNX as nodes before the first layer),
//! so exported models take raw rows as nnspec's `predict` does.

use super::columns::{InputColumn, Tables};
use crate::data::{Encoding, Target};
use crate::ir::{ColumnKind, DataSource, Model, Scaling};

/// The preprocessing of raw rows, in order, and what describes its input and output.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub steps: Vec<Step>,
    /// The raw columns the model reads (known once an encoding is fitted).
    pub columns: Vec<InputColumn>,
    /// The class names of a classifier's outputs, when its labels are names (not indices).
    pub labels: Option<Vec<String>>,
    /// The cells that count as missing, and whether they are compared without regard to
    /// ASCII case (the encoding's `na_values`, `na_ignore_case`).
    pub na_values: Vec<String>,
    pub na_ignore_case: bool,
}

/// One preprocessing step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Raw columns (numbers and codes) to input slots; `tables` is `None` where the training
    /// script fits them on its rows.
    Encode { columns: usize, slots: usize, tables: Option<Tables> },
    /// `x' = (x - offset) * factor`, per slot, in f32: nnspec's input scaling.
    Affine { kind: Scaling, values: Fitted<(Vec<f32>, Vec<f32>)> },
}

/// A step's parameters: known now, or fitted by the exported training script on its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted<T> {
    Values(T),
    /// Fitted at run time on `width` slots.
    AtRunTime {
        width: usize,
    },
}

impl Preprocess {
    /// The steps a fitted encoding gives (from a run, or a weights file): what `predict`
    /// applies. Fails on an inconsistent encoding (see [`Tables::of`]).
    pub fn fitted(model: &Model, encoding: &Encoding) -> Result<Preprocess, String> {
        let tables = Tables::of(encoding)?;
        let columns = tables.columns.clone();
        let mut steps = Vec::new();
        if !tables.is_identity() {
            steps.push(Step::Encode { columns: tables.columns.len(), slots: tables.slots.len(), tables: Some(tables) });
        }
        let (offset, factor) = encoding.offsets_and_factors();
        let identity = offset.iter().all(|&o| o == 0.0) && factor.iter().all(|&f| f == 1.0);
        if scales(model) || !identity {
            steps.push(Step::Affine { kind: model.input.scaling, values: Fitted::Values((offset, factor)) });
        }
        Ok(Preprocess {
            steps,
            columns,
            labels: labels(&encoding.target),
            na_values: encoding.na_values.clone(),
            na_ignore_case: encoding.na_ignore_case,
        })
    }

    /// The steps of a model's spec, to be fitted by the training script on its rows; their
    /// shapes are those of `encoding` (fitted on the same rows when the script is written), or
    /// for a spec of plain numeric columns (`None`), the model's input width.
    pub fn unfitted(model: &Model, encoding: Option<&Encoding>) -> Result<Preprocess, String> {
        let mut steps = Vec::new();
        let width = match encoding {
            Some(encoding) => {
                let tables = Tables::of(encoding)?;
                if !tables.is_identity() {
                    steps.push(Step::Encode { columns: tables.columns.len(), slots: tables.slots.len(), tables: None });
                }
                tables.slots.len()
            }
            None => model.input.width,
        };
        if scales(model) {
            steps.push(Step::Affine { kind: model.input.scaling, values: Fitted::AtRunTime { width } });
        }
        Ok(Preprocess { steps, columns: Vec::new(), labels: None, na_values: Vec::new(), na_ignore_case: true })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The encoding step's tables, if the raw columns need one.
    pub fn tables(&self) -> Option<&Tables> {
        self.steps.iter().find_map(|step| match step {
            Step::Encode { tables, .. } => tables.as_ref(),
            Step::Affine { .. } => None,
        })
    }

    /// The number of raw columns the model reads.
    pub fn input_width(&self, slots: usize) -> usize {
        self.steps
            .iter()
            .find_map(|step| match step {
                Step::Encode { columns, .. } => Some(*columns),
                Step::Affine { .. } => None,
            })
            .unwrap_or(slots)
    }
}

/// Whether the spec scales any input slot: the `input` line, or a number column's `scale:`.
pub fn scales(model: &Model) -> bool {
    let column_scale =
        match &model.data.source {
            DataSource::Csv(csv) => csv.table.columns.iter().any(
                |decl| matches!(decl.kind, ColumnKind::Number { scale: Some(scale), .. } if scale != Scaling::None),
            ),
            _ => false,
        };
    model.input.scaling != Scaling::None || column_scale
}

/// A classifier's class names, when they are names rather than the indices 0..K-1.
fn labels(target: &Target) -> Option<Vec<String>> {
    match target {
        Target::Classes { labels, indices: false, .. } => Some(labels.clone()),
        _ => None,
    }
}

/// The keyword of a scaling, as specs and weights files write it.
pub fn scaling_keyword(kind: Scaling) -> &'static str {
    match kind {
        Scaling::None => "none",
        Scaling::Standardize => "standardize",
        Scaling::MinMax => "minmax",
        Scaling::Range { .. } => "range",
    }
}
