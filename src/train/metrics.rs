//! Metrics of a split: loss, and accuracy for classifiers or MAE, RMSE and R² for regression;
//! the evaluation pass that computes them; confusion matrices and what follows from them:
//! precision, recall and F1 per class and macro-averaged (as scikit-learn's
//! `precision_recall_fscore_support`, 0 where a class has no predictions or no rows), and ROC
//! AUC of binary classifiers (the Mann-Whitney rank statistic, ties counted half).

use serde::Serialize;

use crate::data::Dataset;
use crate::exec::{Mode, Params, State};
use crate::ir::{ExtraMetric, Monitor};
use crate::kernels::loss::LossSums;
use crate::plan::Plan;

/// One split's metrics. Regression metrics pool all outputs; R² is `1 - SSE / SST` with SST
/// about the split's own target means.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Macro-averaged precision, recall and F1, and ROC AUC: only where `train { metrics }`
    /// asks for them or early stopping monitors them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc: Option<f64>,
}

impl Metrics {
    /// Metrics from the sums over `rows` rows, with `loss` given (a mean of batch losses for
    /// training, the exact mean for evaluation) and `sst` the split's total sum of squares.
    pub fn from_sums(plan: &Plan, loss: f64, sums: &LossSums, rows: usize, sst: f64) -> Metrics {
        let outputs = (rows * plan.output_width) as f64;
        if plan.is_classifier() {
            let predictions = plan.loss_terms(rows) as f64;
            Metrics { loss, accuracy: Some(sums.correct as f64 / predictions), ..Metrics::default() }
        } else {
            Metrics {
                loss,
                mae: Some(sums.abs_error / outputs),
                rmse: Some((sums.squared_error / outputs).sqrt()),
                r2: Some(if sst > 0.0 { 1.0 - sums.squared_error / sst } else { 0.0 }),
                ..Metrics::default()
            }
        }
    }

    /// Adds the metrics `wanted` from a confusion matrix of the same rows.
    pub fn with_extras(mut self, confusion: &Confusion, wanted: &[ExtraMetric]) -> Metrics {
        let report = ClassReport::of(confusion);
        for metric in wanted {
            match metric {
                ExtraMetric::Precision => self.precision = Some(report.macro_precision),
                ExtraMetric::Recall => self.recall = Some(report.macro_recall),
                ExtraMetric::F1 => self.f1 = Some(report.macro_f1),
                ExtraMetric::Auc => self.auc = confusion.auc(),
            }
        }
        self
    }

    /// The value of a monitored metric, if this split has it.
    pub fn monitored(&self, monitor: Monitor) -> Option<f64> {
        match monitor {
            Monitor::ValLoss => Some(self.loss),
            Monitor::ValAccuracy => self.accuracy,
            Monitor::ValPrecision => self.precision,
            Monitor::ValRecall => self.recall,
            Monitor::ValF1 => self.f1,
            Monitor::ValAuc => self.auc,
            Monitor::ValMae => self.mae,
            Monitor::ValRmse => self.rmse,
            Monitor::ValR2 => self.r2,
        }
    }

    /// `(name, value)` of every metric this split has beyond the loss, in trace order.
    pub fn named(&self) -> [(&'static str, Option<f64>); 8] {
        [
            ("accuracy", self.accuracy),
            ("mae", self.mae),
            ("rmse", self.rmse),
            ("r2", self.r2),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("auc", self.auc),
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            loss: 0.0,
            accuracy: None,
            mae: None,
            rmse: None,
            r2: None,
            precision: None,
            recall: None,
            f1: None,
            auc: None,
        }
    }
}

/// The total sum of squares of `rows`' targets about their means, per output, summed.
/// The SST a split's R² needs, or 0 for classifiers (which report accuracy, not R²).
pub fn split_sst(plan: &Plan, data: &Dataset, rows: &[usize]) -> f64 {
    if plan.is_classifier() { 0.0 } else { total_sum_of_squares(data, rows) }
}

pub fn total_sum_of_squares(data: &Dataset, rows: &[usize]) -> f64 {
    let width = data.target_width;
    let mut total = 0.0;
    for k in 0..width {
        let values = || rows.iter().map(|&r| f64::from(data.target_row(r)[k]));
        let mean = values().sum::<f64>() / rows.len().max(1) as f64;
        total += values().map(|t| (t - mean).powi(2)).sum::<f64>();
    }
    total
}

/// Counts of (true class, predicted class), row-major `classes x classes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// Which rows: `"test"`, `"validation"` or `"train"`.
    pub split: String,
    pub classes: usize,
    pub counts: Vec<u64>,
    /// The class names, where the targets were labels (empty for class indices).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// For two classes: each row's score for class 1 (a logit, or its difference) and whether
    /// it is of class 1, for ROC AUC.
    #[serde(skip)]
    pub scores: Vec<(f32, bool)>,
}

