//! Training through the façade: `run::train(&spec, options, observer)` sequences everything
//! after the check, the same way for every front end: probe the data header, estimate the
//! memory, compile, load the data, take the initial weights (`init`, or a checkpoint to
//! resume), start the worker threads and train. The finished `Run` holds the plan, the data
//! and the outcome, and writes what a run leaves (trace, weights, summary).

use std::path::{Path, PathBuf};

use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::plan::{CompileOptions, Plan};
use crate::report::Report;
use crate::spec::Spec;
use crate::train::{self, Observer, Outcome, RunStart, StopReason, checkpoint};
use crate::{output, weights};

/// How to run a spec, beyond what the spec says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Worker threads (default: one per core). Results are identical for any number.
    pub threads: Option<usize>,
    /// Start from these saved weights instead of the seeded initialisation.
    pub init: Option<PathBuf>,
    /// Continue from this checkpoint, or from the newest complete one in this directory.
    pub resume: Option<PathBuf>,
    /// Write checkpoints as the run goes.
    pub checkpoints: Option<Checkpoints>,
    /// The most memory the run may use, in bytes (default: what this process may use).
    pub max_memory: Option<f64>,
    /// Rows per parallel chunk instead of the plan's rule (experiments and tests).
    pub chunk_rows: Option<usize>,
    /// Record the time after every optimizer step (benchmarks).
    pub record_steps: bool,
}

/// Checkpoint every `every` epochs (and after the last) into `dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoints {
    pub every: usize,
    pub dir: PathBuf,
}

/// A finished run.
pub struct Run {
    pub plan: Plan,
    pub data: Prepared,
    pub outcome: Outcome,
    /// The worker threads it ran on.
    pub threads: usize,
}

/// A rayon pool of `threads` workers (default: one per core).
pub fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, Report> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build().map_err(|error| {
        Report::from(Diagnostic::error(Code::Runtime, format!("cannot start the worker threads: {error}")))
    })
}

/// The plan and data a spec runs on, after every check that can be made before training:
/// the data header, then the memory estimate, then the rows themselves.
pub fn prepare(spec: &Spec, options: &RunOptions) -> Result<(Plan, Prepared), Report> {
    spec.validate(options.max_memory)?;
    let plan = spec.compile(CompileOptions { chunk_rows: options.chunk_rows });
    let data = spec.load_data()?;
    Ok((plan, data))
}

/// Trains a spec: `prepare`, then the initial weights, then the epochs.
pub fn train(spec: &Spec, options: &RunOptions, observer: &mut dyn Observer) -> Result<Run, Report> {
    // Outputs first: a run must not fail at its end for want of a writable directory.
    if let Some(Checkpoints { dir, .. }) = &options.checkpoints {
        std::fs::create_dir_all(dir).map_err(|error| {
            spec.fail(Diagnostic::error(Code::Output, format!("cannot create `{}`: {error}", dir.display())))
        })?;
        output::check_writable(&dir.join(checkpoint::file_name(0))).map_err(|d| spec.fail(d))?;
    }
    let (plan, data) = prepare(spec, options)?;
    let mut train_options = train::Options { record_steps: options.record_steps, ..train::Options::default() };
    let mut warnings = Vec::new();
    if let Some(path) = &options.init {
        let decoded = weights::read(path).map_err(|d| spec.fail(d))?;
        if let Some(warning) = weights::architecture_warning(&plan, &decoded, path) {
            warnings.push(spec.fail(warning));
        }
        // A file from another architecture whose shapes do not fit: the warning explains the error.
        let params = weights::params_from(&plan, &decoded, "", path).map_err(|error| {
            let mut diagnostics: Vec<Diagnostic> =
                warnings.iter().flat_map(|w: &Report| w.diagnostics().to_vec()).collect();
            diagnostics.push(error);
            spec.report(diagnostics)
        })?;
        train_options.init = Some(params);
    }
    if let Some(path) = &options.resume {
        train_options.resume = Some(checkpoint::load(path).map_err(|d| spec.fail(d))?);
    }
    if let Some(Checkpoints { every, dir }) = &options.checkpoints {
        train_options.checkpoints = Some(checkpoint::Writer { every: *every, dir: dir.clone() });
    }
    let pool = thread_pool(options.threads)?;
    let threads = pool.current_num_threads();
    let resumed_from = train_options.resume.as_ref().map(|c| c.path().to_path_buf());
    observer.start(&RunStart {
        plan: &plan,
        data: &data,
        threads,
        resumed_from: resumed_from.as_deref(),
        warnings: &warnings,
    });
    let outcome =
        pool.install(|| train::train_with(&plan, &data, train_options, &mut *observer)).map_err(|d| spec.fail(d))?;
    Ok(Run { plan, data, outcome, threads })
}

impl Run {
    /// The trace as JSON lines, one object per logged epoch.
    pub fn trace_jsonl(&self) -> String {
        self.outcome.trace.iter().map(|line| line.to_json() + "\n").collect()
    }

    /// The trained weights as a safetensors file's bytes (PyTorch state_dict names).
    pub fn weights_bytes(&self) -> Vec<u8> {
        weights::to_bytes(&self.plan, &self.outcome.params, &self.data)
    }

    /// Saves the trained weights, atomically.
    pub fn save_weights(&self, path: &Path) -> Result<(), Report> {
        output::write_atomic(path, &self.weights_bytes()).map_err(Report::from)
    }

    /// The run as one JSON object: final and best metrics, epochs run, why it stopped, the
    /// parameter count and the wall time.
    pub fn summary_json(&self, spec: &Spec) -> serde_json::Value {
        let outcome = &self.outcome;
        let last = outcome.trace.last();
        let (stop, best_epoch) = match &outcome.stop {
            StopReason::Completed => ("completed", outcome.best.as_ref().map(|b| b.epoch)),
            StopReason::EarlyStop { best_epoch, .. } => ("early_stop", Some(*best_epoch)),
        };
        serde_json::json!({
            "spec": spec.name(),
            "model": self.plan.name,
            "parameters": self.plan.parameter_count(),
            "epochs_run": last.map(|l| l.epoch),
            "steps": last.map(|l| l.step),
            "stop_reason": stop,
            "best_epoch": best_epoch,
            "wall_s": last.map(|l| l.elapsed_s),
            "final": last,
            "best": outcome.best,
            "confusion": outcome.confusion,
        })
    }
}
