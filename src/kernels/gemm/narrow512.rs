//! The AVX-512 microkernels for a last panel of 4 or 8 columns (`micro::avx512_4`,
//! `micro::avx512_8`): a 32-row tile of C in two zmm registers per column, the panels of A
//! and B read as the full kernel reads them (32 values of A and 12 of B per step, of which
//! the first 4 or 8 are real columns). Written with `std::arch` intrinsics (safe inside
//! `#[target_feature]` functions) because LLVM vectorises the generic body at these widths
//! across the columns, with gathers, several times slower. Every element goes through the
//! same chain `c = fma(a_p, b_p, c)` as in `micro`, so the bits are the same.

use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps};

const MR: usize = 32;
const HALF: usize = MR / 2;
/// Columns per step of a packed B panel (the full AVX-512 kernel's width).
const B_STRIDE: usize = 12;

#[target_feature(enable = "avx512f")]
fn half(values: &[f32]) -> __m512 {
    bytemuck::cast::<[f32; HALF], __m512>(values[..HALF].try_into().expect("16 values"))
}

/// `micro::kernel::<32, NR>` on panels of B packed `B_STRIDE` wide.
#[target_feature(enable = "avx512f")]
pub fn kernel<const NR: usize>(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    let c = &mut c[..NR];
    let mut acc = [[_mm512_setzero_ps(); 2]; NR];
    if !fresh {
        for (column, source) in acc.iter_mut().zip(c.iter()) {
            *column = [half(&source[offset..]), half(&source[offset + HALF..])];
        }
    }
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(B_STRIDE)).take(kc) {
        let (low, high) = (half(a), half(&a[HALF..]));
        for (column, &bj) in acc.iter_mut().zip(&b[..NR]) {
            let bj = _mm512_set1_ps(bj);
            column[0] = _mm512_fmadd_ps(low, bj, column[0]);
            column[1] = _mm512_fmadd_ps(high, bj, column[1]);
        }
    }
    for (column, target) in acc.iter().zip(c.iter_mut()) {
        target[offset..offset + HALF].copy_from_slice(&bytemuck::cast::<__m512, [f32; HALF]>(column[0]));
        target[offset + HALF..offset + MR].copy_from_slice(&bytemuck::cast::<__m512, [f32; HALF]>(column[1]));
    }
}
