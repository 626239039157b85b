//! Layers with at most 16 inputs and 16 units: the weights, padded with zeros to `K x 16`
//! (`K` the input count rounded up to 1, 2, 4, 8 or 16), live on the stack, and every row
//! operation is one fixed-width vector operation (16 lanes: one AVX-512 register, two AVX2
//! ones). Fixed trip counts let the compiler vectorise along the rows rather than across them,
//! and rows are read and written whole (no `memcpy` calls). Sums run over samples in order.
//! These loops are compiled for AVX2 only: given AVX-512, LLVM vectorises them across samples
//! or rows with gathers and scatters, several times slower. AVX-512 CPUs run layers of more
//! than one unit, and single units of 16 inputs, in `super::tiny512` instead, the same
//! operations in zmm registers.

use multiversion::multiversion;
use multiversion::target::match_target;

use super::Chunk;
use crate::kernels::activation::Activation;

pub const LANES: usize = 16;
pub(super) type Row = [f32; LANES];
/// Samples whose independent sums are interleaved.
pub(super) const GROUP: usize = 4;

/// `acc += a * row`, one fused multiply-add per lane: a single instruction on FMA CPUs and
/// the same correctly rounded result (through libm's `fmaf`) on the rare ones without.
#[inline(always)]
fn axpy<const N: usize>(acc: &mut [f32; N], a: f32, row: &[f32; N]) {
    for (y, &v) in acc.iter_mut().zip(row) {
        *y = a.mul_add(v, *y);
    }
}

/// `src[start..start + len]` in the first `len` of `N` lanes. Reads `N` values at once when
/// they are there: the lanes past `len` then hold the next sample's values, which callers
/// must ignore (`load_zeroed` clears them).
#[inline(always)]
pub(super) fn load<const N: usize>(src: &[f32], start: usize, len: usize) -> [f32; N] {
    let mut row = [0.0; N];
    match src.get(start..start + N) {
        Some(whole) => row.copy_from_slice(whole),
        None => {
            for (v, &s) in row.iter_mut().zip(&src[start..start + len]) {
                *v = s;
            }
        }
    }
    row
}

/// `load` with the lanes past `len` set to zero.
#[inline(always)]
pub(super) fn load_zeroed<const N: usize>(src: &[f32], start: usize, len: usize, mask: &[f32; N]) -> [f32; N] {
    let mut row: [f32; N] = load(src, start, len);
    for (v, &keep) in row.iter_mut().zip(mask) {
        *v = if keep != 0.0 { *v } else { 0.0 };
    }
    row
}

/// The sum of the lanes by halving: lanes `i` and `i + N/2` first, and so on, the same
/// order on every CPU.
#[inline(always)]
fn tree_sum<const N: usize>(mut v: [f32; N]) -> f32 {
    let mut width = N / 2;
    while width > 0 {
        for i in 0..width {
            v[i] += v[i + width];
        }
        width /= 2;
    }
    v[0]
}

/// 1 in the first `len` lanes, 0 after.
pub(super) fn lane_mask<const N: usize>(len: usize) -> [f32; N] {
    let mut mask = [0.0; N];
    mask[..len].fill(1.0);
    mask
}

/// Writes the first `len` lanes of `row` at `dst[start..]`. When there is room it writes all
/// `N`: callers write samples in increasing order, so the extra lanes land in the next
/// sample's slots and are overwritten by it.
#[inline(always)]
pub(super) fn store<const N: usize>(dst: &mut [f32], start: usize, len: usize, row: &[f32; N]) {
    match dst.get_mut(start..start + N) {
        Some(whole) => whole.copy_from_slice(row),
        None => {
            for (d, &v) in dst[start..start + len].iter_mut().zip(row) {
                *d = v;
            }
        }
    }
}

/// Calls `$kernel::<K>(args)` with `K` the input count rounded up to 1, 2, 4, 8 or 16: every
/// build of a kernel pads the same way, so they run the same operations.
macro_rules! by_width {
    ($inputs:expr, $kernel:ident($($arg:expr),*)) => {
        match $inputs {
            1 => $kernel::<1>($($arg),*),
            2 => $kernel::<2>($($arg),*),
            3..=4 => $kernel::<4>($($arg),*),
            5..=8 => $kernel::<8>($($arg),*),
            _ => $kernel::<16>($($arg),*),
        }
    };
}
pub(super) use by_width;

