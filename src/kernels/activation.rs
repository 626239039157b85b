//! Element-wise activations. Each backward uses only the activation's output, which lets the
//! forward pass overwrite its input in place.

use serde::Serialize;

/// An activation; its serde name is its keyword in the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Identity,
    ];

    /// The keyword that names it in a spec.
    pub fn keyword(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Activation> {
        Activation::ALL
            .into_iter()
            .find(|activation| activation.keyword() == word)
    }

    /// The PyTorch module that computes it, or `None` when no module is needed.
    pub fn torch_module(self) -> Option<&'static str> {
        match self {
            Activation::Sigmoid => Some("nn.Sigmoid()"),
            Activation::Tanh => Some("nn.Tanh()"),
            Activation::Relu => Some("nn.ReLU()"),
            Activation::Identity => None,
        }
    }

    /// Applies the activation in place.
    pub fn forward(self, values: &mut [f32]) {
        match self {
            Activation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Identity => {}
        }
    }

    /// Turns the gradient with respect to the output into the gradient with respect to the
    /// input, in place, from the forward pass's `output`.
    pub fn backward(self, output: &[f32], grad: &mut [f32]) {
        let pairs = grad.iter_mut().zip(output);
        match self {
            Activation::Sigmoid => pairs.for_each(|(g, &y)| *g *= y * (1.0 - y)),
            Activation::Tanh => pairs.for_each(|(g, &y)| *g *= 1.0 - y * y),
            Activation::Relu => pairs.for_each(|(g, &y)| {
                if y <= 0.0 {
                    *g = 0.0
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_derivative_matches_finite_differences() {
        let points = [-2.5f32, -0.7, -0.1, 0.2, 0.9, 3.0];
        for activation in Activation::ALL {
            for &x in &points {
                let h = 1e-3f64;
                let f = |x: f64| {
                    let mut v = [x as f32];
                    activation.forward(&mut v);
                    f64::from(v[0])
                };
                let numeric = (f(f64::from(x) + h) - f(f64::from(x) - h)) / (2.0 * h);
                let mut y = [x];
                activation.forward(&mut y);
                let mut g = [1.0f32];
                activation.backward(&y, &mut g);
                assert!(
                    (f64::from(g[0]) - numeric).abs() < 1e-3,
                    "{activation:?} at {x}: analytic {} numeric {numeric}",
                    g[0]
                );
            }
        }
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }
}
