//! A training run in progress: everything that decides what happens next (weights, optimizer
//! moments, the step count, the batch order and random streams, the trace so far, early
//! stopping's memory). One call runs one epoch; a checkpoint is this state written down.

use std::time::Instant;

use rand_chacha::ChaCha8Rng;

use super::early_stop::EarlyStopping;
use super::metrics::{Confusion, Metrics, evaluate, split_sst};
use super::plateau::Plateau;
use super::{Observer, Outcome, StepProgress, StopReason, TraceLine};
use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::{Mode, Params, State};
use crate::kernels::loss::LossSums;
use crate::plan::Plan;
use crate::rng::{self, Stream};

pub struct Session<'a> {
    pub(super) plan: &'a Plan,
    pub(super) data: &'a Prepared,
    pub(super) params: Params,
    pub(super) state: State,
    /// The training rows in the order the last epoch visited them (each epoch shuffles it).
    pub(super) order: Vec<usize>,
    pub(super) shuffle_rng: ChaCha8Rng,
    /// Epochs completed.
    pub(super) epoch: usize,
    pub(super) trace: Vec<TraceLine>,
    /// The best epoch so far without early stopping (early stopping keeps its own).
    pub(super) best: Option<TraceLine>,
    pub(super) early_stop: Option<EarlyStopping>,
    /// `reduce_lr`'s memory.
    pub(super) plateau: Option<Plateau>,
    /// Early stopping has asked to stop.
    pub(super) stopped: bool,
    /// `elapsed_s` of the last epoch before a resume, so the trace's clock keeps running.
    pub(super) elapsed_offset: f64,
    capacity: usize,
    /// Whether a batch's step has parallel phases (`Plan::splits_steps`), worked out once.
    parallel_steps: bool,
    train_sst: f64,
    validation_sst: f64,
    last_finite: Option<f64>,
}

