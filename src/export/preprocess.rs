//! What the exported models do to a raw row before the first layer, fitted on the training
//! rows: today the per-feature affine input scaling (`standardize`, `minmax`). Every exporter
//! renders these steps (the PyTorch module as buffers and a `preprocess` method, the training
//! script as a fit on its own training rows, ONNX as nodes before the first layer), so a new
//! kind of step (one-hot categories, imputed missing values) is one more variant here and one
//! more arm in each renderer, not a change of shape.

use crate::data::Scaler;
use crate::ir::{Model, Scaling};

/// The preprocessing of raw rows, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub steps: Vec<Step>,
}

/// One preprocessing step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `x' = (x - offset) * factor`, per feature, in f32: nnspec's input scaling.
    Affine { kind: Scaling, values: Fitted<(Vec<f32>, Vec<f32>)> },
}

/// A step's parameters: known now, or fitted by the exported training script on its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Fitted<T> {
    Values(T),
    /// Fitted at run time on `width` features.
    AtRunTime {
        width: usize,
    },
}

impl Preprocess {
    /// The steps a model's spec asks for, to be fitted later (the training script's view).
    pub fn unfitted(model: &Model) -> Preprocess {
        let width = model.input.width;
        let steps = match model.input.scaling {
            Scaling::None => Vec::new(),
            // Fixed bounds: nothing to fit, the values are known now (as `Scaler::fit` sets them).
            kind @ Scaling::Range { low, high } => {
                let factor = (1.0 / (f64::from(high) - f64::from(low))) as f32;
                vec![Step::Affine { kind, values: Fitted::Values((vec![low; width], vec![factor; width])) }]
            }
            kind => vec![Step::Affine { kind, values: Fitted::AtRunTime { width } }],
        };
        Preprocess { steps }
    }

    /// The steps with the values a run fitted (or a weights file records).
    pub fn from_scaler(scaler: &Scaler) -> Preprocess {
        let steps = match scaler.kind {
            Scaling::None => Vec::new(),
            kind => vec![Step::Affine { kind, values: Fitted::Values((scaler.offset.clone(), scaler.factor.clone())) }],
        };
        Preprocess { steps }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
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
