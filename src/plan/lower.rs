//! Lowering the IR's layers to nodes, buffers, scratch areas, parameters and the ordered
//! kernel list: forward, loss, backward (reversed), update.

use super::*;
use crate::ir::{LayerKind, Model};
use crate::kernels::tiled::fuses_into_tiles;
use crate::span::{Source, Span};

/// Lowers a checked model; `source` gives the line each kernel came from.
pub fn compile(model: &Model, source: &Source, options: CompileOptions) -> Plan {
    let mut lowering = Lowering {
        buffers: vec![BufferInfo { name: "x".to_string(), width: model.input.width }],
        aux: Vec::new(),
        params: Vec::new(),
        inits: Vec::new(),
        nodes: Vec::new(),
    };
    let line = |span: Span| source.line_col(span.start).0;
    // A final sigmoid before BCE, or softmax before cross-entropy, is folded into the loss,
    // which then works on logits: exact where the two-step form would saturate.
    let fused = match (model.loss.loss, model.output_activation()) {
        (Loss::Bce, Some(activation @ Activation::Sigmoid)) => Some(activation),
        (Loss::CrossEntropy, Some(activation @ Activation::Softmax)) => Some(activation),
        _ => None,
    };
    for (index, layer) in model.layers.iter().enumerate() {
        lowering.layer(index, layer, line(layer.span));
    }
    let fused_node = fused.map(|_| lowering.nodes.len() - 1);
    let last_buffer = lowering.buffers.len() - 1;
    let loss_input = match fused_node {
        Some(node) => lowering.nodes[node].input,
        None => last_buffer,
    };
    let loss_kernel = match (model.loss.loss, fused) {
        (Loss::Mse, _) => LossKernel::Mse,
        (Loss::Mae, _) => LossKernel::Mae,
        (Loss::Huber { delta }, _) => LossKernel::Huber { delta },
        (Loss::Bce, Some(_)) => LossKernel::BceWithLogits,
        (Loss::Bce, None) => LossKernel::Bce,
        (Loss::CrossEntropy, _) => LossKernel::SoftmaxCrossEntropy,
    };
    // An in-place activation right after a dense layer runs in the dense layer's pass over each
    // chunk (forward after the product, backward before it), while the chunk is in cache.
    let nodes = &lowering.nodes;
    let absorbs = |i: usize| {
        let next = i + 1;
        (matches!(nodes[i].op, Op::Dense { .. })
            && next < nodes.len()
            && Some(next) != fused_node
            && matches!(nodes[next].op, Op::Activation { .. })
            && nodes[next].input == nodes[i].output
            && nodes[next].output == nodes[i].output)
            .then_some(next)
    };
    let mut trained: Vec<(usize, Option<usize>)> = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if Some(i) != fused_node {
            let activation = absorbs(i);
            trained.push((i, activation));
            i += usize::from(activation.is_some());
        }
        i += 1;
    }
    let mut steps: Vec<Step> = trained
        .iter()
        .map(|&(node, activation)| Step {
            phase: Phase::Forward,
            kernel: Kernel::Forward { node, activation },
            line: nodes[node].line,
        })
        .collect();
    steps.push(Step { phase: Phase::Loss, kernel: Kernel::Loss { output: loss_input }, line: line(model.loss.span) });
    for &(i, activation) in trained.iter().rev() {
        let node = &nodes[i];
        // A node reading the data needs a backward only for its own parameters.
        let has_params = matches!(node.op, Op::Dense { .. } | Op::BatchNorm { .. } | Op::LayerNorm { .. });
        if node.input != 0 || has_params {
            steps.push(Step {
                phase: Phase::Backward,
                kernel: Kernel::Backward { node: i, activation, then: None },
                line: node.line,
            });
        }
    }
    fold_activation_backward(&mut steps, nodes);
    steps.push(Step { phase: Phase::Update, kernel: Kernel::Update, line: line(model.optimizer.span) });
    let Lowering { buffers, aux, params, inits, nodes } = lowering;
    let mut tiled_weights = vec![false; params.len()];
    for node in &nodes {
        if let Op::Dense { layer, weight, .. } = node.op
            && layer.is_tiled()
        {
            tiled_weights[weight] = true;
        }
    }
    Plan {
        tiled_weights,
        name: model.name.clone(),
        file: std::path::Path::new(&source.name)
            .file_name()
            .map_or_else(|| source.name.clone(), |name| name.to_string_lossy().into_owned()),
        buffers,
        aux,
        params,
        inits,
        nodes,
        steps,
        loss: model.loss.loss,
        loss_kernel,
        class_weights: match &model.loss.class_weights {
            Some((crate::ir::ClassWeights::Listed(weights), _)) => weights.clone(),
            _ => Vec::new(),
        },
        fused,
        loss_input,
        output_width: model.output_width(),
        target_width: model.target_width(),
        classes: model.data.classes,
        optimizer: model.optimizer.optimizer,
        schedule: model.optimizer.schedule.clone(),
        clip_norm: model.optimizer.clip_norm,
        macs_per_row: model
            .layers
            .iter()
            .filter(|layer| matches!(layer.kind, LayerKind::Dense { .. }))
            .map(|layer| layer.inputs.saturating_mul(layer.outputs))
            .fold(0, usize::saturating_add),
        chunk_override: options.chunk_rows,
        train: model.train.clone(),
    }
}

