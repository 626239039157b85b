//! The microkernels: an `MR x NR` tile of C held in registers while `kc` rank-1 updates from
//! packed panels of A (`MR` values per step) and B (`NR` values per step) are added to it,
//! each as one fused multiply-add. Every element of C thus goes through the same chain
//! `c = fma(a_p, b_p, c)` for `p` in order, whichever kernel runs, so all give the same bits.
//!
//! One generic body, compiled for each instruction set and chosen at run time (`Isa`): AVX2
//! with FMA (16 x 6: 12 ymm accumulators) and portable (8 x 4). With its loops of fixed trip
//! counts and `f32::mul_add`, the compiler emits the same register-blocked code as hand-written
//! intrinsics would, without any `unsafe`. The AVX-512 kernels (32 x 12: 24 zmm accumulators,
//! two vector loads of A and twelve broadcasts of B per step, and the 4- and 8-column edge
//! kernels) are spelled out with intrinsics (`super::avx512`), to prefetch the panels and
//! because at 4 and 8 columns LLVM vectorises the generic body across the columns; the generic
//! body is their fallback on a CPU without AVX-512, which never selects them.

use multiversion::multiversion;
use multiversion::target::match_target;

/// `c[j][offset + i] = fma(a[p*MR + i], b[p*NR + j], c[j][offset + i])` for `p` in `0..kc`
/// in order, for the `MR x NR` tile at rows `offset..offset + MR` of the column segments `c`;
/// the sums start from zero when `fresh`, else from C's values. `a` and `b` start at the
/// call's panels and may run on past their `kc` steps (the AVX-512 kernels prefetch there).
#[inline(always)]
fn kernel<const MR: usize, const NR: usize, const B_STRIDE: usize>(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [&mut [f32]],
    offset: usize,
    fresh: bool,
) {
    // Every column is loaded, from C or from zeros, so the compiler keeps the accumulators in
    // registers without first clearing them in memory.
    static ZEROS: [f32; 32] = [0.0; 32];
    let c = &mut c[..NR];
    let mut acc = [[0.0f32; MR]; NR];
    for (column, source) in acc.iter_mut().zip(c.iter()) {
        let source = if fresh { &ZEROS[..MR] } else { &source[offset..offset + MR] };
        *column = source.try_into().expect("MR rows");
    }
    for (a, b) in a[..kc * MR].chunks_exact(MR).zip(b[..kc * B_STRIDE].chunks_exact(B_STRIDE)) {
        let a: &[f32; MR] = a.try_into().expect("whole panel steps");
        let b: &[f32; NR] = b[..NR].try_into().expect("whole panel steps");
        for (column, &bj) in acc.iter_mut().zip(b) {
            for (c, &ai) in column.iter_mut().zip(a) {
                *c = ai.mul_add(bj, *c);
            }
        }
    }
    for (column, target) in acc.iter().zip(c.iter_mut()) {
        target[offset..offset + MR].copy_from_slice(column);
    }
}

/// The signature every compiled kernel shares (see `kernel`).
pub type Kernel = fn(usize, &[f32], &[f32], &mut [&mut [f32]], usize, bool);

/// 32 x 12 for AVX-512 (`super::avx512`; on a CPU without it, the generic body).
#[multiversion(targets("x86_64+avx512f"))]
pub fn avx512(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    match_target! {
        "x86_64+avx512f" => super::avx512::kernel::<12>(kc, a, b, c, offset, fresh),
        _ => kernel::<32, 12, 12>(kc, a, b, c, offset, fresh),
    }
}

/// 32 x 4 and 32 x 8 for AVX-512 on panels of B packed 12 columns wide, of which only the first
/// 4 or 8 are real: the last panel of a product whose width leaves 4 or 8 columns (batches of
/// 256 or 128) runs these instead of the full tile on a padded copy, which did 3 or 1.5 times
/// the work for it.
#[multiversion(targets("x86_64+avx512f"))]
pub fn avx512_4(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    match_target! {
        "x86_64+avx512f" => super::avx512::kernel::<4>(kc, a, b, c, offset, fresh),
        _ => kernel::<32, 4, 12>(kc, a, b, c, offset, fresh),
    }
}

#[multiversion(targets("x86_64+avx512f"))]
pub fn avx512_8(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    match_target! {
        "x86_64+avx512f" => super::avx512::kernel::<8>(kc, a, b, c, offset, fresh),
        _ => kernel::<32, 8, 12>(kc, a, b, c, offset, fresh),
    }
}

/// 16 x 6 for AVX2 with FMA.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn avx2(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    kernel::<16, 6, 6>(kc, a, b, c, offset, fresh)
}

/// 8 x 4, portable: `mul_add` is one instruction where the target has FMA and libm's correctly
/// rounded `fmaf` where it has not (the same result, slowly).
pub fn scalar(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    kernel::<8, 4, 4>(kc, a, b, c, offset, fresh)
}
