//! Model weights as safetensors, named and laid out as the `state_dict` of the PyTorch module
//! that `nnspec export-torch` prints (`layers.N.weight` as `[out, in]`, `layers.N.bias`, batch
//! norm's `running_mean`, `running_var` and `num_batches_tracked` as int64), so PyTorch's
//! `load_state_dict` takes the file unchanged. The metadata records the nnspec version, a hash
//! of the model's architecture and the input scaling fitted on the training rows.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::Scaler;
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::Params;
use crate::ir::Scaling;
use crate::plan::Plan;

/// The metadata key of the architecture hash.
const ARCHITECTURE: &str = "nnspec.architecture";

/// A tensor's values as stored: f32, or int64 for counters.
pub enum Values<'a> {
    F32(&'a [f32]),
    I64(Vec<i64>),
}

/// Encodes named tensors and metadata as a safetensors file's bytes.
pub fn encode(tensors: Vec<(String, Vec<usize>, Values<'_>)>, metadata: HashMap<String, String>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| match values {
            Values::F32(v) => (name, shape, Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Values::I64(v) => (name, shape, Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, dtype, data)| {
        (name.clone(), TensorView::new(*dtype, shape.clone(), data).expect("sizes match by construction"))
    });
    let bytes =
        safetensors::tensor::serialize(views, Some(metadata)).expect("tensors with distinct names always serialise");
    canonical_header(bytes)
}

/// Rewrites a safetensors file's JSON header in a fixed order (metadata first, its keys sorted,
/// then the tensors in the order of their data), so that equal weights give equal bytes: the
/// crate writes its metadata in a hash map's order, which differs from process to process.
fn canonical_header(bytes: Vec<u8>) -> Vec<u8> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).expect("the crate writes a JSON object");
    let mut ordered = serde_json::Map::new();
    if let Some(serde_json::Value::Object(metadata)) = header.get("__metadata__") {
        let mut keys: Vec<&String> = metadata.keys().collect();
        keys.sort();
        let sorted: serde_json::Map<String, serde_json::Value> =
            keys.into_iter().map(|k| (k.clone(), metadata[k].clone())).collect();
        ordered.insert("__metadata__".to_string(), serde_json::Value::Object(sorted));
    }
    let mut tensors: Vec<(&String, &serde_json::Value)> = header.iter().filter(|(k, _)| *k != "__metadata__").collect();
    tensors.sort_by_key(|(name, info)| (info["data_offsets"][0].as_u64(), name.to_string()));
    for (name, info) in tensors {
        ordered.insert(name.clone(), info.clone());
    }
    let mut text = serde_json::to_vec(&ordered).expect("serialisable");
    // The format pads the header with spaces to a multiple of 8 bytes.
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - header_len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + header_len..]);
    out
}

/// A decoded safetensors file: f32 tensors and int64 tensors by name, with shapes, and metadata.
pub struct Decoded {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub ints: HashMap<String, (Vec<usize>, Vec<i64>)>,
    pub metadata: HashMap<String, String>,
}

/// Reads and decodes a safetensors file.
pub fn read(path: &Path) -> Result<Decoded, Diagnostic> {
    // A weights file is read whole: it may not be larger than the memory nnspec may use.
    let limit = crate::data::memory::available_bytes().map_or(u64::MAX, |bytes| bytes as u64);
    let bytes = crate::input::read(path, "weights file", &path.display().to_string(), limit)?;
    decode(&bytes).map_err(|reason| {
        Diagnostic::error(Code::DataFile, format!("`{}` is not a valid safetensors file: {reason}", path.display()))
    })
}

pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let (mut tensors, mut ints) = (HashMap::new(), HashMap::new());
    for (name, view) in file.tensors() {
        let data = view.data();
        let shape = view.shape().to_vec();
        match view.dtype() {
            Dtype::F32 => {
                let values: Vec<f32> =
                    data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(format!("tensor `{name}` holds NaN or infinite values"));
                }
                tensors.insert(name, (shape, values));
            }
            Dtype::I64 => {
                let values = data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
                ints.insert(name, (shape, values));
            }
            other => return Err(format!("tensor `{name}` has dtype {other:?}; nnspec reads F32 and I64")),
        }
    }
    Ok(Decoded { tensors, ints, metadata })
}

/// A stable hash of the plan's parameter names and shapes (FNV-1a, 64 bits, as hex): equal
/// for specs whose saved weights are interchangeable.
pub fn architecture_hash(plan: &Plan) -> String {
    let mut hash = crate::fingerprint::Fingerprint::default();
    for param in &plan.params {
        hash.add(format!("{}{:?};", param.name, param.shape).as_bytes());
    }
    hash.hex()
}

