//! Large dense layers over the whole batch at once, split by output tiles instead of by rows.
//!
//! Forward, `Z = W X + b` (`Z` is `units x n`): A is the weight, B the batch. Backward,
//! `dW^T = X dZ^T` (the transpose of the row-major `dW`, written as a column-major matrix, is
//! `dW` itself), `dX = W^T dZ` and `db = dZ 1`. Each element sums over its `k` terms in one
//! fixed order (see `gemm`), so a weight's gradient is summed over the batch's samples in
//! order whatever the number of threads, and no per-chunk gradient copies are needed.
//!
//! Each pass has two phases for the caller to run in parallel: `Job`s (packing each operand
//! once, in groups of panels, and the bias gradient in groups of units), then the tiles of
//! one or two `Product`s.

use std::ops::Range;

use super::activation::Activation;
use super::dense::Dense;
use super::gemm::{
    Isa, MAX_MR, MAX_NR, PackBuffer, Strided, Tile, Tiles, pack, pack_steps, packed_len, run_tile, split,
};
use super::optim::Rule;

/// Values per packing job: about 256 KiB, some tens of microseconds of copying.
const PACK_VALUES: usize = 1 << 16;
/// Additions per bias-gradient job.
const SUM_VALUES: usize = 1 << 17;
/// The most jobs one operand is packed in.
const MAX_JOBS: usize = 16;

/// Packed operands of the products in flight (two for a forward pass, four for a backward).
#[derive(Debug, Default)]
pub struct Packs {
    buffers: [PackBuffer; 4],
}

impl Packs {
    /// Room for `len` values of a layer's own use while no product is in flight (the narrow
    /// layers' padded `W^T` and weight copy, `super::narrow`). Not cleared: the caller writes
    /// every value before reading any.
    pub fn scratch(&mut self, len: usize) -> &mut [f32] {
        self.buffers[0].reserve(len);
        self.buffers[0].as_mut_slice()
    }
}

/// Work of the first phase: independent, each writing its own output.
pub enum Job<'a> {
    /// Packs panels of an operand (see `gemm::pack`).
    Pack { src: Strided<'a>, width: usize, panels: Range<usize>, out: &'a mut [f32] },
    /// Packs steps of every panel of an operand whose panel rows are adjacent in memory
    /// (see `gemm::pack_steps`): `panels` holds each panel's part.
    PackSteps { src: Strided<'a>, width: usize, steps: Range<usize>, panels: Vec<&'a mut [f32]> },
    /// `out[u] = sum_j dz[j * units + first + u]` over the samples `j` in order.
    BiasGrad { dz: &'a [f32], units: usize, first: usize, out: &'a mut [f32] },
}

impl Job<'_> {
    /// The job's work for balancing a phase (`exec::phase`): the values it writes, or for a
    /// bias gradient the values it adds.
    pub fn weight(&self) -> usize {
        match self {
            Job::Pack { out, .. } => out.len(),
            Job::PackSteps { panels, .. } => panels.iter().map(|panel| panel.len()).sum(),
            Job::BiasGrad { dz, units, out, .. } => dz.len() / (*units).max(1) * out.len(),
        }
    }

    pub fn run(self) {
        match self {
            Job::Pack { src, width, panels, out } => pack(src, width, panels, out),
            Job::PackSteps { src, width, steps, mut panels } => pack_steps(src, width, steps, &mut panels),
            Job::BiasGrad { dz, units, first, out } => {
                out.fill(0.0);
                for column in dz.chunks_exact(units) {
                    out.iter_mut().zip(&column[first..]).for_each(|(o, &g)| *o += g);
                }
            }
        }
    }
}

/// Packing jobs for a `rows x k` operand whose rows lie `row_stride` values apart: by its
/// shape alone, at most one per panel of the widest kernel (or, packed by steps, one per
/// step), so the count is the same on every CPU. `push_packs` pushes exactly this many, and
/// the plan counts with it.
fn pack_jobs(rows: usize, k: usize, row_stride: usize, widest: usize) -> usize {
    let most = if by_steps(row_stride, k) { k } else { rows.div_ceil(widest).max(1) };
    (rows * k / PACK_VALUES).clamp(1, MAX_JOBS.min(most))
}

