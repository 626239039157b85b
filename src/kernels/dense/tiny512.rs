//! The tiny layers' kernels (`super::tiny`) for AVX-512 CPUs, layers of more than one unit:
//! each 16-lane row is one zmm register and each row operation one instruction. The loops of
//! `tiny` compiled for AVX-512 are slower (LLVM vectorises them across samples or across rows,
//! with gathers and scatters), so these spell the vector operations out with `std::arch`
//! intrinsics, which are safe to call inside `#[target_feature]` functions. Every lane runs
//! the same fused multiply-adds (and additions, where `tiny` multiplies by 1) in the same
//! order as `tiny`, so both give the same bits.
//!
//! A row of `K < 16` inputs sits in the low lanes of a register; the lanes past it hold zeros
//! or the next sample's values and only ever reach lanes that are never written back.

use crate::kernels::activation::Activation;
use crate::kernels::math;
use std::arch::x86_64::{__m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps};

use super::Chunk;
use super::tiny::{GROUP, LANES, Row, by_width, lane_mask, load, load_zeroed, padded_rows, store, transposed};

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

/// A `K`-lane row widened to 16 lanes with zeros.
#[target_feature(enable = "avx512f")]
fn widen<const K: usize>(row: &[f32; K]) -> __m512 {
    let mut wide = [0.0f32; LANES];
    wide[..K].copy_from_slice(row);
    vector(wide)
}

/// `tiny::forward` for `units > 1`.
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
    for (v, row) in weight_t.iter_mut().zip(transposed::<K>(inputs, weight)) {
        *v = vector(row);
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
    for (k, &row) in weight_t.iter().enumerate() {
        for (s, acc) in accs.iter_mut().enumerate() {
            // Zero past the inputs, as `tiny`: a non-finite value of the next sample times a
            // zero weight would be NaN. Broadcast from the slice itself: read back from a
            // vector just stored on the stack, it would wait for the store to complete.
            let xk = if k < inputs { x[s * inputs + k] } else { 0.0 };
            *acc = _mm512_fmadd_ps(_mm512_set1_ps(xk), row, *acc);
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

/// `tiny::backward` for `units > 1`.
#[target_feature(enable = "avx512f")]
pub fn backward(chunk: Chunk<'_>) {
    by_width!(chunk.inputs, backward_k(chunk))
}

#[target_feature(enable = "avx512f")]
fn backward_k<const K: usize>(chunk: Chunk<'_>) {
    let Chunk { units, inputs, weight, x, dz, dw, db, mut dx } = chunk;
    // W's rows, for dx only (the first layer has none).
    let mut w = [_mm512_setzero_ps(); LANES];
    if dx.is_some() {
        for (v, row) in w.iter_mut().zip(&padded_rows::<K>(inputs, weight)) {
            *v = widen(row);
        }
    }
    let mut sums =
        Sums { db: _mm512_setzero_ps(), dw_t: [_mm512_setzero_ps(); K], dw_rows: [_mm512_setzero_ps(); LANES] };
    // As `tiny`: dW by rows of units when K <= units, else by rows of inputs.
    let by_units = K <= units;
    let shape = (units, inputs, by_units);
    let n = x.len() / inputs;
    let mut j = 0;
    while j + GROUP <= n {
        backward_group::<K, GROUP>(shape, &w, x, dz, dx.as_deref_mut(), &mut sums, j);
        j += GROUP;
    }
    for j in j..n {
        backward_group::<K, 1>(shape, &w, x, dz, dx.as_deref_mut(), &mut sums, j);
    }
    // dW straight from the registers that were used (`tiny::write_weight_grad`'s layout).
    if by_units {
        for (k, &row) in sums.dw_t.iter().enumerate().take(inputs) {
            for (u, &value) in lanes(row)[..units].iter().enumerate() {
                dw[u * inputs + k] = value;
            }
        }
    } else {
        for (target, &row) in dw.chunks_exact_mut(inputs).zip(&sums.dw_rows) {
            target.copy_from_slice(&lanes(row)[..inputs]);
        }
    }
    db.copy_from_slice(&lanes(sums.db)[..units]);
}

/// The sums over samples of `backward_k`: `db`, and `dW` as `dw_t` (K rows of units) or
/// `dw_rows` (rows of inputs), whichever the shape uses.
struct Sums<const K: usize> {
    db: __m512,
    dw_t: [__m512; K],
    dw_rows: [__m512; LANES],
}

/// Adds the `G` samples from `j` on to the sums (in sample order) and writes their `dx`.
/// `shape` is (units, inputs, whether dW goes by rows of units).
#[target_feature(enable = "avx512f")]
#[inline]
fn backward_group<const K: usize, const G: usize>(
    (units, inputs, by_units): (usize, usize, bool),
    w: &[__m512; LANES],
    x: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    sums: &mut Sums<K>,
    j: usize,
) {
    let mut gs = [_mm512_setzero_ps(); G];
    for (s, g) in gs.iter_mut().enumerate() {
        *g = load_row(dz, (j + s) * units, units);
    }
    let dz = &dz[j * units..(j + G) * units];
    for (s, &g) in gs.iter().enumerate() {
        // `tiny` adds `1 * g` with a fused multiply-add: the same as this addition.
        sums.db = _mm512_add_ps(sums.db, g);
        if by_units {
            // Single values are broadcast from the slices themselves (see `forward_group`).
            // Rows past the inputs take the next sample's values (or 0 at the end): they are
            // never read back.
            let start = (j + s) * inputs;
            match x.get(start..start + K) {
                Some(xj) => {
                    for (row, &xk) in sums.dw_t.iter_mut().zip(xj) {
                        *row = _mm512_fmadd_ps(_mm512_set1_ps(xk), g, *row);
                    }
                }
                None => {
                    for (k, row) in sums.dw_t.iter_mut().enumerate() {
                        let xk = x.get(start + k).copied().unwrap_or(0.0);
                        *row = _mm512_fmadd_ps(_mm512_set1_ps(xk), g, *row);
                    }
                }
            }
        } else {
            let xj = load_row(x, (j + s) * inputs, inputs);
            for (row, &gu) in sums.dw_rows[..units].iter_mut().zip(&dz[s * units..]) {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(gu), xj, *row);
            }
        }
    }
    if let Some(dx) = dx {
        // Each sample's gradient row, of known length, so that reading it needs no checks.
        let rows: [&[f32]; G] = std::array::from_fn(|s| &dz[s * units..][..units]);
        let w = &w[..units];
        let mut accs = [_mm512_setzero_ps(); G];
        for (u, &wu) in w.iter().enumerate() {
            for (acc, row) in accs.iter_mut().zip(&rows) {
                *acc = _mm512_fmadd_ps(_mm512_set1_ps(row[u]), wu, *acc);
            }
        }
        for (s, &acc) in accs.iter().enumerate() {
            let row: [f32; K] = lanes(acc)[..K].try_into().expect("K <= 16 lanes");
            store(dx, (j + s) * inputs, inputs, &row);
        }
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
