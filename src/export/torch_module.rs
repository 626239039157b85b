//! The PyTorch module of a spec: `self.layers = nn.Sequential(...)` whose `state_dict` has
//! exactly the names and shapes of the weights `nnspec run --save` writes, with the
//! preprocessing built in as buffers that are not part of the `state_dict` (so nnspec's weights
//! files load unchanged) and applied by `forward`: `model(torch.tensor(raw_rows))` gives what
//! `nnspec predict` prints, where a raw row holds one number per raw column (the category and
//! binary columns as codes, see [`super::columns`]; `encode_rows` turns cells into them).

use super::columns::{InputColumn, InputKind, SlotRule, Tables};
use super::preprocess::{Fitted, Preprocess, Step, scaling_keyword};
use super::python;
use crate::ir::Model;

/// The class methods that read raw cells into codes (`encode_rows`) and set a fitted
/// encoding (`set_encoding`): Python source indented as a class body.
const ENCODE_METHODS: &str = include_str!("torch_encode.py");
/// `float32_of(text)`: a decimal as the float32 nnspec parses it (a module-level function).
pub const NUMBER_PARSER: &str = include_str!("torch_number.py");

/// A whole Python file: imports, the module's class and, for a model that reads category or
/// binary columns, the number parser its `encode_rows` uses.
pub fn torch_module(model: &Model, preprocess: &Preprocess, spec: &str) -> String {
    let class = module_class(model, preprocess, spec);
    if encodes(preprocess) {
        format!(
            "import math\nimport struct\nfrom fractions import Fraction\n\nimport torch\nfrom torch import nn\n\n\n\
             {class}\n\n{NUMBER_PARSER}"
        )
    } else {
        format!("import torch\nfrom torch import nn\n\n\n{class}")
    }
}

/// Whether the model turns raw columns into slots (categories, fills, indicators).
fn encodes(preprocess: &Preprocess) -> bool {
    preprocess.steps.iter().any(|step| matches!(step, Step::Encode { .. }))
}