impl<'a> Session<'a> {
    /// A fresh run: seeded initial weights (or `init`), nothing trained yet.
    pub fn new(plan: &'a Plan, data: &'a Prepared, init: Option<Params>) -> Self {
        let settings = &plan.train;
        let params = init.unwrap_or_else(|| Params::init(plan, settings.seed));
        let capacity = plan.batch_rows(data.splits.train.len());
        let sst = |rows: &[usize]| split_sst(plan, &data.dataset, rows);
        Session {
            plan,
            data,
            state: State::new(plan, capacity, settings.seed),
            order: data.splits.train.clone(),
            shuffle_rng: rng::stream(settings.seed, Stream::Shuffle),
            epoch: 0,
            trace: Vec::new(),
            best: None,
            early_stop: settings.early_stop.map(|early| EarlyStopping::new(early, &params)),
            plateau: settings.reduce_lr.map(Plateau::new),
            params,
            stopped: false,
            elapsed_offset: 0.0,
            capacity,
            parallel_steps: plan.splits_steps(capacity),
            train_sst: sst(&data.splits.train),
            validation_sst: sst(&data.splits.validation),
            last_finite: None,
        }
    }

    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.plan.steps_per_epoch(self.data.splits.train.len())
    }

    /// Every epoch ran, or early stopping stopped the run.
    pub fn finished(&self) -> bool {
        self.stopped || self.epoch >= self.plan.train.epochs
    }

    /// Trains one epoch and evaluates the validation rows; returns the trace line if the epoch
    /// is logged. `step_ends` records the time after every step.
    pub fn run_epoch(
        &mut self,
        start: Instant,
        step_ends: Option<&mut Vec<f64>>,
        observer: &mut dyn Observer,
    ) -> Result<Option<TraceLine>, Diagnostic> {
        let (plan, data) = (self.plan, self.data);
        let settings = &plan.train;
        let epoch = self.epoch + 1;
        let scheduled = plan.schedule.lr(plan.optimizer.lr(), epoch - 1);
        let lr = self.plateau.as_ref().map_or(scheduled, |plateau| plateau.lr(scheduled));
        if settings.shuffle {
            rng::shuffle(&mut self.shuffle_rng, &mut self.order);
        }
        let (epoch_sums, loss_sum, batches) = crate::exec::with_workers_awake(self.parallel_steps, || {
            self.train_batches(epoch, lr, start, step_ends, observer)
        })?;
        // With `drop_last`, the rows of a short last batch are left out of this epoch.
        let trained = &self.order[..plan.trained_rows(self.order.len())];
        let splits = &data.splits;
        let sst =
            if trained.len() == self.order.len() { self.train_sst } else { split_sst(plan, &data.dataset, trained) };
        let train = Metrics::from_sums(plan, loss_sum / batches as f64, &epoch_sums, trained.len(), sst);
        let validation = (!splits.validation.is_empty()).then(|| {
            let rows = &splits.validation;
            let mut confusion = self.extra_confusion("validation");
            let sums = evaluate(
                plan,
                &mut self.params,
                &mut self.state,
                &data.dataset,
                rows,
                self.capacity,
                confusion.as_mut(),
            );
            let metrics =
                Metrics::from_sums(plan, plan.mean_loss(&sums, rows.len()), &sums, rows.len(), self.validation_sst);
            self.with_extras(metrics, confusion.as_ref())
        });
        // Finite batch losses can still leave weights that overflow on other rows: a diverged
        // run is an error, never a trace of NaN or a saved file of huge weights.
        if let Some(loss) = validation.map(|v| v.loss).filter(|loss| !loss.is_finite()) {
            return Err(self.diverged(format!("the validation loss became {loss} after epoch {epoch}")));
        }
        if !self.params.all_finite() {
            return Err(self.diverged(format!("the weights overflowed in epoch {epoch}")));
        }
        let line = TraceLine {
            epoch,
            step: self.state.step,
            train,
            validation,
            test: None,
            lr,
            elapsed_s: self.elapsed_offset + start.elapsed().as_secs_f64(),
        };
        self.epoch = epoch;
        if let Some(plateau) = self.plateau.as_mut() {
            plateau.observe(&line);
        }
        match self.early_stop.as_mut() {
            Some(tracker) => self.stopped = tracker.observe(&line, &self.params),
            None if is_better(&line, self.best.as_ref()) => self.best = Some(line.clone()),
            None => {}
        }
        let logged = self.stopped || epoch.is_multiple_of(settings.log_every) || epoch == settings.epochs;
        if logged {
            self.trace.push(line.clone());
        }
        Ok(logged.then_some(line))
    }

    /// The error of a run that diverged: what became infinite or NaN, and the last finite loss.
    /// Trains on this epoch's batches in turn; returns the summed loss terms, the sum of the
    /// batch mean losses and the number of batches.
    fn train_batches(
        &mut self,
        epoch: usize,
        lr: f64,
        start: Instant,
        mut step_ends: Option<&mut Vec<f64>>,
        observer: &mut dyn Observer,
    ) -> Result<(LossSums, f64, usize), Diagnostic> {
        let (plan, data) = (self.plan, self.data);
        let mut epoch_sums = LossSums::default();
        let (mut loss_sum, mut batches) = (0.0f64, 0usize);
        // With `drop_last`, the rows of a short last batch are left out of this epoch.
        let trained = &self.order[..plan.trained_rows(self.order.len())];
        for (batch, rows) in trained.chunks(self.capacity).enumerate() {
            self.state.load_batch(&data.dataset, rows);
            let sums = self.state.step(plan, &mut self.params, Mode::Train, lr, true);
            let loss = plan.mean_loss(&sums, rows.len());
            if !loss.is_finite() {
                return Err(self.diverged(format!("the loss became {loss} at epoch {epoch}, batch {}", batch + 1)));
            }
            if let Some(ends) = step_ends.as_deref_mut() {
                ends.push(start.elapsed().as_secs_f64());
            }
            self.last_finite = Some(loss);
            loss_sum += loss;
            epoch_sums.add(sums);
            batches += 1;
            observer.step(&StepProgress { epoch, batch: batch + 1, batches: self.steps_per_epoch(), loss });
        }
        Ok((epoch_sums, loss_sum, batches))
    }

    fn diverged(&self, what: String) -> Diagnostic {
        let last = self.last_finite.map_or("none".to_string(), crate::diagnostic::number);
        Diagnostic::error(Code::Runtime, format!("training diverged: {what}"))
            .note(format!("the last finite batch loss was {last}"))
            .help("lower the learning rate, clip gradients (`clip_norm: 1`), or scale the inputs")
    }

    /// Ends the run: restores the best weights if asked, tests once, counts the confusion
    /// matrix. Test rows on which the model's loss is not finite make it an error.
    pub fn finish(mut self) -> Result<Outcome, Diagnostic> {
        let (plan, data) = (self.plan, self.data);
        let splits = &data.splits;
        let mut stop = StopReason::Completed;
        let mut restored_epoch = None;
        if let Some(tracker) = self.early_stop.take() {
            let restored = plan.train.early_stop.is_some_and(|s| s.restore_best);
            if restored {
                self.params.copy_from(tracker.best_params());
            }
            self.best = tracker.best_line().cloned();
            restored_epoch = self.best.as_ref().map(|b| b.epoch).filter(|&epoch| restored && epoch != self.epoch);
            if self.stopped && self.epoch < plan.train.epochs {
                stop = StopReason::EarlyStop { best_epoch: self.best.as_ref().map_or(0, |b| b.epoch), restored };
            }
        }
        let confusion_rows = [(&splits.test, "test"), (&splits.validation, "validation"), (&splits.train, "train")]
            .into_iter()
            .find(|(rows, _)| !rows.is_empty());
        let labels = named_labels(data);
        let mut confusion =
            plan.class_count().zip(confusion_rows).map(|(classes, (_, split))| Confusion::new(split, classes, &labels));
        let rows = confusion_rows.map(|(rows, _)| rows.as_slice()).unwrap_or(&[]);
        let sums =
            evaluate(plan, &mut self.params, &mut self.state, &data.dataset, rows, self.capacity, confusion.as_mut());
        if !sums.loss.is_finite() && !rows.is_empty() {
            let split = confusion_rows.map_or("", |(_, split)| split);
            return Err(self.diverged(format!("the final weights give a loss of {} on the {split} rows", sums.loss)));
        }
        if !splits.test.is_empty() {
            let sst = split_sst(plan, &data.dataset, &splits.test);
            let test =
                Metrics::from_sums(plan, plan.mean_loss(&sums, splits.test.len()), &sums, splits.test.len(), sst);
            let test = self.with_extras(test, confusion.as_ref());
            if let Some(last) = self.trace.last_mut() {
                last.test = Some(test);
            }
        }
        Ok(Outcome {
            trace: self.trace,
            params: self.params,
            stop,
            best: self.best,
            restored: restored_epoch,
            confusion,
            step_ends: Vec::new(),
        })
    }
}

