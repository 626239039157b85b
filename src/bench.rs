//! Benchmarks (`nnspec bench`): a spec trained with the time recorded after every optimizer
//! step, summarised as the peer baselines in `benches/` summarise theirs: steady-state samples
//! per second over all steps after the first `max(10, total / 20)`, and `train_wall_s` from
//! before the first step to the end of the last.

use std::path::Path;
use std::time::Instant;

use crate::report::Report;
use crate::run::{self, RunOptions};
use crate::spec::Spec;

/// Trains the spec at `path` with `options` (threads, chunk rows, memory limit) and returns
/// its benchmark line.
pub fn measure(path: &Path, options: &RunOptions) -> Result<serde_json::Value, Report> {
    let process_start = Instant::now();
    let spec = Spec::load(path, &[])?;
    let options = RunOptions { record_steps: true, ..options.clone() };
    let run = run::train(&spec, &options, &mut ())?;
    let plan = &run.plan;
    let rows = run.data.splits.train.len();
    let capacity = plan.batch_rows(rows);
    let ends = &run.outcome.step_ends;
    let sizes: Vec<usize> = (0..ends.len())
        .map(|step| {
            let within = step % plan.steps_per_epoch(rows).max(1);
            capacity.min(rows - within * capacity)
        })
        .collect();
    let warmup = (ends.len() / 20).max(10).min(ends.len().saturating_sub(1));
    let steady_time = ends[ends.len() - 1] - if warmup == 0 { 0.0 } else { ends[warmup - 1] };
    let steady_samples: usize = sizes[warmup..].iter().sum();
    let samples_per_s = steady_samples as f64 / steady_time;
    let params = plan.parameter_count();
    Ok(serde_json::json!({
        "system": "nnspec",
        "spec": path.display().to_string(),
        "model": plan.name,
        "threads": run.threads,
        "chunk_rows": plan.chunk_rows(capacity),
        "train_wall_s": ends[ends.len() - 1],
        "steady_samples_per_s": samples_per_s,
        "steady_gflops": samples_per_s * 6.0 * params as f64 / 1e9,
        "warmup_steps": warmup,
        "total_steps": ends.len(),
        "params": params,
        "final_loss": run.outcome.trace.last().map(|l| l.train.loss),
        "process_wall_s": process_start.elapsed().as_secs_f64(),
        "nnspec_version": env!("CARGO_PKG_VERSION"),
    }))
}
