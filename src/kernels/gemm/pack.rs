//! Packing: an operand copied into the order the microkernel reads it. A's `m x k` values go
//! into panels of `MR` rows, B's `k x n` into panels of `NR` columns; within a panel, the
//! `MR` (or `NR`) values of step `p` are consecutive, and a panel's steps follow each other.
//! Panels past the matrix's edge are padded with zeros, which only ever meet the padding of
//! C's tile. Each operand is packed once per product and then shared by every task.

use std::ops::Range;

use super::Strided;

/// Bytes a packed buffer is aligned to (one cache line, one AVX-512 vector).
const ALIGN: usize = 64;
const ALIGN_FLOATS: usize = ALIGN / size_of::<f32>();

/// A zeroed, cache-line-aligned f32 buffer for packed panels.
#[derive(Debug, Default)]
pub struct PackBuffer {
    storage: Vec<f32>,
    offset: usize,
    len: usize,
}

impl PackBuffer {
    /// Room for `len` values, keeping the old allocation when it is large enough.
    pub fn reserve(&mut self, len: usize) {
        if self.storage.len() < len + ALIGN_FLOATS {
            self.storage = vec![0.0; len + ALIGN_FLOATS];
            let misalignment = (self.storage.as_ptr() as usize % ALIGN) / size_of::<f32>();
            self.offset = (ALIGN_FLOATS - misalignment) % ALIGN_FLOATS;
        }
        self.len = len;
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// Values in the packed form of the `rows x k` operand `src` in panels of `width` rows (for A:
/// the matrix itself and `MR`; for B: its transpose and `NR`).
pub fn packed_len(rows: usize, k: usize, width: usize) -> usize {
    rows.div_ceil(width) * width * k
}

/// Packs panels `panels` of `src` (`rows x k`, read as A is: panel `q` holds rows
/// `q*width..(q+1)*width`) into `out`, which holds exactly those panels. B is packed as its
/// transpose: `pack(b.t(), NR, ...)`.
pub fn pack(src: Strided<'_>, width: usize, panels: Range<usize>, out: &mut [f32]) {
    assert_eq!(out.len(), panels.len() * width * src.cols, "pack: output size");
    // A fixed width lets the compiler copy each step's run with vector moves.
    match width {
        32 => pack_fixed::<32>(src, panels, out),
        16 => pack_fixed::<16>(src, panels, out),
        12 => pack_fixed::<12>(src, panels, out),
        8 => pack_fixed::<8>(src, panels, out),
        6 => pack_fixed::<6>(src, panels, out),
        4 => pack_fixed::<4>(src, panels, out),
        _ => pack_any(src, width, panels, out),
    }
}

fn pack_fixed<const W: usize>(src: Strided<'_>, panels: Range<usize>, out: &mut [f32]) {
    let k = src.cols;
    for (q, panel) in panels.zip(out.chunks_exact_mut((W * k).max(1))) {
        let first = q * W;
        let valid = W.min(src.rows.saturating_sub(first));
        if src.row_stride == 1 && valid == W {
            // The panel's rows are adjacent in memory: one run per step.
            for (p, step) in panel.chunks_exact_mut(W).enumerate() {
                let start = first + p * src.col_stride;
                step.copy_from_slice(&src.data[start..start + W]);
            }
        } else if src.col_stride == 1 && src.row_stride != 1 {
            transpose::rows(src.data, src.row_stride, first, valid, k, W, panel);
            if valid < W {
                panel.chunks_exact_mut(W).for_each(|step| step[valid..].fill(0.0));
            }
        } else {
            pack_panel(src, first, valid, W, panel);
        }
    }
}

fn pack_any(src: Strided<'_>, width: usize, panels: Range<usize>, out: &mut [f32]) {
    for (q, panel) in panels.zip(out.chunks_exact_mut((width * src.cols).max(1))) {
        let valid = width.min(src.rows.saturating_sub(q * width));
        pack_panel(src, q * width, valid, width, panel);
    }
}

/// One panel, element by element, for any strides.
fn pack_panel(src: Strided<'_>, first: usize, valid: usize, width: usize, panel: &mut [f32]) {
    for (p, step) in panel.chunks_exact_mut(width).enumerate() {
        for (r, slot) in step.iter_mut().enumerate() {
            *slot = if r < valid { src.at(first + r, p) } else { 0.0 };
        }
    }
}

/// Packing rows that are contiguous in memory (`data[row * stride + p]`) into a panel whose
/// steps are contiguous: a transpose, done in 8 x 8 and 4 x 4 blocks in vector registers.
mod transpose {
    /// Rows `first..first + valid` into `panel` (`width` values per step).
    pub fn rows(data: &[f32], stride: usize, first: usize, valid: usize, k: usize, width: usize, panel: &mut [f32]) {
        let last_row = first + valid;
        assert!(valid <= width && panel.len() >= k * width);
        assert!(valid == 0 || (last_row - 1) * stride + k <= data.len(), "transpose: rows out of bounds");
        let mut done_rows = 0;
        let mut done_steps = 0;
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx") {
            done_steps = k / 8 * 8;
            // SAFETY: AVX is present; the asserts above bound every row and step read and written.
            done_rows = unsafe { x86::blocks(data, stride, first, valid, done_steps, width, panel) };
        }
        for r in 0..valid {
            let row = &data[(first + r) * stride..][..k];
            let steps = if r < done_rows { done_steps..k } else { 0..k };
            for p in steps {
                panel[p * width + r] = row[p];
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        /// Transposes whole blocks: 8 rows by 8 steps (then 4 by 4 for the rows left) over the
        /// first `steps` steps; returns how many rows it covered.
        ///
        /// # Safety
        /// AVX is present; rows `first..first + valid` hold `steps` values each at `stride`
        /// apart, and `panel` holds `steps * width` values.
        #[target_feature(enable = "avx")]
        pub unsafe fn blocks(
            data: &[f32],
            stride: usize,
            first: usize,
            valid: usize,
            steps: usize,
            width: usize,
            panel: &mut [f32],
        ) -> usize {
            let (src, dst) = (data.as_ptr(), panel.as_mut_ptr());
            let mut r = 0;
            // SAFETY (all loads and stores): inside the rows and panel the caller vouches for.
            unsafe {
                while r + 8 <= valid {
                    let row = |i: usize| src.add((first + r + i) * stride);
                    for p in (0..steps).step_by(8) {
                        let v: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(row(i).add(p)));
                        let t = transpose8(v);
                        for (s, column) in t.iter().enumerate() {
                            _mm256_storeu_ps(dst.add((p + s) * width + r), *column);
                        }
                    }
                    r += 8;
                }
                while r + 4 <= valid {
                    let row = |i: usize| src.add((first + r + i) * stride);
                    for p in (0..steps).step_by(4) {
                        let v: [__m128; 4] = std::array::from_fn(|i| _mm_loadu_ps(row(i).add(p)));
                        let t = transpose4(v);
                        for (s, column) in t.iter().enumerate() {
                            _mm_storeu_ps(dst.add((p + s) * width + r), *column);
                        }
                    }
                    r += 4;
                }
            }
            r
        }

        #[target_feature(enable = "avx")]
        fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ]
        }

        #[target_feature(enable = "avx")]
        fn transpose4(r: [__m128; 4]) -> [__m128; 4] {
            let t0 = _mm_unpacklo_ps(r[0], r[1]);
            let t1 = _mm_unpacklo_ps(r[2], r[3]);
            let t2 = _mm_unpackhi_ps(r[0], r[1]);
            let t3 = _mm_unpackhi_ps(r[2], r[3]);
            [_mm_movelh_ps(t0, t1), _mm_movehl_ps(t1, t0), _mm_movelh_ps(t2, t3), _mm_movehl_ps(t3, t2)]
        }
    }
}
