//! Optimizers, with torch.optim's documented update rules and defaults. Each keeps its
//! per-parameter moments in `Moments`; the step count `t` starts at 1.

use serde::Serialize;

/// torch.optim.SGD: `g += wd w; b = mu b + g (b = g at the first step); g = nesterov ? g + mu b : b;
/// w -= lr g`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 0.01, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// torch.optim.Adam (L2 weight decay added to the gradient) and, with `decoupled`,
/// torch.optim.AdamW (`w -= lr wd w` before the Adam step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
}

impl Default for Adam {
    fn default() -> Self {
        Adam { lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

impl Adam {
    /// AdamW's defaults: Adam's, with weight decay 0.01.
    pub fn adamw() -> Adam {
        Adam { weight_decay: 0.01, decoupled: true, ..Adam::default() }
    }
}

/// torch.optim.RMSprop (not centered): `g += wd w; v = alpha v + (1 - alpha) g^2;`
/// with momentum `b = mu b + g / (sqrt(v) + eps); w -= lr b`, else `w -= lr g / (sqrt(v) + eps)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RmsProp {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Default for RmsProp {
    fn default() -> Self {
        RmsProp { lr: 0.01, alpha: 0.99, eps: 1e-8, momentum: 0.0, weight_decay: 0.0 }
    }
}

/// An optimizer as the spec declares it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd(Sgd),
    Adam(Adam),
    RmsProp(RmsProp),
}

/// One parameter tensor's optimizer state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moments {
    /// Momentum buffer (SGD, RMSprop) or first moment (Adam).
    pub first: Vec<f32>,
    /// Second moment (Adam, RMSprop).
    pub second: Vec<f32>,
}

impl Optimizer {
    pub const KEYWORDS: [&'static str; 4] = ["sgd", "adam", "adamw", "rmsprop"];

    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd(o) => o.lr,
            Optimizer::Adam(o) => o.lr,
            Optimizer::RmsProp(o) => o.lr,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Optimizer::Sgd(o) => {
                let mut text = format!("sgd(lr: {}", o.lr);
                if o.momentum != 0.0 {
                    text += &format!(", momentum: {}", o.momentum);
                }
                if o.nesterov {
                    text += ", nesterov: true";
                }
                if o.weight_decay != 0.0 {
                    text += &format!(", weight_decay: {}", o.weight_decay);
                }
                text + ")"
            }
            Optimizer::Adam(o) => format!(
                "{}(lr: {}, beta1: {}, beta2: {}, eps: {}, weight_decay: {})",
                if o.decoupled { "adamw" } else { "adam" },
                o.lr,
                o.beta1,
                o.beta2,
                o.eps,
                o.weight_decay
            ),
            Optimizer::RmsProp(o) => format!(
                "rmsprop(lr: {}, alpha: {}, eps: {}, momentum: {}, weight_decay: {})",
                o.lr, o.alpha, o.eps, o.momentum, o.weight_decay
            ),
        }
    }

    /// Zeroed state for a tensor of `len` values.
    pub fn moments(&self, len: usize) -> Moments {
        let (first, second) = match self {
            Optimizer::Sgd(o) => (if o.momentum != 0.0 { len } else { 0 }, 0),
            Optimizer::Adam(_) => (len, len),
            Optimizer::RmsProp(o) => (if o.momentum != 0.0 { len } else { 0 }, len),
        };
        Moments { first: vec![0.0; first], second: vec![0.0; second] }
    }

    /// The element-wise rule of step `t` (from 1) at learning rate `lr`, its coefficients
    /// computed once: a large tensor is updated in many ranges, each by `Rule::apply`.
    pub fn rule(&self, t: u64, lr: f64) -> Rule {
        match *self {
            Optimizer::Sgd(Sgd { momentum, nesterov, weight_decay, .. }) => Rule::Sgd {
                lr: lr as f32,
                mu: momentum as f32,
                wd: weight_decay as f32,
                momentum: momentum != 0.0,
                first_step: t == 1,
                nesterov,
            },
            Optimizer::Adam(Adam { beta1, beta2, eps, weight_decay, decoupled, .. }) => {
                let bias1 = 1.0 - beta1.powf(t as f64);
                let bias2 = 1.0 - beta2.powf(t as f64);
                // torch's form: w -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps).
                let step_size = (lr / bias1) as f32;
                let bias2_sqrt = bias2.sqrt() as f32;
                let (b1, b2, eps, wd) = (beta1 as f32, beta2 as f32, eps as f32, weight_decay as f32);
                let decay = if decoupled { f32_of(1.0 - lr * weight_decay) } else { 1.0 };
                let l2 = if decoupled { 0.0 } else { wd };
                let (c1, c2) = (f32_of(1.0 - beta1), f32_of(1.0 - beta2));
                Rule::Adam([decay, l2, b1, c1, b2, c2, step_size, bias2_sqrt, eps])
            }
            Optimizer::RmsProp(RmsProp { alpha, eps, momentum, weight_decay, .. }) => Rule::RmsProp {
                lr: lr as f32,
                a: alpha as f32,
                c: f32_of(1.0 - alpha),
                eps: eps as f32,
                mu: momentum as f32,
                wd: weight_decay as f32,
                momentum: momentum != 0.0,
            },
        }
    }
}

