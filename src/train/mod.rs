//! Stage 4, run: trains a plan on a dataset, epoch by epoch, batch by batch, and records the
//! trace. Everything that decides the numbers (initial weights, batch order, chunking) is
//! seeded or fixed, so the trace and weights do not depend on the number of threads.

mod trace;

pub use trace::TraceLine;

use std::time::Instant;

use crate::data::Dataset;
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::{Params, State};
use crate::plan::Plan;
use crate::rng::{self, Stream};

/// What a finished run leaves: the logged epochs and the final weights.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub trace: Vec<TraceLine>,
    pub params: Params,
}

/// Trains from the spec's seeded initial weights. `on_log` sees each logged epoch as it ends.
pub fn train(plan: &Plan, data: &Dataset, mut on_log: impl FnMut(&TraceLine)) -> Result<Outcome, Diagnostic> {
    let train = &plan.train;
    let mut params = Params::init(plan, train.seed);
    let batch_rows = plan.batch_rows(data.rows);
    let mut state = State::new(plan, batch_rows);
    let mut order: Vec<usize> = (0..data.rows).collect();
    let mut shuffle_rng = rng::stream(train.seed, Stream::Shuffle);
    let lr = plan.steps.iter().find_map(|step| match &step.kernel {
        crate::plan::Kernel::Update { optimizer, .. } => Some(optimizer.lr()),
        _ => None,
    });
    let lr = lr.unwrap_or(0.0);
    let elements_per_row = plan.output_width as f64;
    let mut trace = Vec::new();
    let mut step = 0u64;
    let mut last_finite = None;
    let start = Instant::now();
    for epoch in 1..=train.epochs {
        if train.shuffle {
            rng::shuffle(&mut shuffle_rng, &mut order);
        }
        let (mut loss_sum, mut batches, mut correct) = (0.0f64, 0usize, 0u64);
        for (batch, rows) in order.chunks(batch_rows).enumerate() {
            state.load_batch(data, rows);
            let sums = state.step(plan, &mut params, lr, true);
            let loss = sums.loss / (rows.len() as f64 * elements_per_row);
            if !loss.is_finite() {
                let last = last_finite.map_or("none".to_string(), |l: f64| format!("{l:.6}"));
                return Err(Diagnostic::error(
                    Code::Runtime,
                    format!(
                        "training diverged: the loss became {loss} at epoch {epoch}, batch {}",
                        batch + 1
                    ),
                )
                .note(format!("the last finite batch loss was {last}"))
                .help("lower the learning rate, or scale the inputs"));
            }
            last_finite = Some(loss);
            loss_sum += loss;
            correct += sums.correct;
            batches += 1;
            step += 1;
        }
        if epoch % train.log_every == 0 || epoch == train.epochs {
            let line = TraceLine {
                epoch,
                step,
                loss: loss_sum / batches as f64,
                accuracy: plan
                    .is_classifier()
                    .then(|| correct as f64 / (data.rows as f64 * elements_per_row)),
                lr,
                elapsed_s: start.elapsed().as_secs_f64(),
            };
            on_log(&line);
            trace.push(line);
        }
    }
    Ok(Outcome { trace, params })
}
