//! Stage 4, run: trains a plan on prepared data, epoch by epoch, batch by batch; evaluates the
//! validation rows after each epoch, stops early when asked, and tests once at the end.
//! Everything that decides the numbers (initial weights, batch order, dropout masks, chunking)
//! is seeded or fixed, so the trace and weights do not depend on the number of threads, and a
//! run resumed from a checkpoint continues exactly as if it had never stopped.

pub mod checkpoint;
mod early_stop;
mod metrics;
mod observer;
mod plateau;
mod session;
mod trace;

pub use metrics::{ClassReport, Confusion, Metrics, evaluate, split_sst};
pub use observer::{Observer, RunStart, StepProgress};
pub use session::Session;
pub use trace::TraceLine;

use std::time::Instant;

use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::Params;
use crate::plan::Plan;

/// Why training ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// Every epoch ran.
    Completed,
    /// Early stopping: no improvement for `patience` epochs after `best_epoch`.
    EarlyStop { best_epoch: usize, restored: bool },
}

/// What a finished run leaves.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub trace: Vec<TraceLine>,
    pub params: Params,
    pub stop: StopReason,
    /// The epoch with the best monitored metric (validation loss or accuracy with early
    /// stopping; else validation loss, else training loss) and its trace line.
    pub best: Option<TraceLine>,
    /// The epoch whose weights `params` holds when it is not the last one: early stopping's
    /// `restore_best` put back the best epoch's weights (which the test metrics, the
    /// confusion matrix and a saved file then score).
    pub restored: Option<usize>,
    /// On the test rows, else the validation rows, else the training rows.
    pub confusion: Option<Confusion>,
    /// With `Options::record_steps`: seconds from the start of the first step to the end of
    /// each optimizer step, as the peer benchmarks time them.
    pub step_ends: Vec<f64>,
}

impl Outcome {
    /// The trace line of the epoch whose weights the run leaves (`params`, what `--save`
    /// writes): the restored best epoch's, else the last epoch's. The test metrics were measured
    /// with these weights; they sit on the last line of the trace.
    pub fn weights_line(&self) -> Option<&TraceLine> {
        match self.restored {
            Some(epoch) => self.best.as_ref().filter(|best| best.epoch == epoch),
            None => self.trace.last(),
        }
    }
}

/// How to run, beyond what the plan says.
#[derive(Default)]
pub struct Options {
    /// Record the time at the end of every step (for benchmarks).
    pub record_steps: bool,
    /// Start from these weights instead of the seeded initialisation (`--init`).
    pub init: Option<Params>,
    /// Continue this checkpointed run (`--resume`).
    pub resume: Option<checkpoint::Checkpoint>,
    /// Write checkpoints as the run goes.
    pub checkpoints: Option<checkpoint::Writer>,
}

/// Trains from the spec's seeded initial weights, telling `observer` what happens.
pub fn train(plan: &Plan, data: &Prepared, observer: &mut dyn Observer) -> Result<Outcome, Diagnostic> {
    train_with(plan, data, Options::default(), observer)
}

/// `train`, with options.
pub fn train_with(
    plan: &Plan,
    data: &Prepared,
    mut options: Options,
    observer: &mut dyn Observer,
) -> Result<Outcome, Diagnostic> {
    let mut session = match &options.resume {
        Some(checkpoint) => checkpoint.restore(plan, data)?,
        None => Session::new(plan, data, options.init),
    };
    let mut step_ends = Vec::new();
    if options.record_steps {
        // Reserved up front so that timing never pays for growth; bounded for absurd epoch counts.
        step_ends.reserve(session.steps_per_epoch().saturating_mul(plan.train.epochs).min(1 << 24));
    }
    let start = Instant::now();
    while !session.finished() {
        let recorder = options.record_steps.then_some(&mut step_ends);
        if let Some(line) = session.run_epoch(start, recorder, observer)? {
            observer.epoch(&line);
        }
        let interrupted = !session.finished() && observer.stop_requested();
        if let Some(writer) = options.checkpoints.as_mut() {
            writer.after_epoch(&session, interrupted)?;
        }
        if interrupted {
            return Err(Diagnostic::error(
                Code::Interrupted,
                format!("interrupted after epoch {} of {}", session.epochs_done(), plan.train.epochs),
            )
            .help_opt(
                options.checkpoints.as_ref().map(|writer| {
                    format!("continue exactly where it stopped with `--resume {}`", writer.dir().display())
                }),
            ));
        }
    }
    let mut outcome = session.finish()?;
    outcome.step_ends = step_ends;
    Ok(outcome)
}
