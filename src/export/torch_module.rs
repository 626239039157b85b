//! The PyTorch module of a spec: `self.layers = nn.Sequential(...)` whose `state_dict` has
//! exactly the names and shapes of the weights `nnspec run --save` writes, with the
//! preprocessing built in as buffers that are not part of the `state_dict` (so nnspec's weights
//! files load unchanged) and applied by `forward`: `model(torch.tensor(raw_rows))` gives what
//! `nnspec predict` prints.

use super::preprocess::{Fitted, Preprocess, Step, scaling_keyword};
use super::python;
use crate::ir::Model;

/// A whole Python file: imports and the module's class.
pub fn torch_module(model: &Model, preprocess: &Preprocess, spec: &str) -> String {
    format!("import torch\nfrom torch import nn\n\n\n{}", module_class(model, preprocess, spec))
}

/// The class alone (the training script embeds it), each `nn.Sequential` entry's index in a
/// comment.
pub fn module_class(model: &Model, preprocess: &Preprocess, spec: &str) -> String {
    let class = python::class_name(&model.name);
    let fitted = preprocess.steps.iter().all(|step| match step {
        Step::Affine { values, .. } => matches!(values, Fitted::Values(_)),
    });
    let mut out = format!("class {class}(nn.Module):\n");
    out += &format!("    \"\"\"nnspec model `{}` ({}).\n\n", python::doc_text(&model.name), python::doc_text(spec));
    out += "    `model(torch.tensor(raw_rows))` gives what `nnspec predict` prints";
    if preprocess.is_empty() {
        out += ".\n";
    } else if fitted {
        out += ": the input\n    scaling fitted on the training rows is built in (buffers outside the state_dict).\n";
    } else {
        out += " once the\n    training script has fitted the input scaling on its training rows (`set_preprocess`).\n";
    }
    out += "    Load weights saved by `nnspec run --save FILE` with\n    \
            `model.load_state_dict(safetensors.torch.load_file(FILE))`.\n    \"\"\"\n\n";
    out += "    def __init__(self):\n        super().__init__()\n";
    for step in &preprocess.steps {
        out += &step_buffers(step);
    }
    out += "        self.layers = nn.Sequential(\n";
    for (index, layer) in model.layers.iter().enumerate() {
        out += &format!("            {},  # layers.{index}\n", layer.kind.torch_module(layer.inputs, layer.outputs));
    }
    out += "        )\n";
    if !preprocess.is_empty() {
        out += "\n    def preprocess(self, x):\n        \"\"\"Raw rows to the first layer's inputs.\"\"\"\n";
        for step in &preprocess.steps {
            out += &step_forward(step);
        }
        out += "        return x\n";
        out += "\n    @torch.no_grad()\n    def set_preprocess(self, offset, factor):\n";
        out += "        \"\"\"Sets the input scaling: x' = (x - offset) * factor.\"\"\"\n";
        out += "        self.input_offset.copy_(torch.as_tensor(offset, dtype=torch.float32))\n";
        out += "        self.input_factor.copy_(torch.as_tensor(factor, dtype=torch.float32))\n";
        out += "\n    def forward(self, x):\n        return self.layers(self.preprocess(x))\n";
    } else {
        out += "\n    def forward(self, x):\n        return self.layers(x)\n";
    }
    out
}

/// The `__init__` lines that register a step's buffers.
fn step_buffers(step: &Step) -> String {
    match step {
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

/// The `preprocess` lines of a step.
fn step_forward(step: &Step) -> String {
    match step {
        Step::Affine { .. } => "        x = (x - self.input_offset) * self.input_factor\n".to_string(),
    }
}
