//! The commands themselves: `run`, `check`, `plan`.

use std::io::Write;
use std::path::Path;

use super::RunArgs;
use super::{load, summary};
use crate::diagnostic::{Code, ColorChoice, Diagnostic, render_all};
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::train::checkpoint;
use crate::{Failure, data, output, train, weights};

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
    for path in args.trace.iter().chain(&args.save).chain(&args.summary_json) {
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
    super::emit(&summary::model(&model, &plan).to_string())?;
    super::emit(&format!(
        "{}; batch {} rows; {} thread(s)\n",
        summary::splits(&prepared),
        plan.batch_rows(prepared.splits.train.len()),
        pool.current_num_threads()
    ))?;
    let stdout = std::io::stdout();
    let outcome = pool.install(|| {
        train::train_with(
            &plan,
            &prepared,
            options,
            |line| {
                let mut out = stdout.lock();
                let _ = writeln!(out, "{}", summary::epoch_line(line));
            },
            |session| writer.as_ref().map_or(Ok(()), |w| w.after_epoch(session)),
        )
    })?;
    if let Some(trace_path) = &args.trace {
        let text: String = outcome.trace.iter().map(|line| line.to_json() + "\n").collect();
        output::write_atomic(trace_path, text.as_bytes())?;
    }
    if let Some(path) = &args.save {
        output::write_atomic(path, &weights::to_bytes(&plan, &outcome.params, &prepared.scaler))?;
    }
    if let Some(path) = &args.summary_json {
        let text = summary::json(&args.spec, &plan, &outcome).to_string() + "\n";
        output::write_atomic(path, text.as_bytes())?;
    }
    super::emit(&summary::outcome(&outcome).to_string())?;
    Ok(())
}
