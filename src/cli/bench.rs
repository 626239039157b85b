//! `nnspec bench`: trains benchmark specs and prints one JSON line each, timed exactly as the
//! peer baselines in ../shared/bench/workloads.py time themselves: the time after every
//! optimizer step; steady-state samples per second over all steps after the first
//! `max(10, total / 20)`; `train_wall_s` from before the first step to the end of the last.

use std::path::Path;

use serde_json::json;

use crate::Failure;
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::train::{self, Options};
use crate::{data, diagnostic::ColorChoice};

pub fn bench(
    specs: &[std::path::PathBuf],
    threads: Option<u16>,
    chunk_rows: Option<usize>,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    for spec in specs {
        bench_one(spec, threads, chunk_rows, source, color)?;
    }
    Ok(())
}

fn bench_one(
    path: &Path,
    threads: Option<u16>,
    chunk_rows: Option<usize>,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    let process_start = std::time::Instant::now();
    let model = super::load(path, source, color)?;
    super::check_memory(&model)?;
    let options = CompileOptions { chunk_rows };
    let plan = compile(&model, source.as_ref().expect("loaded"), options);
    let prepared = data::load(&model)?;
    let pool = super::commands::thread_pool(threads)?;
    let rows = prepared.splits.train.len();
    let capacity = plan.batch_rows(rows);
    let outcome = pool.install(|| {
        train::train_with(&plan, &prepared, Options { record_steps: true, ..Options::default() }, |_| {}, |_| Ok(()))
    })?;
    let sizes: Vec<usize> = (0..outcome.step_ends.len())
        .map(|step| {
            let within = step % rows.div_ceil(capacity);
            capacity.min(rows - within * capacity)
        })
        .collect();
    let ends = &outcome.step_ends;
    let warmup = (ends.len() / 20).max(10).min(ends.len().saturating_sub(1));
    let steady_time = ends[ends.len() - 1] - if warmup == 0 { 0.0 } else { ends[warmup - 1] };
    let steady_samples: usize = sizes[warmup..].iter().sum();
    let samples_per_s = steady_samples as f64 / steady_time;
    let params = plan.parameter_count();
    let line = json!({
        "system": "nnspec",
        "spec": path.display().to_string(),
        "model": plan.name,
        "threads": pool.current_num_threads(),
        "chunk_rows": plan.chunk_rows(capacity),
        "train_wall_s": ends[ends.len() - 1],
        "steady_samples_per_s": samples_per_s,
        "steady_gflops": samples_per_s * 6.0 * params as f64 / 1e9,
        "warmup_steps": warmup,
        "total_steps": ends.len(),
        "params": params,
        "final_loss": outcome.trace.last().map(|l| l.train.loss),
        "process_wall_s": process_start.elapsed().as_secs_f64(),
        "nnspec_version": env!("CARGO_PKG_VERSION"),
    });
    super::emit(&format!("{line}\n"))?;
    Ok(())
}
