//! Stage 3, compile: `ir::Model` -> `Plan`, the immutable list of kernels a run executes,
//! with every buffer, scratch area and parameter shape fixed. Compiling cannot fail.

mod display;
mod lower;

pub use lower::compile;

use crate::ir::Train;
use crate::kernels::activation::Activation;
use crate::kernels::dense::Dense;
use crate::kernels::init::Init;
use crate::kernels::loss::{Loss, LossKernel, LossSums};
use crate::kernels::optim::Optimizer;
use crate::kernels::schedule::Schedule;

/// Multiply-adds below which a chunk is not worth a thread of its own.
const MIN_CHUNK_WORK: usize = 1 << 18;
/// Rows per chunk above which splitting further costs little (matrixmultiply is efficient).
const MAX_CHUNK_ROWS: usize = 256;

/// Elements per parallel range of a large tensor in the optimizer's pass.
pub const UPDATE_RANGE: usize = 32 * 1024;

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
    /// The in-place `activation` node's backward, then node `node`'s, in one pass; `then`, an
    /// in-place activation on the node's input, has its backward applied to the input
    /// gradient as it is written: only for a tiled dense layer above another
    /// (`lower::fold_activation_backward`).
    Backward {
        node: usize,
        activation: Option<usize>,
        then: Option<usize>,
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
    /// Per parameter: whether it is the weight of a tiled dense layer (`Dense::is_tiled`).
    pub tiled_weights: Vec<bool>,
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
    /// Cross-entropy's weight of each class (empty: unweighted); a batch's loss is then the
    /// weighted mean. `balanced` weights are here once the data resolved them.
    pub class_weights: Vec<f32>,
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
    /// Multiply-adds of one row's forward pass through the dense layers: how heavy a row is.
    pub macs_per_row: usize,
    /// Rows per chunk chosen by the compile options instead of by `chunk_rows`' rule.
    pub chunk_override: Option<usize>,
    pub train: Train,
}

/// Settings of the compilation that are not part of the spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Rows per parallel chunk instead of the rule in `Plan::chunk_rows` (tests use small
    /// chunks to exercise the parallel paths; benchmarks to compare sizes).
    pub chunk_rows: Option<usize>,
}

