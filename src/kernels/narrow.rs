//! Dense layers of at most 16 units that are too large for the chunked loops (a classifier's
//! output layer: 10 units over 128 or 1024 inputs), over the whole batch and without packing.
//!
//! The tiled products (`super::tiled`) would run such a layer on 32-row tiles with 10 real
//! rows, after packing the whole batch, and its input gradient (`k` = 10 units) on tiles that
//! load and store C for ten steps of work. Here each pass reads its operands where they lie:
//! - forward: 16 lanes (one per unit) per sample, 8 samples at a time, from `W^T` padded to
//!   16 columns (`transpose_padded`, once per pass);
//! - weight gradient: 16 inputs per vector, one accumulator per unit, over the samples;
//! - input gradient: 16 inputs per vector, the units' rows of W held in registers, 8 samples
//!   at a time;
//! - bias gradient: the samples' `dz` added in order.
//!
//! Every element goes through the same chain as in the tiled products (see `gemm`): from zero,
//! one `fma` per step of `k` in order (the inputs forward, the samples for the weight gradient,
//! the units for the input gradient), then the bias; the bias gradient adds the samples in
//! order, as the tiled pass's job does, and the fused optimizer step and the activation see the
//! same values. So a layer gives the same bits on either path, with any number of threads and
//! on every CPU: which path runs is a matter of speed only (a test compares them).
//!
//! The kernels are plain Rust over fixed-size arrays with `f32::mul_add`, compiled for AVX2
//! with FMA and the baseline, and on AVX-512 the same operations spelled out with intrinsics
//! (`avx512`), chosen at run time.

use std::ops::Range;

use multiversion::multiversion;
use multiversion::target::match_target;

use super::activation::Activation;
use super::dense::Dense;
use super::gemm::{Isa, MAX_TASKS, split};
use super::optim::Rule;
use super::tiled::{ActivationGrad, FusedUpdate};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The most units of a narrow layer: one 16-lane vector per sample.
pub const MOST_UNITS: usize = 16;
/// Lanes per vector: units in the forward pass, inputs in the backward ones.
const LANES: usize = 16;
/// Samples per call of the forward and input-gradient kernels.
const GROUP: usize = 8;
/// Multiply-adds a task should have at least (5 to 10 microseconds): below this, waking a
/// thread and cutting the weight into more segments cost more than they save.
const TASK_MACS: usize = 1 << 19;

/// Whether the AVX-512 intrinsics run (else the generic loops): when the products run
/// AVX-512 (`Isa::current`), so that `NNSPEC_KERNELS=avx2|scalar` forces the fallbacks here
/// too.
fn intrinsics() -> bool {
    Isa::current() == Isa::Avx512
}

/// Tasks worth `macs` multiply-adds, at most `most`.
fn tasks_for(macs: usize, most: usize) -> usize {
    (macs / TASK_MACS).clamp(1, MAX_TASKS).min(most.max(1))
}

/// The samples of each of `tasks` tasks over `n` samples, in whole groups (the last short).
fn group_sizes(n: usize, tasks: usize) -> impl Iterator<Item = usize> {
    (0..tasks).map(move |task| split(n, GROUP, tasks, task).len())
}

/// One task of a narrow layer's backward pass.
pub enum BackwardPart<'a> {
    /// The weight gradient for the inputs `inputs` (one segment per unit's row), the
    /// optimizer's step on the same part of the weight when fused, and in the first such task
    /// the bias gradient.
    Weight { inputs: Range<usize>, dw: Vec<&'a mut [f32]>, update: Option<RowsUpdate<'a>>, db: Option<&'a mut [f32]> },
    /// The input gradient of a group of samples: their rows of `dz` and `dx`, and with an
    /// in-place activation below the layer, it and their rows of its outputs (the layer's
    /// input), whose backward `dx` then takes.
    Input { dz: &'a [f32], dx: &'a mut [f32], activation_grad: Option<ActivationGrad<'a>> },
}

/// The parts of a weight and its moments that match a weight task's segments.
pub struct RowsUpdate<'a> {
    rule: Rule,
    params: Vec<&'a mut [f32]>,
    first: Vec<&'a mut [f32]>,
    second: Vec<&'a mut [f32]>,
}

