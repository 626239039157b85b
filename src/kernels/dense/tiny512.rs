//! The tiny layers' kernels (`super::tiny`) for AVX-512 CPUs, layers of more than one unit
//! and single units of 16 inputs: each 16-lane row is one zmm register and each row operation
//! one instruction. The loops of `tiny` compiled for AVX-512 are slower (LLVM vectorises them
//! across samples or across rows, with gathers and scatters), so these spell the vector
//! operations out with `std::arch` intrinsics, which are safe to call inside
//! `#[target_feature]` functions. Every lane runs the same fused multiply-adds (and additions,
//! where `tiny` multiplies by 1) in the same order as `tiny`, so both give the same bits.
//!
//! A row of `K < 16` inputs sits in the low lanes of a register; the lanes past it hold zeros,
//! the next sample's values or (W's rows for dx) the next unit's weights, and reach only
//! lanes that are never kept: stored, if at all, into the next sample's slots, which that
//! sample then overwrites (samples are written in increasing order).
//!
//! Where a row has no padding (inputs equal to `K`, or 16 units for dx), the loops index
//! fixed-size arrays, with no bounds checks, and a 16 x 16 weight or its gradient is
//! transposed in registers. With
//! these paths, the groups of eight and the backward's two passes, W1's three layers took
//! 1.18 us a step where they took 1.80 (`cargo bench --bench tiny`, forward and backward).

use crate::kernels::activation::Activation;
use crate::kernels::math;
use std::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_cvtss_f32, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_permute_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_shuffle_f32x4,
};

use super::Chunk;
use super::tiny::{LANES, Row, by_width, lane_mask, load, load_zeroed, store, transposed};
use crate::kernels::gemm::transpose16;
/// Samples whose independent sums are interleaved: eight, where `tiny` takes four, fill two
/// 512-bit FMA pipes of four cycles' latency (as on the project's Zen 5 and Xeon machines).
const GROUP: usize = 8;

#[target_feature(enable = "avx512f")]
fn vector(row: Row) -> __m512 {
    bytemuck::cast(row)
}

#[target_feature(enable = "avx512f")]
fn lanes(v: __m512) -> Row {
    bytemuck::cast(v)
}

/// `src[start..start + len]` in the low lanes (`tiny::load`).
#[target_feature(enable = "avx512f")]
fn load_row(src: &[f32], start: usize, len: usize) -> __m512 {
    vector(load::<LANES>(src, start, len))
}

/// `tiny::forward` for `units > 1`, or one unit of 16 inputs.
#[target_feature(enable = "avx512f")]
pub fn forward(
    units: usize,
    inputs: usize,
    weight: &[f32],
    bias: &[f32],
    x: &[f32],
    z: &mut [f32],
    activation: Option<Activation>,
) {
    if units == 1 {
        forward_dot(weight, bias[0], x, z);
        if let Some(activation) = activation {
            activation.forward_in_place(z, units);
        }
        return;
    }
    let squashed = activation.filter(|&a| squashes(a));
    by_width!(inputs, forward_k(units, inputs, weight, bias, x, z, squashed));
    if let Some(activation) = activation.filter(|&a| !squashes(a)) {
        activation.forward_in_place(z, units);
    }
}

#[target_feature(enable = "avx512f")]
fn forward_k<const K: usize>(
    units: usize,
    inputs: usize,
    weight: &[f32],
    bias: &[f32],
    x: &[f32],
    z: &mut [f32],
    squashed: Option<Activation>,
) {
    let mut weight_t = [_mm512_setzero_ps(); K];
    if inputs == LANES {
        // W's rows are whole registers: transposed in registers (the values one at a time
        // through memory cost more than the layer's multiply-adds).
        let mut rows = [_mm512_setzero_ps(); LANES];
        for (row, source) in rows.iter_mut().zip(weight.chunks_exact(LANES)) {
            *row = load_row(source, 0, LANES);
        }
        for (v, row) in weight_t.iter_mut().zip(transpose16(&rows)) {
            *v = vector(row);
        }
    } else {
        for (v, row) in weight_t.iter_mut().zip(transposed::<K>(inputs, weight)) {
            *v = vector(row);
        }
    }
    let bias = vector(load_zeroed(bias, 0, units, &lane_mask(units)));
    let n = x.len() / inputs;
    let layer = (units, inputs, squashed);
    // GROUP samples at a time, their sums independent, then the rest one by one, as in `tiny`.
    let mut j = 0;
    while j + GROUP <= n {
        forward_group::<K, GROUP>(&weight_t, bias, layer, x, z, j);
        j += GROUP;
    }
    for j in j..n {
        forward_group::<K, 1>(&weight_t, bias, layer, x, z, j);
    }
}

