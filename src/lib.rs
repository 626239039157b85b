//! nnspec: a compiler and runner for declarative neural-network specs.
//!
//! The pipeline, one function per stage (see ARCHITECTURE.md):
//! [`syntax::parse`] text -> AST, [`ir::check`] AST -> model, [`plan::compile`] model -> plan,
//! [`train::train`] plan + data -> trace and weights.

// Diagnostics are large (spans, labels, notes) but only travel on cold error paths, where
// their size costs nothing measurable; boxing every one would only add noise.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod data;
pub mod diagnostic;
pub mod exec;
pub mod export;
pub mod ir;
pub mod kernels;
pub mod output;
pub mod plan;
pub mod rng;
pub mod span;
pub mod syntax;
pub mod train;
pub mod weights;

use std::path::Path;

use diagnostic::{Code, Diagnostic};
use span::Source;

/// Why a command failed, which decides its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The spec is invalid (exit 2).
    Spec(Vec<Diagnostic>),
    /// Data, files or the run failed (exit 1).
    Run(Vec<Diagnostic>),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Spec(_) => 2,
            Failure::Run(_) => 1,
        }
    }

    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Failure::Spec(diagnostics) | Failure::Run(diagnostics) => diagnostics,
        }
    }
}

impl From<Diagnostic> for Failure {
    fn from(diagnostic: Diagnostic) -> Self {
        Failure::Run(vec![diagnostic])
    }
}

/// Reads a spec file.
pub fn read_source(path: &Path) -> Result<Source, Failure> {
    let text = std::fs::read(path).map_err(|error| {
        Diagnostic::error(Code::DataFile, format!("cannot read spec `{}`: {error}", path.display()))
    })?;
    let text = String::from_utf8(text).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        Failure::Spec(vec![Diagnostic::error(
            Code::Syntax,
            format!("spec `{}` is not valid UTF-8 (byte {at} is not)", path.display()),
        )])
    })?;
    // A byte-order mark some editors write is not part of the spec.
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    Ok(Source::new(path.display().to_string(), text))
}

/// Parses and checks a spec: everything that can be known without the data.
pub fn check_source(source: &Source, spec_dir: &Path) -> Result<ir::Checked, Failure> {
    check_source_with(source, spec_dir, &[])
}

/// `check_source` after `--set key=value` overrides (see `syntax::overrides`).
pub fn check_source_with(source: &Source, spec_dir: &Path, overrides: &[String]) -> Result<ir::Checked, Failure> {
    let mut spec = syntax::parse(&source.text).map_err(Failure::Spec)?;
    syntax::overrides::apply(&mut spec, overrides).map_err(Failure::Spec)?;
    ir::check(&spec, spec_dir, source.text.len()).map_err(Failure::Spec)
}

/// The directory a spec's relative paths start from.
pub fn spec_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}
