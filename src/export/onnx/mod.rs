//! `nnspec export-onnx`: a trained model as an ONNX graph (opset 17), written by nnspec itself
//! through `prost` and the vendored messages in [`proto`]. The graph takes raw rows (`input`,
//! float `[rows, width]`), applies the preprocessing as nodes (`Sub`, `Mul`), then the layers in
//! inference form: `Gemm` for dense layers, the activations, `BatchNormalization` with the
//! running statistics, `LayerNormalization`; dropout is the identity. `output` is what
//! `nnspec predict` prints (softmax or sigmoid probabilities for classifiers, the targets for
//! regression); single-label classifiers also get `class`, the predicted class as int64.

pub mod proto;

use prost::Message;

use self::proto::*;
use super::preprocess::{Fitted, Preprocess, Step, scaling_keyword};
use crate::exec::Params;
use crate::kernels::activation::Activation;
use crate::plan::{Op, Plan};

/// The operator set the graph is written for: LayerNormalization needs 17.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17 (onnx 1.12), read by every current runtime.
pub const IR_VERSION: i64 = 8;

/// The ONNX model's bytes. `params` are the plan's tensors (e.g. from a weights file) and
/// `preprocess` the fitted preprocessing; `spec` names the spec file in the model's doc string.
pub fn onnx_model(plan: &Plan, params: &Params, preprocess: &Preprocess, spec: &str) -> Vec<u8> {
    let mut graph = Graph::default();
    for (info, values) in plan.params.iter().zip(&params.tensors) {
        // Counters (num_batches_tracked) are training state, not part of inference.
        if !info.name.ends_with("num_batches_tracked") {
            graph.constant(&info.name, &info.shape, values);
        }
    }
    let mut x = "input".to_string();
    for step in &preprocess.steps {
        x = graph.preprocess(step, &x);
    }
    for (index, node) in plan.nodes.iter().enumerate() {
        let name = format!("layers.{index}");
        let param = |id: usize| plan.params[id].name.clone();
        x = match node.op {
            Op::Dense { weight, bias, .. } => {
                graph.node("Gemm", &name, &[&x, &param(weight), &param(bias)], vec![int("transB", 1)])
            }
            Op::Activation { activation, .. } => graph.activation(activation, &name, &x),
            Op::Dropout { .. } => x,
            Op::BatchNorm { eps, weight, bias, running_mean, running_var, .. } => graph.node(
                "BatchNormalization",
                &name,
                &[&x, &param(weight), &param(bias), &param(running_mean), &param(running_var)],
                vec![float("epsilon", eps)],
            ),
            Op::LayerNorm { eps, weight, bias, .. } => graph.node(
                "LayerNormalization",
                &name,
                &[&x, &param(weight), &param(bias)],
                vec![int("axis", -1), float("epsilon", eps)],
            ),
        };
    }
    graph.rename(&x, "output");
    let width = plan.output_width as i64;
    let mut outputs = vec![tensor_info("output", FLOAT, &[None, Some(width)])];
    if let Some(classes) = plan.class_count() {
        graph.classes("output", classes, width);
        outputs.push(tensor_info("class", INT64, &[None]));
    }
    let input_width = plan.buffers[0].width as i64;
    let mut scaling = preprocess.steps.iter().map(|step| match step {
        Step::Affine { kind, .. } => scaling_keyword(*kind),
    });
    let scaling = scaling.next_back();
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("nnspec".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        domain: None,
        model_version: None,
        doc_string: Some(format!("nnspec model `{}` ({spec})", plan.name)),
        graph: Some(GraphProto {
            node: graph.nodes,
            name: Some(plan.name.clone()),
            initializer: graph.initializers,
            doc_string: None,
            input: vec![tensor_info("input", FLOAT, &[None, Some(input_width)])],
            output: outputs,
        }),
        metadata_props: vec![
            entry("nnspec.model", &plan.name),
            entry("nnspec.architecture", &crate::weights::architecture_hash(plan)),
            entry("nnspec.input_scaling", scaling.unwrap_or("none")),
        ],
    };
    model.encode_to_vec()
}

