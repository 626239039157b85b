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
use crate::train::{self, Observer, Outcome, RunStart, StopReason, TraceLine, checkpoint};
use crate::{output, project, weights};

/// How to run a spec, beyond what the spec says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Worker threads (default and at most: one per core). Results are identical for any number.
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
    /// Write the trace (JSON lines) here, a line as each logged epoch ends (not atomically: the
    /// file can be followed while the run goes, and an interrupted run leaves its lines).
    pub trace: Option<PathBuf>,
    /// Save the trained weights here.
    pub save: Option<PathBuf>,
    /// Write the run's JSON summary here.
    pub summary: Option<PathBuf>,
    /// The front end's own outputs, `(role, path)`, checked with these before the run starts.
    pub other_outputs: Vec<(String, PathBuf)>,
}

impl RunOptions {
    /// The files the run reads besides the spec's: `--init` weights, a `--resume` checkpoint.
    fn inputs(&self) -> Vec<(&'static str, PathBuf)> {
        let init = self.init.iter().map(|p| ("the initial weights", p.clone()));
        init.chain(self.resume.iter().filter(|p| p.is_file()).map(|p| ("the checkpoint resumed", p.clone()))).collect()
    }

    /// The files the run writes, with their roles.
    fn outputs(&self) -> Vec<(&str, PathBuf)> {
        let named = [
            ("the trace output", &self.trace),
            ("the weights output", &self.save),
            ("the summary output", &self.summary),
        ];
        let named = named.into_iter().filter_map(|(role, path)| path.as_ref().map(|p| (role, p.clone())));
        named.chain(self.other_outputs.iter().map(|(role, path)| (role.as_str(), path.clone()))).collect()
    }
}

/// Before anything runs: no output is an input or another output, and each can be written.
fn check_outputs(spec: &Spec, options: &RunOptions) -> Result<(), Report> {
    let inputs: Vec<(&str, PathBuf)> = spec.inputs().into_iter().chain(options.inputs()).collect();
    let outputs = options.outputs();
    let checkpoint_trace =
        options.checkpoints.iter().map(|c| ("the checkpoints' trace", c.dir.join(checkpoint::TRACE_FILE)));
    let roles: Vec<(&str, PathBuf)> = outputs.iter().cloned().chain(checkpoint_trace).collect();
    project::check_roles(&inputs, &roles).map_err(|d| spec.fail(d))?;
    for (_, path) in &outputs {
        output::check_writable(path).map_err(|d| spec.fail(d))?;
    }
    if let Some(Checkpoints { dir, .. }) = &options.checkpoints {
        std::fs::create_dir_all(dir).map_err(|error| {
            spec.fail(Diagnostic::error(Code::Output, format!("cannot create `{}`: {error}", dir.display())))
        })?;
        output::check_writable(&dir.join(checkpoint::file_name(0))).map_err(|d| spec.fail(d))?;
    }
    Ok(())
}

/// Checkpoint every `every` epochs (and after the last) into `dir`, keeping the newest `keep`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoints {
    pub every: usize,
    pub dir: PathBuf,
    pub keep: usize,
}

impl Checkpoints {
    /// Where checkpoints go when the command line gives only their interval: `NAME.checkpoints`
    /// (NAME the spec file's name without `.nn`) in the folder of the run's weights output,
    /// else of its trace, else of its summary, else the current folder.
    pub fn default_dir(spec: &Spec, options: &RunOptions) -> PathBuf {
        let stem = spec.path().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned());
        let name = format!("{}.checkpoints", stem.unwrap_or_else(|| spec.model().name.clone()));
        let beside = [&options.save, &options.trace, &options.summary].into_iter().flatten().next();
        match beside.and_then(|path| path.parent()) {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }
}

