//! The checked model: every name resolved, every default applied, every shape known.
//! Nothing about a `Model` can fail later; only the data and the run can.

use std::path::PathBuf;

use crate::kernels::activation::Activation;
use crate::kernels::init::Init;
use crate::kernels::loss::Loss;
use crate::kernels::optim::Optimizer;
use crate::span::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub input: Input,
    pub layers: Vec<Layer>,
    pub loss: LossSpec,
    pub optimizer: OptimizerSpec,
    pub data: Data,
    pub train: Train,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub width: usize,
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
    Dense { activation: Activation, init: Init },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LossSpec {
    pub loss: Loss,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerSpec {
    pub optimizer: Optimizer,
    pub span: Span,
}

/// Where the rows come from; `span` covers the whole data clause, where data errors point.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub source: DataSource,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    Csv(CsvSource),
    /// Uniform `[0, 1)` inputs and targets from the `data` random stream.
    Random {
        rows: usize,
        inputs: usize,
        targets: usize,
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
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Full,
    Rows(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Train {
    pub epochs: usize,
    pub batch: Batch,
    pub seed: u64,
    pub shuffle: bool,
    /// Log every this many epochs; the last epoch is always logged.
    pub log_every: usize,
    pub span: Span,
}

impl Model {
    /// The width of the last layer (the model's output).
    pub fn output_width(&self) -> usize {
        self.layers.last().map_or(self.input.width, |layer| layer.outputs)
    }

    /// The activation of the last layer, if it is a dense layer.
    pub fn output_activation(&self) -> Option<Activation> {
        self.layers.last().map(|layer| match layer.kind {
            LayerKind::Dense { activation, .. } => activation,
        })
    }
}
