//! `nnspec export-onnx`: a trained model as an ONNX graph (opset 17), written by nnspec itself
//! through `prost` and the vendored messages in [`proto`]. The graph takes raw rows (`input`,
//! float `[rows, columns]`: one number per raw feature column, categories and binary values as
//! codes, NaN where a cell is missing; see [`super::columns`]), applies the column encoding
//! (`IsNaN`, `Where`, `Gather`, `Equal`, `Cast`) and the input scaling (`Sub`, `Mul`) as nodes,
//! then the layers in inference form: `Gemm` for dense layers, the activations,
//! `BatchNormalization` with the running statistics, `LayerNormalization`; dropout is the
//! identity. `output` is what `nnspec predict` prints (softmax or sigmoid probabilities for
//! classifiers, the targets for regression), NaN for a row `predict` refuses (a missing cell
//! without a fill); single-label classifiers also get `class`, the predicted class as int64.
//! The metadata holds what a caller needs to make the input and read the output:
//! `nnspec.inputs` (the columns, their vocabularies and the codes), `nnspec.labels` (the class
//! names), and `nnspec.encoding` (the whole fitted encoding, docs/encoding.md).

pub mod proto;

use prost::Message;

use self::proto::*;
use super::columns::{InputKind, SlotRule, Tables, UNSEEN};
use super::preprocess::{Fitted, Preprocess, Step, scaling_keyword};
use crate::data::Encoding;
use crate::exec::Params;
use crate::kernels::activation::Activation;
use crate::plan::{Op, Plan};

/// The operator set the graph is written for: LayerNormalization needs 17.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17 (onnx 1.12), read by every current runtime.
pub const IR_VERSION: i64 = 8;

/// The ONNX model's bytes. `params` are the plan's tensors (e.g. from a weights file),
/// `preprocess` the fitted preprocessing of `encoding` (recorded in the metadata); `spec`
/// names the spec file in the model's doc string.
pub fn onnx_model(plan: &Plan, params: &Params, preprocess: &Preprocess, encoding: &Encoding, spec: &str) -> Vec<u8> {
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
    let refused = graph.refused_rows(&x);
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
    x = graph.node("Where", "guard.output", &[&refused, "guard.nan", &x], Vec::new());
    graph.rename(&x, "output");
    let width = plan.output_width as i64;
    let mut outputs = vec![tensor_info("output", FLOAT, &[None, Some(width)])];
    if let Some(classes) = plan.class_count() {
        graph.classes("output", classes, width);
        outputs.push(tensor_info("class", INT64, &[None]));
    }
    let input_width = preprocess.input_width(plan.buffers[0].width) as i64;
    let scaling = preprocess.steps.iter().find_map(|step| match step {
        Step::Affine { kind, .. } => Some(scaling_keyword(*kind)),
        Step::Encode { .. } => None,
    });
    let mut metadata = vec![
        entry("nnspec.model", &plan.name),
        entry("nnspec.architecture", &crate::weights::architecture_hash(plan)),
        entry("nnspec.input_scaling", scaling.unwrap_or("none")),
        entry("nnspec.inputs", &inputs_json(preprocess, encoding)),
        entry("nnspec.encoding", &serde_json::to_string(encoding).unwrap_or_default()),
    ];
    if let Some(classes) = plan.class_count() {
        let labels: Vec<String> = match encoding.target.labels() {
            Some(labels) if labels.len() == classes => labels.to_vec(),
            _ => (0..classes).map(|k| k.to_string()).collect(),
        };
        metadata.push(entry("nnspec.labels", &serde_json::to_string(&labels).unwrap_or_default()));
    }
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
        metadata_props: metadata,
    };
    model.encode_to_vec()
}

