//! The commands themselves: `run`, `check`, `plan`.

use std::io::Write;
use std::path::Path;

use super::{load, summary};
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::{Failure, data, output, train};

pub fn check(path: &Path, source: &mut Option<Source>) -> Result<(), Failure> {
    let model = load(path, source)?;
    let layout = data::probe(&model)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    print!("{}", summary::model(&model, &plan));
    println!("{}", summary::data(&model, layout.as_ref()));
    println!("ok: {} is valid", path.display());
    Ok(())
}

pub fn plan(path: &Path, source: &mut Option<Source>) -> Result<(), Failure> {
    let model = load(path, source)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    print!("{plan}");
    Ok(())
}

pub fn run(
    path: &Path,
    trace_path: Option<&Path>,
    threads: Option<u16>,
    source: &mut Option<Source>,
) -> Result<(), Failure> {
    let model = load(path, source)?;
    data::probe(&model)?;
    if let Some(trace_path) = trace_path {
        output::check_writable(trace_path)?;
    }
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let dataset = data::load(&model)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.map_or(0, usize::from))
        .build()
        .expect("a thread pool of a valid size starts");
    print!("{}", summary::model(&model, &plan));
    println!(
        "training on {} rows, batch {} rows, {} thread(s)",
        dataset.rows,
        plan.batch_rows(dataset.rows),
        pool.current_num_threads()
    );
    let stdout = std::io::stdout();
    let outcome = pool.install(|| {
        train::train(&plan, &dataset, |line| {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", summary::epoch_line(line));
        })
    })?;
    if let Some(trace_path) = trace_path {
        let text: String = outcome.trace.iter().map(|line| line.to_json() + "\n").collect();
        output::write_atomic(trace_path, text.as_bytes())?;
    }
    if let Some(last) = outcome.trace.last() {
        println!(
            "done: {} epochs, {} steps in {:.3} s",
            last.epoch, last.step, last.elapsed_s
        );
    }
    Ok(())
}