impl Dense {
    /// Whether the layer runs on these kernels: a whole-batch layer (`is_tiled`) of at most
    /// `MOST_UNITS` units.
    pub fn is_narrow(self) -> bool {
        self.is_tiled() && self.units <= MOST_UNITS
    }

    /// Tasks of the forward pass over `n` samples: groups of samples.
    pub fn narrow_forward_tasks(self, n: usize) -> usize {
        tasks_for(n.saturating_mul(self.inputs).saturating_mul(LANES), n.div_ceil(GROUP))
    }

    /// Tasks of the backward pass over `n` samples: blocks of inputs for the weight gradient
    /// and, when `input_grad`, groups of samples for the input gradient.
    pub fn narrow_backward_tasks(self, n: usize, input_grad: bool) -> usize {
        self.weight_tasks(n) + if input_grad { self.input_tasks(n) } else { 0 }
    }

    fn weight_tasks(self, n: usize) -> usize {
        tasks_for(self.macs(n), self.inputs.div_ceil(LANES))
    }

    fn input_tasks(self, n: usize) -> usize {
        tasks_for(self.macs(n), n.div_ceil(GROUP))
    }

    /// Multiply-adds of a backward product over `n` samples.
    fn macs(self, n: usize) -> usize {
        n.saturating_mul(self.inputs).saturating_mul(self.units)
    }

    /// Values of `transpose_padded`'s output.
    pub fn padded_len(self) -> usize {
        self.inputs * LANES
    }

    /// Writes `W^T` with each row padded to 16 lanes (`inputs x 16`, zeros past the units):
    /// the forward kernel's vector of weights per input.
    pub fn transpose_padded(self, weight: &[f32], out: &mut [f32]) {
        for (k, row) in out[..self.padded_len()].chunks_exact_mut(LANES).enumerate() {
            row.fill(0.0);
            for (u, slot) in row[..self.units].iter_mut().enumerate() {
                *slot = weight[u * self.inputs + k];
            }
        }
    }

