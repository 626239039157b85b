//! Optimizers, with torch.optim's documented update rules and defaults.

use serde::Serialize;

/// Stochastic gradient descent, `w -= lr * g` (torch.optim.SGD without momentum).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sgd {
    pub lr: f64,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 0.01 }
    }
}

/// An optimizer as the spec declares it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd(Sgd),
}

impl Optimizer {
    pub const KEYWORDS: [&'static str; 1] = ["sgd"];

    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd(sgd) => sgd.lr,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Optimizer::Sgd(sgd) => format!("sgd(lr: {})", sgd.lr),
        }
    }

    /// Updates one parameter tensor in place from its gradient.
    pub fn update(&self, param: &mut [f32], grad: &[f32], lr: f64) {
        match self {
            Optimizer::Sgd(_) => {
                let lr = lr as f32;
                param.iter_mut().zip(grad).for_each(|(w, g)| *w -= lr * g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torch.optim.SGD, documented rule without momentum: `p = p - lr * g`.
    #[test]
    fn sgd_step_matches_the_published_rule() {
        let optimizer = Optimizer::Sgd(Sgd { lr: 0.1 });
        let mut param = [1.0f32, -2.0];
        optimizer.update(&mut param, &[0.5, -1.0], 0.1);
        assert_eq!(param, [0.95, -1.9]);
    }
}
