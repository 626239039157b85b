//! The commands themselves: `run`, `check`, `plan`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::RunArgs;
use super::{load, summary};
use crate::diagnostic::{Code, ColorChoice, Diagnostic, render_all};
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::train::checkpoint;
use crate::{Failure, data, output, train, weights};

/// A bar over every step of the run, with its ETA and the latest loss.
fn progress_bar(plan: &crate::plan::Plan, prepared: &data::Prepared) -> indicatif::ProgressBar {
    let rows = prepared.splits.train.len();
    let steps = rows.div_ceil(plan.batch_rows(rows)) * plan.train.epochs;
    let bar = indicatif::ProgressBar::new(steps as u64);
    let style = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} steps, ETA {eta}  {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// A rayon pool of `threads` workers (default: one per core).
pub fn thread_pool(threads: Option<u16>) -> Result<rayon::ThreadPool, Failure> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.map_or(0, usize::from)).build().map_err(|error| {
        Failure::from(Diagnostic::error(Code::Runtime, format!("cannot start the worker threads: {error}")))
    })
}

pub fn check(path: &Path, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = load(path, source, color)?;
    let layout = data::probe(&model)?;
    super::check_memory(&model)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    super::emit(&summary::model(&model, &plan).to_string())?;
    super::emit(&format!("{}\n", summary::data(&model, layout.as_ref())))?;
    super::emit(&format!("ok: {} is valid\n", path.display()))?;
    Ok(())
}

pub fn plan(path: &Path, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = load(path, source, color)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    super::emit(&format!("{plan}"))?;
    Ok(())
}

pub fn run(args: &RunArgs, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = super::load_with(&args.spec, &args.set, source, color)?;
    data::probe(&model)?;
    super::check_memory(&model)?;
    for path in args.trace.iter().chain(&args.save).chain(&args.summary_json).chain(&args.plot) {
        output::check_writable(path)?;
    }
    if let Some(dir) = &args.checkpoint_dir {
        std::fs::create_dir_all(dir)
            .map_err(|error| Diagnostic::error(Code::Output, format!("cannot create `{}`: {error}", dir.display())))?;
        output::check_writable(&dir.join(checkpoint::file_name(0)))?;
    }
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let prepared = data::load(&model)?;
    let mut options = train::Options::default();
    if let Some(path) = &args.init {
        let decoded = weights::read(path)?;
        if let Some(warning) = weights::architecture_warning(&plan, &decoded, path) {
            eprint!("{}", render_all(&[warning], source.as_ref().expect("loaded"), color));
        }
        options.init = Some(weights::params_from(&plan, &decoded, "", path)?);
    }
    if let Some(path) = &args.resume {
        let checkpoint = checkpoint::load(path)?;
        super::emit(&format!("resuming from {}\n", checkpoint.path().display()))?;
        options.resume = Some(checkpoint);
    }
    let writer = args
        .checkpoint_every
        .zip(args.checkpoint_dir.as_ref())
        .map(|(every, dir)| checkpoint::Writer { every: every as usize, dir: dir.clone() });
    let pool = thread_pool(args.threads)?;
    let say = |text: &str| if args.quiet { Ok(()) } else { super::emit(text) };
    say(&summary::model(&model, &plan))?;
    say(&format!(
        "{}; batch {} rows; {} thread(s)\n",
        summary::splits(&prepared),
        plan.batch_rows(prepared.splits.train.len()),
        pool.current_num_threads()
    ))?;
    // On a terminal, a live progress bar with the epochs' lines printed above it; otherwise
    // (a file, a pipe, CI) plain lines only.
    let bar = (!args.quiet && std::io::stdout().is_terminal()).then(|| progress_bar(&plan, &prepared));
    if let Some(bar) = bar.clone() {
        options.on_step = Some(Box::new(move |epoch, batch, batches, loss| {
            bar.inc(1);
            if batch == batches || batch % 8 == 0 {
                bar.set_message(format!("epoch {epoch}, batch {batch}/{batches}, loss {loss:.5}"));
            }
        }));
    }
    let stdout = std::io::stdout();
    let outcome = pool.install(|| {
        train::train_with(
            &plan,
            &prepared,
            options,
            |line| match &bar {
                Some(bar) => bar.println(summary::epoch_line(line)),
                None if args.quiet => {}
                None => {
                    let _ = writeln!(stdout.lock(), "{}", summary::epoch_line(line));
                }
            },
            |session| writer.as_ref().map_or(Ok(()), |w| w.after_epoch(session)),
        )
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(trace_path) = &args.trace {
        let text: String = outcome.trace.iter().map(|line| line.to_json() + "\n").collect();
        output::write_atomic(trace_path, text.as_bytes())?;
    }
    if let Some(path) = &args.save {
        output::write_atomic(path, &weights::to_bytes(&plan, &outcome.params, &prepared))?;
    }
    if let Some(path) = &args.plot {
        let lines: Vec<serde_json::Value> =
            outcome.trace.iter().map(|line| serde_json::to_value(line).expect("serialisable")).collect();
        super::plot::plot(&lines, path)?;
    }
    if let Some(path) = &args.summary_json {
        let text = summary::json(&args.spec, &plan, &outcome).to_string() + "\n";
        output::write_atomic(path, text.as_bytes())?;
    }
    say(&summary::outcome(&outcome))?;
    Ok(())
}