impl Confusion {
    /// An empty matrix of `classes` classes for the rows of `split`.
    pub fn new(split: &str, classes: usize, labels: &[String]) -> Confusion {
        Confusion {
            split: split.to_string(),
            classes,
            counts: vec![0; classes * classes],
            labels: labels.to_vec(),
            scores: Vec::new(),
        }
    }

    /// The name of class `k`: its label, or its index.
    pub fn name(&self, k: usize) -> String {
        self.labels.get(k).cloned().unwrap_or_else(|| k.to_string())
    }

    /// ROC AUC of the recorded scores: the probability that a row of class 1 scores above a
    /// row of class 0 (ties count one half); `None` without rows of both classes.
    pub fn auc(&self) -> Option<f64> {
        let mut scores = self.scores.clone();
        scores.sort_by(|a, b| a.0.total_cmp(&b.0));
        let positives = scores.iter().filter(|s| s.1).count() as f64;
        let negatives = scores.len() as f64 - positives;
        if positives == 0.0 || negatives == 0.0 {
            return None;
        }
        // Sum of the positives' ranks (from 1), ties given their mean rank.
        let (mut rank_sum, mut i) = (0.0f64, 0);
        while i < scores.len() {
            let run = scores[i..].iter().take_while(|s| s.0 == scores[i].0).count();
            let mean_rank = i as f64 + (run as f64 + 1.0) / 2.0;
            rank_sum += mean_rank * scores[i..i + run].iter().filter(|s| s.1).count() as f64;
            i += run;
        }
        Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
    }
}

/// Precision, recall, F1 and support of each class, and their macro averages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub support: Vec<u64>,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
}

impl ClassReport {
    pub fn of(confusion: &Confusion) -> ClassReport {
        let k = confusion.classes;
        let count = |actual: usize, predicted: usize| confusion.counts[actual * k + predicted] as f64;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let mut report = ClassReport {
            precision: vec![],
            recall: vec![],
            f1: vec![],
            support: vec![],
            macro_precision: 0.0,
            macro_recall: 0.0,
            macro_f1: 0.0,
        };
        for class in 0..k {
            let hits = count(class, class);
            let predicted: f64 = (0..k).map(|a| count(a, class)).sum();
            let actual: f64 = (0..k).map(|p| count(class, p)).sum();
            let (precision, recall) = (ratio(hits, predicted), ratio(hits, actual));
            report.precision.push(precision);
            report.recall.push(recall);
            report.f1.push(ratio(2.0 * precision * recall, precision + recall));
            report.support.push(actual as u64);
        }
        let mean = |values: &[f64]| values.iter().sum::<f64>() / k.max(1) as f64;
        report.macro_precision = mean(&report.precision);
        report.macro_recall = mean(&report.recall);
        report.macro_f1 = mean(&report.f1);
        report
    }

    /// A table of the report, one line per class, then the macro averages (and AUC).
    pub fn to_text(&self, confusion: &Confusion) -> String {
        let names: Vec<String> = (0..confusion.classes).map(|k| confusion.name(k)).collect();
        let width = names.iter().map(String::len).max().unwrap_or(5).max(5) + 2;
        let mut out = format!("{:>width$}  precision     recall         f1    support\n", "class");
        for (k, name) in names.iter().enumerate() {
            out += &format!(
                "{name:>width$}  {:>9.4}  {:>9.4}  {:>9.4}  {:>9}\n",
                self.precision[k], self.recall[k], self.f1[k], self.support[k]
            );
        }
        let total: u64 = self.support.iter().sum();
        out += &format!(
            "{:>width$}  {:>9.4}  {:>9.4}  {:>9.4}  {total:>9}\n",
            "macro", self.macro_precision, self.macro_recall, self.macro_f1
        );
        if let Some(auc) = confusion.auc() {
            out += &format!("{:>width$}  {auc:.4}\n", "roc auc");
        }
        out
    }
}

