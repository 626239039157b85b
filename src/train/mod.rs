//! Stage 4, run: trains a plan on prepared data, epoch by epoch, batch by batch; evaluates the
//! validation rows after each epoch, stops early when asked, and tests once at the end.
//! Everything that decides the numbers (initial weights, batch order, dropout masks, chunking)
//! is seeded or fixed, so the trace and weights do not depend on the number of threads.

mod early_stop;
mod metrics;
mod trace;

pub use metrics::{Confusion, Metrics};
pub use trace::TraceLine;

use std::time::Instant;

use early_stop::EarlyStopping;
use metrics::{evaluate, total_sum_of_squares};

use crate::data::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::{Mode, Params, State};
use crate::plan::Plan;
use crate::rng::{self, Stream};

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
    /// On the test rows, else the validation rows, else the training rows.
    pub confusion: Option<Confusion>,
    /// With `Options::record_steps`: seconds from the start of the first step to the end of
    /// each optimizer step, as the peer benchmarks time them.
    pub step_ends: Vec<f64>,
}

/// How to run, beyond what the plan says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Record the time at the end of every step (for benchmarks).
    pub record_steps: bool,
}

/// Trains from the spec's seeded initial weights. `on_log` sees each logged epoch as it ends.
pub fn train(plan: &Plan, data: &Prepared, on_log: impl FnMut(&TraceLine)) -> Result<Outcome, Diagnostic> {
    train_with(plan, data, Options::default(), on_log)
}

/// `train`, with options.
pub fn train_with(
    plan: &Plan,
    data: &Prepared,
    options: Options,
    mut on_log: impl FnMut(&TraceLine),
) -> Result<Outcome, Diagnostic> {
    let settings = &plan.train;
    let (dataset, splits) = (&data.dataset, &data.splits);
    let mut params = Params::init(plan, settings.seed);
    let capacity = plan.batch_rows(splits.train.len());
    let mut state = State::new(plan, capacity, settings.seed);
    let mut order = splits.train.clone();
    let mut shuffle_rng = rng::stream(settings.seed, Stream::Shuffle);
    let base_lr = plan.optimizer.lr();
    let regression = !plan.is_classifier();
    let sst = |rows: &[usize]| {
        if regression { total_sum_of_squares(dataset, rows) } else { 0.0 }
    };
    let (train_sst, validation_sst) = (sst(&splits.train), sst(&splits.validation));
    let mut early_stop = plan.train.early_stop.map(|settings| EarlyStopping::new(settings, &params));
    let mut trace = Vec::new();
    let mut best: Option<TraceLine> = None;
    let mut last_finite = None;
    let mut stop = StopReason::Completed;
    let steps_per_epoch = splits.train.len().div_ceil(capacity);
    let mut step_ends = Vec::with_capacity(if options.record_steps { steps_per_epoch * settings.epochs } else { 0 });
    let start = Instant::now();
    for epoch in 1..=settings.epochs {
        let lr = plan.schedule.lr(base_lr, epoch - 1);
        if settings.shuffle {
            rng::shuffle(&mut shuffle_rng, &mut order);
        }
        let mut epoch_sums = crate::kernels::loss::LossSums::default();
        let (mut loss_sum, mut batches) = (0.0f64, 0usize);
        for (batch, rows) in order.chunks(capacity).enumerate() {
            state.load_batch(dataset, rows);
            let sums = state.step(plan, &mut params, Mode::Train, lr, true);
            let terms = rows.len() * plan.loss_kernel.terms_per_sample(plan.output_width);
            let loss = sums.loss / terms as f64;
            if !loss.is_finite() {
                let last = last_finite.map_or("none".to_string(), |l: f64| format!("{l:.6}"));
                return Err(Diagnostic::error(
                    Code::Runtime,
                    format!("training diverged: the loss became {loss} at epoch {epoch}, batch {}", batch + 1),
                )
                .note(format!("the last finite batch loss was {last}"))
                .help("lower the learning rate, clip gradients (`clip_norm: 1`), or scale the inputs"));
            }
            if options.record_steps {
                step_ends.push(start.elapsed().as_secs_f64());
            }
            last_finite = Some(loss);
            loss_sum += loss;
            epoch_sums.add(sums);
            batches += 1;
        }
        let train_metrics = Metrics::from_sums(plan, loss_sum / batches as f64, &epoch_sums, order.len(), train_sst);
        let validation = (!splits.validation.is_empty()).then(|| {
            let sums = evaluate(plan, &mut params, &mut state, dataset, &splits.validation, capacity, None);
            let terms = splits.validation.len() * plan.loss_kernel.terms_per_sample(plan.output_width);
            Metrics::from_sums(plan, sums.loss / terms as f64, &sums, splits.validation.len(), validation_sst)
        });
        let line = TraceLine {
            epoch,
            step: state.step,
            train: train_metrics,
            validation,
            test: None,
            lr,
            elapsed_s: start.elapsed().as_secs_f64(),
        };
        let stopping = match early_stop.as_mut() {
            Some(tracker) => tracker.observe(&line, &params),
            None => false,
        };
        if early_stop.is_none() && is_better(&line, best.as_ref()) {
            best = Some(line.clone());
        }
        if stopping || epoch % settings.log_every == 0 || epoch == settings.epochs {
            on_log(&line);
            trace.push(line);
        }
        if stopping {
            break;
        }
    }
    if let Some(tracker) = early_stop {
        let restored = plan.train.early_stop.is_some_and(|s| s.restore_best);
        if restored {
            params.copy_from(tracker.best_params());
        }
        best = tracker.best_line().cloned();
        let last_epoch = trace.last().map_or(0, |l| l.epoch);
        if last_epoch < settings.epochs {
            stop = StopReason::EarlyStop { best_epoch: best.as_ref().map_or(0, |b| b.epoch), restored };
        }
    }
    let confusion_rows = [(&splits.test, "test"), (&splits.validation, "validation"), (&splits.train, "train")]
        .into_iter()
        .find(|(rows, _)| !rows.is_empty());
    let mut confusion = plan.class_count().zip(confusion_rows).map(|(classes, (_, split))| Confusion {
        split: split.to_string(),
        classes,
        counts: vec![0; classes * classes],
    });
    let confusion_split = confusion_rows.map(|(rows, _)| rows.as_slice()).unwrap_or(&[]);
    let sums = evaluate(plan, &mut params, &mut state, dataset, confusion_split, capacity, confusion.as_mut());
    if !splits.test.is_empty() {
        let terms = splits.test.len() * plan.loss_kernel.terms_per_sample(plan.output_width);
        let test = Metrics::from_sums(plan, sums.loss / terms as f64, &sums, splits.test.len(), sst(&splits.test));
        if let Some(last) = trace.last_mut() {
            last.test = Some(test);
        }
    }
    Ok(Outcome { trace, params, stop, best, confusion, step_ends })
}

/// Whether `line` beats `best` on validation loss, or on training loss without validation.
fn is_better(line: &TraceLine, best: Option<&TraceLine>) -> bool {
    let key = |l: &TraceLine| l.validation.map_or(l.train.loss, |v| v.loss);
    best.is_none_or(|best| key(line) < key(best))
}
