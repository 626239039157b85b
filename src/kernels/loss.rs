//! Losses, each a mean over the batch (and over outputs), as PyTorch's `reduction='mean'`.
//! One pass computes the loss of a chunk and the gradient with respect to the model's output.

use serde::Serialize;

use super::activation::sigmoid;

/// A loss as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error, `mean((o - t)^2)` (`nn.MSELoss`).
    Mse,
    /// Binary cross-entropy on probabilities (`nn.BCELoss`).
    Bce,
}

impl Loss {
    pub const ALL: [Loss; 2] = [Loss::Mse, Loss::Bce];

    pub fn keyword(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Bce => "bce",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Loss> {
        Loss::ALL.into_iter().find(|loss| loss.keyword() == word)
    }

    /// Whether the model is a classifier, so accuracy is reported.
    pub fn is_classifier(self) -> bool {
        matches!(self, Loss::Bce)
    }
}

/// How the loss is evaluated on the last layer's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKernel {
    Mse,
    /// BCE on probabilities, with PyTorch's clamp of each log at -100.
    Bce,
    /// BCE fused with the final sigmoid: it takes logits `z` and uses
    /// `max(z, 0) - z t + ln(1 + exp(-|z|))`, which never overflows, with gradient `sigmoid(z) - t`.
    BceWithLogits,
}

/// A chunk's share of a batch's loss and accuracy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossSums {
    /// The sum of the per-element losses (not yet divided by the element count).
    pub loss: f64,
    /// Elements classified correctly (classifiers only).
    pub correct: u64,
}

impl LossSums {
    pub fn add(&mut self, other: LossSums) {
        self.loss += other.loss;
        self.correct += other.correct;
    }
}

/// PyTorch's floor on `ln p` in `BCELoss`, so that `p = 0` gives a large finite loss.
const LOG_FLOOR: f64 = -100.0;

impl LossKernel {
    /// Computes the loss sums of a chunk and writes `scale * dLoss/dValue` into `grad`, where
    /// `scale` is one over the number of elements in the whole batch.
    pub fn forward_backward(self, values: &[f32], targets: &[f32], grad: &mut [f32], scale: f32) -> LossSums {
        let mut sums = LossSums::default();
        for ((&v, &t), g) in values.iter().zip(targets).zip(grad.iter_mut()) {
            let (loss, dv) = self.element(v, t);
            sums.loss += loss;
            sums.correct += u64::from(self.is_correct(v, t));
            *g = dv * scale;
        }
        sums
    }

    /// The loss sums of a chunk without gradients (evaluation).
    pub fn evaluate(self, values: &[f32], targets: &[f32]) -> LossSums {
        let mut sums = LossSums::default();
        for (&v, &t) in values.iter().zip(targets) {
            sums.loss += self.element(v, t).0;
            sums.correct += u64::from(self.is_correct(v, t));
        }
        sums
    }

    /// One element's loss (in f64, for an accurate sum) and its derivative.
    fn element(self, v: f32, t: f32) -> (f64, f32) {
        match self {
            LossKernel::Mse => {
                let d = v - t;
                (f64::from(d) * f64::from(d), 2.0 * d)
            }
            LossKernel::Bce => {
                let (p, t64) = (f64::from(v), f64::from(t));
                let log_p = p.ln().max(LOG_FLOOR);
                let log_q = (1.0 - p).ln().max(LOG_FLOOR);
                // PyTorch's BCELoss backward: (p - t) / max(p (1 - p), 1e-12).
                let denominator = (p * (1.0 - p)).max(1e-12);
                (-(t64 * log_p + (1.0 - t64) * log_q), ((p - t64) / denominator) as f32)
            }
            LossKernel::BceWithLogits => {
                let (z, t64) = (f64::from(v), f64::from(t));
                let loss = z.max(0.0) - z * t64 + (-z.abs()).exp().ln_1p();
                (loss, sigmoid(v) - t)
            }
        }
    }

    fn is_correct(self, v: f32, t: f32) -> bool {
        match self {
            LossKernel::Mse => false,
            LossKernel::Bce => (v >= 0.5) == (t >= 0.5),
            LossKernel::BceWithLogits => (v >= 0.0) == (t >= 0.5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks each kernel's gradient against central differences of its own loss.
    #[test]
    fn gradients_match_finite_differences() {
        let cases: [(LossKernel, &[f32], &[f32]); 3] = [
            (LossKernel::Mse, &[0.3, -1.2, 2.0], &[0.0, 1.0, 2.5]),
            (LossKernel::Bce, &[0.2, 0.7, 0.95], &[0.0, 1.0, 1.0]),
            (LossKernel::BceWithLogits, &[-3.0, 0.4, 2.2], &[0.0, 1.0, 0.0]),
        ];
        for (kernel, values, targets) in cases {
            let scale = 1.0 / values.len() as f32;
            let mut grad = vec![0.0; values.len()];
            kernel.forward_backward(values, targets, &mut grad, scale);
            for i in 0..values.len() {
                let h = 1e-3f32;
                let at = |delta: f32| {
                    let mut moved = values.to_vec();
                    moved[i] += delta;
                    kernel.evaluate(&moved, targets).loss * f64::from(scale)
                };
                let numeric = (at(h) - at(-h)) / (2.0 * f64::from(h));
                assert!(
                    (f64::from(grad[i]) - numeric).abs() < 2e-3 * numeric.abs().max(1.0),
                    "{kernel:?} element {i}: analytic {} numeric {numeric}",
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn bce_forms_agree_and_stay_finite() {
        // Reference: torch.nn.functional.binary_cross_entropy(sigmoid(z), t) for z = 0.4, t = 1
        // is ln(1 + e^-0.4) = 0.513015.
        let z = 0.4f32;
        let logits = LossKernel::BceWithLogits.evaluate(&[z], &[1.0]).loss;
        let probabilities = LossKernel::Bce.evaluate(&[sigmoid(z)], &[1.0]).loss;
        assert!((logits - 0.513015).abs() < 1e-5 && (probabilities - 0.513015).abs() < 1e-5);
        // A saturated logit gives a large, finite loss rather than infinity.
        let extreme = LossKernel::BceWithLogits.evaluate(&[-200.0], &[1.0]).loss;
        assert!((extreme - 200.0).abs() < 1e-9);
        assert_eq!(LossKernel::Bce.evaluate(&[0.0], &[1.0]).loss, 100.0);
    }
}