/// `z` of the `G` samples from `j` on.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
#[inline]
fn forward_group<const K: usize, const G: usize>(
    weight_t: &[__m512; K],
    bias: __m512,
    (units, inputs, squashed): (usize, usize, Option<Activation>),
    x: &[f32],
    z: &mut [f32],
    j: usize,
) {
    let x = &x[j * inputs..(j + G) * inputs];
    let mut accs = [bias; G];
    if let Some(rows) = x.as_chunks::<K>().0.first_chunk::<G>().filter(|_| inputs == K) {
        // Rows of exactly K inputs: every index is known, so no checks and no zeros.
        for (k, &row) in weight_t.iter().enumerate() {
            for (acc, xs) in accs.iter_mut().zip(rows) {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(xs[k]), row, *acc);
            }
        }
    } else {
        for (k, &row) in weight_t.iter().enumerate() {
            for (s, acc) in accs.iter_mut().enumerate() {
                // Zero past the inputs, as `tiny`: a non-finite value of the next sample times a
                // zero weight would be NaN. Broadcast from the slice itself: read back from a
                // vector just stored on the stack, it would wait for the store to complete.
                let xk = if k < inputs { x[s * inputs + k] } else { 0.0 };
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(xk), row, *acc);
            }
        }
    }
    for (s, &acc) in accs.iter().enumerate() {
        let row = match squashed {
            Some(activation) => squash(activation, lanes(acc)),
            None => lanes(acc),
        };
        store(z, (j + s) * units, units, &row);
    }
}

/// `tiny::backward` for `units > 1`, or one unit of 16 inputs.
#[target_feature(enable = "avx512f")]
pub fn backward(chunk: Chunk<'_>) {
    if chunk.units == 1 {
        return backward_dot(chunk);
    }
    by_width!(chunk.inputs, backward_k(chunk))
}

/// `tiny`'s forward for one unit and rows of exactly 16 inputs: each sample's products summed
/// by `tiny::tree_sum`'s halving tree (lanes `i` and `i + 8`, then `i + 4`, `i + 2`, `i + 1`),
/// in a register.
#[target_feature(enable = "avx512f")]
fn forward_dot(weight: &[f32], bias: f32, x: &[f32], z: &mut [f32]) {
    debug_assert_eq!(weight.len(), LANES, "one unit of 16 inputs");
    let w = load_row(weight, 0, LANES);
    for (zj, xj) in z.iter_mut().zip(x.as_chunks::<LANES>().0) {
        *zj = tree_sum(_mm512_mul_ps(vector(*xj), w)) + bias;
    }
}

#[target_feature(enable = "avx512f")]
fn tree_sum(v: __m512) -> f32 {
    let v = _mm512_add_ps(v, _mm512_shuffle_f32x4::<0b11_10_11_10>(v, v));
    let v = _mm512_add_ps(v, _mm512_shuffle_f32x4::<0b01_01_01_01>(v, v));
    let v = _mm512_add_ps(v, _mm512_permute_ps::<0b11_10_11_10>(v));
    let v = _mm512_add_ps(v, _mm512_permute_ps::<0b01_01_01_01>(v));
    _mm512_cvtss_f32(v)
}

