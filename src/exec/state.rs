//! The per-run buffers: activations, their gradients, kernels' scratch areas, targets,
//! per-chunk parameter gradients, optimizer moments and per-chunk loss sums. Allocated once,
//! reused by every batch.

use itertools::izip;
use rand_chacha::ChaCha8Rng;

use crate::data::Dataset;
use crate::kernels::loss::LossSums;
use crate::kernels::optim::Moments;
use crate::kernels::tiled::Packs;
use crate::plan::{Kernel, Op, Plan};
use crate::rng::{self, Stream};

use super::Params;
use super::phase::run_tasks;

/// Whether a forward pass trains (dropout drops, batch norm uses and updates batch statistics)
/// or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

pub struct State {
    /// One `width x capacity` buffer per plan buffer; buffer 0 is the input batch.
    pub(super) values: Vec<Vec<f32>>,
    pub(super) grads: Vec<Vec<f32>>,
    pub(super) aux: Vec<Vec<f32>>,
    pub(super) targets: Vec<f32>,
    /// Per trainable parameter, one gradient per chunk back to back (one in all for a tiled
    /// dense layer); the first holds their sum.
    pub(super) partials: Vec<Vec<f32>>,
    pub(super) moments: Vec<Moments>,
    /// Per parameter: how many per-chunk gradients in `partials` are not yet summed (1: none).
    pub(super) pending: Vec<usize>,
    /// Per parameter: whether it already took this step's optimizer update in the backward pass.
    pub(super) updated: Vec<bool>,
    /// Per parameter: the transpose of a small dense layer's weight (see `Dense::is_small`).
    pub(super) transposed: Vec<Vec<f32>>,
    pub(super) chunk_sums: Vec<LossSums>,
    /// Packed operands of the large dense layers' products (see `kernels::tiled`).
    pub(super) packs: Packs,
    /// Rows in the loaded batch.
    pub(super) rows: usize,
    /// Rows per parallel chunk (`Plan::chunk_rows` for this state's capacity).
    pub(super) chunk_rows: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The dropout stream at word 0, and the words used so far (see `kernels::dropout`).
    pub(super) dropout_rng: ChaCha8Rng,
    pub dropout_words: u128,
}

/// `out`'s row `i` = `source`'s row `rows[i]`. Narrow rows are copied with their width known
/// at compile time: a `memcpy` call per row of two floats costs more than the copy (a loop
/// over a width known only at run time still became one).
fn gather_rows(source: &[f32], width: usize, rows: &[usize], out: &mut [f32]) {
    match width {
        1 => gather_fixed::<1>(source, rows, out),
        2 => gather_fixed::<2>(source, rows, out),
        3 => gather_fixed::<3>(source, rows, out),
        4 => gather_fixed::<4>(source, rows, out),
        8 => gather_fixed::<8>(source, rows, out),
        _ => {
            let row_of = |row: usize| &source[row * width..(row + 1) * width];
            rows.iter().take(GATHER_AHEAD).for_each(|&row| prefetch(row_of(row)));
            for (i, (slot, &row)) in out.chunks_exact_mut(width).zip(rows).enumerate() {
                if let Some(&ahead) = rows.get(i + GATHER_AHEAD) {
                    prefetch(row_of(ahead));
                }
                slot.copy_from_slice(row_of(row));
            }
        }
    }
}

/// Rows per task of a parallel gather: two tasks per thread (a late thread's share is then
/// taken up by the others), of at least `GATHER_ROWS` rows. A copy gives the same values
/// whichever thread makes it, so the split may follow the thread count; by chunks alone, a
/// batch of two chunks was gathered by two threads however many there were.
fn gather_piece(rows: usize, threads: usize) -> usize {
    rows.div_ceil(2 * threads.max(1)).max(GATHER_ROWS)
}

/// The fewest rows a gather task copies: fewer would cost more in hand-over than they save.
const GATHER_ROWS: usize = 16;

