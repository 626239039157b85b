//! Early stopping: watch `val_loss` (lower is better) or `val_accuracy` (higher is better);
//! an epoch improves when it beats the best by more than `min_delta`; stop after `patience`
//! epochs without improvement, keeping a copy of the best epoch's weights.

use super::TraceLine;
use crate::exec::Params;
use crate::ir::{EarlyStop, Monitor};

pub struct EarlyStopping {
    settings: EarlyStop,
    best: Option<TraceLine>,
    best_params: Params,
    waited: usize,
}

impl EarlyStopping {
    /// Starts with a copy of `params` as the buffer for the best weights.
    pub fn new(settings: EarlyStop, params: &Params) -> Self {
        EarlyStopping { settings, best: None, best_params: params.clone(), waited: 0 }
    }

    fn score(&self, line: &TraceLine) -> f64 {
        let validation = line.validation.expect("early stopping runs with validation rows");
        match self.settings.monitor {
            Monitor::ValLoss => -validation.loss,
            Monitor::ValAccuracy => validation.accuracy.unwrap_or(0.0),
        }
    }

    /// Records an epoch; returns whether training should stop after it.
    pub fn observe(&mut self, line: &TraceLine, params: &Params) -> bool {
        let improved = match &self.best {
            None => true,
            Some(best) => self.score(line) > self.score(best) + self.settings.min_delta,
        };
        if improved {
            self.best = Some(line.clone());
            self.best_params.copy_from(params);
            self.waited = 0;
            false
        } else {
            self.waited += 1;
            self.waited >= self.settings.patience
        }
    }

    /// Early stopping's memory as a checkpoint recorded it.
    pub fn restore(settings: EarlyStop, best_params: Params, best: Option<TraceLine>, waited: usize) -> Self {
        EarlyStopping { settings, best, best_params, waited }
    }

    /// Epochs since the last improvement.
    pub fn waited(&self) -> usize {
        self.waited
    }

    pub fn best_params(&self) -> &Params {
        &self.best_params
    }

    pub fn best_line(&self) -> Option<&TraceLine> {
        self.best.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::Metrics;

    fn line(epoch: usize, val_loss: f64) -> TraceLine {
        let metrics = Metrics { loss: val_loss, accuracy: None, mae: None, rmse: None, r2: None };
        TraceLine { epoch, step: 0, train: metrics, validation: Some(metrics), test: None, lr: 0.1, elapsed_s: 0.0 }
    }

    #[test]
    fn stops_after_patience_epochs_without_improvement_and_keeps_the_best() {
        let settings = EarlyStop { monitor: Monitor::ValLoss, patience: 2, min_delta: 0.01, restore_best: true };
        let mut params = Params { tensors: vec![vec![0.0]] };
        let mut tracker = EarlyStopping::new(settings, &params);
        let losses = [1.0, 0.5, 0.495, 0.6];
        let mut stopped_at = None;
        for (i, loss) in losses.into_iter().enumerate() {
            params.tensors[0][0] = i as f32;
            if tracker.observe(&line(i + 1, loss), &params) {
                stopped_at = Some(i + 1);
                break;
            }
        }
        // 0.495 is not better than 0.5 by more than 0.01; 0.6 is worse: stop at epoch 4.
        assert_eq!(stopped_at, Some(4));
        assert_eq!(tracker.best_line().unwrap().epoch, 2);
        assert_eq!(tracker.best_params().tensors[0][0], 1.0);
    }
}
