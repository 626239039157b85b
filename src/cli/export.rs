//! `nnspec export-torch` and `nnspec export-onnx`: argument mapping onto `crate::export`.

use std::path::Path;

use super::{Context, load, warn};
use crate::export;
use crate::output;
use crate::project;
use crate::report::Report;

/// What `export-torch` was asked for.
pub struct TorchArgs<'a> {
    pub spec: &'a Path,
    /// Write the training script here instead of printing the module.
    pub script: Option<&'a Path>,
    /// Take the module's input scaling from these weights instead of fitting it.
    pub weights: Option<&'a Path>,
    pub overrides: &'a [String],
}

pub fn export_torch(args: &TorchArgs, ctx: &Context) -> Result<(), Report> {
    let spec = load(args.spec, args.overrides, ctx)?;
    if let Some(script) = args.script {
        project::check_roles(&spec.inputs(), &[("the script output", script)])?;
        output::check_writable(script)?;
        output::write_atomic(script, export::script_for(&spec, script)?.as_bytes())?;
        return Ok(());
    }
    let (module, warnings) = export::module_for(&spec, args.weights)?;
    warnings.into_iter().for_each(|w| warn(Some(w), ctx.color));
    super::emit(&module)
}

pub fn export_onnx(spec: &Path, weights: &Path, out: &Path, ctx: &Context) -> Result<(), Report> {
    let spec = load(spec, &[], ctx)?;
    let mut inputs = spec.inputs();
    inputs.push(("the weights", weights.to_path_buf()));
    project::check_roles(&inputs, &[("the ONNX output", out)])?;
    output::check_writable(out)?;
    let (bytes, warnings) = export::onnx_for(&spec, weights)?;
    warnings.into_iter().for_each(|w| warn(Some(w), ctx.color));
    Ok(output::write_atomic(out, &bytes)?)
}