/// `tiny`'s backward for one unit and rows of exactly 16 inputs, the same operations:
/// `db += g` (`tiny`'s `1 * g` fused is this addition), `dW += g x_j`, `dx_j = g W + 0`.
#[target_feature(enable = "avx512f")]
fn backward_dot(chunk: Chunk<'_>) {
    let Chunk { weight, x, dz, dw, db, dx, .. } = chunk;
    debug_assert_eq!(weight.len(), LANES, "one unit of 16 inputs");
    let w = load_row(weight, 0, LANES);
    let (mut db_sum, mut dw_sum) = (0.0f32, _mm512_setzero_ps());
    let rows = x.as_chunks::<LANES>().0;
    for (&g, xj) in dz.iter().zip(rows) {
        db_sum += g;
        dw_sum = _mm512_fmadd_ps(_mm512_set1_ps(g), vector(*xj), dw_sum);
    }
    dw.copy_from_slice(&lanes(dw_sum));
    db[0] = db_sum;
    if let Some(dx) = dx {
        for (&g, dxj) in dz.iter().zip(dx.as_chunks_mut::<LANES>().0) {
            *dxj = lanes(_mm512_fmadd_ps(_mm512_set1_ps(g), w, _mm512_setzero_ps()));
        }
    }
}

#[target_feature(enable = "avx512f")]
fn backward_k<const K: usize>(chunk: Chunk<'_>) {
    let Chunk { units, inputs, weight, x, dz, dw, db: db_out, dx } = chunk;
    // As `tiny`: dW by rows of units when K <= units, else by rows of inputs.
    let by_units = K <= units;
    let n = x.len() / inputs;
    // Two passes over the samples, the sums first and then dx: in one, the sums' registers
    // and W's rows (16 each for a 16 x 16 layer) did not fit the 32 zmm registers together.
    // Each sum still adds its samples in order, and each dx is its own sum.
    let mut db = _mm512_setzero_ps();
    if by_units {
        let mut dw_t = [_mm512_setzero_ps(); K];
        let mut add = |g, s| add_sample_by_units(x, s * inputs, g, &mut dw_t);
        add_samples(units, dz, &mut db, n, &mut add);
        // dW straight from the registers that were used (`tiny::write_weight_grad`'s layout).
        let square: Option<&[__m512; LANES]> = dw_t[..].try_into().ok().filter(|_| inputs == LANES);
        if let Some(rows) = square {
            // A 16 x 16 layer: the rows of units become rows of inputs in registers.
            for (target, row) in dw.chunks_exact_mut(LANES).zip(transpose16(rows)) {
                target.copy_from_slice(&row);
            }
        } else {
            for (k, &row) in dw_t.iter().enumerate().take(inputs) {
                for (u, &value) in lanes(row)[..units].iter().enumerate() {
                    dw[u * inputs + k] = value;
                }
            }
        }
    } else {
        let mut dw_rows = [_mm512_setzero_ps(); LANES];
        let mut add = |_, s| {
            let xj = load_row(x, s * inputs, inputs);
            for (row, &gu) in dw_rows[..units].iter_mut().zip(&dz[s * units..]) {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(gu), xj, *row);
            }
        };
        add_samples(units, dz, &mut db, n, &mut add);
        for (target, &row) in dw.chunks_exact_mut(inputs).zip(&dw_rows) {
            target.copy_from_slice(&lanes(row)[..inputs]);
        }
    }
    db_out.copy_from_slice(&lanes(db)[..units]);
    let Some(dx) = dx else { return };
    // W's rows: their lanes past the inputs reach only lanes of dx that are never kept.
    let mut w = [_mm512_setzero_ps(); LANES];
    for (u, v) in w.iter_mut().enumerate().take(units) {
        *v = load_row(weight, u * inputs, inputs);
    }
    let mut j = 0;
    while j + GROUP <= n {
        input_grad_group::<K, GROUP>((units, inputs), &w, dz, dx, j);
        j += GROUP;
    }
    for j in j..n {
        input_grad_group::<K, 1>((units, inputs), &w, dz, dx, j);
    }
}

/// `add_group` over the `n` samples: groups of `GROUP`, then the rest one by one.
#[target_feature(enable = "avx512f")]
#[inline]
fn add_samples(units: usize, dz: &[f32], db: &mut __m512, n: usize, add_weight_grad: &mut impl FnMut(__m512, usize)) {
    let mut j = 0;
    while j + GROUP <= n {
        add_group::<GROUP>(units, dz, db, j, add_weight_grad);
        j += GROUP;
    }
    for j in j..n {
        add_group::<1>(units, dz, db, j, add_weight_grad);
    }
}