/// The class alone (the training script embeds it), each `nn.Sequential` entry's index in a
/// comment.
pub fn module_class(model: &Model, preprocess: &Preprocess, spec: &str) -> String {
    let class = python::class_name(&model.name);
    let fitted = preprocess.steps.iter().all(|step| match step {
        Step::Affine { values, .. } => matches!(values, Fitted::Values(_)),
        Step::Encode { tables, .. } => tables.is_some(),
    });
    let encodes = encodes(preprocess);
    let mut out = format!("class {class}(nn.Module):\n");
    out += &format!("    \"\"\"nnspec model `{}` ({}).\n\n", python::doc_text(&model.name), python::doc_text(spec));
    out += &match (encodes, preprocess.is_empty(), fitted) {
        (false, true, _) => "    `model(torch.tensor(raw_rows))` gives what `nnspec predict` prints.\n".to_string(),
        (false, false, true) => "    `model(torch.tensor(raw_rows))` gives what `nnspec predict` prints: the input\n    \
                                 scaling fitted on the training rows is built in (buffers outside the state_dict).\n"
            .to_string(),
        (false, false, false) => "    `model(torch.tensor(raw_rows))` gives what `nnspec predict` prints once the\n    \
                                  training script has fitted the input scaling on its training rows (`set_preprocess`).\n"
            .to_string(),
        (true, _, true) => "    `model(model.encode_rows(rows))` gives what `nnspec predict` prints for rows of raw\n    \
                            cells: the column encoding and input scaling fitted on the training rows are built in\n    \
                            (buffers outside the state_dict). `forward` takes one number per raw column (see\n    \
                            `columns`).\n"
            .to_string(),
        (true, _, false) => "    `model(model.encode_rows(rows))` gives what `nnspec predict` prints for rows of raw\n    \
                             cells once the training script has fitted the column encoding and input scaling on its\n    \
                             training rows (`set_encoding`, `set_preprocess`). `forward` takes one number per raw\n    \
                             column (see `columns`).\n"
            .to_string(),
    };
    out += "    Load weights saved by `nnspec run --save FILE` with\n    \
            `model.load_state_dict(safetensors.torch.load_file(FILE))`.\n    \"\"\"\n\n";
    if encodes {
        out += &column_attributes(preprocess, fitted);
    } else if let Some(labels) = &preprocess.labels {
        out += &format!("    # Output i is class labels[i].\n    labels = {}\n\n", python::string_list(labels));
    }
    out += "    def __init__(self):\n        super().__init__()\n";
    for step in &preprocess.steps {
        out += &step_buffers(step);
    }
    out += "        self.layers = nn.Sequential(\n";
    for (index, layer) in model.layers.iter().enumerate() {
        out += &format!("            {},  # layers.{index}\n", layer.kind.torch_module(layer.inputs, layer.outputs));
    }
    out += "        )\n";
    if preprocess.is_empty() {
        out += "\n    def forward(self, x):\n        return self.layers(x)\n";
        return out;
    }
    out += "\n    def preprocess(self, x):\n        \"\"\"Raw rows to the first layer's inputs.\"\"\"\n";
    for step in &preprocess.steps {
        out += match step {
            Step::Encode { .. } => "        x = self.encode(x)\n",
            Step::Affine { .. } => "        x = (x - self.input_offset) * self.input_factor\n",
        };
    }
    out += "        return x\n";
    if encodes {
        out += "\n    def encode(self, x):\n        \
                \"\"\"One number per raw column (see `columns`) to the input slots, unscaled.\"\"\"\n        \
                missing = torch.isnan(x) | ((x < 0) & self.column_binary)\n        \
                x = torch.where(missing, self.column_fill, x)\n        \
                slots = x[:, self.slot_column]\n        \
                one_hot = (slots == self.slot_code).to(x.dtype)\n        \
                slots = torch.where(self.slot_value | torch.isnan(slots), slots, one_hot)\n        \
                return torch.where(self.slot_indicator, missing[:, self.slot_column].to(x.dtype), slots)\n";
        out += "\n";
        out += ENCODE_METHODS;
    }
    if preprocess.steps.iter().any(|step| matches!(step, Step::Affine { .. })) {
        out += "\n    @torch.no_grad()\n    def set_preprocess(self, offset, factor):\n";
        out += "        \"\"\"Sets the input scaling: x' = (x - offset) * factor.\"\"\"\n";
        out += "        self.input_offset.copy_(torch.as_tensor(offset, dtype=torch.float32))\n";
        out += "        self.input_factor.copy_(torch.as_tensor(factor, dtype=torch.float32))\n";
    }
    out += "\n    def forward(self, x):\n        return self.layers(self.preprocess(x))\n";
    out
}

/// The class attributes that say what `forward` reads: the raw columns and their codes, the
/// missing-value markers, and the class names.
fn column_attributes(preprocess: &Preprocess, fitted: bool) -> String {
    let mut out = String::from(
        "    # The raw columns `forward` reads, in order, and how a cell becomes its number\n    \
         # (docs/encoding.md): a number as itself; a category as its index in `vocabulary`; a\n    \
         # binary value as its index in `values` (0 or 1); -1 for a value outside those; NaN for\n    \
         # a missing cell (one of `na_values`, without regard to ASCII case if `na_ignore_case`).\n",
    );
    if !fitted {
        out += "    # The training script sets them with the encoding it fits (`set_encoding`).\n";
        out += "    columns = []\n    na_values = []\n    na_ignore_case = True\n    labels = None\n\n";
        return out;
    }
    out += "    columns = [\n";
    for column in &preprocess.columns {
        out += &format!("        {},\n", column_literal(column));
    }
    out += "    ]\n";
    out += &format!("    na_values = {}\n", python::string_list(&preprocess.na_values));
    out += &format!("    na_ignore_case = {}\n", if preprocess.na_ignore_case { "True" } else { "False" });
    match &preprocess.labels {
        Some(labels) => {
            out += &format!("    # Output i is class labels[i].\n    labels = {}\n\n", python::string_list(labels))
        }
        None => out += "    labels = None\n\n",
    }
    out
}

