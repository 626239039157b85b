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
    let steps = rows.div_ceil(plan.batch_rows(rows)) * plan.train.epochs;
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
    let plan = spec.compile(CompileOptions::default());
    emit(&summary::model(spec.model(), &plan))?;
    emit(&format!("{}\n", summary::data(spec.model(), layout.as_ref())))?;
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
    emit(&spec.compile(CompileOptions::default()).to_string())
}

/// What `nnspec run` shows while training: the summary, then a progress bar on a terminal and
/// one line per logged epoch.
struct Terminal {
    quiet: bool,
    color: ColorChoice,
    /// The model summary, printed when the run starts.
    model: String,
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
        let model = std::mem::take(&mut self.model);
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
        super::plot::check_format(path)?;
    }
    let options = RunOptions {
        threads: args.threads.map(usize::from),
        init: args.init.clone(),
        resume: args.resume.clone(),
        checkpoints: args.checkpoint_every.zip(args.checkpoint_dir.as_ref()).map(|(every, dir)| Checkpoints {
            every: every as usize,
            dir: dir.clone(),
            keep: args.keep_checkpoints as usize,
        }),
        max_memory: ctx.max_memory,
        trace: args.trace.clone(),
        save: args.save.clone(),
        summary: args.summary_json.clone(),
        other_outputs: args.plot.iter().map(|path| ("the plot output".to_string(), path.clone())).collect(),
        ..RunOptions::default()
    };
    let model = summary::model(spec.model(), &spec.compile(CompileOptions::default()));
    let mut terminal = Terminal { quiet: args.quiet, color: ctx.color, model, bar: None, failed: None };
    let result = run::train(&spec, &options, &mut terminal);
    if let Some(bar) = &terminal.bar {
        bar.finish_and_clear();
    }
    let run = result?;
    if let Some(report) = terminal.failed {
        return Err(report);
    }
    if let Some(path) = &args.plot {
        super::plot::plot(&run.outcome.trace, path)?;
    }
    if !args.quiet {
        emit(&summary::outcome(&run.outcome))?;
    }
    Ok(())
}