/// Nodes and constants under construction.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// A float constant (an initializer) named `name`.
    fn constant(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(FLOAT),
            name: Some(name.to_string()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        });
    }

    /// Appends a node with one output, named `name`; returns the output's name.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            domain: None,
            attribute,
            doc_string: None,
        });
        name.to_string()
    }

    /// Renames the value `from` (the last node's output) to `to`.
    fn rename(&mut self, from: &str, to: &str) {
        for node in &mut self.nodes {
            node.output.iter_mut().filter(|o| *o == from).for_each(|o| *o = to.to_string());
            node.input.iter_mut().filter(|i| *i == from).for_each(|i| *i = to.to_string());
        }
        if from != to && !self.nodes.iter().any(|n| n.output.iter().any(|o| o == to)) {
            // A model whose last layer adds no node (only dropout, say) still names its output.
            self.node("Identity", to, &[from], Vec::new());
        }
    }

    /// One preprocessing step's nodes; returns their output's name.
    fn preprocess(&mut self, step: &Step, x: &str) -> String {
        match step {
            Step::Affine { values: Fitted::Values((offset, factor)), .. } => {
                self.constant("input_offset", &[offset.len()], offset);
                self.constant("input_factor", &[factor.len()], factor);
                let centred = self.node("Sub", "preprocess.centred", &[x, "input_offset"], Vec::new());
                self.node("Mul", "preprocess.scaled", &[&centred, "input_factor"], Vec::new())
            }
            Step::Affine { values: Fitted::AtRunTime { .. }, .. } => {
                unreachable!("an ONNX model is exported from fitted preprocessing")
            }
        }
    }

    /// An activation's node (or nodes); returns the output's name.
    fn activation(&mut self, activation: Activation, name: &str, x: &str) -> String {
        match activation {
            Activation::Sigmoid => self.node("Sigmoid", name, &[x], Vec::new()),
            Activation::Tanh => self.node("Tanh", name, &[x], Vec::new()),
            Activation::Relu => self.node("Relu", name, &[x], Vec::new()),
            Activation::LeakyRelu { alpha } => self.node("LeakyRelu", name, &[x], vec![float("alpha", alpha)]),
            Activation::Elu { alpha } => self.node("Elu", name, &[x], vec![float("alpha", alpha)]),
            Activation::Softplus => self.node("Softplus", name, &[x], Vec::new()),
            Activation::Softmax => self.node("Softmax", name, &[x], vec![int("axis", 1)]),
            Activation::Identity => x.to_string(),
            Activation::Gelu => {
                // Opset 17 has no Gelu: x * 0.5 * (1 + erf(x / sqrt 2)), PyTorch's exact form.
                let constants = [("gelu.sqrt2", std::f32::consts::SQRT_2), ("gelu.one", 1.0), ("gelu.half", 0.5)];
                for (constant, value) in constants {
                    if !self.initializers.iter().any(|t| t.name.as_deref() == Some(constant)) {
                        self.constant(constant, &[], &[value]);
                    }
                }
                let scaled = self.node("Div", &format!("{name}.scaled"), &[x, "gelu.sqrt2"], Vec::new());
                let erf = self.node("Erf", &format!("{name}.erf"), &[&scaled], Vec::new());
                let plus = self.node("Add", &format!("{name}.plus_one"), &[&erf, "gelu.one"], Vec::new());
                let half = self.node("Mul", &format!("{name}.half"), &[&plus, "gelu.half"], Vec::new());
                self.node("Mul", name, &[x, &half], Vec::new())
            }
        }
    }

    /// The `class` output of a single-label classifier: the argmax of the probabilities, or
    /// `p > 0.5` for one sigmoid output (nnspec's argmax of `[1 - p, p]`, ties to class 0).
    fn classes(&mut self, output: &str, classes: usize, width: i64) {
        if width as usize == classes {
            self.node("ArgMax", "class", &[output], vec![int("axis", 1), int("keepdims", 0)]);
            return;
        }
        self.constant("class.threshold", &[], &[0.5]);
        let above = self.node("Greater", "class.above", &[output, "class.threshold"], Vec::new());
        let cast = self.node("Cast", "class.int", &[&above], vec![int("to", i64::from(INT64))]);
        self.initializers.push(TensorProto {
            dims: vec![1],
            data_type: Some(INT64),
            name: Some("class.axes".to_string()),
            raw_data: Some(1i64.to_le_bytes().to_vec()),
        });
        self.node("Squeeze", "class", &[&cast, "class.axes"], Vec::new());
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(attribute_type::INT),
        i: Some(value),
        ..AttributeProto::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(attribute_type::FLOAT),
        f: Some(value),
        ..AttributeProto::default()
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(key.to_string()), value: Some(value.to_string()) }
}

/// A tensor's type and shape; `None` is the symbolic number of rows.
fn tensor_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    use tensor_shape_proto::{Dimension, dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(size) => dimension::Value::DimValue(*size),
                None => dimension::Value::DimParam("rows".to_string()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: None,
    }
}