/// Whether an operand is packed by steps: when a panel's step is one run in memory (adjacent
/// rows) and there is more than one step, reading the source step by step across all panels
/// follows memory order (see `gemm::pack_steps`).
fn by_steps(row_stride: usize, k: usize) -> bool {
    row_stride == 1 && k > 1
}

/// Bias-gradient jobs for `units x n`.
fn sum_jobs(units: usize, n: usize) -> usize {
    (units * n / SUM_VALUES).clamp(1, MAX_JOBS.min(units.div_ceil(MAX_MR)))
}

/// Appends the jobs that pack `src` (`rows x k`) in panels of `width` into `buffer`.
fn push_packs<'a>(jobs: &mut Vec<Job<'a>>, src: Strided<'a>, width: usize, widest: usize, buffer: &'a mut PackBuffer) {
    buffer.reserve(packed_len(src.rows, src.cols, width));
    let count = pack_jobs(src.rows, src.cols, src.row_stride, widest);
    if by_steps(src.row_stride, src.cols) {
        let k = src.cols;
        let steps: Vec<Range<usize>> = (0..count).map(|index| split(k, 1, count, index)).collect();
        let mut parts: Vec<Vec<&'a mut [f32]>> = (0..count).map(|_| Vec::new()).collect();
        for panel in buffer.as_mut_slice().chunks_exact_mut((width * k).max(1)) {
            let mut rest = panel;
            for (part, steps) in parts.iter_mut().zip(&steps) {
                let (out, later) = std::mem::take(&mut rest).split_at_mut(steps.len() * width);
                rest = later;
                part.push(out);
            }
        }
        for (panels, steps) in parts.into_iter().zip(steps) {
            jobs.push(Job::PackSteps { src, width, steps, panels });
        }
        return;
    }
    let mut rest = buffer.as_mut_slice();
    for index in 0..count {
        let rows = split(src.rows, width, count, index);
        let panels = rows.start / width..rows.end.div_ceil(width);
        let (out, later) = rest.split_at_mut(panels.len() * width * src.cols);
        rest = later;
        jobs.push(Job::Pack { src, width, panels, out });
    }
}

/// Tasks of a pass, for the plan: `(jobs, tiles)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskCount {
    pub jobs: usize,
    pub tiles: usize,
}

/// One product's second phase: its tiles, each a task that owns its part of C.
pub struct Product<'a> {
    shared: Shared<'a>,
    tiles: Vec<TileWork<'a>>,
}

/// One task of a product: its tile of C and, for a weight gradient whose optimizer step is
/// fused in, the same part of the weight and its moments.
pub struct TileWork<'a> {
    tile: Tile<'a>,
    update: Option<TileUpdate<'a>>,
}

/// The parts of a weight and its moments that match a tile of its gradient: the tile's whole
/// columns (`Tiles::whole_columns`), which lie back to back, so each part is one slice (empty
/// for a moment the optimizer does not keep).
struct TileUpdate<'a> {
    rule: Rule,
    params: &'a mut [f32],
    first: &'a mut [f32],
    second: &'a mut [f32],
}

/// An in-place activation below a layer and its outputs (the layer's input, laid out as the
/// input gradient): its backward turns the gradient of those outputs into that of its input.
pub type ActivationGrad<'a> = (Activation, &'a [f32]);

/// A weight, its moments and the optimizer rule of this step: given to the weight-gradient
/// product, each tile applies the step to its part of the weight as soon as that part of the
/// gradient is complete, while it is in cache, instead of a separate pass over the layer.
pub struct FusedUpdate<'a> {
    pub rule: Rule,
    pub param: &'a mut [f32],
    pub first: &'a mut [f32],
    pub second: &'a mut [f32],
}

/// What every tile of a product reads.
pub struct Shared<'a> {
    grid: Tiles,
    a: &'a [f32],
    b: &'a [f32],
    /// Added to each column once its sum is complete (the bias, as BLAS's `beta = 1` and
    /// PyTorch's `addmm` add it), before the activation.
    bias: Option<&'a [f32]>,
    activation: Option<Activation>,
    /// For an input gradient: the in-place activation below the layer and its outputs (laid
    /// out as C), whose backward each column takes once its sum is complete.
    activation_grad: Option<ActivationGrad<'a>>,
}