    /// The forward tasks' parts of the batch `x` and of the output `z`: groups of samples.
    pub fn narrow_forward_parts<'a>(self, x: &'a [f32], z: &'a mut [f32]) -> Vec<(&'a [f32], &'a mut [f32])> {
        let n = x.len() / self.inputs;
        let (mut x, mut z) = (x, z);
        group_sizes(n, self.narrow_forward_tasks(n))
            .map(|samples| {
                let (xs, later_x) = x.split_at(samples * self.inputs);
                let (zs, later_z) = std::mem::take(&mut z).split_at_mut(samples * self.units);
                (x, z) = (later_x, later_z);
                (xs, zs)
            })
            .collect()
    }

    /// One forward task: `z = act(W x + b)` for its samples, from `transpose_padded`'s `wt`
    /// (`activation` one that runs on any piece of the output, `tiled::fuses_into_tiles`).
    pub fn narrow_forward(self, wt: &[f32], bias: &[f32], x: &[f32], z: &mut [f32], activation: Option<Activation>) {
        forward_rows(intrinsics(), self.inputs, self.units, &wt[..self.padded_len()], bias, x, z);
        if let Some(activation) = activation {
            for row in z.chunks_exact_mut(self.units) {
                activation.forward_in_place(row, self.units);
            }
        }
    }

    /// The backward tasks over the `n` samples of `dz`: the weight gradient `dw` (with
    /// `update`, the optimizer's step applied to each block as it is done), the bias gradient
    /// `db` and, when given, the input gradient `dx` (with an in-place activation below the
    /// layer and its outputs `x`, turned into the gradient of that activation's input), as
    /// `Dense::backward_products` takes them.
    pub fn narrow_backward_parts<'a>(
        self,
        dz: &'a [f32],
        dw: &'a mut [f32],
        db: &'a mut [f32],
        dx: Option<(&'a mut [f32], Option<ActivationGrad<'a>>)>,
        update: Option<FusedUpdate<'a>>,
    ) -> Vec<BackwardPart<'a>> {
        let (i, u) = (self.inputs, self.units);
        let n = dz.len() / u;
        let weight_tasks = self.weight_tasks(n);
        let blocks: Vec<Range<usize>> = (0..weight_tasks).map(|task| split(i, LANES, weight_tasks, task)).collect();
        let mut dws = column_blocks(dw, i, &blocks).into_iter();
        let mut updates = update.map(|update| {
            let (params, first, second) = (
                column_blocks(update.param, i, &blocks).into_iter(),
                column_blocks(update.first, i, &blocks).into_iter(),
                column_blocks(update.second, i, &blocks).into_iter(),
            );
            params.zip(first).zip(second).map(move |((params, first), second)| RowsUpdate {
                rule: update.rule,
                params,
                first,
                second,
            })
        });
        let mut db = Some(db);
        let mut parts: Vec<BackwardPart<'a>> = blocks
            .into_iter()
            .map(|inputs| BackwardPart::Weight {
                inputs,
                dw: dws.next().expect("a block per task"),
                update: updates.as_mut().and_then(Iterator::next),
                db: db.take(),
            })
            .collect();
        if let Some((mut dx, activation_grad)) = dx {
            let (mut dz, mut first) = (dz, 0);
            for samples in group_sizes(n, self.input_tasks(n)) {
                let (dzs, later_dz) = dz.split_at(samples * u);
                let (dxs, later_dx) = std::mem::take(&mut dx).split_at_mut(samples * i);
                (dz, dx) = (later_dz, later_dx);
                let activation_grad = activation_grad.map(|(a, y)| (a, &y[first * i..(first + samples) * i]));
                first += samples;
                parts.push(BackwardPart::Input { dz: dzs, dx: dxs, activation_grad });
            }
        }
        parts
    }

    /// Runs one backward task; `x` is the layer's input over the batch, `dz` the gradient of
    /// its output over the batch, `weight` the weight before this step's update.
    pub fn narrow_backward(self, part: BackwardPart<'_>, x: &[f32], dz: &[f32], weight: &[f32]) {
        let (i, u) = (self.inputs, self.units);
        match part {
            BackwardPart::Weight { inputs, mut dw, update, db } => {
                weight_rows(intrinsics(), i, u, x, dz, inputs, &mut dw);
                if let Some(RowsUpdate { rule, params, first, second }) = update {
                    let (mut first, mut second) = (first.into_iter(), second.into_iter());
                    for (param, grad) in params.into_iter().zip(&dw) {
                        rule.apply(param, grad, first.next().unwrap_or_default(), second.next().unwrap_or_default());
                    }
                }
                if let Some(db) = db {
                    db.fill(0.0);
                    for row in dz.chunks_exact(u) {
                        db.iter_mut().zip(row).for_each(|(b, &g)| *b += g);
                    }
                }
            }
            BackwardPart::Input { dz, dx, activation_grad } => {
                input_rows(intrinsics(), i, u, weight, dz, dx);
                if let Some((activation, y)) = activation_grad {
                    activation.backward(y, y, dx, i);
                }
            }
        }
    }
}

/// A row-major matrix of `cols` columns cut at the column ranges `blocks` (consecutive, from
/// 0): per block, one segment per row. An empty matrix (a moment the optimizer does not keep)
/// gives empty blocks.
fn column_blocks<'a>(matrix: &'a mut [f32], cols: usize, blocks: &[Range<usize>]) -> Vec<Vec<&'a mut [f32]>> {
    let rows = matrix.len() / cols.max(1);
    let mut out: Vec<Vec<&'a mut [f32]>> = blocks.iter().map(|_| Vec::with_capacity(rows)).collect();
    for row in matrix.chunks_exact_mut(cols.max(1)) {
        let mut rest = row;
        for (block, segments) in blocks.iter().zip(&mut out) {
            let (segment, later) = std::mem::take(&mut rest).split_at_mut(block.len());
            rest = later;
            segments.push(segment);
        }
    }
    out
}

/// `$avx512` in the AVX-512 version of a `multiversion` function when `$intrinsics`, else
/// `$generic`.
macro_rules! choose {
    ($intrinsics:expr, $avx512:expr, $generic:expr) => {
        match_target! {
            "x86_64+avx512f" => if $intrinsics { $avx512 } else { $generic },
            _ => {
                let _ = $intrinsics;
                $generic
            }
        }
    };
}