/// Adds the `G` samples from `j` on to `db`, and hands each sample's gradient row and index
/// to `add_weight_grad` (dW kept as rows of units or of inputs), in sample order.
#[target_feature(enable = "avx512f")]
#[inline]
fn add_group<const G: usize>(
    units: usize,
    dz: &[f32],
    db: &mut __m512,
    j: usize,
    add_weight_grad: &mut impl FnMut(__m512, usize),
) {
    for s in j..j + G {
        let g = load_row(dz, s * units, units);
        // `tiny` adds `1 * g` with a fused multiply-add: the same as this addition.
        *db = _mm512_add_ps(*db, g);
        add_weight_grad(g, s);
    }
}

/// `dW^T[k] += x_j[k] g` for each of the K rows of units, `x_j` starting at `start`.
#[target_feature(enable = "avx512f")]
#[inline]
fn add_sample_by_units<const K: usize>(x: &[f32], start: usize, g: __m512, dw_t: &mut [__m512; K]) {
    // Single values are broadcast from the slices themselves (see `forward_group`). Rows past
    // the inputs take the next sample's values (or 0 at the end): they are never read back.
    match x.get(start..start + K) {
        Some(xj) => {
            for (row, &xk) in dw_t.iter_mut().zip(xj) {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(xk), g, *row);
            }
        }
        None => {
            for (k, row) in dw_t.iter_mut().enumerate() {
                let xk = x.get(start + k).copied().unwrap_or(0.0);
                *row = _mm512_fmadd_ps(_mm512_set1_ps(xk), g, *row);
            }
        }
    }
}

/// Writes the `dx` of the `G` samples from `j` on: `dx_j = sum_u dz_j[u] W[u]`, in unit order.
#[target_feature(enable = "avx512f")]
#[inline]
fn input_grad_group<const K: usize, const G: usize>(
    (units, inputs): (usize, usize),
    w: &[__m512; LANES],
    dz: &[f32],
    dx: &mut [f32],
    j: usize,
) {
    let dz = &dz[j * units..(j + G) * units];
    let mut accs = [_mm512_setzero_ps(); G];
    if let Some(rows) = dz.as_chunks::<LANES>().0.first_chunk::<G>().filter(|_| units == LANES) {
        // Rows of exactly 16 units: every index is known, so no checks.
        for (u, &wu) in w.iter().enumerate() {
            for (acc, row) in accs.iter_mut().zip(rows) {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(row[u]), wu, *acc);
            }
        }
    } else {
        // Each sample's gradient row, of known length, so that reading it needs no checks.
        let rows: [&[f32]; G] = std::array::from_fn(|s| &dz[s * units..][..units]);
        for (u, &wu) in w[..units].iter().enumerate() {
            for (acc, row) in accs.iter_mut().zip(&rows) {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(row[u]), wu, *acc);
            }
        }
    }
    for (s, &acc) in accs.iter().enumerate() {
        let row: [f32; K] = lanes(acc)[..K].try_into().expect("K <= 16 lanes");
        store(dx, (j + s) * inputs, inputs, &row);
    }
}

/// The activations applied to a row in registers: those that act on each value alone
/// through a vectorisable function (`squash`).
fn squashes(activation: Activation) -> bool {
    matches!(activation, Activation::Tanh | Activation::Sigmoid | Activation::Relu)
}

/// `activation` (one that `squashes`) on each lane of a row, as `Activation::forward_in_place`
/// computes it.
#[inline(always)]
fn squash(activation: Activation, mut row: Row) -> Row {
    match activation {
        Activation::Tanh => row.iter_mut().for_each(|v| *v = math::tanh(*v)),
        Activation::Sigmoid => row.iter_mut().for_each(|v| *v = math::sigmoid(*v)),
        Activation::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
        _ => unreachable!("only activations that squash"),
    }
    row
}