/// `z_j = act(b + sum_k x_j[k] W^T[k])`: in zmm registers (`super::tiny512`) on AVX-512 CPUs
/// when there is more than one unit (the common activations applied before each row is
/// stored) or one unit of 16 inputs; else in the loops below; the activation in a pass of
/// its own where not in registers (the same operations in the same order, so the same bits).
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub fn forward(
    units: usize,
    inputs: usize,
    weight: &[f32],
    bias: &[f32],
    x: &[f32],
    z: &mut [f32],
    activation: Option<Activation>,
) {
    match_target! {
        "x86_64+avx512f" => if units > 1 || inputs == LANES {
            return super::tiny512::forward(units, inputs, weight, bias, x, z, activation);
        },
        _ => {}
    }
    forward_loops(units, inputs, weight, bias, x, z);
    if let Some(activation) = activation {
        activation.forward_in_place(z, units);
    }
}

#[multiversion(targets("x86_64+avx2+fma"))]
fn forward_loops(units: usize, inputs: usize, weight: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
    by_width!(inputs, forward_k(units, inputs, weight, bias, x, z))
}

/// `W^T` padded with zeros to `K x 16`.
#[inline(always)]
pub(super) fn transposed<const K: usize>(inputs: usize, weight: &[f32]) -> [Row; K] {
    let mut weight_t = [[0.0f32; LANES]; K];
    for (u, row) in weight.chunks_exact(inputs).enumerate() {
        for (k, &w) in row.iter().enumerate() {
            weight_t[k][u] = w;
        }
    }
    weight_t
}

/// `W`'s rows padded with zeros to `K` lanes (16 rows; those past the unit count are zero).
#[inline(always)]
fn padded_rows<const K: usize>(inputs: usize, weight: &[f32]) -> [[f32; K]; LANES] {
    let mut w = [[0.0f32; K]; LANES];
    for (row, source) in w.iter_mut().zip(weight.chunks_exact(inputs)) {
        row[..inputs].copy_from_slice(source);
    }
    w
}

#[inline(always)]
fn forward_k<const K: usize>(units: usize, inputs: usize, weight: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
    let mask = lane_mask::<K>(inputs);
    if units == 1 {
        // One output: a dot product per sample, summed as a fixed tree over the lanes.
        let w: [f32; K] = load_zeroed(weight, 0, inputs, &mask);
        for (j, zj) in z.iter_mut().enumerate() {
            let xj: [f32; K] = load_zeroed(x, j * inputs, inputs, &mask);
            let mut products = [0.0f32; K];
            for ((p, &a), &b) in products.iter_mut().zip(&xj).zip(&w) {
                *p = a * b;
            }
            *zj = tree_sum(products) + bias[0];
        }
        return;
    }
    let weight_t = transposed::<K>(inputs, weight);
    let bias: Row = load_zeroed(bias, 0, units, &lane_mask(units));
    let n = x.len() / inputs;
    // GROUP samples at a time: their sums are independent, so the CPU overlaps them where
    // one sum alone would wait out each multiply-add's latency. Each sample's operations
    // and their order are unchanged. Stores go in sample order (see `store`).
    let mut j = 0;
    while j + GROUP <= n {
        // Zeroed: a non-finite value of the next sample times a zero weight would be NaN.
        let mut xs = [[0.0f32; K]; GROUP];
        for (s, xj) in xs.iter_mut().enumerate() {
            *xj = load_zeroed(x, (j + s) * inputs, inputs, &mask);
        }
        let mut accs = [bias; GROUP];
        for (k, row) in weight_t.iter().enumerate() {
            for (acc, xj) in accs.iter_mut().zip(&xs) {
                axpy(acc, xj[k], row);
            }
        }
        for (s, acc) in accs.iter().enumerate() {
            store(z, (j + s) * units, units, acc);
        }
        j += GROUP;
    }
    for j in j..n {
        let xj: [f32; K] = load_zeroed(x, j * inputs, inputs, &mask);
        let mut acc = bias;
        for (row, &xk) in weight_t.iter().zip(&xj) {
            axpy(&mut acc, xk, row);
        }
        store(z, j * units, units, &acc);
    }
}