/// One optimizer step's element-wise rule, with its coefficients (see `Optimizer::rule`).
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    Sgd { lr: f32, mu: f32, wd: f32, momentum: bool, first_step: bool, nesterov: bool },
    Adam([f32; 9]),
    RmsProp { lr: f32, a: f32, c: f32, eps: f32, mu: f32, wd: f32, momentum: bool },
}

impl Rule {
    /// Updates `param` from `grad` and the moments (matching ranges of one tensor; a moment the
    /// optimizer does not keep is empty).
    pub fn apply(&self, param: &mut [f32], grad: &[f32], first: &mut [f32], second: &mut [f32]) {
        match *self {
            Rule::Sgd { lr, mu, wd, momentum, first_step, nesterov } => {
                if !momentum {
                    param.iter_mut().zip(grad).for_each(|(w, g)| *w -= lr * (g + wd * *w));
                    return;
                }
                loops::sgd_momentum(param, grad, first, lr, mu, wd, first_step, nesterov);
            }
            Rule::Adam(k) => loops::adam(param, grad, first, second, k),
            Rule::RmsProp { lr, a, c, eps, mu, wd, momentum } => {
                for (i, (w, g)) in param.iter_mut().zip(grad).enumerate() {
                    let g = g + wd * *w;
                    let v = &mut second[i];
                    *v = a * *v + c * g * g;
                    let scaled = g / (v.sqrt() + eps);
                    if momentum {
                        first[i] = mu * first[i] + scaled;
                        *w -= lr * first[i];
                    } else {
                        *w -= lr * scaled;
                    }
                }
            }
        }
    }
}

/// A coefficient derived from the spec's numbers, computed in f64 and rounded once, as
/// torch.optim computes `1 - beta2` in Python floats before the kernel sees it. Rounding beta2
/// to f32 first would give `1 - 0.999f32 = 0.00099998713` instead of `0.0010000000475`, every
/// step ~1.3e-5 relative off in the second moment (~6.7e-6 in the step).
fn f32_of(coefficient: f64) -> f32 {
    coefficient as f32
}

/// The element-wise update loops of the optimizers that large models use, compiled for the
/// vector units found at run time (square roots and divisions dominate Adam otherwise).
mod loops {
    use multiversion::multiversion;

    #[allow(clippy::too_many_arguments)]
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    pub fn sgd_momentum(
        param: &mut [f32],
        grad: &[f32],
        velocity: &mut [f32],
        lr: f32,
        mu: f32,
        wd: f32,
        first_step: bool,
        nesterov: bool,
    ) {
        for ((w, g), b) in param.iter_mut().zip(grad).zip(velocity.iter_mut()) {
            let g = g + wd * *w;
            *b = if first_step { g } else { mu * *b + g };
            let step = if nesterov { g + mu * *b } else { *b };
            *w -= lr * step;
        }
    }

