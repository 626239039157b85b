//! The commands themselves: `run`, `check`, `plan`.

use std::io::Write;
use std::path::Path;

use super::{load, summary};
use crate::diagnostic::ColorChoice;
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::{Failure, data, output, train};

/// A rayon pool of `threads` workers (default: one per core).
pub fn thread_pool(threads: Option<u16>) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.map_or(0, usize::from))
        .build()
        .expect("a thread pool of a valid size starts")
}

pub fn check(path: &Path, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = load(path, source, color)?;
    let layout = data::probe(&model)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    print!("{}", summary::model(&model, &plan));
    println!("{}", summary::data(&model, layout.as_ref()));
    println!("ok: {} is valid", path.display());
    Ok(())
}

pub fn plan(path: &Path, source: &mut Option<Source>, color: ColorChoice) -> Result<(), Failure> {
    let model = load(path, source, color)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    print!("{plan}");
    Ok(())
}

pub fn run(
    path: &Path,
    trace_path: Option<&Path>,
    threads: Option<u16>,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    let model = load(path, source, color)?;
    data::probe(&model)?;
    if let Some(trace_path) = trace_path {
        output::check_writable(trace_path)?;
    }
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let prepared = data::load(&model)?;
    let pool = thread_pool(threads);
    print!("{}", summary::model(&model, &plan));
    println!(
        "{}; batch {} rows; {} thread(s)",
        summary::splits(&prepared),
        plan.batch_rows(prepared.splits.train.len()),
        pool.current_num_threads()
    );
    let stdout = std::io::stdout();
    let outcome = pool.install(|| {
        train::train(&plan, &prepared, |line| {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", summary::epoch_line(line));
        })
    })?;
    if let Some(trace_path) = trace_path {
        let text: String = outcome.trace.iter().map(|line| line.to_json() + "\n").collect();
        output::write_atomic(trace_path, text.as_bytes())?;
    }
    print!("{}", summary::outcome(&outcome));
    Ok(())
}