impl<'a> Product<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        isa: Isa,
        grid: Tiles,
        a: &'a [f32],
        b: &'a [f32],
        c: &'a mut [f32],
        bias: Option<&'a [f32]>,
        activation: Option<Activation>,
    ) -> Product<'a> {
        let tiles = grid.split(isa, c).into_iter().map(|tile| TileWork { tile, update: None }).collect();
        Product { tiles, shared: Shared { grid, a, b, bias, activation, activation_grad: None } }
    }

    /// Fuses the optimizer step into the tiles (C must be the weight's gradient, laid out as
    /// the weight, on a grid of whole columns).
    fn with_update(mut self, isa: Isa, update: FusedUpdate<'a>) -> Product<'a> {
        let grid = self.shared.grid;
        assert_eq!(grid.rows, 1, "a fused step needs tiles of whole columns");
        let FusedUpdate { rule, mut param, mut first, mut second } = update;
        // Takes the next `len` values of a buffer, or nothing from an empty one.
        fn take<'a>(buffer: &mut &'a mut [f32], len: usize) -> &'a mut [f32] {
            let len = if buffer.is_empty() { 0 } else { len };
            let (part, rest) = std::mem::take(buffer).split_at_mut(len);
            *buffer = rest;
            part
        }
        for (task, work) in self.tiles.iter_mut().enumerate() {
            let len = grid.bounds(isa, task).1.len() * grid.m;
            let (params, first, second) = (take(&mut param, len), take(&mut first, len), take(&mut second, len));
            work.update = Some(TileUpdate { rule, params, first, second });
        }
        self
    }

    /// Applies the backward of `activation_grad`'s activation to each finished column (C must
    /// be the input gradient of the layer above that activation).
    fn with_activation_grad(mut self, activation_grad: Option<ActivationGrad<'a>>) -> Product<'a> {
        self.shared.activation_grad = activation_grad;
        self
    }

    pub fn tasks(&self) -> usize {
        self.tiles.len()
    }

    /// The shared inputs and the tiles, to run each tile once (in any order, on any thread).
    pub fn into_parts(self) -> (Shared<'a>, Vec<TileWork<'a>>) {
        (self.shared, self.tiles)
    }
}

impl Shared<'_> {
    /// A tile's work for balancing a phase (`exec::phase`): its multiply-adds.
    pub fn weight(&self, work: &TileWork<'_>) -> usize {
        work.tile.area() * self.grid.k.max(1)
    }

    /// Computes one of the product's tiles.
    pub fn run(&self, isa: Isa, work: TileWork<'_>) {
        let m = self.grid.m.max(1);
        let mut update =
            work.update.map(|u| (u.rule, u.params.chunks_mut(m), u.first.chunks_mut(m), u.second.chunks_mut(m)));
        let mut epilogue = |rows: Range<usize>, j: usize, column: &mut [f32]| {
            if let Some((activation, y)) = self.activation_grad {
                let y = &y[j * m..][rows.clone()];
                activation.backward(y, y, column, column.len());
            }
            if let Some(bias) = self.bias {
                column.iter_mut().zip(&bias[rows]).for_each(|(z, b)| *z += b);
            }
            if let Some(activation) = self.activation {
                activation.forward_in_place(column, column.len());
            }
            if let Some((rule, params, first, second)) = update.as_mut() {
                let param = params.next().expect("a weight segment per gradient column");
                let (first, second) = (first.next().unwrap_or_default(), second.next().unwrap_or_default());
                rule.apply(param, column, first, second);
            }
        };
        run_tile(isa, &self.grid, work.tile, self.a, self.b, &mut epilogue);
    }
}

/// Whether an activation can run on any piece of a layer's output (all but softmax, which
/// needs whole samples): such an activation is applied to each tile as it is finished.
pub fn fuses_into_tiles(activation: Activation) -> bool {
    activation != Activation::Softmax
}

impl Dense {
    /// The tasks of the forward pass over `n` samples.
    pub fn forward_tasks(self, n: usize) -> TaskCount {
        TaskCount {
            // W (row-major) and x^T (x is column-major): rows `inputs` apart.
            jobs: pack_jobs(self.units, self.inputs, self.inputs, MAX_MR)
                + pack_jobs(n, self.inputs, self.inputs, MAX_NR),
            tiles: Tiles::new(self.units, n, self.inputs).count(),
        }
    }

