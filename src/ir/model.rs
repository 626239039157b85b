//! The checked model: every name resolved, every default applied, every shape known.
//! Nothing about a `Model` can fail later; only the data and the run can.

use std::path::PathBuf;

use crate::kernels::activation::Activation;
use crate::kernels::init::Init;
use crate::kernels::loss::Loss;
use crate::kernels::optim::Optimizer;
use crate::kernels::schedule::Schedule;
use crate::span::Span;

pub use super::columns::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub input: Input,
    /// One entry per PyTorch module, in order: `dense 8 tanh` is a dense layer then a tanh.
    pub layers: Vec<Layer>,
    pub loss: LossSpec,
    pub optimizer: OptimizerSpec,
    pub data: Data,
    pub train: Train,
}

/// How input features are scaled, fitted on the training rows only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    None,
    /// `(x - mean) / std` with the population std (as scikit-learn's StandardScaler); a
    /// constant feature is only centred.
    Standardize,
    /// `(x - min) / (max - min)` into [0, 1]; a constant feature becomes 0.
    MinMax,
    /// `(x - low) / (high - low)` with fixed bounds (`minmax(0, 255)` for pixels): nothing is
    /// fitted, so unseen rows scale exactly as the bounds say.
    Range {
        low: f32,
        high: f32,
    },
}

