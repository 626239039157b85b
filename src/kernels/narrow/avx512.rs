//! The narrow layers' kernels (`super`) for AVX-512 CPUs, spelled out with `std::arch`
//! intrinsics (safe inside `#[target_feature]` functions): the generic loops compiled for
//! AVX-512 kept some accumulators in memory and ran at half this speed or less (the forward
//! pass at 22-26 GFLOP/s against 42-55). Each lane goes through the same fused multiply-adds
//! in the same order as the generic loops, so both give the same bits (a test compares them;
//! `NNSPEC_KERNELS=avx2|scalar` runs the generic loops).

use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps};

use super::{GROUP, LANES};

#[target_feature(enable = "avx512f")]
fn load(values: &[f32; LANES]) -> __m512 {
    bytemuck::cast(*values)
}

#[target_feature(enable = "avx512f")]
fn lanes(v: __m512) -> [f32; LANES] {
    bytemuck::cast(v)
}

/// `values[first..first + width]` in the low lanes, zeros above.
#[target_feature(enable = "avx512f")]
fn load_part(values: &[f32], first: usize, width: usize) -> __m512 {
    let mut part = [0.0f32; LANES];
    part[..width].copy_from_slice(&values[first..first + width]);
    load(&part)
}

/// `super::forward_group`: `S` samples, one zmm accumulator each.
#[target_feature(enable = "avx512f")]
pub fn forward_group<const S: usize>(inputs: usize, units: usize, wt: &[f32], bias: &[f32], x: &[f32], z: &mut [f32]) {
    let rows: [&[f32]; S] = std::array::from_fn(|s| &x[s * inputs..][..inputs]);
    let mut acc = [_mm512_setzero_ps(); S];
    #[target_feature(enable = "avx512f")]
    fn add_input<const S: usize>(acc: &mut [__m512; S], w: &[f32; LANES], x: [f32; S]) {
        let w = load(w);
        for (sum, x) in acc.iter_mut().zip(x) {
            *sum = _mm512_fmadd_ps(w, _mm512_set1_ps(x), *sum);
        }
    }
    // Sixteen inputs at a time from fixed-size pieces of the rows: no bounds check per value
    // (which costs as much as the multiply-add).
    let blocks = inputs / LANES;
    for (block, weights) in wt[..blocks * LANES * LANES].chunks_exact(LANES * LANES).enumerate() {
        let pieces: [&[f32; LANES]; S] =
            std::array::from_fn(|s| rows[s][block * LANES..][..LANES].try_into().expect("16 inputs"));
        let weights: &[f32; LANES * LANES] = weights.try_into().expect("16 inputs");
        for (k, w) in weights.chunks_exact(LANES).enumerate() {
            add_input(&mut acc, w.try_into().expect("16 lanes"), pieces.map(|piece| piece[k]));
        }
    }
    for k in blocks * LANES..inputs {
        add_input(&mut acc, wt[k * LANES..][..LANES].try_into().expect("16 lanes"), rows.map(|row| row[k]));
    }
    for (sum, out) in acc.iter().zip(z.chunks_exact_mut(units)) {
        for ((o, &c), &b) in out.iter_mut().zip(&lanes(*sum)).zip(bias) {
            *o = c + b;
        }
    }
}

/// `super::weight_lanes`: one zmm accumulator per unit, 16 inputs per lane vector.
#[target_feature(enable = "avx512f")]
pub fn weight_lanes<const U: usize>(
    inputs: usize,
    x: &[f32],
    dz: &[f32],
    first: usize,
    width: usize,
    offset: usize,
    dw: &mut [&mut [f32]],
) {
    #[target_feature(enable = "avx512f")]
    fn add_sample<const U: usize>(acc: &mut [__m512; U], lanes: __m512, g: &[f32]) {
        let g: &[f32; U] = g.try_into().expect("a gradient per unit");
        for (sum, &g) in acc.iter_mut().zip(g) {
            *sum = _mm512_fmadd_ps(lanes, _mm512_set1_ps(g), *sum);
        }
    }
    let mut acc = [_mm512_setzero_ps(); U];
    let samples = x.chunks_exact(inputs).zip(dz.chunks_exact(U));
    if width == LANES {
        for (row, g) in samples {
            add_sample(&mut acc, load(row[first..][..LANES].try_into().expect("16 lanes")), g);
        }
    } else {
        for (row, g) in samples {
            add_sample(&mut acc, load_part(row, first, width), g);
        }
    }
    for (sum, segment) in acc.iter().zip(dw.iter_mut()) {
        segment[offset..offset + width].copy_from_slice(&lanes(*sum)[..width]);
    }
}

/// `super::input_lanes`: the units' weights for 16 inputs in `U` zmm registers, `GROUP`
/// samples at a time.
#[target_feature(enable = "avx512f")]
pub fn input_lanes<const U: usize>(
    inputs: usize,
    weight: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    first: usize,
    width: usize,
) {
    let w: [__m512; U] = std::array::from_fn(|u| load_part(&weight[u * inputs..], first, width));
    let samples = dz.len() / U;
    let groups = samples / GROUP;
    for group in 0..groups {
        input_group::<U, GROUP>(&w, dz, dx, group * GROUP, inputs, first, width);
    }
    for sample in groups * GROUP..samples {
        input_group::<U, 1>(&w, dz, dx, sample, inputs, first, width);
    }
}

/// `S` samples from `sample` on of `input_lanes`.
#[target_feature(enable = "avx512f")]
fn input_group<const U: usize, const S: usize>(
    w: &[__m512; U],
    dz: &[f32],
    dx: &mut [f32],
    sample: usize,
    inputs: usize,
    first: usize,
    width: usize,
) {
    let gradients: [&[f32; U]; S] =
        std::array::from_fn(|s| dz[(sample + s) * U..][..U].try_into().expect("a gradient per unit"));
    let mut acc = [_mm512_setzero_ps(); S];
    for (u, &wu) in w.iter().enumerate() {
        for (sum, g) in acc.iter_mut().zip(&gradients) {
            *sum = _mm512_fmadd_ps(wu, _mm512_set1_ps(g[u]), *sum);
        }
    }
    for (s, sum) in acc.iter().enumerate() {
        let row = &mut dx[(sample + s) * inputs..][..inputs];
        if width == LANES {
            row[first..][..LANES].copy_from_slice(&lanes(*sum));
        } else {
            row[first..first + width].copy_from_slice(&lanes(*sum)[..width]);
        }
    }
}