/// The gradients of a chunk: `db = sum_j dz_j`, `dW` (accumulated along whichever side
/// takes fewer vector operations), `dx_j = sum_u dz_j[u] W[u]`; in zmm registers on AVX-512
/// CPUs when there is more than one unit or there are 16 inputs, as `forward`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
pub fn backward(chunk: Chunk<'_>) {
    match_target! {
        "x86_64+avx512f" => if chunk.units > 1 || chunk.inputs == LANES {
            return super::tiny512::backward(chunk);
        },
        _ => {}
    }
    backward_loops(chunk)
}

#[multiversion(targets("x86_64+avx2+fma"))]
fn backward_loops(chunk: Chunk<'_>) {
    by_width!(chunk.inputs, backward_k(chunk))
}

#[inline(always)]
fn backward_k<const K: usize>(chunk: Chunk<'_>) {
    let Chunk { units, inputs, weight, x, dz, dw, db, mut dx } = chunk;
    if units == 1 {
        return backward_one::<K>(inputs, weight, x, dz, dw, db, dx);
    }
    let w = padded_rows::<K>(inputs, weight);
    // dW by rows of units (`dW^T[k] += x_j[k] g_j`, K row operations per sample) or by rows
    // of inputs (`dW[u] += g_j[u] x_j`, one per unit): whichever is fewer.
    let by_units = K <= units;
    let mut dw_t = [[0.0f32; LANES]; K];
    let mut dw_rows = [[0.0f32; K]; LANES];
    let mut db_acc: Row = [0.0; LANES];
    // Lanes past `units` of g and past `inputs` of x_j hold the next sample's values; they
    // only reach accumulator lanes that are never read back.
    let n = x.len() / inputs;
    let mut j = 0;
    while j < n {
        // GROUP samples at a time (fewer at the end), as in `forward_k`: the sums over
        // samples (db, dW) take them in order; their dx sums are independent and overlap.
        let group = GROUP.min(n - j);
        let mut gs = [[0.0f32; LANES]; GROUP];
        for (s, g) in gs[..group].iter_mut().enumerate() {
            *g = load(dz, (j + s) * units, units);
        }
        for (s, g) in gs[..group].iter().enumerate() {
            let xj: [f32; K] = load(x, (j + s) * inputs, inputs);
            axpy(&mut db_acc, 1.0, g);
            if by_units {
                for (row, &xk) in dw_t.iter_mut().zip(&xj) {
                    axpy(row, xk, g);
                }
            } else {
                for (row, &gu) in dw_rows[..units].iter_mut().zip(g) {
                    axpy(row, gu, &xj);
                }
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            let mut accs = [[0.0f32; K]; GROUP];
            for (u, wu) in w[..units].iter().enumerate() {
                for (acc, g) in accs.iter_mut().zip(&gs) {
                    axpy(acc, g[u], wu);
                }
            }
            for (s, acc) in accs[..group].iter().enumerate() {
                store(dx, (j + s) * inputs, inputs, acc);
            }
        }
        j += group;
    }
    write_weight_grad(inputs, by_units, &dw_t, &dw_rows, dw);
    db.copy_from_slice(&db_acc[..units]);
}

/// Writes `dW` (`[units, inputs]`) from the accumulators that were used: `dw_t` (`K x 16`,
/// transposed) when `by_units`, else `dw_rows` (16 rows of `K`).
#[inline(always)]
pub(super) fn write_weight_grad<const K: usize>(
    inputs: usize,
    by_units: bool,
    dw_t: &[Row; K],
    dw_rows: &[[f32; K]; LANES],
    dw: &mut [f32],
) {
    for (u, row) in dw.chunks_exact_mut(inputs).enumerate() {
        for (k, d) in row.iter_mut().enumerate() {
            *d = if by_units { dw_t[k][u] } else { dw_rows[u][k] };
        }
    }
}

/// `backward_k` for a single unit: its gradient is one number per sample, so the sums run
/// on scalars and `K`-wide rows instead of 16-lane ones. The same fused multiply-adds in
/// the same order: `db += g`, `dW[k] += g x[k]`, `dx[k] = g W[k]`.
#[inline(always)]
fn backward_one<const K: usize>(
    inputs: usize,
    weight: &[f32],
    x: &[f32],
    dz: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let w: [f32; K] = load(weight, 0, inputs);
    let (mut db_acc, mut dw_acc) = (0.0f32, [0.0f32; K]);
    for (j, &g) in dz.iter().enumerate() {
        let xj: [f32; K] = load(x, j * inputs, inputs);
        db_acc = 1.0f32.mul_add(g, db_acc);
        axpy(&mut dw_acc, g, &xj);
        if let Some(dx) = dx.as_deref_mut() {
            let mut acc = [0.0f32; K];
            axpy(&mut acc, g, &w);
            store(dx, j * inputs, inputs, &acc);
        }
    }
    dw.copy_from_slice(&dw_acc[..inputs]);
    db[0] = db_acc;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the CPU has AVX-512, `forward` and `backward` run `tiny512`: it must give the
    /// same bits as the loops (and the activation's own pass), for every input count, unit
    /// counts from 1 to 16 (those with and without padding), sample counts around the groups
    /// (four here, eight there; none included), with and without an input gradient, and each
    /// activation applied in registers or not; the inputs and the output gradients include -0,
    /// infinities and NaN, and the outputs start as a sentinel so that a value left unwritten
    /// shows (elsewhere both sides run the loops). NaNs compare equal whatever their
    /// payload, which depends on the order the compiler gives a fused multiply-add's operands.
    #[test]
    fn every_build_gives_the_same_bits() {
        const SENTINEL: f32 = 12345.0;
        let fill = |len: usize, k: f32| (0..len).map(|i| (i as f32 * k).sin() * 1.7).collect::<Vec<f32>>();
        let same = |a: &[f32], b: &[f32]| {
            a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        };
        let activations = [None, Some(Activation::Tanh), Some(Activation::Sigmoid), Some(Activation::Relu)];
        for inputs in 1..=16 {
            for units in [1, 2, 7, 12, 16] {
                for n in [0, 1, 3, 4, 6, 8, 9, 17] {
                    let (weight, bias) = (fill(units * inputs, 1.3), fill(units, 0.7));
                    let (mut x, mut dz) = (fill(inputs * n, 2.1), fill(units * n, 0.37));
                    // Special values in the last sample only, so that the others stay finite.
                    for values in [&mut x, &mut dz] {
                        for (slot, special) in values.iter_mut().rev().zip([-0.0, f32::INFINITY, f32::NAN, -1e-40]) {
                            *slot = special;
                        }
                    }
                    let shape = format!("inputs {inputs}, units {units}, n {n}");
                    for activation in activations.into_iter().chain([Some(Activation::LeakyRelu { alpha: 0.1 })]) {
                        let (mut z, mut z_loops) = (vec![SENTINEL; units * n], vec![SENTINEL; units * n]);
                        forward(units, inputs, &weight, &bias, &x, &mut z, activation);
                        forward_loops(units, inputs, &weight, &bias, &x, &mut z_loops);
                        if let Some(activation) = activation {
                            activation.forward_in_place(&mut z_loops, units);
                        }
                        assert!(!z.contains(&SENTINEL), "forward left a value unwritten, {shape}");
                        assert!(same(&z, &z_loops), "forward, {activation:?}, {shape}");
                    }
                    for input_grad in [true, false] {
                        let grads = |run: fn(Chunk<'_>)| {
                            let (mut dw, mut db) = (vec![SENTINEL; units * inputs], vec![SENTINEL; units]);
                            let mut dx = vec![SENTINEL; inputs * n];
                            let (weight, x, dz) = (&weight[..], &x[..], &dz[..]);
                            let (dw_out, db_out, dx_out) =
                                (&mut dw[..], &mut db[..], input_grad.then_some(&mut dx[..]));
                            run(Chunk { units, inputs, weight, x, dz, dw: dw_out, db: db_out, dx: dx_out });
                            [dw, db, dx]
                        };
                        let (dispatched, loops) = (grads(backward), grads(backward_loops));
                        for (got, want) in dispatched.iter().zip(&loops) {
                            assert!(same(got, want), "backward, input gradient {input_grad}, {shape}");
                        }
                        assert!(
                            !dispatched[..2].iter().flatten().any(|&v| v == SENTINEL),
                            "dW or db unwritten, {shape}"
                        );
                    }
                }
            }
        }
    }
}