/// `f::<U>(args)` for the unit count `units` (1 to 16), so that the kernels keep one
/// accumulator per unit in registers.
macro_rules! by_units {
    ($units:expr, $($f:ident)::+($($arg:expr),*)) => {
        match $units {
            1 => $($f)::+::<1>($($arg),*),
            2 => $($f)::+::<2>($($arg),*),
            3 => $($f)::+::<3>($($arg),*),
            4 => $($f)::+::<4>($($arg),*),
            5 => $($f)::+::<5>($($arg),*),
            6 => $($f)::+::<6>($($arg),*),
            7 => $($f)::+::<7>($($arg),*),
            8 => $($f)::+::<8>($($arg),*),
            9 => $($f)::+::<9>($($arg),*),
            10 => $($f)::+::<10>($($arg),*),
            11 => $($f)::+::<11>($($arg),*),
            12 => $($f)::+::<12>($($arg),*),
            13 => $($f)::+::<13>($($arg),*),
            14 => $($f)::+::<14>($($arg),*),
            15 => $($f)::+::<15>($($arg),*),
            16 => $($f)::+::<16>($($arg),*),
            units => unreachable!("a narrow layer has 1 to 16 units, not {units}"),
        }
    };
}

/// `z_j = W x_j + b` for the samples of `x`, 8 at a time (with AVX-512 `intrinsics` where
/// the CPU has them).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn forward_rows(intrinsics: bool, inputs: usize, units: usize, wt: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
    let groups = x.len() / inputs / GROUP;
    let (x_groups, x_rest) = x.split_at(groups * GROUP * inputs);
    let (z_groups, z_rest) = z.split_at_mut(groups * GROUP * units);
    for (x, z) in x_groups.chunks_exact(GROUP * inputs).zip(z_groups.chunks_exact_mut(GROUP * units)) {
        choose!(
            intrinsics,
            avx512::forward_group::<GROUP>(inputs, units, wt, bias, x, z),
            forward_group::<GROUP>(inputs, units, wt, bias, x, z)
        )
    }
    for (x, z) in x_rest.chunks_exact(inputs).zip(z_rest.chunks_exact_mut(units)) {
        choose!(
            intrinsics,
            avx512::forward_group::<1>(inputs, units, wt, bias, x, z),
            forward_group::<1>(inputs, units, wt, bias, x, z)
        )
    }
}

/// `S` samples of the forward pass: per sample a 16-lane sum over the inputs in order, one
/// `fma` per input, then the bias.
#[inline(always)]
fn forward_group<const S: usize>(inputs: usize, units: usize, wt: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
    // Slices of known length, so that no access below needs a bounds check (which would
    // keep the accumulators in memory).
    let rows: [&[f32]; S] = std::array::from_fn(|s| &x[s * inputs..][..inputs]);
    let wt = &wt[..inputs * LANES];
    let mut acc = [[0.0f32; LANES]; S];
    for k in 0..inputs {
        let w: &[f32; LANES] = wt[k * LANES..][..LANES].try_into().expect("16 lanes");
        for (sum, row) in acc.iter_mut().zip(&rows) {
            let xk = row[k];
            for (c, &wu) in sum.iter_mut().zip(w) {
                *c = wu.mul_add(xk, *c);
            }
        }
    }
    for (sum, out) in acc.iter().zip(z.chunks_exact_mut(units)) {
        for ((o, &c), &b) in out.iter_mut().zip(sum).zip(bias) {
            *o = c + b;
        }
    }
}

/// `dW[u, inputs] = sum_j dz_j[u] x_j[inputs]` over the samples in order, 16 inputs at a time,
/// into `dw`'s segments (one per unit).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn weight_rows(
    intrinsics: bool,
    inputs: usize,
    units: usize,
    x: &[f32],
    dz: &[f32],
    block: Range<usize>,
    dw: &mut [&mut [f32]],
) {
    for first in block.clone().step_by(LANES) {
        let width = LANES.min(block.end - first);
        let offset = first - block.start;
        choose!(
            intrinsics,
            by_units!(units, avx512::weight_lanes(inputs, x, dz, first, width, offset, dw)),
            by_units!(units, weight_lanes(inputs, x, dz, first, width, offset, dw))
        )
    }
}

