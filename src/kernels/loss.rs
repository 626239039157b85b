//! Losses, each a mean over the batch (and over outputs for element-wise losses), as
//! PyTorch's `reduction='mean'`. One pass computes a chunk's loss sums, its metrics and the
//! gradient with respect to the model's output.

use serde::Serialize;

use multiversion::multiversion;

use super::math;

/// A loss as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (`nn.MSELoss`).
    Mse,
    /// Mean absolute error (`nn.L1Loss`).
    Mae,
    /// `nn.HuberLoss(delta)`: quadratic within `delta`, linear beyond.
    Huber { delta: f32 },
    /// Binary cross-entropy on probabilities (`nn.BCELoss`).
    Bce,
    /// Softmax cross-entropy on integer class targets (`nn.CrossEntropyLoss` on the logits).
    CrossEntropy,
}

impl Loss {
    pub const KEYWORDS: [&'static str; 5] = ["mse", "mae", "huber", "bce", "cross_entropy"];

    pub fn keyword(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber { .. } => "huber",
            Loss::Bce => "bce",
            Loss::CrossEntropy => "cross_entropy",
        }
    }

    pub fn describe(self) -> String {
        match self {
            Loss::Huber { delta } => format!("huber(delta: {delta})"),
            other => other.keyword().to_string(),
        }
    }

    /// Whether the model is a classifier: accuracy is reported, not regression metrics.
    pub fn is_classifier(self) -> bool {
        matches!(self, Loss::Bce | Loss::CrossEntropy)
    }
}

/// How the loss is evaluated on the last layer's values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKernel {
    Mse,
    Mae,
    Huber {
        delta: f32,
    },
    /// BCE on probabilities, with PyTorch's clamp of each log at -100.
    Bce,
    /// BCE fused with the final sigmoid: from logits `z`, `max(z, 0) - z t + ln(1 + e^-|z|)`,
    /// which never overflows, with gradient `sigmoid(z) - t`.
    BceWithLogits,
    /// Cross-entropy fused with the final softmax: from logits, `logsumexp(z) - z_t` with the
    /// maximum subtracted first, and gradient `softmax(z) - onehot(t)`.
    SoftmaxCrossEntropy,
}

/// A chunk's share of a batch's loss and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossSums {
    /// The sum of the per-element (or per-sample, for cross-entropy) losses.
    pub loss: f64,
    /// Samples (or outputs, for BCE) classified correctly.
    pub correct: u64,
    /// Sum of `|o - t|` over outputs (regression).
    pub abs_error: f64,
    /// Sum of `(o - t)^2` over outputs (regression).
    pub squared_error: f64,
    /// The sum of the samples' class weights (cross-entropy): a weighted mean's divisor.
    pub weight: f64,
}

impl LossSums {
    pub fn add(&mut self, other: LossSums) {
        self.loss += other.loss;
        self.correct += other.correct;
        self.abs_error += other.abs_error;
        self.squared_error += other.squared_error;
        self.weight += other.weight;
    }
}

/// PyTorch's floor on `ln p` in `BCELoss`, so that `p = 0` gives a large finite loss.
const LOG_FLOOR: f64 = -100.0;

impl LossKernel {
    /// How many terms the loss of one sample averages over: its outputs, or 1 for cross-entropy.
    pub fn terms_per_sample(self, width: usize) -> usize {
        match self {
            LossKernel::SoftmaxCrossEntropy => 1,
            _ => width,
        }
    }

    /// Computes the loss sums of a chunk of `width`-long output columns and writes
    /// `scale * dLoss/dValue` into `grad`, where `scale` is one over the batch's term count
    /// (or its class weights' sum). `targets` holds `width` values per sample, or one class
    /// index for cross-entropy; cross-entropy weighs each sample's loss by its class's entry
    /// of `class_weights` (all 1 when it is empty).
    pub fn forward_backward(
        self,
        values: &[f32],
        targets: &[f32],
        grad: &mut [f32],
        scale: f32,
        width: usize,
        class_weights: &[f32],
    ) -> LossSums {
        self.run(values, targets, Some(grad), scale, width, class_weights)
    }

    /// The loss sums of a chunk without gradients (evaluation).
    pub fn evaluate(self, values: &[f32], targets: &[f32], width: usize, class_weights: &[f32]) -> LossSums {
        self.run(values, targets, None, 0.0, width, class_weights)
    }