/// Evaluates `rows` in batches with the model in evaluation mode; returns the loss sums and,
/// for single-label classifiers when asked, the confusion matrix.
pub fn evaluate(
    plan: &Plan,
    params: &mut Params,
    state: &mut State,
    data: &Dataset,
    rows: &[usize],
    capacity: usize,
    mut confusion: Option<&mut Confusion>,
) -> LossSums {
    let mut total = LossSums::default();
    crate::exec::with_workers_awake(plan.splits_steps(capacity), || {
        for batch in rows.chunks(capacity) {
            state.load_batch(data, batch);
            total.add(state.step(plan, params, Mode::Eval, 0.0, false));
            if let Some(confusion) = confusion.as_deref_mut() {
                let width = plan.buffers[plan.loss_input].width;
                for (outputs, &row) in state.loss_input(plan).chunks_exact(width).zip(batch) {
                    let predicted = plan.loss_kernel.predicted_class(outputs);
                    // A single-output (BCE) classifier's target is a label or a probability in [0, 1].
                    let target = data.target_row(row)[0];
                    let actual =
                        if confusion.classes == 2 && width == 1 { usize::from(target >= 0.5) } else { target as usize };
                    confusion.counts[actual * confusion.classes + predicted] += 1;
                    if confusion.classes == 2 {
                        // Any score monotonic in class 1's probability ranks rows alike.
                        let score = if width == 1 { outputs[0] } else { outputs[1] - outputs[0] };
                        confusion.scores.push((score, actual == 1));
                    }
                }
            }
        }
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked by hand (and against scikit-learn's `classification_report` on the same
    /// counts): class 0: precision 5/7, recall 5/6; class 1: 3/4 and 3/5; class 2: 2/2, 2/3.
    #[test]
    fn precision_recall_and_f1_by_hand() {
        let mut confusion = Confusion::new("test", 3, &[]);
        confusion.counts = vec![5, 1, 0, 2, 3, 0, 0, 1, 2];
        let report = ClassReport::of(&confusion);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(report.precision[0], 5.0 / 7.0) && close(report.recall[0], 5.0 / 6.0));
        assert!(close(report.precision[1], 3.0 / 5.0) && close(report.recall[1], 3.0 / 5.0));
        assert!(close(report.precision[2], 1.0) && close(report.recall[2], 2.0 / 3.0));
        let f1_0 = 2.0 * (5.0 / 7.0) * (5.0 / 6.0) / (5.0 / 7.0 + 5.0 / 6.0);
        assert!(close(report.f1[0], f1_0));
        assert!(close(report.macro_f1, (f1_0 + 0.6 + 0.8) / 3.0));
        assert_eq!(report.support, [6, 5, 3]);
        // A class never predicted has precision 0, not NaN.
        confusion.counts = vec![2, 0, 0, 1, 0, 0, 0, 0, 1];
        assert_eq!(ClassReport::of(&confusion).precision[1], 0.0);
    }

    /// Scores 0.1 (neg), 0.4 (pos), 0.45 (neg), 0.8 (pos): 3 of the 4 (pos, neg) pairs are
    /// ordered right: AUC 0.75, as sklearn's `roc_auc_score([0,1,0,1], [.1,.4,.45,.8])`.
    #[test]
    fn auc_by_hand() {
        let mut confusion = Confusion::new("test", 2, &[]);
        confusion.scores = vec![(0.1, false), (0.4, true), (0.35, false), (0.8, true)];
        assert_eq!(confusion.auc(), Some(1.0));
        confusion.scores = vec![(0.1, false), (0.4, true), (0.45, false), (0.8, true)];
        assert_eq!(confusion.auc(), Some(0.75));
        // A tie between a positive and a negative counts one half.
        confusion.scores = vec![(0.5, false), (0.5, true)];
        assert_eq!(confusion.auc(), Some(0.5));
        confusion.scores = vec![(0.5, true)];
        assert_eq!(confusion.auc(), None);
    }
}
