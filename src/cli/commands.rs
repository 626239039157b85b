//! The commands themselves: `run`, `check`, `plan`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::{Context, RunArgs, emit, load, summary, warn};
use crate::data;
use crate::diagnostic::ColorChoice;
use crate::plan::{CompileOptions, Plan};
use crate::report::Report;
use crate::run::{self, Checkpoints, RunOptions};
use crate::spec::{LoadOptions, Spec};
use crate::train::{Observer, RunStart, StepProgress, TraceLine};

/// A bar over every step of the run, with its ETA and the latest loss.
fn progress_bar(plan: &Plan, prepared: &data::Prepared) -> indicatif::ProgressBar {
    let rows = prepared.splits.train.len();
    let steps = plan.steps_per_epoch(rows) * plan.train.epochs;
    let bar = indicatif::ProgressBar::new(steps as u64);
    let style = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} steps, ETA {eta}  {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

pub fn check(path: &Path, json: bool, ctx: &Context) -> Result<(), Report> {
    if json {
        return check_json(path, ctx);
    }
    let spec = load(path, &[], ctx)?;
    let layout = spec.validate(ctx.max_memory)?;
    // The rows too: a check reads them as a run would, and fits the columns.
    let data = load_data(&spec, false)?;
    warn(spec.data_warnings(&data), ctx.color);
    let plan = spec.compile_for(&data, CompileOptions::default());
    emit(&summary::model(&spec.resolved_model(&data), &plan))?;
    emit(&format!("{}\n", summary::data(spec.model(), layout.as_ref())))?;
    if spec.declares_columns() {
        emit(&data.encoding.describe())?;
    }
    emit(&format!("ok: {} is valid\n", path.display()))
}

/// `check --json`: the verdict and every diagnostic (errors and warnings) as one JSON object on
/// stdout; the exit code is the same as without `--json`.
fn check_json(path: &Path, ctx: &Context) -> Result<(), Report> {
    let options = LoadOptions { allow_paths: ctx.allow_paths.clone(), ..LoadOptions::default() };
    let result = Spec::load_with(path, &options).and_then(|spec| spec.validate(ctx.max_memory).map(|_| spec));
    let (diagnostics, failure) = match &result {
        Ok(spec) => (spec.warnings().to_vec(), None),
        Err(report) => (report.diagnostics().to_vec(), Some(report)),
    };
    let value = serde_json::json!({
        "file": path.display().to_string(),
        "valid": failure.is_none(),
        "diagnostics": diagnostics,
    });
    emit(&format!("{value}\n"))?;
    match failure {
        // Already printed as JSON: exit with its code, print nothing more.
        Some(report) => Err(Report::of_kind(report.kind(), Vec::new())),
        None => Ok(()),
    }
}

pub fn plan(path: &Path, ctx: &Context) -> Result<(), Report> {
    let spec = load(path, &[], ctx)?;
    // Where the data's columns decide the input width, the plan needs the data; the resolved
    // columns are shown first.
    if spec.declares_columns() || spec.plan_needs_data() {
        spec.validate(ctx.max_memory)?;
        let data = load_data(&spec, false)?;
        if spec.declares_columns() {
            emit(&data.encoding.describe())?;
        }
        return emit(&spec.compile_for(&data, CompileOptions::default()).to_string());
    }
    emit(&spec.compile(CompileOptions::default()).to_string())
}

/// A spec's data, with a progress line on a terminal (unless `quiet`).
fn load_data(spec: &Spec, quiet: bool) -> Result<data::Prepared, Report> {
    let bar = Loading::new(quiet);
    let progress = |what: &str, done: u64, total: u64| bar.show(what, done, total);
    let data = spec.load_data_with(&progress);
    bar.clear();
    data
}

/// The progress line while data loads: on a terminal's stderr only.
struct Loading {
    bar: Option<indicatif::ProgressBar>,
}

impl Loading {
    fn new(quiet: bool) -> Loading {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
            let style = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
                .expect("a valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Loading { bar }
    }

    fn show(&self, what: &str, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            if bar.message() != what {
                bar.set_message(what.to_string());
            }
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What `nnspec run` shows while training: the summary, then a progress bar on a terminal and
/// one line per logged epoch.
struct Terminal {
    quiet: bool,
    color: ColorChoice,
    /// The spec's model, summarised when the run starts (with its input width resolved).
    model: crate::ir::Model,
    /// The progress line while the data loads.
    loading: Loading,
    bar: Option<indicatif::ProgressBar>,
    /// A failure to print the start (stdout closed): reported when training ends.
    failed: Option<Report>,
}

impl Terminal {
    fn say(&mut self, text: &str) {
        if !self.quiet
            && self.failed.is_none()
            && let Err(report) = emit(text)
        {
            self.failed = Some(report);
        }
    }
}

impl Observer for Terminal {
    fn start(&mut self, start: &RunStart<'_>) {
        for warning in start.warnings {
            warn(Some(warning.clone()), self.color);
        }
        if let Some(path) = start.resumed_from {
            self.say(&format!("resuming from {}\n", path.display()));
        }
        self.loading.clear();
        let model = summary::model(&data::resolve(&self.model, start.data), start.plan);
        self.say(&model);
        let (plan, data) = (start.plan, start.data);
        let rows = data.splits.train.len();
        self.say(&format!(
            "{}; batch {} rows; {} thread(s)\n",
            summary::splits(data),
            plan.batch_rows(rows),
            start.threads
        ));
        // On a terminal, a live progress bar with the epochs' lines printed above it;
        // otherwise (a file, a pipe, CI) plain lines only.
        if !self.quiet && std::io::stdout().is_terminal() {
            self.bar = Some(progress_bar(plan, data));
        }
    }

    fn loading(&mut self, what: &str, done: u64, total: u64) {
        self.loading.show(what, done, total);
    }

    fn step(&mut self, progress: &StepProgress) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if progress.batch == progress.batches || progress.batch.is_multiple_of(8) {
                bar.set_message(format!(
                    "epoch {}, batch {}/{}, loss {:.5}",
                    progress.epoch, progress.batch, progress.batches, progress.loss
                ));
            }
        }
    }

    fn stop_requested(&mut self) -> bool {
        super::interrupt::requested()
    }

    fn epoch(&mut self, line: &TraceLine) {
        match &self.bar {
            Some(bar) => bar.println(summary::epoch_line(line)),
            None if self.quiet => {}
            None => {
                let _ = writeln!(std::io::stdout().lock(), "{}", summary::epoch_line(line));
            }
        }
    }
}

pub fn run(args: &RunArgs, ctx: &Context) -> Result<(), Report> {
    let spec = load(&args.spec, &args.set, ctx)?;
    if let Some(path) = &args.plot {
        crate::plot::check_format(path)?;
    }
    let mut options = RunOptions {
        threads: args.threads.map(usize::from),
        init: args.init.clone(),
        resume: args.resume.clone(),
        max_memory: ctx.max_memory,
        trace: args.trace.clone(),
        save: args.save.clone(),
        summary: args.summary_json.clone(),
        other_outputs: args.plot.iter().map(|path| ("the plot output".to_string(), path.clone())).collect(),
        ..RunOptions::default()
    };
    options.checkpoints = args.checkpoint_every.map(|every| Checkpoints {
        every: every as usize,
        dir: args.checkpoint_dir.clone().unwrap_or_else(|| Checkpoints::default_dir(&spec, &options)),
        keep: args.keep_checkpoints as usize,
    });
    if let Some(checkpoints) = options.checkpoints.as_ref().filter(|_| args.checkpoint_dir.is_none() && !args.quiet) {
        emit(&format!("checkpoints go to {}\n", checkpoints.dir.display()))?;
    }
    let mut terminal = Terminal {
        quiet: args.quiet,
        color: ctx.color,
        model: spec.model().clone(),
        loading: Loading::new(args.quiet),
        bar: None,
        failed: None,
    };
    super::interrupt::install();
    let result = run::train(&spec, &options, &mut terminal);
    if let Some(bar) = &terminal.bar {
        bar.finish_and_clear();
    }
    let run = result?;
    if let Some(report) = terminal.failed {
        return Err(report);
    }
    if let Some(path) = &args.plot {
        crate::plot::plot_run(&run, spec.name(), path, &crate::plot::Style::default())?;
    }
    if !args.quiet {
        emit(&summary::outcome(&run.outcome))?;
    }
    Ok(())
}