/// A finished run.
pub struct Run {
    pub plan: Plan,
    pub data: Prepared,
    pub outcome: Outcome,
    /// The worker threads it ran on.
    pub threads: usize,
    /// The files the spec read, which no output may replace.
    inputs: Vec<(&'static str, PathBuf)>,
}

/// A rayon pool of `threads` workers (default and at most: one per core, see
/// `exec::worker_threads`).
pub fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool, Report> {
    let workers = crate::exec::worker_threads(threads);
    rayon::ThreadPoolBuilder::new().num_threads(workers).build().map_err(|error| {
        Report::from(Diagnostic::error(Code::Runtime, format!("cannot start the worker threads: {error}")))
    })
}

/// The plan and data a spec runs on, after every check that can be made before training:
/// the data header, then the memory estimate, then the rows themselves.
pub fn prepare(spec: &Spec, options: &RunOptions) -> Result<(Plan, Prepared), Report> {
    prepare_observed(spec, options, &mut ())
}

/// `prepare`, telling `observer` how the loading of the data goes. The plan follows the data:
/// the columns may decide the input width.
pub fn prepare_observed(
    spec: &Spec,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<(Plan, Prepared), Report> {
    spec.validate(options.max_memory)?;
    let observer = std::sync::Mutex::new(observer);
    let progress = |what: &str, done: u64, total: u64| {
        if let Ok(mut observer) = observer.lock() {
            observer.loading(what, done, total);
        }
    };
    let data = spec.load_data_with(&progress)?;
    let plan = spec.compile_for(&data, CompileOptions { chunk_rows: options.chunk_rows });
    Ok((plan, data))
}

/// Trains a spec: `prepare`, then the initial weights, then the epochs.
pub fn train(spec: &Spec, options: &RunOptions, observer: &mut dyn Observer) -> Result<Run, Report> {
    // Outputs first: a run must not fail at its end for want of a writable path, nor write
    // over what it reads.
    check_outputs(spec, options)?;
    let (plan, data) = prepare_observed(spec, options, &mut *observer)?;
    let mut train_options = train::Options { record_steps: options.record_steps, ..train::Options::default() };
    let mut warnings: Vec<Report> = spec.data_warnings(&data).into_iter().collect();
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
    if let Some(Checkpoints { every, dir, keep }) = &options.checkpoints {
        train_options.checkpoints = Some(checkpoint::Writer::new(*every, dir.clone(), *keep));
    }
    let pool = thread_pool(options.threads)?;
    let threads = pool.current_num_threads();
    // The trace file is replaced only now that the run is about to train, then grows line by
    // line; a resumed run's file starts with the lines of the run it continues.
    let mut live = None;
    let observer: &mut dyn Observer = match &options.trace {
        Some(path) => {
            let resumed = train_options.resume.as_ref().map_or(&[][..], |c| c.trace());
            live.insert(LiveTrace::create(path, resumed, observer).map_err(|d| spec.fail(d))?)
        }
        None => observer,
    };
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
    let run = Run { plan, data, outcome, threads, inputs: spec.inputs() };
    if let Some(live) = live {
        live.finish(&run).map_err(|d| spec.fail(d))?;
    }
    if let Some(path) = &options.save {
        run.save_weights(path)?;
    }
    if let Some(path) = &options.summary {
        output::write_atomic(path, (run.summary_json(spec).to_string() + "\n").as_bytes()).map_err(|d| spec.fail(d))?;
    }
    Ok(run)
}

/// The `--trace` file as the run goes: each logged line appended (and flushed) when it is
/// logged, then passed on to the front end's observer.
struct LiveTrace<'o> {
    file: output::LiveFile,
    inner: &'o mut dyn Observer,
    /// The lines written, and the first failure to write one (reported when the run ends).
    lines: usize,
    failed: Option<Diagnostic>,
}

impl<'o> LiveTrace<'o> {
    fn create(path: &Path, resumed: &[TraceLine], inner: &'o mut dyn Observer) -> Result<LiveTrace<'o>, Diagnostic> {
        let mut file = output::LiveFile::create(path)?;
        if !resumed.is_empty() {
            let text: String = resumed.iter().map(|line| line.to_json() + "\n").collect();
            file.append(text.as_bytes())?;
        }
        Ok(LiveTrace { file, inner, lines: resumed.len(), failed: None })
    }

    /// After the run: the last line again if it gained the test metrics, so that the file is
    /// the whole trace; where a write failed during the run, the whole trace, atomically.
    fn finish(mut self, run: &Run) -> Result<(), Diagnostic> {
        let trace = &run.outcome.trace;
        if self.failed.is_some() || self.lines != trace.len() {
            return output::write_atomic(self.file.path(), run.trace_jsonl().as_bytes());
        }
        match trace.last().filter(|last| last.test.is_some()) {
            Some(last) => self.file.replace_last((last.to_json() + "\n").as_bytes()),
            None => Ok(()),
        }
    }
}

impl Observer for LiveTrace<'_> {
    fn start(&mut self, start: &RunStart<'_>) {
        self.inner.start(start);
    }

    fn loading(&mut self, what: &str, done: u64, total: u64) {
        self.inner.loading(what, done, total);
    }

    fn step(&mut self, progress: &train::StepProgress) {
        self.inner.step(progress);
    }

    fn epoch(&mut self, line: &TraceLine) {
        if self.failed.is_none() {
            match self.file.append((line.to_json() + "\n").as_bytes()) {
                Ok(()) => self.lines += 1,
                Err(error) => self.failed = Some(error),
            }
        }
        self.inner.epoch(line);
    }

    fn stop_requested(&mut self) -> bool {
        self.inner.stop_requested()
    }
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

    /// Saves the trained weights, atomically; never over one of the files the run read.
    pub fn save_weights(&self, path: &Path) -> Result<(), Report> {
        project::check_roles(&self.inputs, &[("the weights output", path)])?;
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
            // The epoch whose weights the run leaves (`--save`): the restored best, or the last.
            "weights_epoch": outcome.weights_line().map(|l| l.epoch),
            "wall_s": last.map(|l| l.elapsed_s),
            "final": last,
            "best": outcome.best,
            "confusion": outcome.confusion,
        })
    }
}
