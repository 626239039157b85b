//! Element-wise activations, and softmax over each sample's outputs. Most backwards need
//! only the activation's output, so the forward pass may overwrite its input in place; GELU's
//! needs its input, so the plan gives it a buffer of its own.

use serde::Serialize;

use super::math;

/// An activation; its serde name is its keyword in the language.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    /// `x` for `x > 0`, else `alpha x` (PyTorch's default `alpha` is 0.01).
    LeakyRelu {
        alpha: f32,
    },
    /// `x` for `x > 0`, else `alpha (e^x - 1)` (default `alpha` 1).
    Elu {
        alpha: f32,
    },
    /// `ln(1 + e^x)`, computed without overflow.
    Softplus,
    /// `x Phi(x)` with the exact normal CDF, as PyTorch's default `nn.GELU()`.
    Gelu,
    /// `e^x_i / sum_j e^x_j` over each sample's outputs.
    Softmax,
    Identity,
}

impl Activation {
    pub const KEYWORDS: [&'static str; 9] =
        ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu", "softmax", "identity"];

    /// The keyword that names it in a spec.
    pub fn keyword(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Softmax => "softmax",
            Activation::Identity => "identity",
        }
    }

    /// The activation a bare keyword names, with default parameters.
    pub fn from_keyword(word: &str) -> Option<Activation> {
        Some(match word {
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu { alpha: 0.01 },
            "elu" => Activation::Elu { alpha: 1.0 },
            "softplus" => Activation::Softplus,
            "gelu" => Activation::Gelu,
            "softmax" => Activation::Softmax,
            "identity" => Activation::Identity,
            _ => return None,
        })
    }

    /// The written form, with any parameter: `leaky_relu(0.2)`.
    pub fn describe(self) -> String {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => format!("{}({alpha})", self.keyword()),
            other => other.keyword().to_string(),
        }
    }

    /// The PyTorch module that computes it, or `None` when no module is needed.
    pub fn torch_module(self) -> Option<String> {
        Some(match self {
            Activation::Sigmoid => "nn.Sigmoid()".into(),
            Activation::Tanh => "nn.Tanh()".into(),
            Activation::Relu => "nn.ReLU()".into(),
            Activation::LeakyRelu { alpha } => format!("nn.LeakyReLU({alpha})"),
            Activation::Elu { alpha } => format!("nn.ELU({alpha})"),
            Activation::Softplus => "nn.Softplus()".into(),
            Activation::Gelu => "nn.GELU()".into(),
            Activation::Softmax => "nn.Softmax(dim=1)".into(),
            Activation::Identity => return None,
        })
    }

    /// Whether the backward pass can work from the output alone (so the forward may run in place).
    pub fn backward_from_output(self) -> bool {
        !matches!(self, Activation::Gelu)
    }

    /// Applies the activation to a chunk of `width`-long sample columns: `output` may be the
    /// input itself (pass the same data via `forward_in_place`).
    pub fn forward(self, input: &[f32], output: &mut [f32], width: usize) {
        output.copy_from_slice(input);
        self.forward_in_place(output, width);
    }

    /// Applies the activation in place.
    pub fn forward_in_place(self, values: &mut [f32], width: usize) {
        match self {
            Activation::Sigmoid => math::sigmoid_in_place(values),
            Activation::Tanh => math::tanh_in_place(values),
            Activation::Relu => math::loops::relu(values),
            Activation::LeakyRelu { alpha } => {
                values.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { alpha * *v })
            }
            Activation::Elu { alpha } => {
                values.iter_mut().for_each(|v| *v = if *v > 0.0 { *v } else { alpha * v.exp_m1() })
            }
            Activation::Softplus => values.iter_mut().for_each(|v| *v = softplus(*v)),
            Activation::Gelu => values.iter_mut().for_each(|v| *v = *v * normal_cdf(*v)),
            Activation::Softmax => math::softmax_in_place(values, width),
            Activation::Identity => {}
        }
    }

    /// Turns the gradient with respect to the output into the gradient with respect to the
    /// input, in place. `input` is only read by activations that cannot work from `output`.
    pub fn backward(self, input: &[f32], output: &[f32], grad: &mut [f32], width: usize) {
        let pairs = grad.iter_mut().zip(output);
        match self {
            Activation::Sigmoid => math::loops::sigmoid_backward(output, grad),
            Activation::Tanh => math::loops::tanh_backward(output, grad),
            Activation::Relu => math::loops::relu_backward(output, grad),
            // alpha > 0 keeps the sign, so the output tells which side the input was on.
            Activation::LeakyRelu { alpha } => pairs.for_each(|(g, &y)| {
                if y <= 0.0 {
                    *g *= alpha
                }
            }),
            // For x <= 0, y = alpha (e^x - 1), so dy/dx = alpha e^x = y + alpha.
            Activation::Elu { alpha } => pairs.for_each(|(g, &y)| {
                if y <= 0.0 {
                    *g *= y + alpha
                }
            }),
            // y = ln(1 + e^x) gives dy/dx = sigmoid(x) = 1 - e^-y.
            Activation::Softplus => pairs.for_each(|(g, &y)| *g *= -(-y).exp_m1()),
            Activation::Gelu => grad.iter_mut().zip(input).for_each(|(g, &x)| {
                *g *= normal_cdf(x) + x * normal_pdf(x);
            }),
            // dx_i = y_i (g_i - sum_j g_j y_j), per sample.
            Activation::Softmax => grad.chunks_exact_mut(width).zip(output.chunks_exact(width)).for_each(|(g, y)| {
                let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                g.iter_mut().zip(y).for_each(|(g, y)| *g = y * (*g - dot));
            }),
            Activation::Identity => {}
        }
    }
}

