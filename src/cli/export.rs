//! `nnspec export-torch`: the PyTorch module whose `state_dict` has exactly the names and
//! shapes of the weights `nnspec run --save` writes.

use std::path::Path;

use super::{Context, load};
use crate::ir::Model;
use crate::report::Report;

pub fn export_torch(path: &Path, ctx: &Context) -> Result<(), Report> {
    let spec = load(path, &[], ctx)?;
    super::emit(&torch_module(spec.model(), &path.display().to_string()))
}

/// Python source of the module, with each `nn.Sequential` entry's index in a comment.
pub fn torch_module(model: &Model, spec: &str) -> String {
    let class: String = model
        .name
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| c.to_uppercase().collect::<String>() + chars.as_str())
        })
        .collect();
    let mut out = String::from("import torch\nfrom torch import nn\n\n\n");
    out += &format!("class {class}(nn.Module):\n");
    out += &format!(
        "    \"\"\"nnspec model `{}` ({spec}).\n\n    Load weights saved by `nnspec run --save FILE` with\n    \
         `model.load_state_dict(safetensors.torch.load_file(FILE))`. Inputs are scaled as the\n    \
         file's metadata `nnspec.input_scaling` says: x' = (x - offset) * factor.\n    \"\"\"\n\n",
        model.name
    );
    out += "    def __init__(self):\n        super().__init__()\n        self.layers = nn.Sequential(\n";
    for (index, layer) in model.layers.iter().enumerate() {
        out += &format!("            {},  # layers.{index}\n", layer.kind.torch_module(layer.inputs, layer.outputs));
    }
    out += "        )\n\n    def forward(self, x):\n        return self.layers(x)\n";
    out
}
