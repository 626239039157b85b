//! The microkernels: an `MR x NR` tile of C held in registers while `kc` rank-1 updates from
//! packed panels of A (`MR` values per step) and B (`NR` values per step) are added to it,
//! each as one fused multiply-add. Every element of C thus goes through the same chain
//! `c = fma(a_p, b_p, c)` for `p` in order, whichever kernel runs, so all give the same bits.
//!
//! Every `kernel(kc, a, b, c, ldc, init, init_ld)` starts column `j` of the tile from the `MR`
//! values at `init + j * init_ld` (C itself, with `init_ld = ldc`, to continue a sum; a bias
//! column or zeros, with `init_ld = 0`, to start one), so a fresh tile needs no pass of its own.
//!
//! Safety contract: `a` points to `kc * MR` readable values aligned to 64 bytes (AVX-512) or
//! 32 bytes (AVX2), `b` to `kc * NR` readable values, `init` to the `MR` readable values of
//! each column, and `c` to an `MR x NR` column-major tile with column stride `ldc` that nothing
//! else touches during the call; the CPU supports the kernel's instructions.

#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use std::arch::x86_64::*;

    pub const MR: usize = 32;
    pub const NR: usize = 12;

    /// See the module's safety contract.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        init: *const f32,
        init_ld: usize,
    ) {
        // SAFETY: every pointer stays inside the ranges the contract guarantees.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; NR];
            for (j, column) in acc.iter_mut().enumerate() {
                column[0] = _mm512_loadu_ps(init.add(j * init_ld));
                column[1] = _mm512_loadu_ps(init.add(j * init_ld + 16));
            }
            let (mut a, mut b) = (a, b);
            for _ in 0..kc {
                let a0 = _mm512_load_ps(a);
                let a1 = _mm512_load_ps(a.add(16));
                for (j, column) in acc.iter_mut().enumerate() {
                    let bj = _mm512_set1_ps(*b.add(j));
                    column[0] = _mm512_fmadd_ps(a0, bj, column[0]);
                    column[1] = _mm512_fmadd_ps(a1, bj, column[1]);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
            for (j, column) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(j * ldc), column[0]);
                _mm512_storeu_ps(c.add(j * ldc + 16), column[1]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    pub const MR: usize = 16;
    pub const NR: usize = 6;

    /// See the module's safety contract.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        init: *const f32,
        init_ld: usize,
    ) {
        // SAFETY: every pointer stays inside the ranges the contract guarantees.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; NR];
            for (j, column) in acc.iter_mut().enumerate() {
                column[0] = _mm256_loadu_ps(init.add(j * init_ld));
                column[1] = _mm256_loadu_ps(init.add(j * init_ld + 8));
            }
            let (mut a, mut b) = (a, b);
            for _ in 0..kc {
                let a0 = _mm256_load_ps(a);
                let a1 = _mm256_load_ps(a.add(8));
                for (j, column) in acc.iter_mut().enumerate() {
                    let bj = _mm256_broadcast_ss(&*b.add(j));
                    column[0] = _mm256_fmadd_ps(a0, bj, column[0]);
                    column[1] = _mm256_fmadd_ps(a1, bj, column[1]);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
            for (j, column) in acc.iter().enumerate() {
                _mm256_storeu_ps(c.add(j * ldc), column[0]);
                _mm256_storeu_ps(c.add(j * ldc + 8), column[1]);
            }
        }
    }
}

pub mod scalar {
    pub const MR: usize = 8;
    pub const NR: usize = 4;

    /// See the module's safety contract (no alignment needed).
    pub unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        init: *const f32,
        init_ld: usize,
    ) {
        // SAFETY: the contract makes these ranges valid and the tile exclusively ours.
        let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
        let mut acc = [[0.0f32; MR]; NR];
        for (j, column) in acc.iter_mut().enumerate() {
            for (i, value) in column.iter_mut().enumerate() {
                // SAFETY: (i, j) is inside the initial tile.
                *value = unsafe { *init.add(i + j * init_ld) };
            }
        }
        for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (column, &bj) in acc.iter_mut().zip(b) {
                for (value, &ai) in column.iter_mut().zip(a) {
                    *value = ai.mul_add(bj, *value);
                }
            }
        }
        for (j, column) in acc.iter().enumerate() {
            for (i, &value) in column.iter().enumerate() {
                // SAFETY: as above.
                unsafe { *c.add(i + j * ldc) = value };
            }
        }
    }
}