impl Session<'_> {
    /// An empty confusion matrix for a split whose extra metrics the spec asks for.
    fn extra_confusion(&self, split: &str) -> Option<Confusion> {
        let classes = self.plan.class_count().filter(|_| self.plan.train.wants_extra_metrics())?;
        Some(Confusion::new(split, classes, &[]))
    }

    /// `metrics` with the extra metrics the spec asks for (listed or monitored).
    fn with_extras(&self, metrics: Metrics, confusion: Option<&Confusion>) -> Metrics {
        let Some(confusion) = confusion.filter(|_| self.plan.train.wants_extra_metrics()) else { return metrics };
        let mut wanted = self.plan.train.metrics.clone();
        wanted.extend(self.plan.train.early_stop.and_then(|e| e.monitor.extra()));
        wanted.extend(self.plan.train.reduce_lr.and_then(|r| r.monitor.extra()));
        metrics.with_extras(confusion, &wanted)
    }
}

/// The class names of labelled targets (empty for class indices and regression).
fn named_labels(data: &Prepared) -> Vec<String> {
    match &data.encoding.target {
        crate::data::Target::Classes { labels, indices: false, .. } => labels.clone(),
        _ => Vec::new(),
    }
}

/// Whether `line` beats `best` on validation loss, or on training loss without validation.
fn is_better(line: &TraceLine, best: Option<&TraceLine>) -> bool {
    let key = |l: &TraceLine| l.validation.map_or(l.train.loss, |v| v.loss);
    best.is_none_or(|best| key(line) < key(best))
}