impl Scaling {
    /// The keyword as the spec writes it.
    pub fn describe(self) -> String {
        match self {
            Scaling::None => "none".into(),
            Scaling::Standardize => "standardize".into(),
            Scaling::MinMax => "minmax".into(),
            Scaling::Range { low, high } => format!("minmax({low}, {high})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The number of input slots. When the spec writes `input` without a width it is
    /// `inferred`: 0 after `check`, then the width the data's columns give (`data::resolve`).
    pub width: usize,
    pub inferred: bool,
    pub scaling: Scaling,
    pub span: Span,
}

/// A layer with its input and output widths inferred.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub kind: LayerKind,
    pub inputs: usize,
    pub outputs: usize,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    Dense {
        init: Init,
    },
    Activation(Activation),
    /// Inverted dropout with drop probability `p`.
    Dropout {
        p: f32,
    },
    /// `nn.BatchNorm1d(width, eps, momentum)`.
    BatchNorm {
        eps: f32,
        momentum: f32,
    },
    /// `nn.LayerNorm(width, eps)`.
    LayerNorm {
        eps: f32,
    },
}

impl LayerKind {
    /// Trainable parameters of a layer with these widths: a dense layer's weight and bias, a
    /// norm's scale and shift. The one count the summary, the memory estimate and the tests use.
    pub fn parameter_count(&self, inputs: usize, outputs: usize) -> usize {
        match self {
            LayerKind::Dense { .. } => inputs.saturating_mul(outputs).saturating_add(outputs),
            LayerKind::BatchNorm { .. } | LayerKind::LayerNorm { .. } => 2 * outputs,
            LayerKind::Activation(_) | LayerKind::Dropout { .. } => 0,
        }
    }

    /// Values a layer keeps that are not trained: batch norm's running mean and variance and
    /// its batch counter.
    pub fn state_count(&self, outputs: usize) -> usize {
        match self {
            LayerKind::BatchNorm { .. } => 2 * outputs + 1,
            _ => 0,
        }
    }

    /// The PyTorch module for this layer, given its widths.
    pub fn torch_module(&self, inputs: usize, outputs: usize) -> String {
        match self {
            LayerKind::Dense { .. } => format!("nn.Linear({inputs}, {outputs})"),
            LayerKind::Activation(activation) => activation.torch_module().unwrap_or_else(|| "nn.Identity()".into()),
            LayerKind::Dropout { p } => format!("nn.Dropout({p})"),
            LayerKind::BatchNorm { eps, momentum } => {
                format!("nn.BatchNorm1d({outputs}, eps={eps}, momentum={momentum})")
            }
            LayerKind::LayerNorm { eps } => format!("nn.LayerNorm({outputs}, eps={eps})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LossSpec {
    pub loss: Loss,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerSpec {
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Clip the gradients' global L2 norm to this value (torch.nn.utils.clip_grad_norm_).
    pub clip_norm: Option<f64>,
    pub span: Span,
}

/// Where the rows come from and how they are split; `span` covers the whole data clause,
/// where data errors point.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub source: DataSource,
    /// For classifiers with class targets: the number of classes.
    pub classes: Option<usize>,
    /// How target cells become class indices.
    pub labels: ClassLabels,
    /// Fractions of the rows held out, when no separate files are given.
    pub split: Split,
    pub validation_file: Option<CsvSource>,
    pub test_file: Option<CsvSource>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Split {
    pub validation: f64,
    pub test: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    Csv(CsvSource),
    /// Uniform `[0, 1)` inputs from the `data` random stream, with uniform `[0, 1)` targets
    /// or, given `classes`, uniform class indices.
    Random {
        rows: usize,
        inputs: usize,
        targets: usize,
        seed: u64,
    },
    /// XOR-like points: `x` uniform in `[-1, 1)^2`, target `x0 * x1 > 0` (1 or 0).
    Xor {
        rows: usize,
        seed: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CsvSource {
    /// The file as written in the spec, for messages.
    pub shown: String,
    /// The file resolved against the spec's directory.
    pub path: PathBuf,
    /// Target column names, in order.
    pub targets: Vec<String>,
    /// Feature columns; `None` means every column that is neither a target nor ignored.
    pub features: Option<Vec<String>>,
    pub ignore: Vec<String>,
    /// Column declarations, missing-value markers and the delimiter.
    pub table: TableOptions,
    /// The span of the path in the spec.
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Full,
    Rows(usize),
}

impl Batch {
    /// The rows of a whole batch over `rows` training rows: never more than there are, never 0.
    pub fn rows_for(self, rows: usize) -> usize {
        match self {
            Batch::Full => rows,
            Batch::Rows(batch) => batch.min(rows),
        }
        .max(1)
    }
}

/// A validation metric that early stopping (or a plateau schedule) watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    ValLoss,
    ValAccuracy,
    ValPrecision,
    ValRecall,
    ValF1,
    ValAuc,
    ValMae,
    ValRmse,
    ValR2,
}

impl Monitor {
    pub const ALL: [Monitor; 9] = [
        Monitor::ValLoss,
        Monitor::ValAccuracy,
        Monitor::ValPrecision,
        Monitor::ValRecall,
        Monitor::ValF1,
        Monitor::ValAuc,
        Monitor::ValMae,
        Monitor::ValRmse,
        Monitor::ValR2,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::ValPrecision => "val_precision",
            Monitor::ValRecall => "val_recall",
            Monitor::ValF1 => "val_f1",
            Monitor::ValAuc => "val_auc",
            Monitor::ValMae => "val_mae",
            Monitor::ValRmse => "val_rmse",
            Monitor::ValR2 => "val_r2",
        }
    }

    /// Whether a larger value is an improvement.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Monitor::ValLoss | Monitor::ValMae | Monitor::ValRmse)
    }

    /// The extra classification metric this monitor needs computed, if any.
    pub fn extra(self) -> Option<ExtraMetric> {
        match self {
            Monitor::ValPrecision => Some(ExtraMetric::Precision),
            Monitor::ValRecall => Some(ExtraMetric::Recall),
            Monitor::ValF1 => Some(ExtraMetric::F1),
            Monitor::ValAuc => Some(ExtraMetric::Auc),
            _ => None,
        }
    }
}

/// Classification metrics beyond accuracy, computed on the validation and test rows when
/// `train { metrics: [...] }` lists them: macro-averaged precision, recall and F1, and ROC AUC
/// (binary classifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraMetric {
    Precision,
    Recall,
    F1,
    Auc,
}

impl ExtraMetric {
    pub const KEYWORDS: [&'static str; 4] = ["precision", "recall", "f1", "auc"];

    pub fn keyword(self) -> &'static str {
        match self {
            ExtraMetric::Precision => "precision",
            ExtraMetric::Recall => "recall",
            ExtraMetric::F1 => "f1",
            ExtraMetric::Auc => "auc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    pub monitor: Monitor,
    /// Epochs without an improvement of more than `min_delta` before stopping.
    pub patience: usize,
    pub min_delta: f64,
    /// Put back the weights of the best epoch when training ends.
    pub restore_best: bool,
}

/// `reduce_lr(monitor: val_loss, factor: 0.1, patience: 10, min_delta: 0, min_lr: 0)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReduceLr {
    pub monitor: Monitor,
    pub factor: f64,
    pub patience: usize,
    pub min_delta: f64,
    pub min_lr: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    pub epochs: usize,
    pub batch: Batch,
    pub seed: u64,
    pub shuffle: bool,
    /// Log every this many epochs; the last epoch is always logged.
    pub log_every: usize,
    /// Leave out each epoch's last batch when it is shorter than the others (PyTorch's
    /// `DataLoader(drop_last=True)`).
    pub drop_last: bool,
    pub early_stop: Option<EarlyStop>,
    pub reduce_lr: Option<ReduceLr>,
    /// Extra metrics of the validation and test rows, in the trace.
    pub metrics: Vec<ExtraMetric>,
    pub span: Span,
}

impl Train {
    /// Whether the validation and test rows need the confusion-based metrics.
    pub fn wants_extra_metrics(&self) -> bool {
        !self.metrics.is_empty()
            || self.early_stop.is_some_and(|e| e.monitor.extra().is_some())
            || self.reduce_lr.is_some_and(|r| r.monitor.extra().is_some())
    }
}

impl Model {
    /// The width of the last layer (the model's output).
    pub fn output_width(&self) -> usize {
        self.layers.last().map_or(self.input.width, |layer| layer.outputs)
    }

    /// The final activation, if the model ends in one.
    pub fn output_activation(&self) -> Option<Activation> {
        match self.layers.last()?.kind {
            LayerKind::Activation(activation) => Some(activation),
            _ => None,
        }
    }

    /// The model with its input `width` set and the widths of the layers up to the first
    /// dense layer (which take the input's width) following it: how an `input` without a
    /// width is resolved once the data's columns are known.
    pub fn with_input_width(&self, width: usize) -> Model {
        let mut model = self.clone();
        model.input.width = width;
        for layer in &mut model.layers {
            layer.inputs = width;
            if matches!(layer.kind, LayerKind::Dense { .. }) {
                break;
            }
            layer.outputs = width;
        }
        model
    }

    /// Target values per row: one class index with `classes`, else one per output.
    pub fn target_width(&self) -> usize {
        match self.data.classes {
            Some(_) if self.loss.loss == Loss::CrossEntropy => 1,
            _ => self.output_width(),
        }
    }
}