    fn run(
        self,
        values: &[f32],
        targets: &[f32],
        mut grad: Option<&mut [f32]>,
        scale: f32,
        width: usize,
        class_weights: &[f32],
    ) -> LossSums {
        if self == LossKernel::SoftmaxCrossEntropy {
            let mut sums = LossSums::default();
            // Each sample's `e^(z - max)`, kept for its probabilities: one `exp` per logit.
            let mut exps = vec![0.0f64; width];
            for (sample, (z, &t)) in values.chunks_exact(width).zip(targets).enumerate() {
                let class = t as usize;
                // Without class weights, 1: the same bits as no weighting at all.
                let weight = class_weights.get(class).copied().unwrap_or(1.0);
                let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                exps.iter_mut().zip(z).for_each(|(e, &v)| *e = f64::from(v - max).exp());
                let sum: f64 = exps.iter().sum();
                sums.loss += f64::from(weight) * (sum.ln() - f64::from(z[class] - max));
                sums.weight += f64::from(weight);
                sums.correct += u64::from(argmax(z) == class);
                if let Some(grad) = grad.as_deref_mut() {
                    let g = &mut grad[sample * width..(sample + 1) * width];
                    let scale = weight * scale;
                    for (k, (g, &e)) in g.iter_mut().zip(&exps).enumerate() {
                        let p = (e / sum) as f32;
                        *g = (p - f32::from(u8::from(k == class))) * scale;
                    }
                }
            }
            return sums;
        }
        self.elements(values, targets, grad, scale)
    }

    /// The sums (in element order) and gradients of an element-wise loss, a block of elements at
    /// a time: each block's losses, derivatives and verdicts are computed in vector registers
    /// (`element_block`), then its losses are added to the f64 sum one by one, in order, so
    /// the sum has the same bits as an element-by-element loop. Classifiers skip the
    /// regression sums, which their metrics never read.
    fn elements(self, values: &[f32], targets: &[f32], mut grad: Option<&mut [f32]>, scale: f32) -> LossSums {
        const BLOCK: usize = 64;
        let regression = !matches!(self, LossKernel::Bce | LossKernel::BceWithLogits);
        let mut sums = LossSums::default();
        let (mut losses, mut scratch, mut correct) = ([0.0f64; BLOCK], [0.0f32; BLOCK], [false; BLOCK]);
        for (start, (values, targets)) in values.chunks(BLOCK).zip(targets.chunks(BLOCK)).enumerate() {
            let n = values.len();
            let derivatives = match grad.as_deref_mut() {
                Some(grad) => &mut grad[start * BLOCK..start * BLOCK + n],
                None => &mut scratch[..n],
            };
            element_block(self, values, targets, scale, &mut losses[..n], derivatives, &mut correct[..n]);
            for &loss in &losses[..n] {
                sums.loss += loss;
            }
            sums.correct += correct[..n].iter().map(|&c| u64::from(c)).sum::<u64>();
            if regression {
                for (&v, &t) in values.iter().zip(targets) {
                    let d = f64::from(v) - f64::from(t);
                    sums.abs_error += d.abs();
                    sums.squared_error += d * d;
                }
            }
        }
        sums
    }

    /// One element's loss (in f64, for an accurate sum), its derivative, and whether a
    /// classifier got it right.
    #[inline(always)]
    fn element(self, v: f32, t: f32) -> (f64, f32, bool) {
        let (loss, derivative) = match self {
            LossKernel::Mse => {
                let d = v - t;
                (f64::from(d) * f64::from(d), 2.0 * d)
            }
            LossKernel::Mae => {
                let d = v - t;
                // L1Loss's gradient at 0 is 0 (the sign function's).
                let sign = if d > 0.0 {
                    1.0
                } else if d < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                (f64::from(d.abs()), sign)
            }
            LossKernel::Huber { delta } => {
                let d = v - t;
                if d.abs() <= delta {
                    (0.5 * f64::from(d) * f64::from(d), d)
                } else {
                    (f64::from(delta) * (f64::from(d.abs()) - 0.5 * f64::from(delta)), delta * d.signum())
                }
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
                // e = exp(-|z|) gives both ln(1 + e^-|z|) and sigmoid(z) without overflow.
                let e = math::exp(-v.abs());
                let loss = v.max(0.0) - v * t + math::ln_1p_unit(e);
                let p = if v >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                (f64::from(loss), p - t)
            }
            LossKernel::SoftmaxCrossEntropy => unreachable!("cross-entropy works per sample"),
        };
        (loss, derivative, self.is_correct(v, t))
    }

    fn is_correct(self, v: f32, t: f32) -> bool {
        match self {
            LossKernel::Bce => (v >= 0.5) == (t >= 0.5),
            LossKernel::BceWithLogits => (v >= 0.0) == (t >= 0.5),
            _ => false,
        }
    }

    /// The predicted class of one sample's outputs (classifiers with one output: 0 or 1).
    pub fn predicted_class(self, values: &[f32]) -> usize {
        match self {
            LossKernel::BceWithLogits => usize::from(values[0] >= 0.0),
            LossKernel::Bce => usize::from(values[0] >= 0.5),
            _ => argmax(values),
        }
    }
}