struct Lowering {
    buffers: Vec<BufferInfo>,
    aux: Vec<AuxInfo>,
    params: Vec<ParamInfo>,
    inits: Vec<ParamInit>,
    nodes: Vec<Node>,
}

impl Lowering {
    fn buffer(&mut self, width: usize) -> BufferId {
        self.buffers.push(BufferInfo { name: format!("h{}", self.buffers.len()), width });
        self.buffers.len() - 1
    }

    fn aux(&mut self, per_row: usize, per_chunk: usize, fixed: usize) -> AuxId {
        self.aux.push(AuxInfo { per_row, per_chunk, fixed });
        self.aux.len() - 1
    }

    fn param(&mut self, index: usize, name: &str, shape: Vec<usize>, trainable: bool) -> ParamId {
        self.params.push(ParamInfo { name: format!("layers.{index}.{name}"), shape, trainable });
        self.params.len() - 1
    }

    fn constant(&mut self, param: ParamId, value: f32) {
        self.inits.push(ParamInit::Constant { param, value });
    }

    /// Lowers the layer at PyTorch index `index` (each IR layer is one `nn.Sequential` entry).
    fn layer(&mut self, index: usize, layer: &crate::ir::Layer, line: usize) {
        let input = self.buffers.len() - 1;
        let width = layer.outputs;
        let op = match layer.kind {
            LayerKind::Dense { init } => {
                let dense = Dense { inputs: layer.inputs, units: width };
                let weight = self.param(index, "weight", vec![width, layer.inputs], true);
                let bias = self.param(index, "bias", vec![width], true);
                self.inits.push(ParamInit::Dense { weight, bias, init, layer: dense });
                Op::Dense { layer: dense, weight, bias }
            }
            LayerKind::Activation(activation) => {
                // In place when the backward can work from the output, and the input is
                // neither the data nor an activation whose own backward needs its output.
                let previous_is_activation = matches!(self.nodes.last(), Some(Node { op: Op::Activation { .. }, .. }));
                let in_place = activation.backward_from_output() && input != 0 && !previous_is_activation;
                let output = if in_place { input } else { self.buffer(width) };
                self.nodes.push(Node { op: Op::Activation { activation, width }, input, output, line });
                return;
            }
            LayerKind::Dropout { p } => Op::Dropout { p, width, mask: self.aux(width, 0, 0) },
            LayerKind::BatchNorm { eps, momentum } => {
                let weight = self.param(index, "weight", vec![width], true);
                let bias = self.param(index, "bias", vec![width], true);
                let running_mean = self.param(index, "running_mean", vec![width], false);
                let running_var = self.param(index, "running_var", vec![width], false);
                let tracked = self.param(index, "num_batches_tracked", vec![], false);
                for (param, value) in
                    [(weight, 1.0), (bias, 0.0), (running_mean, 0.0), (running_var, 1.0), (tracked, 0.0)]
                {
                    self.constant(param, value);
                }
                let xhat = self.aux(width, 0, 0);
                let stats = self.aux(0, 2 * width, 2 * width);
                Op::BatchNorm { width, eps, momentum, weight, bias, running_mean, running_var, tracked, xhat, stats }
            }
            LayerKind::LayerNorm { eps } => {
                let weight = self.param(index, "weight", vec![width], true);
                let bias = self.param(index, "bias", vec![width], true);
                self.constant(weight, 1.0);
                self.constant(bias, 0.0);
                let xhat = self.aux(width, 0, 0);
                let inv_std = self.aux(1, 0, 0);
                Op::LayerNorm { width, eps, weight, bias, xhat, inv_std }
            }
        };
        let output = self.buffer(width);
        self.nodes.push(Node { op, input, output, line });
    }
}

/// Moves the backward of an in-place activation between two whole-batch dense layers
/// (`Dense::is_tiled`) from the start of the lower layer's pass, where it was a phase of its
/// own over the batch, to the end of the upper layer's: that layer then applies it to each
/// piece of its input gradient as it writes it (a tile of `dx`, a group of samples), while the
/// piece is in cache and on the core that wrote it. The same operations on the same values:
/// the same bits. Not softmax, whose backward needs whole samples; and not above a chunked
/// layer, whose per-chunk pass applies the activation's backward already, without a phase.
fn fold_activation_backward(steps: &mut [Step], nodes: &[Node]) {
    let tiled = |node: usize| matches!(nodes[node].op, Op::Dense { layer, .. } if layer.is_tiled());
    for at in 1..steps.len() {
        let (before, after) = steps.split_at_mut(at);
        let (Kernel::Backward { node: upper, then, .. }, Kernel::Backward { node: lower, activation, .. }) =
            (&mut before[at - 1].kernel, &mut after[0].kernel)
        else {
            continue;
        };
        let Some(node) = *activation else { continue };
        let elementwise = fuses_into_tiles(nodes[node].activation());
        let joins = nodes[*upper].input == nodes[*lower].output;
        if tiled(*upper) && tiled(*lower) && elementwise && joins {
            (*then, *activation) = (Some(node), None);
        }
    }
}
