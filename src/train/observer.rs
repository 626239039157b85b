//! `Observer`: how a front end follows a run. One trait replaces separate callbacks for steps,
//! logged epochs and interruption; every method has a default that does nothing, so a front
//! end implements only what it shows.

use std::path::Path;

use super::TraceLine;
use crate::data::Prepared;
use crate::plan::Plan;
use crate::report::Report;

/// What a run is about to do, told before its first epoch.
pub struct RunStart<'a> {
    pub plan: &'a Plan,
    pub data: &'a Prepared,
    /// The worker threads it runs on.
    pub threads: usize,
    /// The checkpoint a resumed run continues.
    pub resumed_from: Option<&'a Path>,
    /// Warnings that are not the spec's own (weights saved from another architecture).
    pub warnings: &'a [Report],
}

/// Where a run stands after one optimizer step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProgress {
    /// The epoch in progress (from 1).
    pub epoch: usize,
    /// The batch just trained (from 1) and the batches per epoch.
    pub batch: usize,
    pub batches: usize,
    /// That batch's mean loss.
    pub loss: f64,
}

/// Told what happens during a run. Runs happen on the worker threads' pool, hence `Send`.
pub trait Observer: Send {
    /// Before the first epoch (told by `run::train`, which knows the whole run).
    fn start(&mut self, _start: &RunStart<'_>) {}

    /// While the data loads: `what` is being done (`reading data/x.csv`, `parsing ...`), `done`
    /// of `total` bytes. Called from the loading threads, in turn.
    fn loading(&mut self, _what: &str, _done: u64, _total: u64) {}

    /// After every optimizer step (progress bars).
    fn step(&mut self, _progress: &StepProgress) {}

    /// After every logged epoch, with its trace line (printing, live trace files).
    fn epoch(&mut self, _line: &TraceLine) {}

    /// Asked after every epoch: `true` stops the run there (Ctrl-C), as an interruption.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Observes nothing.
impl Observer for () {}
