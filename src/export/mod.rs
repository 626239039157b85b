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

use std::path::{Component, Path, PathBuf};

pub use preprocess::Preprocess;
pub use torch_module::torch_module;
pub use torch_script::torch_script;

use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{Model, Scaling};
use crate::weights::Decoded;

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
    let absolute = |path: &Path| -> PathBuf {
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(path)
        };
        std::fs::canonicalize(&joined).unwrap_or_else(|_| normalise(&joined))
    };
    let (from, to) = (absolute(from), absolute(to));
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

/// A path with `.` and `..` resolved lexically (for paths that do not exist yet).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
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