/// The weight gradient of inputs `first..first + width` (at most 16), into `dw`'s segments at
/// `offset`.
#[inline(always)]
fn weight_lanes<const U: usize>(
    inputs: usize,
    x: &[f32],
    dz: &[f32],
    first: usize,
    width: usize,
    offset: usize,
    dw: &mut [&mut [f32]],
) {
    let mut acc = [[0.0f32; LANES]; U];
    for (row, g) in x.chunks_exact(inputs).zip(dz.chunks_exact(U)) {
        let g: &[f32; U] = g.try_into().expect("a gradient per unit");
        // A whole block is one fixed-size load; a last partial one is padded with zeros.
        let lanes: [f32; LANES] = match row[first..].first_chunk::<LANES>() {
            Some(lanes) if width == LANES => *lanes,
            _ => {
                let mut lanes = [0.0f32; LANES];
                lanes[..width].copy_from_slice(&row[first..first + width]);
                lanes
            }
        };
        for (sum, &g) in acc.iter_mut().zip(g) {
            for (c, &xi) in sum.iter_mut().zip(&lanes) {
                *c = xi.mul_add(g, *c);
            }
        }
    }
    for (sum, segment) in acc.iter().zip(dw.iter_mut()) {
        segment[offset..offset + width].copy_from_slice(&sum[..width]);
    }
}

/// `dx_j = W^T dz_j` for the samples of `dz`: 16 inputs at a time, each a sum over the units
/// in order.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn input_rows(intrinsics: bool, inputs: usize, units: usize, weight: &[f32], dz: &[f32], dx: &mut [f32]) {
    for first in (0..inputs).step_by(LANES) {
        let width = LANES.min(inputs - first);
        choose!(
            intrinsics,
            by_units!(units, avx512::input_lanes(inputs, weight, dz, dx, first, width)),
            by_units!(units, input_lanes(inputs, weight, dz, dx, first, width))
        )
    }
}

/// The input gradient of inputs `first..first + width` (at most 16) for every sample of `dz`,
/// with the units' weights for those inputs held in registers.
#[inline(always)]
fn input_lanes<const U: usize>(inputs: usize, weight: &[f32], dz: &[f32], dx: &mut [f32], first: usize, width: usize) {
    let mut w = [[0.0f32; LANES]; U];
    for (lanes, row) in w.iter_mut().zip(weight.chunks_exact(inputs)) {
        lanes[..width].copy_from_slice(&row[first..first + width]);
    }
    let samples = dz.len() / U;
    let groups = samples / GROUP;
    for group in 0..groups {
        input_group::<U, GROUP>(&w, &dz[group * GROUP * U..], dx, group * GROUP, inputs, first, width);
    }
    for sample in groups * GROUP..samples {
        input_group::<U, 1>(&w, &dz[sample * U..], dx, sample, inputs, first, width);
    }
}

