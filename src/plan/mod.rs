//! Stage 3, compile: `ir::Model` -> `Plan`, the immutable list of kernels a run executes,
//! with every buffer, scratch area and parameter shape fixed. Compiling cannot fail.

mod display;
mod lower;

pub use lower::compile;

use crate::ir::{Batch, Train};
use crate::kernels::activation::Activation;
use crate::kernels::dense::Dense;
use crate::kernels::init::Init;
use crate::kernels::loss::{Loss, LossKernel};
use crate::kernels::optim::Optimizer;
use crate::kernels::schedule::Schedule;

/// Rows per parallel chunk unless a test asks for another size. Fixed, never derived from the
/// thread count, so results do not depend on it; 64 columns keep matrixmultiply's kernels busy.
pub const DEFAULT_CHUNK_ROWS: usize = 64;

/// An activation buffer: `width x batch`, one column per sample. Buffer 0 is the input.
pub type BufferId = usize;
/// A parameter tensor, in `Plan::params`.
pub type ParamId = usize;
/// A scratch area a kernel keeps between its forward and backward (masks, normalised values).
pub type AuxId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct BufferInfo {
    pub name: String,
    pub width: usize,
}

/// A scratch area of `per_row` values per batch row plus `per_chunk` per chunk plus `fixed`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxInfo {
    pub per_row: usize,
    pub per_chunk: usize,
    pub fixed: usize,
}

/// A parameter tensor, named as in the PyTorch `state_dict` (`layers.N.weight`). Buffers such
/// as batch norm's running statistics are not trainable.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub trainable: bool,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a parameter starts.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamInit {
    /// A dense layer's weight and bias, from the `init` stream.
    Dense {
        weight: ParamId,
        bias: ParamId,
        init: Init,
        layer: Dense,
    },
    Constant {
        param: ParamId,
        value: f32,
    },
}

/// One layer's computation; its forward and backward are both kernels of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Dense {
        layer: Dense,
        weight: ParamId,
        bias: ParamId,
    },
    /// In place when `input == output` (the backward then works from the output alone).
    Activation {
        activation: Activation,
        width: usize,
    },
    Dropout {
        p: f32,
        width: usize,
        mask: AuxId,
    },
    BatchNorm {
        width: usize,
        eps: f32,
        momentum: f32,
        weight: ParamId,
        bias: ParamId,
        running_mean: ParamId,
        running_var: ParamId,
        tracked: ParamId,
        /// Normalised inputs, per row.
        xhat: AuxId,
        /// Batch mean and inverse std, then per-chunk partial sums.
        stats: AuxId,
    },
    LayerNorm {
        width: usize,
        eps: f32,
        weight: ParamId,
        bias: ParamId,
        xhat: AuxId,
        inv_std: AuxId,
    },
}

/// An op with its buffers and the spec line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub input: BufferId,
    pub output: BufferId,
    pub line: usize,
}

impl Node {
    /// The activation of an activation node (the plan fuses only those into dense passes).
    pub fn activation(&self) -> Activation {
        match self.op {
            Op::Activation { activation, .. } => activation,
            _ => unreachable!("only activation nodes are fused"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Forward,
    Loss,
    Backward,
    Update,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kernel {
    /// Node `node`'s forward, then (in the same pass) the in-place `activation` node's.
    Forward {
        node: usize,
        activation: Option<usize>,
    },
    /// The loss of buffer `output` against the targets; writes that buffer's gradient.
    Loss {
        output: BufferId,
    },
    /// The in-place `activation` node's backward, then node `node`'s, in one pass.
    Backward {
        node: usize,
        activation: Option<usize>,
    },
    Update,
}

/// A kernel and the spec line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub phase: Phase,
    pub kernel: Kernel,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    /// The spec file's name, for `file:line` in the plan text.
    pub file: String,
    pub buffers: Vec<BufferInfo>,
    pub aux: Vec<AuxInfo>,
    pub params: Vec<ParamInfo>,
    pub inits: Vec<ParamInit>,
    pub nodes: Vec<Node>,
    pub steps: Vec<Step>,
    pub loss: Loss,
    pub loss_kernel: LossKernel,
    /// The final activation folded into the loss (sigmoid for BCE, softmax for cross-entropy).
    pub fused: Option<Activation>,
    /// The buffer the loss reads: the model's output, or the logits under a fused activation.
    pub loss_input: BufferId,
    pub output_width: usize,
    pub target_width: usize,
    pub classes: Option<usize>,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub clip_norm: Option<f64>,
    pub chunk_rows: usize,
    pub train: Train,
}

/// Settings of the compilation that are not part of the spec.
#[derive(Debug, Clone, Copy)]
pub struct CompileOptions {
    pub chunk_rows: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { chunk_rows: DEFAULT_CHUNK_ROWS }
    }
}

impl Plan {
    /// Trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().filter(|p| p.trainable).map(ParamInfo::len).sum()
    }

    /// The largest batch for `rows` rows of training data: buffers hold this many columns.
    pub fn batch_rows(&self, rows: usize) -> usize {
        match self.train.batch {
            Batch::Full => rows,
            Batch::Rows(batch) => batch.min(rows),
        }
        .max(1)
    }

    /// Chunks in a batch of `rows` rows.
    pub fn chunks(&self, rows: usize) -> usize {
        rows.div_ceil(self.chunk_rows)
    }

    pub fn is_classifier(&self) -> bool {
        self.loss.is_classifier()
    }

    /// The number of classes of a single-label classifier (2 for one sigmoid output), for
    /// confusion matrices; `None` for regression and multi-label BCE.
    pub fn class_count(&self) -> Option<usize> {
        match self.loss {
            Loss::CrossEntropy => Some(self.output_width),
            Loss::Bce if self.output_width == 1 => Some(2),
            _ => None,
        }
    }
}