    /// The tasks of the backward pass over `n` samples; `fused`: the weight takes its
    /// optimizer step in the tiles of its gradient.
    pub fn backward_tasks(self, n: usize, input_grad: bool, fused: bool) -> TaskCount {
        let (i, u) = (self.inputs, self.units);
        let mut count = TaskCount {
            // x and dz (column-major): adjacent rows.
            jobs: pack_jobs(i, n, 1, MAX_MR) + pack_jobs(u, n, 1, MAX_NR) + sum_jobs(u, n),
            tiles: Self::weight_grad_grid(i, u, n, fused).count(),
        };
        if input_grad {
            // W^T (adjacent rows) and dz^T (rows `units` apart).
            count.jobs += pack_jobs(i, u, 1, MAX_MR) + pack_jobs(n, u, u, MAX_NR);
            count.tiles += Tiles::new(i, n, u).count();
        }
        count
    }

    /// The task grid of `dW^T` (`inputs x units` over `n` samples). When the optimizer's step
    /// runs in its tiles (`fused`), whole columns: each tile then updates whole rows of the
    /// weight, so the step streams through contiguous weights and moments (W3's Adam took
    /// 10 % of a two-thread step on square tiles' short runs, 6 % on whole rows). Any grid
    /// gives the same bits.
    fn weight_grad_grid(inputs: usize, units: usize, n: usize, fused: bool) -> Tiles {
        if fused { Tiles::whole_columns(inputs, units, n) } else { Tiles::new(inputs, units, n) }
    }