/// The logistic function, without overflow for large `|x|`.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` as `max(x, 0) + ln(1 + e^-|x|)`, exact for large `|x|`.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

fn normal_pdf(x: f32) -> f32 {
    (-0.5 * x * x).exp() * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Activation> {
        let mut all: Vec<Activation> =
            Activation::KEYWORDS.iter().filter_map(|k| Activation::from_keyword(k)).collect();
        all.push(Activation::LeakyRelu { alpha: 0.2 });
        all.push(Activation::Elu { alpha: 0.5 });
        all
    }

    /// Central differences of `sum(y * r)` for a fixed `r`, over a 3-wide sample, against the
    /// analytic backward (which for softmax couples the outputs of a sample).
    #[test]
    fn each_derivative_matches_finite_differences() {
        let inputs = [-2.5f32, -0.7, -0.1, 0.2, 0.9, 3.0];
        let r = [0.3f32, -1.1, 0.8, 0.5, -0.4, 1.3];
        let width = 3;
        for activation in all() {
            let objective = |x: &[f32]| {
                let mut y = vec![0.0; x.len()];
                activation.forward(x, &mut y, width);
                y.iter().zip(&r).map(|(y, r)| f64::from(y * r)).sum::<f64>()
            };
            let mut y = vec![0.0; inputs.len()];
            activation.forward(&inputs, &mut y, width);
            let mut grad = r.to_vec();
            activation.backward(&inputs, &y, &mut grad, width);
            for i in 0..inputs.len() {
                let h = 1e-3f32;
                let mut up = inputs.to_vec();
                up[i] += h;
                let mut down = inputs.to_vec();
                down[i] -= h;
                let numeric = (objective(&up) - objective(&down)) / (2.0 * f64::from(h));
                assert!(
                    (f64::from(grad[i]) - numeric).abs() < 2e-3,
                    "{activation:?} at {}: analytic {} numeric {numeric}",
                    inputs[i],
                    grad[i]
                );
            }
        }
    }

    #[test]
    fn saturates_without_nan() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(softplus(1000.0), 1000.0);
        let mut values = [1000.0f32, 0.0, -1000.0];
        Activation::Softmax.forward_in_place(&mut values, 3);
        assert_eq!(values, [1.0, 0.0, 0.0]);
    }

    /// Reference values from PyTorch's documented formulas: GELU(1) = Phi(1) = 0.841345,
    /// ELU(-1) = e^-1 - 1 = -0.632121, softplus(0) = ln 2.
    #[test]
    fn matches_reference_values() {
        let at = |activation: Activation, x: f32| {
            let mut v = [x];
            activation.forward_in_place(&mut v, 1);
            v[0]
        };
        assert!((at(Activation::Gelu, 1.0) - 0.841_345).abs() < 1e-6);
        assert!((at(Activation::Elu { alpha: 1.0 }, -1.0) + 0.632_121).abs() < 1e-6);
        assert!((at(Activation::Softplus, 0.0) - std::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(at(Activation::LeakyRelu { alpha: 0.01 }, -2.0), -0.02);
    }
}
