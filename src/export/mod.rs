//! Exports: the spec carried over to other engines. [`torch_module`] is the PyTorch module
//! whose `state_dict` is nnspec's weights layout, [`torch_script`] a self-contained training
//! script that trains the same model on the same rows with PyTorch (one process or
//! DistributedDataParallel under torchrun), and [`onnx::onnx_model`] a trained model as ONNX
//! for serving. All three start from [`Preprocess`], the steps a raw row goes through before
//! the first layer, so that exported models take raw rows as nnspec's `predict` does.

pub mod onnx;
pub mod preprocess;
pub mod python;
mod torch_module;
mod torch_script;

use std::path::{Component, Path};

pub use preprocess::Preprocess;
pub use torch_module::torch_module;
pub use torch_script::torch_script;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Model, Scaling};
use crate::plan::CompileOptions;
use crate::report::Report;
use crate::spec::Spec;
use crate::trained::Trained;
use crate::weights::Decoded;

/// Refuses, for now, a spec whose rows need more than numbers and scaling to reach the model
/// (declared columns, a width the data decides, class labels): its exports would be wrong.
pub fn check_supported(spec: &Spec) -> Result<(), Report> {
    let model = spec.model();
    let declared = match &model.data.source {
        crate::ir::DataSource::Csv(csv) => !csv.table.columns.is_empty(),
        _ => false,
    };
    let labelled = matches!(model.data.labels, crate::ir::ClassLabels::Listed(_) | crate::ir::ClassLabels::Inferred);
    if declared || model.input.inferred || labelled {
        return Err(spec.fail(
            Diagnostic::error(Code::DataShape, "exports do not yet carry column encodings or class labels")
                .at(model.data.span, "declares columns or labels")
                .help("export a spec whose features are numeric columns and whose classes are indices"),
        ));
    }
    Ok(())
}

/// The PyTorch module of a spec, with the input scaling of `weights` (or, without weights, the
/// scaling a run would fit on the training rows), and warnings about the weights.
pub fn module_for(spec: &Spec, weights: Option<&Path>) -> Result<(String, Vec<Report>), Report> {
    check_supported(spec)?;
    let (preprocess, warnings) = match weights {
        Some(path) => {
            let trained = Trained::load(spec, path)?;
            (Preprocess::from_scaler(trained.scaler()), trained.warnings().to_vec())
        }
        None => (fitted_preprocess(spec.model()).map_err(|d| spec.fail(d))?, Vec::new()),
    };
    Ok((torch_module(spec.model(), &preprocess, spec.name()), warnings))
}

/// The PyTorch training script of a spec, to be written at `script` (it finds the spec's data
/// relative to its own directory).
pub fn script_for(spec: &Spec, script: &Path) -> Result<String, Report> {
    check_supported(spec)?;
    let plan = spec.compile(CompileOptions::default());
    let from = script.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let spec_dir = spec.path().map_or(Path::new("."), crate::spec::spec_dir);
    Ok(torch_script(spec.model(), &plan, spec.name(), &relative_dir(from, spec_dir)))
}

/// The ONNX model of a spec with trained weights, and warnings about the weights.
pub fn onnx_for(spec: &Spec, weights: &Path) -> Result<(Vec<u8>, Vec<Report>), Report> {
    check_supported(spec)?;
    let trained = Trained::load(spec, weights)?;
    let preprocess = Preprocess::from_scaler(trained.scaler());
    let bytes = onnx::onnx_model(trained.plan(), trained.params(), &preprocess, spec.name());
    Ok((bytes, trained.warnings().to_vec()))
}

/// The preprocessing a run of this spec fits: the input scaling of its training rows (which
/// reads the data), or nothing to fit when the spec does not scale its inputs.
pub fn fitted_preprocess(model: &Model) -> Result<Preprocess, Diagnostic> {
    if model.input.scaling == Scaling::None {
        return Ok(Preprocess { steps: Vec::new() });
    }
    Ok(Preprocess::from_scaler(&crate::data::load(model)?.scaler))
}

/// The preprocessing a weights file records (what `predict` applies).
pub fn preprocess_of(decoded: &Decoded, model: &Model, file: &Path) -> Result<Preprocess, Diagnostic> {
    let scaler = crate::weights::scaler_of(decoded, model.input.width)
        .map_err(|why| Diagnostic::error(Code::DataFile, format!("`{}`: {why}", file.display())))?;
    Ok(Preprocess::from_scaler(&scaler))
}

/// `to` relative to the directory `from` (both made absolute against the current directory
/// first), with `/` separators: how the script finds the spec's directory from its own.
/// Falls back to `to` made absolute when there is no relative path (another drive).
pub fn relative_dir(from: &Path, to: &Path) -> String {
    let (from, to) = (crate::project::resolve(from), crate::project::resolve(to));
    let from_parts: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    if from_parts.first() != to_parts.first() {
        return to.display().to_string();
    }
    let common = from_parts.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from_parts.len() - common];
    parts.extend(to_parts[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

#[cfg(test)]
mod tests {
    use super::relative_dir;

    #[test]
    fn relative_directories() {
        let base = std::env::temp_dir().join(format!("nnspec-relative-{}", std::process::id()));
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::create_dir_all(base.join("c")).unwrap();
        assert_eq!(relative_dir(&base.join("a/b"), &base.join("c")), "../../c");
        assert_eq!(relative_dir(&base.join("c"), &base.join("c")), ".");
        assert_eq!(relative_dir(&base, &base.join("a/b")), "a/b");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