/// Each element's loss, `scale` times its derivative, and whether a classifier got it right,
/// for an element-wise `kernel`. Every lane computes the same operations (no fused
/// multiply-adds are formed), so the AVX-512, AVX2 and baseline builds give the same bits.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn element_block(
    kernel: LossKernel,
    values: &[f32],
    targets: &[f32],
    scale: f32,
    losses: &mut [f64],
    derivatives: &mut [f32],
    correct: &mut [bool],
) {
    // One loop per common kernel, so that each is compiled without the others' branches.
    let out = (losses, derivatives, correct);
    match kernel {
        LossKernel::BceWithLogits => each(values, targets, scale, out, |v, t| LossKernel::BceWithLogits.element(v, t)),
        LossKernel::Mse => each(values, targets, scale, out, |v, t| LossKernel::Mse.element(v, t)),
        other => each(values, targets, scale, out, |v, t| other.element(v, t)),
    }
}

/// `element_block`'s loop for one kernel (inlined into each of its builds).
#[inline(always)]
fn each(
    values: &[f32],
    targets: &[f32],
    scale: f32,
    (losses, derivatives, correct): (&mut [f64], &mut [f32], &mut [bool]),
    element: impl Fn(f32, f32) -> (f64, f32, bool),
) {
    for (((&v, &t), loss), (derivative, right)) in
        values.iter().zip(targets).zip(losses.iter_mut()).zip(derivatives.iter_mut().zip(correct.iter_mut()))
    {
        let (l, d, c) = element(v, t);
        (*loss, *derivative, *right) = (l, d * scale, c);
    }
}