    /// `[decay, l2, beta1, 1 - beta1, beta2, 1 - beta2, step_size, sqrt(bias2), eps]` as
    /// `Optimizer::update` derives them (the differences taken in f64).
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    pub fn adam(param: &mut [f32], grad: &[f32], first: &mut [f32], second: &mut [f32], k: [f32; 9]) {
        let [decay, l2, b1, c1, b2, c2, step_size, bias2_sqrt, eps] = k;
        for (((w, g), m), v) in param.iter_mut().zip(grad).zip(first.iter_mut()).zip(second.iter_mut()) {
            *w *= decay;
            let g = g + l2 * *w;
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * g * g;
            *w -= step_size * *m / (v.sqrt() / bias2_sqrt + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` updates of one scalar with a constant gradient.
    fn run(optimizer: Optimizer, w: f32, g: f32, steps: u64) -> f32 {
        let mut moments = optimizer.moments(1);
        let mut param = [w];
        for t in 1..=steps {
            optimizer.rule(t, optimizer.lr()).apply(&mut param, &[g], &mut moments.first, &mut moments.second);
        }
        param[0]
    }

    /// torch.optim.SGD documentation, without momentum: `p = p - lr * g`.
    #[test]
    fn sgd_matches_the_published_rule() {
        let sgd = Optimizer::Sgd(Sgd { lr: 0.1, ..Sgd::default() });
        assert_eq!(run(sgd, 1.0, 0.5, 1), 0.95);
        // Weight decay 0.1: g = 0.5 + 0.1 * 1 = 0.6, p = 1 - 0.06.
        let decayed = Optimizer::Sgd(Sgd { lr: 0.1, weight_decay: 0.1, ..Sgd::default() });
        assert!((run(decayed, 1.0, 0.5, 1) - 0.94).abs() < 1e-7);
    }

    /// torch.optim.SGD with momentum 0.9, constant g = 1, lr 0.1, w0 = 0:
    /// b1 = 1, b2 = 1.9, b3 = 2.71, so w3 = -0.1 (1 + 1.9 + 2.71) = -0.561.
    /// Nesterov steps with g + mu b: 1.9, 2.71, 3.439, so w3 = -0.8049.
    #[test]
    fn sgd_momentum_and_nesterov_match_hand_computation() {
        let momentum = Optimizer::Sgd(Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() });
        assert!((run(momentum, 0.0, 1.0, 3) + 0.561).abs() < 1e-6);
        let nesterov = Optimizer::Sgd(Sgd { lr: 0.1, momentum: 0.9, nesterov: true, ..Sgd::default() });
        assert!((run(nesterov, 0.0, 1.0, 3) + 0.8049).abs() < 1e-6);
    }

    /// Adam (Kingma & Ba 2015, Algorithm 1, as in torch.optim.Adam): with a constant gradient
    /// the bias-corrected ratio m_hat / sqrt(v_hat) is 1 at every step, so each step moves by
    /// lr / (1 + eps / |g|) against the gradient's sign: w3 = 1 - 3 * 0.01 = 0.97.
    #[test]
    fn adam_matches_algorithm_1() {
        let adam = Optimizer::Adam(Adam { lr: 0.01, ..Adam::default() });
        assert!((run(adam, 1.0, 0.5, 3) - 0.97).abs() < 1e-6);
    }

    /// AdamW (Loshchilov & Hutter 2019, torch.optim.AdamW): w = w (1 - lr wd), then the Adam
    /// step: 1 * (1 - 0.01 * 0.1) - 0.01 = 0.989. Adam's L2 form adds wd w to g instead:
    /// g = 0.6, but the first bias-corrected step is still lr: 0.99.
    #[test]
    fn adamw_decouples_weight_decay() {
        let adamw = Optimizer::Adam(Adam { lr: 0.01, weight_decay: 0.1, ..Adam::adamw() });
        assert!((run(adamw, 1.0, 0.5, 1) - 0.989).abs() < 1e-6);
        let adam_l2 = Optimizer::Adam(Adam { lr: 0.01, weight_decay: 0.1, ..Adam::default() });
        assert!((run(adam_l2, 1.0, 0.5, 1) - 0.99).abs() < 1e-6);
    }

    /// The relative distance of an f32 result from the value computed in f64.
    fn relative(got: f32, want: f64) -> f64 {
        (f64::from(got) - want).abs() / want.abs()
    }

    /// One step from w = 0 on g = 0.5 moves w by lr g / (|g| + eps) whatever the betas, when
    /// `1 - beta1` and `1 - beta2` are exact: -0.0099999998 in f64, and torch.optim.Adam and
    /// AdamW (2.15, CPU) give -0.009999999776 (f32). With the differences taken after rounding
    /// the betas to f32 (1 - 0.999f32 = 0.00099998713) the step was 6.7e-6 relative too large.
    #[test]
    fn one_adam_step_takes_its_coefficients_in_f64() {
        let want = -0.01 * 0.5 / (0.5 + 1e-8);
        for adam in [Adam { lr: 0.01, ..Adam::default() }, Adam { lr: 0.01, weight_decay: 0.1, ..Adam::adamw() }] {
            let got = run(Optimizer::Adam(adam), 0.0, 0.5, 1);
            assert!(relative(got, want) < 2.5e-7, "{adam:?}: {got} against {want} ({:e})", relative(got, want));
        }
    }

    /// One RMSprop step from w = 0 on g = 1 with alpha 0.99: v = 0.01 exactly in f64, so
    /// w = -lr / (0.1 + eps) = -0.09999999 (torch.optim.RMSprop: -0.0999999866, f32). With
    /// `1 - 0.99f32 = 0.00999999` the step was 4.8e-7 relative (6 units in the last place) too large.
    #[test]
    fn one_rmsprop_step_takes_its_coefficient_in_f64() {
        let want = -0.01 / (0.1 + 1e-8);
        let got = run(Optimizer::RmsProp(RmsProp { lr: 0.01, ..RmsProp::default() }), 0.0, 1.0, 1);
        assert!(relative(got, want) < 1.5e-7, "{got} against {want} ({:e})", relative(got, want));
    }

    /// RMSprop (Hinton's lecture 6e, torch.optim.RMSprop): v1 = 0.01 g^2 with alpha 0.99, so
    /// the first step is lr * g / (0.1 |g| + eps) = 10 lr: w1 = 1 - 0.1 for lr 0.01.
    /// Step 2: v2 = 0.99 * 0.01 + 0.01 = 0.0199, step lr / sqrt(0.0199) = 0.0708881.
    #[test]
    fn rmsprop_matches_hand_computation() {
        let rmsprop = Optimizer::RmsProp(RmsProp { lr: 0.01, ..RmsProp::default() });
        assert!((run(rmsprop, 1.0, 1.0, 1) - 0.9).abs() < 1e-6);
        assert!((run(rmsprop, 1.0, 1.0, 2) - (0.9 - 0.070_888_1)).abs() < 1e-6);
    }
}
