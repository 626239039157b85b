//! Stage 3, compile: `ir::Model` -> `Plan`, the immutable list of kernels a run executes,
//! with every buffer and parameter shape fixed. Compiling cannot fail: the IR is valid.

mod display;

use crate::ir::{Batch, LayerKind, Model, Train};
use crate::kernels::activation::Activation;
use crate::kernels::dense::Dense;
use crate::kernels::init::Init;
use crate::kernels::loss::{Loss, LossKernel};
use crate::kernels::optim::Optimizer;
use crate::span::Source;

/// Rows per parallel chunk unless a test asks for another size. Fixed, never derived from the
/// thread count, so results do not depend on it; 64 columns keep matrixmultiply's kernels busy.
pub const DEFAULT_CHUNK_ROWS: usize = 64;

/// An activation buffer: `width x batch`, one column per sample. Buffer 0 is the input.
pub type BufferId = usize;
/// A parameter tensor, in `Plan::params`.
pub type ParamId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct BufferInfo {
    pub name: String,
    pub width: usize,
}

/// A parameter tensor, named as in the PyTorch `state_dict` (`layers.N.weight`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a dense layer's parameters start.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInit {
    pub weight: ParamId,
    pub bias: ParamId,
    pub init: Init,
    pub layer: Dense,
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
    /// `output = W input + b`.
    Dense {
        layer: Dense,
        input: BufferId,
        output: BufferId,
        weight: ParamId,
        bias: ParamId,
    },
    /// In place on `buffer`.
    Activation {
        activation: Activation,
        buffer: BufferId,
    },
    /// The loss of `output` against the targets; writes the gradient of `output`.
    Loss {
        kernel: LossKernel,
        output: BufferId,
        fused: Option<Activation>,
    },
    /// Turns the gradient of `buffer` (an activation's output) into that of its input.
    ActivationBackward {
        activation: Activation,
        buffer: BufferId,
    },
    /// Parameter gradients, and the input's gradient unless the input is the data.
    DenseBackward {
        layer: Dense,
        input: BufferId,
        output: BufferId,
        weight: ParamId,
        bias: ParamId,
        input_grad: bool,
    },
    Update {
        optimizer: Optimizer,
        params: Vec<ParamId>,
    },
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
    pub params: Vec<ParamInfo>,
    pub inits: Vec<ParamInit>,
    pub steps: Vec<Step>,
    pub loss: Loss,
    pub output_width: usize,
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
        CompileOptions {
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }
}

impl Plan {
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(ParamInfo::len).sum()
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
}

/// Lowers a checked model; `source` gives the line each kernel came from.
pub fn compile(model: &Model, source: &Source, options: CompileOptions) -> Plan {
    let line = |span: crate::span::Span| source.line_col(span.start).0;
    let mut buffers = vec![BufferInfo {
        name: "x".to_string(),
        width: model.input.width,
    }];
    let mut params = Vec::new();
    let mut inits = Vec::new();
    let mut forward = Vec::new();
    let mut backward = Vec::new();
    let mut torch_index = 0;
    let last = model.layers.len().saturating_sub(1);
    // Sigmoid followed by BCE is computed from the logits, which is exact where the two-step
    // form would saturate (DESIGN.md, Numbers).
    let fuse_sigmoid = model.loss.loss == Loss::Bce && model.output_activation() == Some(Activation::Sigmoid);
    for (index, layer) in model.layers.iter().enumerate() {
        let LayerKind::Dense { activation, init } = layer.kind;
        let dense = Dense {
            inputs: layer.inputs,
            units: layer.outputs,
        };
        let input = buffers.len() - 1;
        let output = buffers.len();
        buffers.push(BufferInfo {
            name: format!("h{output}"),
            width: layer.outputs,
        });
        let weight = params.len();
        params.push(ParamInfo {
            name: format!("layers.{torch_index}.weight"),
            shape: vec![layer.outputs, layer.inputs],
        });
        params.push(ParamInfo {
            name: format!("layers.{torch_index}.bias"),
            shape: vec![layer.outputs],
        });
        torch_index += 1;
        inits.push(ParamInit {
            weight,
            bias: weight + 1,
            init,
            layer: dense,
        });
        let at = line(layer.span);
        forward.push(Step {
            phase: Phase::Forward,
            kernel: Kernel::Dense {
                layer: dense,
                input,
                output,
                weight,
                bias: weight + 1,
            },
            line: at,
        });
        let fused = index == last && fuse_sigmoid;
        backward.push(Step {
            phase: Phase::Backward,
            kernel: Kernel::DenseBackward {
                layer: dense,
                input,
                output,
                weight,
                bias: weight + 1,
                input_grad: input != 0,
            },
            line: at,
        });
        if activation.torch_module().is_some() {
            torch_index += 1;
        }
        if activation != Activation::Identity && !fused {
            forward.push(Step {
                phase: Phase::Forward,
                kernel: Kernel::Activation {
                    activation,
                    buffer: output,
                },
                line: at,
            });
            backward.push(Step {
                phase: Phase::Backward,
                kernel: Kernel::ActivationBackward {
                    activation,
                    buffer: output,
                },
                line: at,
            });
        }
    }
    let loss_kernel = match model.loss.loss {
        Loss::Mse => LossKernel::Mse,
        Loss::Bce if fuse_sigmoid => LossKernel::BceWithLogits,
        Loss::Bce => LossKernel::Bce,
    };
    let mut steps = forward;
    steps.push(Step {
        phase: Phase::Loss,
        kernel: Kernel::Loss {
            kernel: loss_kernel,
            output: buffers.len() - 1,
            fused: fuse_sigmoid.then_some(Activation::Sigmoid),
        },
        line: line(model.loss.span),
    });
    steps.extend(backward.into_iter().rev());
    steps.push(Step {
        phase: Phase::Update,
        kernel: Kernel::Update {
            optimizer: model.optimizer.optimizer,
            params: (0..params.len()).collect(),
        },
        line: line(model.optimizer.span),
    });
    Plan {
        name: model.name.clone(),
        file: std::path::Path::new(&source.name)
            .file_name()
            .map_or_else(|| source.name.clone(), |name| name.to_string_lossy().into_owned()),
        buffers,
        params,
        inits,
        steps,
        loss: model.loss.loss,
        output_width: model.output_width(),
        chunk_rows: options.chunk_rows.max(1),
        train: model.train.clone(),
    }
}