/// The index of the largest value (the first, on ties).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks each kernel's gradient against central differences of its own loss.
    #[test]
    fn gradients_match_finite_differences() {
        let cases: [(LossKernel, &[f32], &[f32], usize); 6] = [
            (LossKernel::Mse, &[0.3, -1.2, 2.0], &[0.0, 1.0, 2.5], 1),
            (LossKernel::Mae, &[0.3, -1.2, 2.0], &[0.0, 1.0, 2.5], 1),
            (LossKernel::Huber { delta: 1.0 }, &[0.3, -1.2, 2.0], &[0.0, 1.0, 2.5], 1),
            (LossKernel::Bce, &[0.2, 0.7, 0.95], &[0.0, 1.0, 1.0], 1),
            (LossKernel::BceWithLogits, &[-3.0, 0.4, 2.2], &[0.0, 1.0, 0.0], 1),
            (LossKernel::SoftmaxCrossEntropy, &[0.5, -1.0, 2.0, 0.1, 0.3, -0.2], &[2.0, 0.0], 3),
        ];
        for (kernel, values, targets, width) in cases {
            let scale = 1.0 / (values.len() / width) as f32;
            let mut grad = vec![0.0; values.len()];
            kernel.forward_backward(values, targets, &mut grad, scale, width, &[]);
            for i in 0..values.len() {
                let h = 1e-3f32;
                let at = |delta: f32| {
                    let mut moved = values.to_vec();
                    moved[i] += delta;
                    kernel.evaluate(&moved, targets, width, &[]).loss * f64::from(scale)
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
        let logits = LossKernel::BceWithLogits.evaluate(&[z], &[1.0], 1, &[]).loss;
        let probabilities = LossKernel::Bce.evaluate(&[crate::kernels::activation::sigmoid(z)], &[1.0], 1, &[]).loss;
        assert!((logits - 0.513015).abs() < 1e-5 && (probabilities - 0.513015).abs() < 1e-5);
        let extreme = LossKernel::BceWithLogits.evaluate(&[-200.0], &[1.0], 1, &[]).loss;
        assert!((extreme - 200.0).abs() < 1e-4);
        assert_eq!(LossKernel::Bce.evaluate(&[0.0], &[1.0], 1, &[]).loss, 100.0);
    }

    /// Reference: torch.nn.functional.cross_entropy(tensor([[1., 2., 3.]]), tensor([0]))
    /// = ln(e + e^2 + e^3) - 1 = 2.407606; logits of 1000 do not overflow.
    #[test]
    fn cross_entropy_matches_reference_and_is_stable() {
        let sums = LossKernel::SoftmaxCrossEntropy.evaluate(&[1.0, 2.0, 3.0], &[0.0], 3, &[]);
        assert!((sums.loss - 2.407606).abs() < 1e-6);
        assert_eq!(sums.correct, 0);
        let large = LossKernel::SoftmaxCrossEntropy.evaluate(&[1000.0, 0.0, -1000.0], &[0.0], 3, &[]);
        assert!(large.loss.abs() < 1e-9 && large.correct == 1);
    }

    /// Reference: torch.nn.functional.cross_entropy(tensor([[1., 2., 3.], [1., 2., 3.]]),
    /// tensor([0, 2]), weight=tensor([1., 2., 3.])) = (1 * 2.407606 + 3 * 0.407606) / (1 + 3)
    /// = 0.907606: each sample weighted by its class, the mean over the weights; the gradient
    /// agrees with central differences of that weighted mean.
    #[test]
    fn class_weights_weigh_each_sample_by_its_class() {
        let (values, targets, weights) = ([1.0, 2.0, 3.0, 1.0, 2.0, 3.0], [0.0, 2.0], [1.0, 2.0, 3.0]);
        let kernel = LossKernel::SoftmaxCrossEntropy;
        let sums = kernel.evaluate(&values, &targets, 3, &weights);
        assert_eq!(sums.weight, 4.0);
        assert!((sums.loss / sums.weight - 0.907606).abs() < 1e-6);
        let scale = 1.0 / sums.weight as f32;
        let mut grad = [0.0; 6];
        kernel.forward_backward(&values, &targets, &mut grad, scale, 3, &weights);
        for i in 0..values.len() {
            let at = |delta: f32| {
                let mut moved = values;
                moved[i] += delta;
                kernel.evaluate(&moved, &targets, 3, &weights).loss * f64::from(scale)
            };
            let numeric = (at(1e-3) - at(-1e-3)) / 2e-3;
            assert!((f64::from(grad[i]) - numeric).abs() < 1e-3, "element {i}: {} vs {numeric}", grad[i]);
        }
        // Weights of 1 change nothing, to the bit.
        let mut plain = [0.0; 6];
        let unweighted = kernel.forward_backward(&values, &targets, &mut plain, 0.5, 3, &[]);
        let mut ones = [0.0; 6];
        let weighted = kernel.forward_backward(&values, &targets, &mut ones, 0.5, 3, &[1.0; 3]);
        assert_eq!(
            (unweighted.loss.to_bits(), plain.map(f32::to_bits)),
            (weighted.loss.to_bits(), ones.map(f32::to_bits))
        );
    }

    /// The blocked, vectorised pass gives every element's loss, derivative and verdict with the
    /// same bits as the scalar `element`, and sums them in element order, over lengths that
    /// leave partial blocks.
    #[test]
    fn blocks_match_the_scalar_element_loop() {
        let kernels = [
            LossKernel::Mse,
            LossKernel::Mae,
            LossKernel::Huber { delta: 0.7 },
            LossKernel::Bce,
            LossKernel::BceWithLogits,
        ];
        for kernel in kernels {
            for len in [1, 63, 64, 65, 200] {
                let probabilities = matches!(kernel, LossKernel::Bce);
                let values: Vec<f32> =
                    (0..len)
                        .map(|i| {
                            if probabilities {
                                0.5 + 0.49 * (i as f32 * 0.9).sin()
                            } else {
                                6.0 * (i as f32 * 0.9).sin()
                            }
                        })
                        .collect();
                let targets: Vec<f32> = (0..len).map(|i| f32::from(u8::from(i % 3 == 0))).collect();
                let scale = 1.0 / len as f32;
                let mut grad = vec![0.0; len];
                let sums = kernel.forward_backward(&values, &targets, &mut grad, scale, 1, &[]);
                let mut expected = LossSums::default();
                for (i, (&v, &t)) in values.iter().zip(&targets).enumerate() {
                    let (loss, derivative, correct) = kernel.element(v, t);
                    assert_eq!(grad[i].to_bits(), (derivative * scale).to_bits(), "{kernel:?} element {i}");
                    expected.loss += loss;
                    expected.correct += u64::from(correct);
                }
                assert_eq!(
                    (sums.loss.to_bits(), sums.correct),
                    (expected.loss.to_bits(), expected.correct),
                    "{kernel:?}"
                );
            }
        }
    }

    /// Reference: nn.HuberLoss(delta=1) of a difference of 3 is 1 * (3 - 0.5) = 2.5, of 0.5 is 0.125.
    #[test]
    fn huber_and_mae_match_reference() {
        let huber = LossKernel::Huber { delta: 1.0 };
        assert_eq!(huber.evaluate(&[3.0, 0.5], &[0.0, 0.0], 1, &[]).loss, 2.625);
        let mae = LossKernel::Mae.evaluate(&[3.0, -0.5], &[0.0, 0.0], 1, &[]);
        assert_eq!((mae.loss, mae.abs_error, mae.squared_error), (3.5, 3.5, 9.25));
    }
}
