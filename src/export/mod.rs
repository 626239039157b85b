//! Exports: the spec carried over to other engines. [`torch_module`] is the PyTorch module
//! whose `state_dict` is nnspec's weights layout, [`torch_script`] a self-contained training
//! script that trains the same model on the same rows with PyTorch (one process or
//! DistributedDataParallel under torchrun), and [`onnx::onnx_model`] a trained model as ONNX
//! for serving. All three start from [`Preprocess`], the steps a raw row goes through before
//! the first layer (the column encoding of [`columns`], then the input scaling), so that
//! exported models take raw rows as nnspec's `predict` does. Each works on the model with its
//! input width resolved (the width the data's columns give, where the spec leaves it out).

pub mod columns;
pub mod onnx;
pub mod preprocess;
pub mod python;
mod torch_module;
mod torch_script;

use std::path::{Component, Path};

pub use columns::Tables;
pub use preprocess::Preprocess;
pub use torch_module::torch_module;
pub use torch_script::torch_script;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{ClassLabels, DataSource, Model};
use crate::plan::{CompileOptions, Plan};
use crate::report::Report;
use crate::spec::Spec;
use crate::trained::Trained;

/// What an exported PyTorch module is made of: the model with its input width resolved, the
/// preprocessing fitted on the training rows (or read from weights), warnings about weights.
pub struct ModuleParts {
    pub model: Model,
    pub preprocess: Preprocess,
    pub warnings: Vec<Report>,
}

/// The module's parts: with `weights`, their column encoding and scaling (what `predict`
/// applies); without, those a run fits on the training rows (read only when the spec has
/// something to fit: scaling, declared columns, an input width or class names to take).
pub fn module_parts(spec: &Spec, weights: Option<&Path>) -> Result<ModuleParts, Report> {
    let model = spec.model();
    if let Some(path) = weights {
        let trained = Trained::load(spec, path)?;
        let preprocess = fitted(spec, model, trained.encoding())?;
        let model = resolved(model, trained.encoding().width());
        return Ok(ModuleParts { model, preprocess, warnings: trained.warnings().to_vec() });
    }
    if plain(model) && !preprocess::scales(model) && model.data.labels == ClassLabels::None {
        let preprocess = Preprocess::unfitted(model, None).map_err(|why| spec.fail(inconsistent(why)))?;
        return Ok(ModuleParts { model: model.clone(), preprocess, warnings: Vec::new() });
    }
    let data = spec.load_data()?;
    let preprocess = fitted(spec, model, &data.encoding)?;
    Ok(ModuleParts { model: spec.resolved_model(&data), preprocess, warnings: Vec::new() })
}

/// The PyTorch module of a spec (see [`module_parts`]), and warnings about the weights.
pub fn module_for(spec: &Spec, weights: Option<&Path>) -> Result<(String, Vec<Report>), Report> {
    let parts = module_parts(spec, weights)?;
    Ok((torch_module(&parts.model, &parts.preprocess, spec.name()), parts.warnings))
}

/// What the training script is made of: the resolved model, its plan, and the preprocessing
/// the script fits on its rows, shaped as the encoding a run fits now (read from the data
/// where the spec declares columns or leaves the input width to them).
pub fn script_parts(spec: &Spec) -> Result<(Model, Plan, Preprocess), Report> {
    let model = spec.model();
    let (model, preprocess) = if plain(model) {
        (model.clone(), Preprocess::unfitted(model, None))
    } else {
        let data = spec.load_data()?;
        (spec.resolved_model(&data), Preprocess::unfitted(model, Some(&data.encoding)))
    };
    let preprocess = preprocess.map_err(|why| spec.fail(inconsistent(why)))?;
    let plan = spec.compile_for_width(model.input.width, CompileOptions::default());
    Ok((model, plan, preprocess))
}

/// The PyTorch training script of a spec, to be written at `script` (it finds the spec's data
/// relative to its own directory).
pub fn script_for(spec: &Spec, script: &Path) -> Result<String, Report> {
    let (model, plan, preprocess) = script_parts(spec)?;
    let from = script.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let spec_dir = spec.path().map_or(Path::new("."), crate::spec::spec_dir);
    Ok(torch_script(&model, &plan, &preprocess, spec.name(), &relative_dir(from, spec_dir)))
}

/// The ONNX model of a spec with trained weights, and warnings about the weights.
pub fn onnx_for(spec: &Spec, weights: &Path) -> Result<(Vec<u8>, Vec<Report>), Report> {
    let trained = Trained::load(spec, weights)?;
    let preprocess = fitted(spec, spec.model(), trained.encoding())?;
    let bytes = onnx::onnx_model(trained.plan(), trained.params(), &preprocess, trained.encoding(), spec.name());
    Ok((bytes, trained.warnings().to_vec()))
}

/// Every row of a CSV file as the numbers the exported models of `trained` take: one per raw
/// feature column, row-major (see [`columns`]); returns the row count and the numbers.
pub fn input_codes(spec: &Spec, trained: &Trained, file: &Path) -> Result<(usize, Vec<f32>), Report> {
    let tables = Tables::of(trained.encoding()).map_err(|why| spec.fail(inconsistent(why)))?;
    let delimiter = match &spec.model().data.source {
        DataSource::Csv(csv) => csv.table.delimiter,
        _ => None,
    };
    columns::codes_of_file(&tables, trained.encoding(), file, delimiter).map_err(Report::from)
}

/// Whether the spec's rows reach the model as they are: no declared columns, a written width.
fn plain(model: &Model) -> bool {
    let declared = matches!(&model.data.source, DataSource::Csv(csv) if !csv.table.columns.is_empty());
    !declared && !model.input.inferred
}

/// The model with the input width the encoding gives, where the spec leaves it to the data.
fn resolved(model: &Model, width: usize) -> Model {
    if model.input.inferred { model.with_input_width(width) } else { model.clone() }
}

fn fitted(spec: &Spec, model: &Model, encoding: &crate::data::Encoding) -> Result<Preprocess, Report> {
    Preprocess::fitted(model, encoding).map_err(|why| spec.fail(inconsistent(why)))
}

fn inconsistent(why: String) -> Diagnostic {
    Diagnostic::error(Code::DataFile, format!("the weights cannot be exported: {why}"))
        .help("train again with `nnspec run --save` to record a consistent encoding")
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