/// `nnspec.inputs`: the raw columns `input` holds, in order, and how a cell becomes a number.
fn inputs_json(preprocess: &Preprocess, encoding: &Encoding) -> String {
    let columns: Vec<serde_json::Value> = encoding
        .features
        .iter()
        .map(|feature| {
            let column = preprocess.columns.iter().find(|c| c.name == feature.column);
            match column.map(|c| &c.kind) {
                Some(InputKind::Category { vocabulary }) => {
                    serde_json::json!({"name": feature.column, "kind": "category", "vocabulary": vocabulary})
                }
                Some(InputKind::Binary { negative, positive }) => {
                    serde_json::json!({"name": feature.column, "kind": "binary", "values": [negative, positive]})
                }
                _ => serde_json::json!({"name": feature.column, "kind": "number"}),
            }
        })
        .collect();
    serde_json::json!({
        "columns": columns,
        "codes": "a number as itself; a category as its index in `vocabulary`; a binary value as its index in \
                  `values`; -1 for any other value; NaN for a missing cell (one of `na_values`)",
        "unseen": UNSEEN,
        "na_values": encoding.na_values,
        "na_ignore_case": encoding.na_ignore_case,
    })
    .to_string()
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

    /// A constant of another element type, from its little-endian bytes.
    fn raw_constant(&mut self, name: &str, shape: &[usize], data_type: i32, raw: Vec<u8>) {
        self.initializers.push(TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type),
            name: Some(name.to_string()),
            raw_data: Some(raw),
        });
    }

    fn bool_constant(&mut self, name: &str, values: impl Iterator<Item = bool>) {
        let raw: Vec<u8> = values.map(u8::from).collect();
        self.raw_constant(name, &[raw.len()], BOOL, raw);
    }

    /// The column encoding's nodes (see `super::columns`): missing cells filled, each slot
    /// gathered from its column as the number, a one-hot bit or the missing flag.
    fn encode(&mut self, tables: &Tables, x: &str) -> String {
        let (columns, slots) = (tables.columns.len(), tables.slots.len());
        self.constant("encode.fill", &[columns], &tables.fill);
        let codes: Vec<f32> =
            tables.slots.iter().map(|s| if let SlotRule::Code(c) = s { *c } else { f32::NAN }).collect();
        self.constant("encode.slot_code", &[slots], &codes);
        let indices: Vec<u8> = tables.slot_column.iter().flat_map(|&c| (c as i64).to_le_bytes()).collect();
        self.raw_constant("encode.slot_column", &[slots], INT64, indices);
        self.bool_constant("encode.slot_value", tables.slots.iter().map(|s| *s == SlotRule::Value));
        let mut missing = self.node("IsNaN", "encode.nan", &[x], Vec::new());
        if tables.binary.iter().any(|&b| b) {
            // A binary column's negative codes (values it never had) count as missing.
            self.constant("encode.zero", &[], &[0.0]);
            self.bool_constant("encode.binary", tables.binary.iter().copied());
            let negative = self.node("Less", "encode.negative", &[x, "encode.zero"], Vec::new());
            let unseen = self.node("And", "encode.unseen", &[&negative, "encode.binary"], Vec::new());
            missing = self.node("Or", "encode.missing", &[&missing, &unseen], Vec::new());
        }
        let filled = self.node("Where", "encode.filled", &[&missing, "encode.fill", x], Vec::new());
        let gathered = self.node("Gather", "encode.gathered", &[&filled, "encode.slot_column"], vec![int("axis", 1)]);
        let equal = self.node("Equal", "encode.equal", &[&gathered, "encode.slot_code"], Vec::new());
        let one_hot = self.node("Cast", "encode.one_hot", &[&equal], vec![int("to", i64::from(FLOAT))]);
        // A NaN fill (a cell nnspec refuses) stays NaN in every slot of its column.
        let refused = self.node("IsNaN", "encode.refused", &[&gathered], Vec::new());
        let keep = self.node("Or", "encode.keep", &["encode.slot_value", &refused], Vec::new());
        let mut out = self.node("Where", "encode.slots", &[&keep, &gathered, &one_hot], Vec::new());
        if tables.slots.contains(&SlotRule::Indicator) {
            self.bool_constant("encode.slot_indicator", tables.slots.iter().map(|s| *s == SlotRule::Indicator));
            let flags = self.node("Cast", "encode.flags", &[&missing], vec![int("to", i64::from(FLOAT))]);
            let flag = self.node("Gather", "encode.flag", &[&flags, "encode.slot_column"], vec![int("axis", 1)]);
            out = self.node("Where", "encode.indicated", &["encode.slot_indicator", &flag, &out], Vec::new());
        }
        out
    }

    /// Which rows nnspec refuses (a NaN input slot: a missing cell it cannot fill), as a bool
    /// `[rows, 1]`: their outputs are set to NaN at the end, whatever the runtime's activations
    /// make of NaN (some clamp it to a number).
    fn refused_rows(&mut self, x: &str) -> String {
        self.constant("guard.nan", &[], &[f32::NAN]);
        let nan = self.node("IsNaN", "guard.nan_slots", &[x], Vec::new());
        let flags = self.node("Cast", "guard.nan_flags", &[&nan], vec![int("to", i64::from(FLOAT))]);
        let any = self.node("ReduceMax", "guard.any", &[&flags], vec![ints("axes", &[1]), int("keepdims", 1)]);
        self.node("Cast", "guard.refused", &[&any], vec![int("to", i64::from(BOOL))])
    }

    /// One preprocessing step's nodes; returns their output's name.
    fn preprocess(&mut self, step: &Step, x: &str) -> String {
        match step {
            Step::Encode { tables: Some(tables), .. } => self.encode(tables, x),
            Step::Encode { tables: None, .. } => unreachable!("an ONNX model is exported from a fitted encoding"),
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

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(attribute_type::INTS),
        ints: values.to_vec(),
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
