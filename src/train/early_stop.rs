//! Early stopping: watch a validation metric (`val_loss`, `val_mae` and `val_rmse`: lower is
//! better; `val_accuracy`, `val_f1`, `val_r2`, ...: higher is better); an epoch improves when
//! it beats the best by more than `min_delta`; stop after `patience` epochs without
//! improvement, keeping a copy of the best epoch's weights.

use super::TraceLine;
use crate::exec::Params;
use crate::ir::EarlyStop;

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
        let monitor = self.settings.monitor;
        // A metric that is undefined this epoch (AUC without both classes) never improves.
        let value = validation.monitored(monitor).unwrap_or(f64::NAN);
        let score = if monitor.higher_is_better() { value } else { -value };
        if score.is_nan() { f64::NEG_INFINITY } else { score }
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
    use crate::ir::Monitor;
    use crate::train::Metrics;

    fn line(epoch: usize, val_loss: f64) -> TraceLine {
        let metrics = Metrics { loss: val_loss, ..Metrics::default() };
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

    /// F1 improves upward, MAE downward; an undefined AUC never counts as an improvement.
    #[test]
    fn any_validation_metric_can_be_monitored() {
        let params = Params { tensors: vec![vec![0.0]] };
        let with = |epoch, metrics: Metrics| TraceLine { validation: Some(metrics), ..line(epoch, 0.0) };
        let settings = |monitor| EarlyStop { monitor, patience: 1, min_delta: 0.0, restore_best: true };
        let mut f1 = EarlyStopping::new(settings(Monitor::ValF1), &params);
        assert!(!f1.observe(&with(1, Metrics { f1: Some(0.5), ..Metrics::default() }), &params));
        assert!(!f1.observe(&with(2, Metrics { f1: Some(0.7), ..Metrics::default() }), &params));
        assert!(f1.observe(&with(3, Metrics { f1: Some(0.6), ..Metrics::default() }), &params));
        assert_eq!(f1.best_line().unwrap().epoch, 2);
        let mut mae = EarlyStopping::new(settings(Monitor::ValMae), &params);
        assert!(!mae.observe(&with(1, Metrics { mae: Some(0.5), ..Metrics::default() }), &params));
        assert!(!mae.observe(&with(2, Metrics { mae: Some(0.4), ..Metrics::default() }), &params));
        assert!(mae.observe(&with(3, Metrics { mae: Some(0.45), ..Metrics::default() }), &params));
        let mut auc = EarlyStopping::new(settings(Monitor::ValAuc), &params);
        assert!(!auc.observe(&with(1, Metrics { auc: Some(0.6), ..Metrics::default() }), &params));
        assert!(auc.observe(&with(2, Metrics::default()), &params), "no AUC is no improvement");
    }
}
