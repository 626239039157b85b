//! The AVX-512 microkernels, spelled out with `std::arch` intrinsics (safe inside
//! `#[target_feature]` functions): the full 32 x 12 tile (`micro::avx512`) and the last panels
//! of 4 or 8 columns (`micro::avx512_4`, `micro::avx512_8`). A 32-row tile of C sits in two
//! zmm registers per column; the panels of A and B are read as packed (32 values of A and 12
//! of B per step, of which the first `NR` are real columns). Intrinsics for two reasons: LLVM
//! vectorises the generic body at 4 and 8 columns across the columns, with gathers, several
//! times slower; and the kernels prefetch A's and B's panels `PREFETCH_STEPS` ahead (a hint
//! `micro`'s portable generic body cannot give; `safe_arch` wraps the instruction): A's panel
//! streams from L2, and from L3 on its first use in a tile, as B's does on its first use.
//! Alternating runs: A's prefetch sped W2 and W3 up by 4-5 %, B's then W2 by another 4-6 %
//! and W3 by 2 %. Every element goes through the same chain `c = fma(a_p, b_p, c)` as in
//! `micro`, so the bits are the same.

use std::arch::x86_64::{__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_setzero_ps};

use safe_arch::prefetch_t0;

const MR: usize = 32;
const HALF: usize = MR / 2;
/// Columns per step of a packed B panel (the full AVX-512 kernel's width).
const B_STRIDE: usize = 12;
/// How far ahead in the panels the kernel asks for cache lines: 16 steps (2 KiB, about 200
/// cycles of work) cover a line's trip from L3. 8 and 16 measured the same.
const PREFETCH_STEPS: usize = 16;

#[target_feature(enable = "avx512f")]
fn half(values: &[f32]) -> __m512 {
    bytemuck::cast::<[f32; HALF], __m512>(values[..HALF].try_into().expect("16 values"))
}

/// `micro::kernel::<32, NR>` on panels of B packed `B_STRIDE` wide (`a` and `b` start at the
/// call's panels and may run on past them).
#[target_feature(enable = "avx512f")]
pub fn kernel<const NR: usize>(kc: usize, a: &[f32], b: &[f32], c: &mut [&mut [f32]], offset: usize, fresh: bool) {
    let c = &mut c[..NR];
    let mut acc = [[_mm512_setzero_ps(); 2]; NR];
    if !fresh {
        for (column, source) in acc.iter_mut().zip(c.iter()) {
            *column = [half(&source[offset..]), half(&source[offset + HALF..])];
        }
    }
    let steps = a[..kc * MR].chunks_exact(MR).zip(b[..kc * B_STRIDE].chunks_exact(B_STRIDE));
    // `a` and `b` run on to the ends of the packed buffers: near a panel's end the hints reach
    // into the panel that follows in memory, which for a single pass over `k` is the one the
    // next call reads (stopping at the panel's end was 11 % slower on W2 and W3).
    fn rest(values: &[f32], width: usize) -> &[f32] {
        values.get(PREFETCH_STEPS * width..).unwrap_or_default()
    }
    let mut ahead = rest(a, MR).chunks_exact(MR).zip(rest(b, B_STRIDE).chunks_exact(B_STRIDE));
    for (a_step, b_step) in steps {
        // Hints only, which change no value. A step of B is 48 bytes, so one hint per step
        // reaches every line.
        if let Some((a_ahead, b_ahead)) = ahead.next() {
            prefetch_t0(&a_ahead[0]);
            prefetch_t0(&a_ahead[HALF]);
            prefetch_t0(&b_ahead[0]);
        }
        let (low, high) = (half(a_step), half(&a_step[HALF..]));
        for (column, &bj) in acc.iter_mut().zip(&b_step[..NR]) {
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
