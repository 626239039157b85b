//! nnspec: a compiler and runner for declarative neural-network specs.
//!
//! The pipeline, one function per stage (see ARCHITECTURE.md): [`syntax::parse`] text -> AST,
//! [`ir::check`] AST -> model, [`plan::compile`] model -> plan, [`train::train`] plan + data ->
//! trace and weights.
//!
//! Front ends (the command line, the Python package, tests) use the façade, which sequences
//! those stages the same way for all of them and returns errors as a [`Report`] that owns its
//! source:
//!
//! ```no_run
//! # fn main() -> Result<(), nnspec::Report> {
//! let spec = nnspec::Spec::load("specs/xor.nn".as_ref(), &["train.epochs=5".to_string()])?;
//! let run = nnspec::run::train(&spec, &nnspec::RunOptions::default(), &mut ())?;
//! run.save_weights("xor.safetensors".as_ref())?;
//! let model = nnspec::Trained::load(&spec, "xor.safetensors".as_ref())?;
//! let predictions = model.predict(&model.read_inputs("new.csv".as_ref())?);
//! # Ok(()) }
//! ```

// Diagnostics are large (spans, labels, notes) but only travel on cold error paths, where
// their size costs nothing measurable; boxing every one would only add noise.
#![allow(clippy::result_large_err)]

pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
pub mod diagnostic;
pub mod exec;
pub mod export;
pub mod fingerprint;
pub mod golden;
pub mod input;
pub mod ir;
pub mod kernels;
pub mod output;
pub mod plan;
#[cfg(feature = "plot")]
pub mod plot;
pub mod project;
pub mod report;
pub mod rng;
pub mod run;
pub mod scaffold;
pub mod span;
pub mod spec;
pub mod syntax;
pub mod train;
pub mod trained;
pub mod weights;

pub use report::{Kind, Report};
pub use run::{Checkpoints, Run, RunOptions};
pub use spec::Spec;
pub use train::{Observer, RunStart, StepProgress, TraceLine};
pub use trained::{Evaluation, Predictions, Trained};