    /// Phase one of the forward pass: pack `W` and the batch `x` (`inputs x n`).
    pub fn forward_jobs<'a>(self, isa: Isa, weight: &'a [f32], x: &'a [f32], packs: &'a mut Packs) -> Vec<Job<'a>> {
        let n = x.len() / self.inputs;
        let [a, b, ..] = &mut packs.buffers;
        let mut jobs = Vec::new();
        // The phase balances its threads by values packed (`exec::phase`), whatever the order.
        push_packs(&mut jobs, Strided::col_major(x, self.inputs, n).t(), isa.nr(), MAX_NR, b);
        push_packs(&mut jobs, Strided::row_major(weight, self.units, self.inputs), isa.mr(), MAX_MR, a);
        jobs
    }

    /// Phase two of the forward pass: `z = act(W x + b)`, the bias added to each finished sum
    /// and `act` applied tile by tile
    /// when `fuses_into_tiles` allows (else the caller applies it afterwards).
    pub fn forward_product<'a>(
        self,
        isa: Isa,
        bias: &'a [f32],
        z: &'a mut [f32],
        packs: &'a Packs,
        activation: Option<Activation>,
    ) -> Product<'a> {
        let n = z.len() / self.units;
        let grid = Tiles::new(self.units, n, self.inputs);
        let [a, b, ..] = &packs.buffers;
        Product::new(isa, grid, a.as_slice(), b.as_slice(), z, Some(bias), activation.filter(|&a| fuses_into_tiles(a)))
    }

    /// Phase one of the backward pass (after any fused activation's backward has turned `dz`
    /// into the gradient of `z`): pack `x` and `dz` for `dW`, `W^T` and `dz` for `dx` (when
    /// `input_grad`), and sum `db`.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_jobs<'a>(
        self,
        isa: Isa,
        weight: &'a [f32],
        x: &'a [f32],
        dz: &'a [f32],
        db: &'a mut [f32],
        input_grad: bool,
        packs: &'a mut Packs,
    ) -> Vec<Job<'a>> {
        let (i, u) = (self.inputs, self.units);
        let n = x.len() / i;
        let [xa, dzb, wa, dzb2] = &mut packs.buffers;
        let mut jobs = Vec::new();
        // dW^T (inputs x units) = X (inputs x n) dZ^T (n x units).
        push_packs(&mut jobs, Strided::col_major(x, i, n), isa.mr(), MAX_MR, xa);
        push_packs(&mut jobs, Strided::col_major(dz, u, n), isa.nr(), MAX_NR, dzb);
        if input_grad {
            // dX (inputs x n) = W^T (inputs x units) dZ (units x n).
            push_packs(&mut jobs, Strided::row_major(weight, u, i).t(), isa.mr(), MAX_MR, wa);
            push_packs(&mut jobs, Strided::col_major(dz, u, n).t(), isa.nr(), MAX_NR, dzb2);
        }
        let parts = sum_jobs(u, n);
        let mut rest = db;
        for index in 0..parts {
            let units = split(u, 1, parts, index);
            let (out, later) = rest.split_at_mut(units.len());
            rest = later;
            jobs.push(Job::BiasGrad { dz, units: u, first: units.start, out });
        }
        jobs
    }

    /// Phase two of the backward pass: the products for `dw` (with `update`, the optimizer's
    /// step applied to the weight as each tile of `dw` is done) and, when given, `dx` (with
    /// an in-place activation below the layer and its outputs `x`, that activation's backward
    /// applied to each finished tile of `dx`).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_products<'a>(
        self,
        isa: Isa,
        n: usize,
        dw: &'a mut [f32],
        dx: Option<(&'a mut [f32], Option<ActivationGrad<'a>>)>,
        packs: &'a Packs,
        update: Option<FusedUpdate<'a>>,
    ) -> (Product<'a>, Option<Product<'a>>) {
        let (i, u) = (self.inputs, self.units);
        let [xa, dzb, wa, dzb2] = &packs.buffers;
        let grid = Self::weight_grad_grid(i, u, n, update.is_some());
        let mut weight_grad = Product::new(isa, grid, xa.as_slice(), dzb.as_slice(), dw, None, None);
        if let Some(update) = update {
            weight_grad = weight_grad.with_update(isa, update);
        }
        let input_grad = dx.map(|(dx, activation_grad)| {
            Product::new(isa, Tiles::new(i, n, u), wa.as_slice(), dzb2.as_slice(), dx, None, None)
                .with_activation_grad(activation_grad)
        });
        (weight_grad, input_grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan's task counts are the jobs and tiles the passes really create, for every
    /// packing path: operands packed by steps and by panels, one-wide layers (whose operands
    /// with a single step are packed by panels) and operands large enough to split.
    #[test]
    fn task_counts_match_the_passes() {
        let isa = Isa::current();
        let shapes = [(40, 48, 7), (256, 784, 128), (1, 1, 140_000), (2, 140_000, 1), (1, 3000, 50), (3000, 1, 60)];
        for (units, inputs, n) in shapes {
            let layer = Dense { inputs, units };
            let (weight, bias) = (vec![0.0; units * inputs], vec![0.0; units]);
            let (x, mut z) = (vec![0.0; inputs * n], vec![0.0; units * n]);
            let mut packs = Packs::default();
            let counted = layer.forward_tasks(n);
            assert_eq!(
                layer.forward_jobs(isa, &weight, &x, &mut packs).len(),
                counted.jobs,
                "forward, {units}x{inputs}, n {n}"
            );
            assert_eq!(layer.forward_product(isa, &bias, &mut z, &packs, None).tasks(), counted.tiles);
            for input_grad in [false, true] {
                for fused in [false, true] {
                    let (dz, mut db, mut dw, mut dx) = (z.clone(), bias.clone(), weight.clone(), x.clone());
                    let counted = layer.backward_tasks(n, input_grad, fused);
                    let shape = format!("backward, {units}x{inputs}, n {n}, input grad {input_grad}");
                    let jobs = layer.backward_jobs(isa, &weight, &x, &dz, &mut db, input_grad, &mut packs);
                    assert_eq!(jobs.len(), counted.jobs, "{shape}");
                    let mut param = weight.clone();
                    let update = fused.then(|| FusedUpdate {
                        rule: crate::kernels::optim::Optimizer::Sgd(Default::default()).rule(1, 0.1),
                        param: &mut param,
                        first: &mut [],
                        second: &mut [],
                    });
                    let dx = input_grad.then_some((&mut dx[..], None));
                    let (weight_grad, input_grad) = layer.backward_products(isa, n, &mut dw, dx, &packs, update);
                    assert_eq!(weight_grad.tasks() + input_grad.map_or(0, |p| p.tasks()), counted.tiles, "{shape}");
                }
            }
        }
    }
}