/// Rows ahead of the copy whose cache lines `gather_rows` asks for: a shuffled batch's rows
/// lie anywhere in a table that may not fit any cache, and each row's trip from memory then
/// overlaps the copies of the rows before it instead of following them.
const GATHER_AHEAD: usize = 4;

/// Asks for the cache lines of `values` (a hint: it changes no value): one value per 64 bytes
/// and the last, whose line a row that does not start on a line boundary reaches into.
#[cfg(target_arch = "x86_64")]
fn prefetch(values: &[f32]) {
    for line in values.chunks(16) {
        safe_arch::prefetch_t0(&line[0]);
    }
    if let Some(last) = values.last() {
        safe_arch::prefetch_t0(last);
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch(_values: &[f32]) {}

fn gather_fixed<const W: usize>(source: &[f32], rows: &[usize], out: &mut [f32]) {
    for (slot, &row) in out.chunks_exact_mut(W).zip(rows) {
        let values: &[f32; W] = source[row * W..][..W].try_into().expect("W values");
        *<&mut [f32; W]>::try_from(slot).expect("W slots") = *values;
    }
}

impl State {
    /// Buffers for batches of up to `capacity` rows; `seed` starts the dropout stream.
    pub fn new(plan: &Plan, capacity: usize, seed: u64) -> State {
        let chunk_rows = plan.chunk_rows(capacity);
        let chunks = capacity.div_ceil(chunk_rows);
        let buffers = || plan.buffers.iter().map(|b| vec![0.0; b.width * capacity]).collect::<Vec<_>>();
        let mut grads = buffers();
        grads[0] = Vec::new(); // the data needs no gradient
        // The weights of small (not tiny) dense layers keep a transposed copy, and a tiled layer
        // sums its gradient over the whole batch (one copy suffices, not one per chunk). Both are
        // marked in one pass over the nodes, so a model of many layers sets up in linear time.
        let mut small_weights = vec![false; plan.params.len()];
        let mut tiled = vec![false; plan.params.len()];
        for node in &plan.nodes {
            if let Op::Dense { layer, weight, bias } = node.op {
                small_weights[weight] = layer.is_small() && !layer.is_tiny();
                if layer.is_tiled() {
                    tiled[weight] = true;
                    tiled[bias] = true;
                }
            }
        }
        State {
            values: buffers(),
            grads,
            aux: plan.aux.iter().map(|a| vec![0.0; a.per_row * capacity + a.per_chunk * chunks + a.fixed]).collect(),
            targets: vec![0.0; plan.target_width * capacity],
            partials: plan
                .params
                .iter()
                .enumerate()
                .map(|(id, p)| {
                    let copies = if tiled[id] { 1 } else { chunks };
                    vec![0.0; if p.trainable { p.len() * copies } else { 0 }]
                })
                .collect(),
            pending: vec![1; plan.params.len()],
            updated: vec![false; plan.params.len()],
            moments: plan
                .params
                .iter()
                .map(|p| if p.trainable { plan.optimizer.moments(p.len()) } else { Moments::default() })
                .collect(),
            transposed: plan
                .params
                .iter()
                .zip(&small_weights)
                .map(|(p, &small)| vec![0.0; if small { p.len() } else { 0 }])
                .collect(),
            chunk_sums: vec![LossSums::default(); chunks],
            packs: Packs::default(),
            rows: 0,
            chunk_rows,
            step: 0,
            dropout_rng: rng::stream(seed, Stream::Dropout),
            dropout_words: 0,
        }
    }

    /// Copies the given data rows, in order, into the input and target buffers.
    pub fn load_batch(&mut self, data: &Dataset, rows: &[usize]) {
        let n = rows.len();
        self.rows = n;
        let (iw, tw) = (data.input_width, data.target_width);
        let (inputs, targets) = (&mut self.values[0][..n * iw], &mut self.targets[..n * tw]);
        // Consecutive rows (an unshuffled epoch) are one block copy. The test has no early
        // exit, so it runs as vector compares.
        if rows.windows(2).fold(true, |consecutive, w| consecutive & (w[1] == w[0] + 1)) {
            let first = rows.first().copied().unwrap_or(0);
            inputs.copy_from_slice(&data.inputs[first * iw..(first + n) * iw]);
            targets.copy_from_slice(&data.targets[first * tw..(first + n) * tw]);
            return;
        }
        if n <= self.chunk_rows {
            gather_rows(&data.inputs, iw, rows, inputs);
            gather_rows(&data.targets, tw, rows, targets);
            return;
        }
        let piece = gather_piece(n, rayon::current_num_threads());
        run_tasks(
            izip!(inputs.chunks_mut(piece * iw), targets.chunks_mut(piece * tw), rows.chunks(piece)),
            |(inputs, targets, rows)| {
                gather_rows(&data.inputs, iw, rows, inputs);
                gather_rows(&data.targets, tw, rows, targets);
            },
        );
    }

    /// The optimizer's per-tensor moments (empty for tensors that are not trained).
    pub fn moments(&self) -> &[Moments] {
        &self.moments
    }

    pub fn moments_mut(&mut self) -> &mut [Moments] {
        &mut self.moments
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Chunks in a batch of `rows` rows.
    pub(super) fn chunks(&self, rows: usize) -> usize {
        rows.div_ceil(self.chunk_rows)
    }

    /// The gradient of a trainable parameter after the last backward pass.
    pub fn grad(&self, plan: &Plan, param: usize) -> &[f32] {
        &self.partials[param][..plan.params[param].len()]
    }

    /// The loss's input for the loaded batch (logits under a fused activation).
    pub fn loss_input(&self, plan: &Plan) -> &[f32] {
        &self.values[plan.loss_input][..self.rows * plan.buffers[plan.loss_input].width]
    }

    /// Runs only the forward kernels, in evaluation mode, on the loaded batch: the model's
    /// output (before any activation fused into the loss) is then in `loss_input`.
    pub fn infer(&mut self, plan: &Plan, params: &mut Params) {
        for step in &plan.steps {
            if let Kernel::Forward { node, activation } = step.kernel {
                let activation = activation.map(|a| plan.nodes[a].activation());
                self.forward(&plan.nodes[node], activation, params, Mode::Eval);
            }
        }
    }

    /// Runs the forward kernels and the loss on the loaded batch; in training also the backward
    /// kernels and, if `update`, the optimizer with learning rate `lr`. Returns the loss sums.
    /// A caller running many steps keeps the other workers awake around them
    /// (`exec::with_workers_awake`).
    pub fn step(&mut self, plan: &Plan, params: &mut Params, mode: Mode, lr: f64, update: bool) -> LossSums {
        // Without clipping (which needs every gradient first), a tiled layer's weight takes its
        // optimizer step inside the backward pass (`kernels::tiled::FusedUpdate`).
        let fuses = update && (0..plan.params.len()).any(|id| plan.update_fused(id));
        let fused_rule = fuses.then(|| plan.optimizer.rule(self.step + 1, lr));
        for step in &plan.steps {
            match step.kernel {
                Kernel::Forward { node, activation } => {
                    let activation = activation.map(|a| plan.nodes[a].activation());
                    self.forward(&plan.nodes[node], activation, params, mode)
                }
                Kernel::Loss { output } => self.loss(plan, output, mode),
                Kernel::Backward { node, activation, then } if mode == Mode::Train => {
                    let activation = activation.map(|a| plan.nodes[a].activation());
                    let then = then.map(|a| plan.nodes[a].activation());
                    self.backward(plan, &plan.nodes[node], (activation, then), params, fused_rule)
                }
                Kernel::Update if mode == Mode::Train && update => self.update(plan, params, lr),
                Kernel::Update if mode == Mode::Train => self.reduce_gradients(plan),
                Kernel::Backward { .. } | Kernel::Update => {}
            }
        }
        let mut total = LossSums::default();
        for sums in &self.chunk_sums[..self.chunks(self.rows)] {
            total.add(*sums);
        }
        total
    }

    /// The loss of each chunk (and in training its gradient), in parallel.
    fn loss(&mut self, plan: &Plan, output: usize, mode: Mode) {
        let width = plan.buffers[output].width;
        let rows = self.rows;
        let chunks = self.chunks(rows);
        let kernel = plan.loss_kernel;
        let targets = &self.targets[..rows * plan.target_width];
        let scale = if mode == Mode::Train { plan.gradient_scale(targets, rows) } else { 0.0 };
        let weights = plan.class_weights.as_slice();
        let (span, target_span) = (self.chunk_rows * width, self.chunk_rows * plan.target_width);
        let values = &self.values[output][..rows * width];
        let sums = &mut self.chunk_sums[..chunks];
        if chunks == 1 {
            // One chunk runs here: going through rayon would cost more than a light loss.
            sums[0] = match mode {
                Mode::Train => kernel.forward_backward(
                    values,
                    targets,
                    &mut self.grads[output][..rows * width],
                    scale,
                    width,
                    weights,
                ),
                Mode::Eval => kernel.evaluate(values, targets, width, weights),
            };
            return;
        }
        if mode == Mode::Train {
            let grads = &mut self.grads[output][..rows * width];
            run_tasks(
                izip!(values.chunks(span), targets.chunks(target_span), grads.chunks_mut(span), sums.iter_mut()),
                |(v, t, g, s)| *s = kernel.forward_backward(v, t, g, scale, width, weights),
            );
        } else {
            run_tasks(izip!(values.chunks(span), targets.chunks(target_span), sums.iter_mut()), |(v, t, s)| {
                *s = kernel.evaluate(v, t, width, weights)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::phase::tests::pool;
    use crate::plan::CompileOptions;

    /// A shuffled batch is gathered row for row whatever the threads and however the rows are
    /// split among them: odd widths (the general copy) and those copied as fixed arrays, batch
    /// sizes around a chunk and around the split's smallest piece.
    #[test]
    fn a_gathered_batch_holds_the_rows_asked_for_with_any_threads() {
        for inputs in [2, 5, 784] {
            let text = format!(
                "model m {{\n input {inputs}\n dense 3 softmax\n}}\nloss cross_entropy\noptimizer sgd\n\
                 data random(rows: 300, inputs: {inputs}, classes: 3, seed: 1)\ntrain {{ epochs: 1, batch: 200 }}\n"
            );
            let spec = crate::Spec::parse(&text, "m.nn", std::path::Path::new("."), &[]).unwrap();
            let data = spec.load_data().unwrap();
            let plan = spec.compile_for(&data, CompileOptions { chunk_rows: Some(16) });
            let dataset = &data.dataset;
            for n in [1, 16, 17, 33, 200] {
                // Rows in a scattered order, the first again at the end (a batch never repeats
                // one, but the copy must not care).
                let mut rows: Vec<usize> = (0..n).map(|i| (i * 113 + 7) % 300).collect();
                rows[n - 1] = rows[0];
                for threads in [1, 2, 3, 16] {
                    let mut state = State::new(&plan, 200, 0);
                    pool(threads).install(|| state.load_batch(dataset, &rows));
                    let (iw, tw) = (dataset.input_width, dataset.target_width);
                    for (i, &row) in rows.iter().enumerate() {
                        let context = format!("{inputs} inputs, {n} rows, {threads} threads, slot {i}");
                        assert_eq!(state.values[0][i * iw..][..iw], *dataset.input_row(row), "{context}");
                        assert_eq!(state.targets[i * tw..][..tw], dataset.targets[row * tw..][..tw], "{context}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_gather_gives_each_thread_two_pieces_of_at_least_the_smallest() {
        assert_eq!(gather_piece(256, 2), 64);
        assert_eq!(gather_piece(256, 16), 16);
        assert_eq!(gather_piece(100, 64), GATHER_ROWS);
        assert_eq!(gather_piece(129, 2), 33, "rounded up: four pieces, the last short");
    }
}