/// `S` samples from `sample` on of `input_lanes`.
#[inline(always)]
fn input_group<const U: usize, const S: usize>(
    w: &[[f32; LANES]; U],
    dz: &[f32],
    dx: &mut [f32],
    sample: usize,
    inputs: usize,
    first: usize,
    width: usize,
) {
    let gradients: [&[f32; U]; S] = std::array::from_fn(|s| dz[s * U..][..U].try_into().expect("a gradient per unit"));
    let mut acc = [[0.0f32; LANES]; S];
    for (u, lanes) in w.iter().enumerate() {
        for (sum, g) in acc.iter_mut().zip(&gradients) {
            let g = g[u];
            for (c, &wi) in sum.iter_mut().zip(lanes) {
                *c = wi.mul_add(g, *c);
            }
        }
    }
    for (s, sum) in acc.iter().enumerate() {
        let at = (sample + s) * inputs + first;
        dx[at..at + width].copy_from_slice(&sum[..width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::Isa;
    use crate::kernels::optim::{Adam, Optimizer, Sgd};
    use crate::kernels::tiled::Packs;
    use itertools::Itertools;

    fn fill(len: usize, k: f32) -> Vec<f32> {
        (0..len).map(|i| ((i as f32 * k).sin() * 1.7).fract()).collect()
    }

    /// The tiled products' forward pass of `layer` (the reference the narrow one must match).
    fn tiled_forward(layer: Dense, w: &[f32], b: &[f32], x: &[f32], z: &mut [f32], activation: Option<Activation>) {
        let (isa, mut packs) = (Isa::current(), Packs::default());
        layer.forward_jobs(isa, w, x, &mut packs).into_iter().for_each(|job| job.run());
        let (shared, tiles) = layer.forward_product(isa, b, z, &packs, activation).into_parts();
        tiles.into_iter().for_each(|tile| shared.run(isa, tile));
    }

    /// The narrow input gradient with no activation below the layer.
    fn run_without(layer: &Dense, w: &[f32], x: &[f32], dz: &[f32]) -> Vec<f32> {
        let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; layer.units], vec![f32::NAN; x.len()]);
        for part in layer.narrow_backward_parts(dz, &mut dw, &mut db, Some((&mut dx, None)), None) {
            layer.narrow_backward(part, x, dz, w);
        }
        dx
    }

    /// Every narrow layer shape (1 to 16 units, inputs and samples around the 16-lane and
    /// 8-sample blocks, task splits) gives the tiled products' bits: outputs, weight, bias and
    /// input gradients (also through an activation below the layer, which gives the bits of
    /// that activation's own pass), and weights and moments after a fused optimizer step.
    #[test]
    fn matches_the_tiled_products_bit_for_bit() {
        let optimizers = [
            Optimizer::Sgd(Sgd { lr: 0.05, momentum: 0.9, ..Sgd::default() }),
            Optimizer::Adam(Adam { lr: 0.01, ..Adam::default() }),
        ];
        for units in [1, 2, 7, 10, 16] {
            // The fewest inputs that make the layer narrow, a partial block of 16, and more.
            let least = 1024 / units + 1;
            for (inputs, n) in [(least, 1), (least + 17, 9), (least + 130, 23), (1100, 128), (1500, 300)] {
                let layer = Dense { inputs, units };
                assert!(layer.is_narrow(), "{units}x{inputs}");
                let (w, b, x) = (fill(units * inputs, 0.37), fill(units, 1.1), fill(n * inputs, 0.91));
                for activation in [None, Some(Activation::Tanh)] {
                    let mut expected = vec![0.0; n * units];
                    tiled_forward(layer, &w, &b, &x, &mut expected, activation);
                    let mut wt = vec![f32::NAN; layer.padded_len()];
                    layer.transpose_padded(&w, &mut wt);
                    let mut z = vec![f32::NAN; n * units];
                    for (x, z) in layer.narrow_forward_parts(&x, &mut z) {
                        layer.narrow_forward(&wt, &b, x, z, activation);
                    }
                    let same = z.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "forward {units}x{inputs}, n {n}, {activation:?}");
                }
                let dz = fill(n * units, 0.53);
                let below = [None, Some(Activation::Relu), Some(Activation::Tanh)];
                for (optimizer, below) in optimizers.iter().map(Some).chain([None]).cartesian_product(below) {
                    // The backward of an activation below the layer, applied as dx is written.
                    let then = below.map(|a| (a, &x[..]));
                    let run = |narrow: bool| {
                        let (mut dw, mut db, mut dx) =
                            (vec![f32::NAN; units * inputs], vec![f32::NAN; units], vec![f32::NAN; n * inputs]);
                        let mut param = w.clone();
                        let mut moments = optimizer.map(|o| o.moments(units * inputs));
                        // Moments that are not zero, so that the step reads them.
                        for moment in moments.iter_mut().flat_map(|m| [&mut m.first, &mut m.second]) {
                            moment.iter_mut().enumerate().for_each(|(i, v)| *v = (i % 7) as f32 * 0.01);
                        }
                        let update = optimizer.zip(moments.as_mut()).map(|(o, m)| FusedUpdate {
                            rule: o.rule(3, o.lr()),
                            param: &mut param,
                            first: &mut m.first,
                            second: &mut m.second,
                        });
                        if narrow {
                            let parts =
                                layer.narrow_backward_parts(&dz, &mut dw, &mut db, Some((&mut dx, then)), update);
                            for part in parts {
                                layer.narrow_backward(part, &x, &dz, &w);
                            }
                        } else {
                            let (isa, mut packs) = (Isa::current(), Packs::default());
                            let jobs = layer.backward_jobs(isa, &w, &x, &dz, &mut db, true, &mut packs);
                            jobs.into_iter().for_each(|job| job.run());
                            let (weight_grad, input_grad) =
                                layer.backward_products(isa, n, &mut dw, Some((&mut dx, then)), &packs, update);
                            for product in std::iter::once(weight_grad).chain(input_grad) {
                                let (shared, tiles) = product.into_parts();
                                tiles.into_iter().for_each(|tile| shared.run(isa, tile));
                            }
                        }
                        let moments = moments.map(|m| [m.first, m.second]).unwrap_or_default();
                        [dw, db, dx, param, moments[0].clone(), moments[1].clone()]
                    };
                    let (narrow, tiled) = (run(true), run(false));
                    if let Some(activation) = below {
                        // As the activation's own pass would have left it.
                        let mut dx = run_without(&layer, &w, &x, &dz);
                        activation.backward(&x, &x, &mut dx, inputs);
                        let same = dx.iter().zip(&narrow[2]).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "dx through {activation:?}: {units}x{inputs}, n {n}");
                    }
                    let names = ["dw", "db", "dx", "weight", "first moment", "second moment"];
                    for ((narrow, tiled), name) in narrow.iter().zip(&tiled).zip(names) {
                        let same = narrow.len() == tiled.len()
                            && narrow.iter().zip(tiled).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{name}: {units}x{inputs}, n {n}, {optimizer:?}");
                    }
                }
            }
        }
    }

    /// The generic loops (which CPUs without AVX-512 run, and `NNSPEC_KERNELS=avx2|scalar`
    /// forces) give the intrinsics' bits, for every unit count and partial block.
    #[test]
    fn generic_loops_match_the_intrinsics() {
        for units in 1..=16 {
            for (inputs, n) in [(16, 8), (23, 9), (70, 19)] {
                let (wt, b, x) = (fill(inputs * LANES, 0.37), fill(units, 1.1), fill(n * inputs, 0.91));
                let (w, dz) = (fill(units * inputs, 0.29), fill(n * units, 0.53));
                let run = |intrinsics: bool| {
                    let (mut z, mut dw, mut dx) =
                        (vec![f32::NAN; n * units], vec![f32::NAN; units * inputs], vec![f32::NAN; n * inputs]);
                    forward_rows(intrinsics, inputs, units, &wt, &b, &x, &mut z);
                    let mut rows: Vec<&mut [f32]> = dw.chunks_exact_mut(inputs).map(|row| &mut row[3..]).collect();
                    weight_rows(intrinsics, inputs, units, &x, &dz, 3..inputs, &mut rows);
                    input_rows(intrinsics, inputs, units, &w, &dz, &mut dx);
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
                    [bits(&z), bits(&dw), bits(&dx)]
                };
                assert_eq!(run(true), run(false), "{units} units, {inputs} inputs, {n} samples");
            }
        }
    }

    /// Without the input gradient (a first layer) there are no input tasks, and the weight
    /// gradient is still complete.
    #[test]
    fn a_first_layer_has_no_input_tasks() {
        let layer = Dense { inputs: 300, units: 3 };
        let n = 40;
        let (x, dz) = (fill(n * layer.inputs, 0.3), fill(n * layer.units, 0.7));
        let (mut dw, mut db) = (vec![f32::NAN; 900], vec![f32::NAN; 3]);
        let parts = layer.narrow_backward_parts(&dz, &mut dw, &mut db, None, None);
        assert_eq!(parts.len(), layer.narrow_backward_tasks(n, false));
        assert!(parts.iter().all(|part| matches!(part, BackwardPart::Weight { .. })));
        for part in parts {
            layer.narrow_backward(part, &x, &dz, &[]);
        }
        assert!(dw.iter().chain(&db).all(|v| v.is_finite()));
    }
}
