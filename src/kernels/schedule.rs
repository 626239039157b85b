//! Learning-rate schedules, evaluated once per epoch (epoch `e` counts from 0), as PyTorch's
//! schedulers stepped once per epoch.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The optimizer's learning rate throughout.
    Constant,
    /// `lr * gamma^floor(e / every)` (StepLR).
    Step { every: usize, gamma: f64 },
    /// `lr * gamma^e` (ExponentialLR).
    Exponential { gamma: f64 },
    /// `to + (lr - to) (1 + cos(pi min(e, over) / over)) / 2` (CosineAnnealingLR, held at `to` after `over`).
    Cosine { to: f64, over: usize },
    /// `lr (e + 1) / epochs` for the first `epochs` epochs, then `then` from its own epoch 0.
    Warmup { epochs: usize, then: Box<Schedule> },
}

impl Schedule {
    pub const KEYWORDS: [&'static str; 5] = ["constant", "step", "exponential", "cosine", "warmup"];

    /// The learning rate of epoch `e` (from 0) for a base rate `lr`.
    pub fn lr(&self, lr: f64, e: usize) -> f64 {
        match self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powi((e / every) as i32),
            Schedule::Exponential { gamma } => lr * gamma.powi(e as i32),
            Schedule::Cosine { to, over } => {
                let progress = e.min(*over) as f64 / *over as f64;
                to + (lr - to) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
            Schedule::Warmup { epochs, then } => {
                if e < *epochs {
                    lr * (e + 1) as f64 / *epochs as f64
                } else {
                    then.lr(lr, e - epochs)
                }
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Schedule::Constant => "constant".into(),
            Schedule::Step { every, gamma } => format!("step(every: {every}, gamma: {gamma})"),
            Schedule::Exponential { gamma } => format!("exponential(gamma: {gamma})"),
            Schedule::Cosine { to, over } => format!("cosine(to: {to}, over: {over})"),
            Schedule::Warmup { epochs, then } => format!("warmup(epochs: {epochs}, then: {})", then.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed by hand from the PyTorch scheduler documentation's formulas.
    #[test]
    fn schedules_follow_their_formulas() {
        let step = Schedule::Step { every: 30, gamma: 0.1 };
        assert_eq!(
            [0, 29, 30, 60].map(|e| step.lr(0.05, e)),
            [0.05, 0.05, 0.005000000000000001, 0.0005000000000000001]
        );
        let exponential = Schedule::Exponential { gamma: 0.5 };
        assert_eq!([0, 1, 3].map(|e| exponential.lr(1.0, e)), [1.0, 0.5, 0.125]);
        let cosine = Schedule::Cosine { to: 0.0, over: 10 };
        assert_eq!(cosine.lr(1.0, 0), 1.0);
        assert!((cosine.lr(1.0, 5) - 0.5).abs() < 1e-12, "half way is the mean of the two rates");
        assert!(cosine.lr(1.0, 10).abs() < 1e-12 && cosine.lr(1.0, 15).abs() < 1e-12);
        let warmup = Schedule::Warmup { epochs: 4, then: Box::new(exponential) };
        assert_eq!([0, 1, 3, 4, 5].map(|e| warmup.lr(1.0, e)), [0.25, 0.5, 1.0, 1.0, 0.5]);
    }
}