impl Plan {
    /// Trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().filter(|p| p.trainable).map(ParamInfo::len).fold(0, usize::saturating_add)
    }

    /// The loss terms of `rows` rows: the divisor of every mean loss (one term per sample, or
    /// per output for the elementwise losses), as PyTorch's `reduction='mean'` counts them.
    pub fn loss_terms(&self, rows: usize) -> usize {
        rows * self.loss_kernel.terms_per_sample(self.output_width)
    }

    /// The mean loss of `rows` rows with loss sums `sums`: over the loss terms, or with class
    /// weights the weighted mean (the weighted terms over the rows' weights).
    pub fn mean_loss(&self, sums: &LossSums, rows: usize) -> f64 {
        if self.class_weights.is_empty() {
            sums.loss / self.loss_terms(rows).max(1) as f64
        } else {
            sums.loss / sums.weight
        }
    }

    /// What one loss term's gradient is scaled by in a batch of `targets` (`rows` rows): one
    /// over the batch's terms, or with class weights one over the batch's weights (summed in
    /// row order, so any thread count gives the same scale).
    pub fn gradient_scale(&self, targets: &[f32], rows: usize) -> f32 {
        if self.class_weights.is_empty() {
            return 1.0 / self.loss_terms(rows) as f32;
        }
        let weight: f64 = targets.iter().take(rows).map(|&t| f64::from(self.class_weight(t))).fold(0.0, |a, w| a + w);
        (1.0 / weight) as f32
    }

    /// The weight of class target `t` (1 without class weights).
    pub fn class_weight(&self, t: f32) -> f32 {
        self.class_weights.get(t as usize).copied().unwrap_or(1.0)
    }

    /// The largest batch for `rows` rows of training data: buffers hold this many columns.
    pub fn batch_rows(&self, rows: usize) -> usize {
        self.train.batch.rows_for(rows)
    }

    /// Optimizer steps in an epoch over `rows` training rows: one per batch, less a short last
    /// batch with `drop_last`.
    pub fn steps_per_epoch(&self, rows: usize) -> usize {
        let batch = self.batch_rows(rows);
        if self.train.drop_last { rows / batch } else { rows.div_ceil(batch) }
    }

    /// How many of `rows` training rows an epoch trains on: all of them, or with `drop_last`
    /// those of the whole batches (the first rows of the epoch's order).
    pub fn trained_rows(&self, rows: usize) -> usize {
        if self.train.drop_last { self.steps_per_epoch(rows) * self.batch_rows(rows) } else { rows }
    }

    /// Rows per parallel chunk for batches of up to `batch` rows, decided by the amount of work
    /// and never by the thread count, so results do not depend on it. A light batch (less than
    /// two chunks' worth of work) is one chunk: threads would cost more than they save. A heavy
    /// one is split in two halves, or more when halves would exceed `MAX_CHUNK_ROWS` rows,
    /// always in multiples of 16 rows.
    pub fn chunk_rows(&self, batch: usize) -> usize {
        if let Some(rows) = self.chunk_override {
            return rows.max(1);
        }
        let per_row = self.macs_per_row.max(1);
        if batch * per_row < 2 * MIN_CHUNK_WORK {
            return batch.max(1);
        }
        let least = MIN_CHUNK_WORK.div_ceil(per_row);
        batch.div_ceil(2).min(MAX_CHUNK_ROWS.max(least)).max(least).next_multiple_of(16)
    }

    /// The tasks `kernel` runs for a batch of `rows` rows, one count per parallel phase: row
    /// chunks for most kernels; for a tiled dense layer its packing jobs, then its tiles (one
    /// phase, run inline, when the product is a single tile), or for a narrow one its groups
    /// of samples and blocks of inputs (`kernels::narrow`); for the update, the ranges of
    /// each tensor (all tensors in one phase). A count of 1 runs on the calling thread. Like
    /// the chunks, the counts follow from the shapes alone, never from the thread count.
    pub fn tasks(&self, kernel: &Kernel, rows: usize) -> Vec<usize> {
        let chunks = rows.div_ceil(self.chunk_rows(rows));
        let dense = |node: usize| match self.nodes[node].op {
            Op::Dense { layer, weight, .. } if layer.is_tiled() => {
                Some((layer, self.nodes[node].input != 0, self.update_fused(weight)))
            }
            _ => None,
        };
        let tiled = |count: crate::kernels::tiled::TaskCount| {
            if count.tiles == 1 { vec![1] } else { vec![count.jobs, count.tiles] }
        };
        match *kernel {
            Kernel::Forward { node, .. } => match dense(node) {
                Some((layer, ..)) if layer.is_narrow() => vec![layer.narrow_forward_tasks(rows)],
                Some((layer, ..)) => tiled(layer.forward_tasks(rows)),
                None => vec![chunks],
            },
            Kernel::Backward { node, activation, .. } => match dense(node) {
                Some((layer, input_grad, fused)) => {
                    let mut phases = if layer.is_narrow() {
                        vec![layer.narrow_backward_tasks(rows, input_grad)]
                    } else {
                        tiled(layer.backward_tasks(rows, input_grad, fused))
                    };
                    if activation.is_some() && chunks > 1 {
                        phases.insert(0, chunks);
                    }
                    phases
                }
                None => vec![chunks],
            },
            Kernel::Loss { .. } => vec![chunks],
            Kernel::Update if self.optimizer_pass_len() <= UPDATE_RANGE => vec![1],
            Kernel::Update => {
                vec![self.optimizer_pass_params().map(|id| self.params[id].len().div_ceil(UPDATE_RANGE)).sum()]
            }
        }
    }

    /// The parameters the optimizer's own pass updates: the trainable ones whose step is not
    /// fused into the backward pass.
    fn optimizer_pass_params(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.params.len()).filter(|&id| self.params[id].trainable && !self.update_fused(id))
    }

    /// Values the optimizer's own pass updates (`optimizer_pass_params`). When they fit in one
    /// range the pass runs on one thread.
    pub fn optimizer_pass_len(&self) -> usize {
        self.optimizer_pass_params().map(|id| self.params[id].len()).fold(0, usize::saturating_add)
    }

    /// Whether parameter `param` takes its optimizer step inside the backward pass, as soon as
    /// its gradient is known (`kernels::tiled::FusedUpdate`): the weight of a tiled dense
    /// layer, unless clipping needs every gradient first.
    pub fn update_fused(&self, param: usize) -> bool {
        self.clip_norm.is_none() && self.params[param].trainable && self.tiled_weights[param]
    }

    /// Whether a batch of `rows` rows runs any phase as more than one task (else a step runs
    /// on the calling thread alone, and other threads have nothing to wait for).
    pub fn splits_steps(&self, rows: usize) -> bool {
        self.steps.iter().any(|step| self.tasks(&step.kernel, rows).iter().any(|&count| count > 1))
    }

    /// The spec line of the layer a parameter belongs to.
    pub fn line_of_param(&self, param: &ParamInfo) -> usize {
        let id = self.params.iter().position(|p| p == param).unwrap_or(usize::MAX);
        self.nodes
            .iter()
            .find(|node| match node.op {
                Op::Dense { weight, bias, .. } | Op::LayerNorm { weight, bias, .. } => id == weight || id == bias,
                Op::BatchNorm { weight, bias, running_mean, running_var, tracked, .. } => {
                    [weight, bias, running_mean, running_var, tracked].contains(&id)
                }
                Op::Activation { .. } | Op::Dropout { .. } => false,
            })
            .map_or(0, |node| node.line)
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

#[cfg(test)]
mod tests {
    use crate::plan::{CompileOptions, Kernel, Plan};

    fn plan_for(layers: &str, batch: usize, options: CompileOptions) -> super::Plan {
        let text = format!(
            "model m {{\n input 784\n{layers}\n}}\nloss mse\noptimizer sgd\n\
             data random(rows: 10, inputs: 784, targets: 10)\ntrain {{ epochs: 1, batch: {batch} }}\n"
        );
        crate::Spec::parse(&text, "m.nn", std::path::Path::new("."), &[]).unwrap().compile(options)
    }

    /// Light batches stay whole; heavy ones split in halves of whole 16-row groups, at most 256
    /// rows, never below the rows that make a chunk worth a thread.
    #[test]
    fn chunks_are_sized_by_work_alone() {
        let light = plan_for(" dense 10", 32, CompileOptions::default());
        assert_eq!(light.macs_per_row, 7840);
        assert_eq!(light.chunk_rows(32), 32);
        let heavy = " dense 256 relu\n dense 128 relu\n dense 10";
        let plan = plan_for(heavy, 128, CompileOptions::default());
        assert_eq!(plan.chunk_rows(128), 64);
        assert_eq!(plan.chunk_rows(100), 64, "50 rounded up to 16s");
        assert_eq!(plan.chunk_rows(60_000), 256);
        assert_eq!(plan_for(heavy, 128, CompileOptions { chunk_rows: Some(3) }).chunk_rows(128), 3);
    }

    /// The backward of an in-place activation between two whole-batch layers runs in the
    /// upper layer's pass (on the input gradient it writes); below a chunked layer it stays
    /// with the lower layer.
    #[test]
    fn activation_backward_folds_between_tiled_layers() {
        let backward = |plan: &Plan| -> Vec<(Option<usize>, Option<usize>)> {
            let steps = plan.steps.iter().filter_map(|step| match step.kernel {
                Kernel::Backward { activation, then, .. } => Some((activation, then)),
                _ => None,
            });
            steps.collect()
        };
        let tiled = plan_for(" dense 1024 relu\n dense 1024 tanh\n dense 10", 256, CompileOptions::default());
        // Nodes: dense 0, relu 1, dense 2, tanh 3, dense 4 (backward in reverse order).
        assert_eq!(backward(&tiled), [(None, Some(3)), (None, Some(1)), (None, None)]);
        // 1024 -> 1 and 1 -> 10 are small layers, run by chunks.
        let chunked = plan_for(" dense 1024 relu\n dense 1 tanh\n dense 10", 32, CompileOptions::default());
        assert_eq!(backward(&chunked), [(None, None), (Some(3), None), (Some(1), None)]);
    }

    /// A heavy step splits its large products into packing jobs and tiles, the rest into row
    /// chunks; a light one runs every kernel as one task.
    #[test]
    fn tasks_follow_the_shapes() {
        let plan = plan_for(" dense 1024 relu\n dense 10", 256, CompileOptions::default());
        let tasks: Vec<Vec<usize>> = plan.steps.iter().map(|step| plan.tasks(&step.kernel, 256)).collect();
        // Forward 1024x784: packing W (802,816 values: 12 jobs of 64Ki) and x (3 jobs), then
        // 32 tiles (the most); forward 10x1024, a narrow layer: 8 groups of samples (256 x 1024
        // x 16 lanes in tasks of 2^19); the loss: 2 chunks; its backward with dx: 5 blocks of
        // inputs and 5 groups of samples (2,621,440 multiply-adds each), which also take relu's
        // backward, so the backward 1024x784 has no phase for it: 9 jobs (x: 3, dz: 4, db: 2),
        // 32 tiles; the update: the two biases, on one thread (both weights take their step in
        // their backward pass).
        assert_eq!(tasks, [vec![15, 32], vec![8], vec![2], vec![10], vec![9, 32], vec![1]]);
        let clipped = plan_for(" dense 1024 relu\n dense 10", 256, CompileOptions::default());
        let clipped = super::Plan { clip_norm: Some(1.0), ..clipped };
        let update = clipped.steps.last().expect("the update").kernel.clone();
        assert_eq!(clipped.tasks(&update, 256), [28], "clipping needs every gradient first: 25 + 1 + 1 + 1 ranges");
        assert!(plan.to_string().contains("tasks per step"));
        let light = plan_for(" dense 10", 32, CompileOptions::default());
        assert!(light.steps.iter().all(|step| light.tasks(&step.kernel, 32) == [1]));
        assert!(!light.to_string().contains("tasks"));
    }
}
