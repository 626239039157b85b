//! Metrics of a split: loss, and accuracy for classifiers or MAE, RMSE and R² for regression;
//! the evaluation pass that computes them, and confusion matrices.

use serde::Serialize;

use crate::data::Dataset;
use crate::exec::{Mode, Params, State};
use crate::kernels::loss::LossSums;
use crate::plan::Plan;

/// One split's metrics. Regression metrics pool all outputs; R² is `1 - SSE / SST` with SST
/// about the split's own target means.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
}

impl Metrics {
    /// Metrics from the sums over `rows` rows, with `loss` given (a mean of batch losses for
    /// training, the exact mean for evaluation) and `sst` the split's total sum of squares.
    pub fn from_sums(plan: &Plan, loss: f64, sums: &LossSums, rows: usize, sst: f64) -> Metrics {
        let outputs = (rows * plan.output_width) as f64;
        if plan.is_classifier() {
            let predictions = plan.loss_terms(rows) as f64;
            Metrics { loss, accuracy: Some(sums.correct as f64 / predictions), mae: None, rmse: None, r2: None }
        } else {
            Metrics {
                loss,
                accuracy: None,
                mae: Some(sums.abs_error / outputs),
                rmse: Some((sums.squared_error / outputs).sqrt()),
                r2: Some(if sst > 0.0 { 1.0 - sums.squared_error / sst } else { 0.0 }),
            }
        }
    }
}

/// The total sum of squares of `rows`' targets about their means, per output, summed.
/// The SST a split's R² needs, or 0 for classifiers (which report accuracy, not R²).
pub fn split_sst(plan: &Plan, data: &Dataset, rows: &[usize]) -> f64 {
    if plan.is_classifier() { 0.0 } else { total_sum_of_squares(data, rows) }
}

pub fn total_sum_of_squares(data: &Dataset, rows: &[usize]) -> f64 {
    let width = data.target_width;
    let mut total = 0.0;
    for k in 0..width {
        let values = || rows.iter().map(|&r| f64::from(data.target_row(r)[k]));
        let mean = values().sum::<f64>() / rows.len().max(1) as f64;
        total += values().map(|t| (t - mean).powi(2)).sum::<f64>();
    }
    total
}

/// Counts of (true class, predicted class), row-major `classes x classes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// Which rows: `"test"`, `"validation"` or `"train"`.
    pub split: String,
    pub classes: usize,
    pub counts: Vec<u64>,
}

/// Evaluates `rows` in batches with the model in evaluation mode; returns the loss sums and,
/// for single-label classifiers when asked, the confusion matrix.
pub fn evaluate(
    plan: &Plan,
    params: &mut Params,
    state: &mut State,
    data: &Dataset,
    rows: &[usize],
    capacity: usize,
    mut confusion: Option<&mut Confusion>,
) -> LossSums {
    let mut total = LossSums::default();
    for batch in rows.chunks(capacity) {
        state.load_batch(data, batch);
        total.add(state.step(plan, params, Mode::Eval, 0.0, false));
        if let Some(confusion) = confusion.as_deref_mut() {
            let width = plan.buffers[plan.loss_input].width;
            for (outputs, &row) in state.loss_input(plan).chunks_exact(width).zip(batch) {
                let predicted = plan.loss_kernel.predicted_class(outputs);
                // A single-output (BCE) classifier's target is a label or a probability in [0, 1].
                let target = data.target_row(row)[0];
                let actual =
                    if confusion.classes == 2 && width == 1 { usize::from(target >= 0.5) } else { target as usize };
                confusion.counts[actual * confusion.classes + predicted] += 1;
            }
        }
    }
    total
}