/// The tensors of `params` as the state_dict names them.
pub fn named_tensors<'a>(plan: &Plan, params: &'a Params, prefix: &str) -> Vec<(String, Vec<usize>, Values<'a>)> {
    plan.params
        .iter()
        .zip(&params.tensors)
        .map(|(info, values)| {
            let name = format!("{prefix}{}", info.name);
            if info.name.ends_with("num_batches_tracked") {
                (name, info.shape.clone(), Values::I64(values.iter().map(|&v| v as i64).collect()))
            } else {
                (name, info.shape.clone(), Values::F32(values))
            }
        })
        .collect()
}

/// The metadata every weights file carries.
pub fn metadata(plan: &Plan, scaler: &Scaler) -> HashMap<String, String> {
    let scaling = serde_json::json!({
        "kind": match scaler.kind {
            Scaling::None => "none",
            Scaling::Standardize => "standardize",
            Scaling::MinMax => "minmax",
            Scaling::Range { .. } => "range",
        },
        "offset": scaler.offset,
        "factor": scaler.factor,
    });
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("nnspec.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("nnspec.model".to_string(), plan.name.clone()),
        (ARCHITECTURE.to_string(), architecture_hash(plan)),
        ("nnspec.input_scaling".to_string(), scaling.to_string()),
    ]);
    if !plan.class_weights.is_empty() {
        metadata.insert(CLASS_WEIGHTS.to_string(), serde_json::json!(plan.class_weights).to_string());
    }
    metadata
}

/// The metadata key of the loss's class weights as resolved for training (JSON list), so that
/// `eval` weighs its loss as training did, `balanced` included.
pub const CLASS_WEIGHTS: &str = "nnspec.class_weights";

/// The class weights a weights file records (`None` if none): `classes` positive numbers.
pub fn class_weights_of(decoded: &Decoded, classes: usize) -> Result<Option<Vec<f32>>, String> {
    let Some(text) = decoded.metadata.get(CLASS_WEIGHTS) else { return Ok(None) };
    let weights: Vec<f32> = serde_json::from_str(text).map_err(|e| format!("its class weights are unreadable: {e}"))?;
    if weights.len() != classes || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(format!("its class weights are not {classes} numbers above 0"));
    }
    Ok(Some(weights))
}

/// The bytes of a weights file.
pub fn to_bytes(plan: &Plan, params: &Params, data: &crate::data::Prepared) -> Vec<u8> {
    let mut metadata = metadata(plan, &data.scaler);
    // The column names, so `predict` and `eval` need not read the training file to learn them.
    let names = serde_json::json!({ "features": data.dataset.input_names, "targets": data.dataset.target_names });
    metadata.insert(COLUMNS.to_string(), names.to_string());
    let encoding = serde_json::to_string(&data.encoding).expect("an encoding always serialises");
    metadata.insert(ENCODING.to_string(), encoding);
    encode(named_tensors(plan, params, ""), metadata)
}

/// The metadata key of the fitted column encoding (`data::Encoding` as JSON).
pub const ENCODING: &str = "nnspec.encoding";

/// The column encoding a weights file records: `nnspec.encoding`, or, for a file saved before
/// encodings existed, numeric features rebuilt from its column names and input scaling.
/// `None` when the file records neither.
pub fn encoding_of(
    decoded: &Decoded,
    width: Option<usize>,
    target: crate::data::Target,
) -> Result<Option<crate::data::Encoding>, String> {
    if let Some(text) = decoded.metadata.get(ENCODING) {
        let encoding: crate::data::Encoding =
            serde_json::from_str(text).map_err(|e| format!("its column encoding is unreadable: {e}"))?;
        if encoding.format != crate::data::encoding::FORMAT {
            return Err(format!(
                "its column encoding has format `{}`; this nnspec reads `{}`",
                encoding.format,
                crate::data::encoding::FORMAT
            ));
        }
        let slots = encoding.features.iter().flat_map(|f| &f.slots);
        if slots.clone().any(|s| !s.offset.is_finite() || !s.factor.is_finite()) {
            return Err("its column encoding holds a scaling that is not finite".to_string());
        }
        if let Some(width) = width.filter(|&w| w != encoding.width()) {
            return Err(format!("its column encoding gives {} inputs, the model takes {width}", encoding.width()));
        }
        return Ok(Some(encoding));
    }
    let Some(width) = width else { return Ok(None) };
    let Some((features, _)) = columns_of(decoded).filter(|(f, _)| f.len() == width) else { return Ok(None) };
    let scaler = scaler_of(decoded, width)?;
    Ok(Some(crate::data::Encoding::numeric(&features, target, &scaler.offset, &scaler.factor)))
}

