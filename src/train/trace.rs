//! One line of the training trace, written as a JSON object per logged epoch with the keys
//! DESIGN.md names, in that order.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceLine {
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// The mean of the epoch's batch losses.
    pub loss: f64,
    /// For classifiers: the fraction of training outputs classified correctly during the
    /// epoch, each batch measured before its update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    pub lr: f64,
    /// Seconds from the start of the first step to the end of this epoch; the only key that
    /// varies between runs.
    pub elapsed_s: f64,
}

impl TraceLine {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace line always serialises")
    }

    /// The line without `elapsed_s`: what determinism and golden checks compare.
    pub fn without_time(&self) -> TraceLine {
        TraceLine {
            elapsed_s: 0.0,
            ..self.clone()
        }
    }
}
