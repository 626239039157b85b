//! Reducing the learning rate on a plateau (`train { reduce_lr(...) }`), as PyTorch's
//! `ReduceLROnPlateau(mode, factor, patience, threshold=min_delta, threshold_mode='abs',
//! cooldown=0, min_lr)`: after each epoch the monitored validation metric is compared with the
//! best so far; after more than `patience` epochs without an improvement of more than
//! `min_delta`, the learning rate is multiplied by `factor` (never below `min_lr`) and the
//! count starts again. The scale applies on top of the optimizer's schedule.

use super::TraceLine;
use crate::ir::ReduceLr;

#[derive(Debug, Clone, PartialEq)]
pub struct Plateau {
    pub settings: ReduceLr,
    /// What the scheduled learning rate is multiplied by.
    pub scale: f64,
    pub best: Option<f64>,
    pub waited: usize,
}

impl Plateau {
    pub fn new(settings: ReduceLr) -> Plateau {
        Plateau { settings, scale: 1.0, best: None, waited: 0 }
    }

    /// The learning rate for a scheduled rate `lr`.
    pub fn lr(&self, lr: f64) -> f64 {
        if self.scale == 1.0 { lr } else { (lr * self.scale).max(self.settings.min_lr) }
    }

    /// Records an epoch's line (with validation metrics).
    pub fn observe(&mut self, line: &TraceLine) {
        let monitor = self.settings.monitor;
        let value = line.validation.and_then(|v| v.monitored(monitor)).unwrap_or(f64::NAN);
        let score = if monitor.higher_is_better() { value } else { -value };
        let improved = !score.is_nan() && self.best.is_none_or(|best| score > best + self.settings.min_delta);
        if improved {
            self.best = Some(score);
            self.waited = 0;
            return;
        }
        self.waited += 1;
        if self.waited > self.settings.patience {
            self.scale *= self.settings.factor;
            self.waited = 0;
        }
    }

    /// The state a checkpoint records.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "scale": self.scale, "best": self.best, "waited": self.waited })
    }

    pub fn from_json(settings: ReduceLr, value: &serde_json::Value) -> Option<Plateau> {
        Some(Plateau {
            settings,
            scale: value["scale"].as_f64()?,
            best: value["best"].as_f64(),
            waited: value["waited"].as_u64()? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Monitor;
    use crate::train::Metrics;

    /// Validation losses 1.0, 0.9, then four epochs at 0.95: with patience 2 the third bad
    /// epoch (epoch 5) halves the rate, as ReduceLROnPlateau(factor=0.5, patience=2) does;
    /// `min_lr` bounds it.
    #[test]
    fn reduces_after_more_than_patience_bad_epochs() {
        let settings = ReduceLr { monitor: Monitor::ValLoss, factor: 0.5, patience: 2, min_delta: 0.0, min_lr: 0.03 };
        let mut plateau = Plateau::new(settings);
        let mut rates = Vec::new();
        for (epoch, loss) in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95].into_iter().enumerate() {
            let metrics = Metrics { loss, ..Metrics::default() };
            let line = TraceLine {
                epoch: epoch + 1,
                step: 0,
                train: metrics,
                validation: Some(metrics),
                test: None,
                lr: 0.1,
                elapsed_s: 0.0,
            };
            plateau.observe(&line);
            rates.push(plateau.lr(0.1));
        }
        assert_eq!(rates, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03]);
        let back = Plateau::from_json(settings, &plateau.to_json()).unwrap();
        assert_eq!(back, plateau);
    }
}