/// The metadata key of the feature and target column names.
const COLUMNS: &str = "nnspec.columns";

/// The feature and target column names a weights file records, if it does.
pub fn columns_of(decoded: &Decoded) -> Option<(Vec<String>, Vec<String>)> {
    let value: serde_json::Value = serde_json::from_str(decoded.metadata.get(COLUMNS)?).ok()?;
    let list = |key: &str| -> Option<Vec<String>> {
        value[key].as_array()?.iter().map(|v| v.as_str().map(str::to_string)).collect()
    };
    Some((list("features")?, list("targets")?))
}

/// The input scaling stored in a weights file (none when absent).
pub fn scaler_of(decoded: &Decoded, width: usize) -> Result<Scaler, String> {
    let Some(text) = decoded.metadata.get("nnspec.input_scaling") else {
        return Ok(Scaler { kind: Scaling::None, offset: vec![0.0; width], factor: vec![1.0; width] });
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("bad input scaling: {e}"))?;
    let kind = match value["kind"].as_str() {
        Some("standardize") => Scaling::Standardize,
        Some("minmax") => Scaling::MinMax,
        _ => Scaling::None,
    };
    let list = |key: &str| -> Vec<f32> {
        value[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_f64()).map(|v| v as f32).collect())
            .unwrap_or_default()
    };
    let (offset, factor) = (list("offset"), list("factor"));
    if offset.iter().chain(&factor).any(|v| !v.is_finite()) {
        return Err("the stored input scaling is not finite".to_string());
    }
    if offset.len() != width || factor.len() != width {
        return Err(format!("the stored input scaling has {} features, the model {width}", offset.len()));
    }
    Ok(Scaler { kind, offset, factor })
}

/// Parameters from a decoded file, checked tensor by tensor against the plan. `prefix` selects
/// the tensors (checkpoints prefix theirs). A missing tensor or a different shape is an error
/// naming the tensor, both shapes and the spec line of the layer it belongs to.
pub fn params_from(plan: &Plan, decoded: &Decoded, prefix: &str, file: &Path) -> Result<Params, Diagnostic> {
    // A checkpoint holds the weights too, under `params.`: accept it where weights are expected.
    if prefix.is_empty() && decoded.metadata.contains_key("nnspec.checkpoint") {
        return params_from(plan, decoded, "params.", file);
    }
    let mut tensors = Vec::with_capacity(plan.params.len());
    for info in &plan.params {
        let name = format!("{prefix}{}", info.name);
        let counter =
            decoded.ints.get(&name).map(|(shape, values)| (shape.clone(), values.iter().map(|&v| v as f32).collect()));
        match decoded.tensors.get(&name).cloned().or(counter).as_ref() {
            None => {
                let known: Vec<&str> = decoded.tensors.keys().map(String::as_str).collect();
                return Err(Diagnostic::error(
                    Code::DataShape,
                    format!(
                        "`{}` has no tensor `{}`, which the layer at {}:{} needs",
                        file.display(),
                        info.name,
                        plan.file,
                        plan.line_of_param(info)
                    ),
                )
                .note(format!("the file holds {} tensor(s){}", known.len(), list_some(&known)))
                .help("the weights were saved from a different model: check the spec's layers against the file"));
            }
            Some((shape, values)) if *shape != info.shape => {
                return Err(Diagnostic::error(
                    Code::DataShape,
                    format!(
                        "tensor `{}` in `{}` has shape {shape:?}, but the layer at {}:{} expects {:?}",
                        info.name,
                        file.display(),
                        plan.file,
                        plan.line_of_param(info),
                        info.shape
                    ),
                )
                .note("the spec's layer widths differ from those the weights were saved with")
                .help("train again from this spec, or restore the spec the weights came from"));
            }
            Some((_, values)) => tensors.push(values.clone()),
        }
    }
    Ok(Params { tensors })
}

fn list_some(names: &[&str]) -> String {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let shown: Vec<&str> = sorted.into_iter().take(6).collect();
    if shown.is_empty() { String::new() } else { format!(": {}", shown.join(", ")) }
}

/// A warning when the file was saved from another architecture (its shapes may still fit).
pub fn architecture_warning(plan: &Plan, decoded: &Decoded, file: &Path) -> Option<Diagnostic> {
    let saved = decoded.metadata.get(ARCHITECTURE)?;
    (*saved != architecture_hash(plan)).then(|| {
        Diagnostic::warning(
            Code::DataShape,
            format!("`{}` was saved from a model with another architecture ({saved})", file.display()),
        )
        .note(format!("this spec's architecture hash is {}", architecture_hash(plan)))
    })
}
