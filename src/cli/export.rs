//! `nnspec export-torch` and `nnspec export-onnx`: argument mapping onto `crate::export`.

use std::path::Path;

use super::{load_with, warn};
use crate::diagnostic::ColorChoice;
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::{Failure, export, output, weights};

/// What `export-torch` was asked for.
pub struct TorchArgs<'a> {
    pub spec: &'a Path,
    /// Write the training script here instead of printing the module.
    pub script: Option<&'a Path>,
    /// Take the module's input scaling from these weights instead of fitting it.
    pub weights: Option<&'a Path>,
    pub overrides: &'a [String],
}

pub fn export_torch(args: &TorchArgs, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = load_with(args.spec, args.overrides, source, color)?;
    let shown = args.spec.display().to_string();
    if let Some(script) = args.script {
        output::check_writable(script)?;
        let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
        let from = script.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let spec_dir = export::relative_dir(from, crate::spec_dir(args.spec));
        output::write_atomic(script, export::torch_script(&model, &plan, &shown, &spec_dir).as_bytes())?;
        return Ok(());
    }
    let preprocess = match args.weights {
        Some(path) => {
            let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
            let decoded = weights::read(path)?;
            warn(weights::architecture_warning(&plan, &decoded, path), source, color);
            weights::params_from(&plan, &decoded, "", path)?;
            export::preprocess_of(&decoded, &model, path)?
        }
        None => export::fitted_preprocess(&model)?,
    };
    super::emit(&export::torch_module(&model, &preprocess, &shown))
}

pub fn export_onnx(
    spec: &Path,
    weights_path: &Path,
    out: &Path,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    let model = super::load(spec, source, color)?;
    output::check_writable(out)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let decoded = weights::read(weights_path)?;
    warn(weights::architecture_warning(&plan, &decoded, weights_path), source, color);
    let params = weights::params_from(&plan, &decoded, "", weights_path)?;
    let preprocess = export::preprocess_of(&decoded, &model, weights_path)?;
    let bytes = export::onnx::onnx_model(&plan, &params, &preprocess, &spec.display().to_string());
    output::write_atomic(out, &bytes)?;
    Ok(())
}