/// A raw column as a Python dict literal.
fn column_literal(column: &InputColumn) -> String {
    let name = python::string(&column.name);
    match &column.kind {
        InputKind::Number => format!("{{\"name\": {name}, \"kind\": \"number\"}}"),
        InputKind::Category { vocabulary } => {
            format!("{{\"name\": {name}, \"kind\": \"category\", \"vocabulary\": {}}}", python::string_list(vocabulary))
        }
        InputKind::Binary { negative, positive } => format!(
            "{{\"name\": {name}, \"kind\": \"binary\", \"values\": {}}}",
            python::string_list(&[negative.clone(), positive.clone()])
        ),
    }
}

/// A Python list of booleans.
fn bool_list(values: impl Iterator<Item = bool>) -> String {
    format!("[{}]", values.map(|b| if b { "True" } else { "False" }).collect::<Vec<_>>().join(", "))
}

/// The encoding tables as buffer initialisers: `(name, tensor expression)`.
fn table_buffers(columns: usize, slots: usize, tables: Option<&Tables>) -> Vec<(&'static str, String)> {
    match tables {
        Some(t) => {
            let codes: Vec<f32> =
                t.slots.iter().map(|s| if let SlotRule::Code(code) = s { *code } else { f32::NAN }).collect();
            let columns: Vec<String> = t.slot_column.iter().map(usize::to_string).collect();
            vec![
                ("column_fill", format!("torch.tensor({})", python::float32_list(&t.fill))),
                ("column_binary", format!("torch.tensor({})", bool_list(t.binary.iter().copied()))),
                ("slot_column", format!("torch.tensor([{}], dtype=torch.long)", columns.join(", "))),
                ("slot_code", format!("torch.tensor({})", python::float32_list(&codes))),
                ("slot_value", format!("torch.tensor({})", bool_list(t.slots.iter().map(|s| *s == SlotRule::Value)))),
                (
                    "slot_indicator",
                    format!("torch.tensor({})", bool_list(t.slots.iter().map(|s| *s == SlotRule::Indicator))),
                ),
            ]
        }
        None => vec![
            ("column_fill", format!("torch.full(({columns},), float(\"nan\"))")),
            ("column_binary", format!("torch.zeros({columns}, dtype=torch.bool)")),
            ("slot_column", format!("torch.zeros({slots}, dtype=torch.long)")),
            ("slot_code", format!("torch.full(({slots},), float(\"nan\"))")),
            ("slot_value", format!("torch.zeros({slots}, dtype=torch.bool)")),
            ("slot_indicator", format!("torch.zeros({slots}, dtype=torch.bool)")),
        ],
    }
}

/// The `__init__` lines that register a step's buffers.
fn step_buffers(step: &Step) -> String {
    match step {
        Step::Encode { columns, slots, tables } => {
            let mut out = String::from(
                "        # Column encoding, fitted on the training rows: per raw column, the number a missing\n        \
                 # cell takes (NaN where nnspec refuses the row) and whether negative codes count as\n        \
                 # missing (binary columns); per input slot, its column and what it takes from it: the\n        \
                 # number (slot_value), 1 where the number is slot_code (one-hot; -1 is `<other>`), or 1\n        \
                 # where the cell was missing (slot_indicator).\n",
            );
            for (name, init) in table_buffers(*columns, *slots, tables.as_ref()) {
                out += &format!("        self.register_buffer(\"{name}\", {init}, persistent=False)\n");
            }
            out
        }
        Step::Affine { kind, values } => {
            let (offset, factor) = match values {
                Fitted::Values((offset, factor)) => (
                    format!("torch.tensor({})", python::float32_list(offset)),
                    format!("torch.tensor({})", python::float32_list(factor)),
                ),
                Fitted::AtRunTime { width } => (format!("torch.zeros({width})"), format!("torch.ones({width})")),
            };
            format!(
                "        # Input scaling ({}): x' = (x - offset) * factor, fitted on the training rows.\n        \
                 # persistent=False keeps it out of the state_dict, so nnspec's weights files load as they are.\n        \
                 self.register_buffer(\"input_offset\", {offset}, persistent=False)\n        \
                 self.register_buffer(\"input_factor\", {factor}, persistent=False)\n",
                scaling_keyword(*kind)
            )
        }
    }
}
