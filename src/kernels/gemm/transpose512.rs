//! The 16 x 16 transposes of packing (`pack::transpose`) for AVX-512 CPUs: sixteen rows in
//! zmm registers become sixteen columns in 64 shuffles (pairs of values, then pairs of pairs,
//! then 128-bit quarters twice), where the compiler's code for the plain loops moves values
//! one at a time. A copy either way, so the packed panels are the same.
//!
//! The intrinsics are safe to call inside `#[target_feature]` functions; registers are filled
//! from and written to slices by `bytemuck` casts.

use std::arch::x86_64::{
    __m512, _mm512_castpd_ps, _mm512_castps_pd, _mm512_setzero_ps, _mm512_shuffle_f32x4, _mm512_unpackhi_pd,
    _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps,
};

const N: usize = 16;
/// `_mm512_shuffle_f32x4` selections: quarters 0 and 2 of each source, and quarters 1 and 3.
const EVEN_QUARTERS: i32 = 0b10_00_10_00;
const ODD_QUARTERS: i32 = 0b11_01_11_01;

/// The whole 16 x 16 blocks of rows `first..first + whole.1` and steps `0..whole.0` of
/// `data[row * stride + step]`, written into `panel` (`width` values per step) as
/// `panel[step * width + row - first]`.
#[target_feature(enable = "avx512f")]
pub fn blocks(data: &[f32], stride: usize, first: usize, whole: (usize, usize), width: usize, panel: &mut [f32]) {
    let (whole_steps, whole_rows) = whole;
    // Steps outermost: the blocks of one step range fill whole cache lines of the panel
    // (a 32-row panel's step is two blocks wide) while they are in cache.
    for p in (0..whole_steps).step_by(N) {
        for r in (0..whole_rows).step_by(N) {
            let mut rows = [_mm512_setzero_ps(); N];
            for (i, row) in rows.iter_mut().enumerate() {
                let start = (first + r + i) * stride + p;
                *row = bytemuck::cast::<[f32; N], __m512>(data[start..start + N].try_into().expect("16 values"));
            }
            for (t, column) in transpose(&rows).iter().enumerate() {
                panel[(p + t) * width + r..][..N].copy_from_slice(column);
            }
        }
    }
}

/// Lane `t` of row `i` at `[t][i]`.
#[target_feature(enable = "avx512f")]
pub fn transpose(r: &[__m512; N]) -> [[f32; N]; N] {
    // Values of rows 2i and 2i + 1 interleaved, within each 128-bit quarter:
    // lo = a0 b0 a1 b1 | a4 b4 a5 b5 | ..., hi = a2 b2 a3 b3 | a6 b6 a7 b7 | ...
    let mut pairs = [r[0]; N];
    for i in 0..N / 2 {
        pairs[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        pairs[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // Four rows' values of one column per quarter: for rows 4g..4g + 4, quads[4g + c] holds
    // columns c, c + 4, c + 8, c + 12 in its four quarters.
    let mut quads = [r[0]; N];
    for g in 0..N / 4 {
        let (ab_lo, ab_hi) = (_mm512_castps_pd(pairs[4 * g]), _mm512_castps_pd(pairs[4 * g + 1]));
        let (cd_lo, cd_hi) = (_mm512_castps_pd(pairs[4 * g + 2]), _mm512_castps_pd(pairs[4 * g + 3]));
        quads[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(ab_lo, cd_lo));
        quads[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(ab_lo, cd_lo));
        quads[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(ab_hi, cd_hi));
        quads[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(ab_hi, cd_hi));
    }
    // Column c + 4q gathers quarter q of quads[c], quads[4 + c], quads[8 + c], quads[12 + c].
    let mut columns = [[0.0f32; N]; N];
    for c in 0..4 {
        let (q0, q1, q2, q3) = (quads[c], quads[4 + c], quads[8 + c], quads[12 + c]);
        let even01 = _mm512_shuffle_f32x4::<EVEN_QUARTERS>(q0, q1);
        let odd01 = _mm512_shuffle_f32x4::<ODD_QUARTERS>(q0, q1);
        let even23 = _mm512_shuffle_f32x4::<EVEN_QUARTERS>(q2, q3);
        let odd23 = _mm512_shuffle_f32x4::<ODD_QUARTERS>(q2, q3);
        columns[c] = bytemuck::cast(_mm512_shuffle_f32x4::<EVEN_QUARTERS>(even01, even23));
        columns[c + 8] = bytemuck::cast(_mm512_shuffle_f32x4::<ODD_QUARTERS>(even01, even23));
        columns[c + 4] = bytemuck::cast(_mm512_shuffle_f32x4::<EVEN_QUARTERS>(odd01, odd23));
        columns[c + 12] = bytemuck::cast(_mm512_shuffle_f32x4::<ODD_QUARTERS>(odd01, odd23));
    }
    columns
}
