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

/// `$fixed::<W>(args)` for the panel widths the kernels use (a width fixed at compile time
/// lets the compiler copy each step's run with vector moves), else `$any`.
macro_rules! by_panel_width {
    ($width:expr, $fixed:ident($($arg:expr),*), $any:expr) => {
        match $width {
            32 => $fixed::<32>($($arg),*),
            16 => $fixed::<16>($($arg),*),
            12 => $fixed::<12>($($arg),*),
            8 => $fixed::<8>($($arg),*),
            6 => $fixed::<6>($($arg),*),
            4 => $fixed::<4>($($arg),*),
            _ => $any,
        }
    };
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
    by_panel_width!(width, pack_fixed(src, panels, out), pack_any(src, width, panels, out))
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

/// Steps `steps` of every panel of `src` (`rows x k`, panel `q` holding rows
/// `q*width..(q+1)*width`) whose rows are adjacent in memory (`row_stride == 1`, so a step of
/// a panel is one run of `width` values): `panels[q]` receives that panel's steps `steps`.
/// The same values as `pack`, read in memory order: step by step across all panels, so each
/// step's row of the source (a row of a row-major weight read as its transpose, or a sample
/// of an activation batch) is read once, contiguously. `pack` reads one panel at a time,
/// `width` values from every step's row in turn: a run of `width` values (128 bytes for A's
/// 32-row panels) from each of `k` rows 4 KiB or more apart (W3's copies for `dx` and `dW`
/// took 5.2 % of a step that way, 4.4 % by steps).
pub fn pack_steps(src: Strided<'_>, width: usize, steps: Range<usize>, panels: &mut [&mut [f32]]) {
    assert_eq!(src.row_stride, 1, "pack_steps: the panels' rows must be adjacent");
    debug_assert!(panels.iter().all(|panel| panel.len() == steps.len() * width), "pack_steps: panel parts' sizes");
    by_panel_width!(width, steps_fixed(src, steps, panels), steps_any(src, width, steps, panels, 0))
}

fn steps_fixed<const W: usize>(src: Strided<'_>, steps: Range<usize>, panels: &mut [&mut [f32]]) {
    let whole = (src.rows / W).min(panels.len());
    for (s, p) in steps.clone().enumerate() {
        let row = &src.data[p * src.col_stride..];
        for (q, panel) in panels[..whole].iter_mut().enumerate() {
            panel[s * W..s * W + W].copy_from_slice(&row[q * W..q * W + W]);
        }
    }
    steps_any(src, W, steps, panels, whole);
}

/// Panels `first..` value by value, with their padding: any width, and a fixed width's
/// partial last panel.
fn steps_any(src: Strided<'_>, width: usize, steps: Range<usize>, panels: &mut [&mut [f32]], first: usize) {
    if first >= panels.len() {
        return;
    }
    for (s, p) in steps.enumerate() {
        let row = &src.data[p * src.col_stride..];
        for (q, panel) in panels.iter_mut().enumerate().skip(first) {
            for (r, slot) in panel[s * width..(s + 1) * width].iter_mut().enumerate() {
                let i = q * width + r;
                *slot = if i < src.rows { row[i] } else { 0.0 };
            }
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
/// steps are contiguous: a transpose, in blocks of `RB` rows (16; 12 for AVX-512's B panels,
/// twice as fast as blocks of 4 there: 0.29 against 0.56 ns per value; 4 or 2 for narrower
/// panels) by 16 steps that the compiler turns into vector shuffles (compiled for AVX-512 and AVX2,
/// chosen at run time). The compiler's code for 16-row blocks moves values nearly one at a
/// time, so on AVX-512 CPUs those blocks are transposed by register shuffles written with
/// intrinsics (`super::transpose512`; W3's and W2's forward packing about 20 % faster).
mod transpose {
    use multiversion::multiversion;
    use multiversion::target::match_target;

    /// Steps per block.
    const S: usize = 16;

    /// Rows `first..first + valid` into `panel` (`width` values per step).
    pub fn rows(data: &[f32], stride: usize, first: usize, valid: usize, k: usize, width: usize, panel: &mut [f32]) {
        match width {
            w if w % 16 == 0 => blocks_of_16(data, stride, first, valid, k, width, panel),
            w if w % 12 == 0 => blocks::<12>(data, stride, first, valid, k, width, panel),
            w if w % 4 == 0 => blocks::<4>(data, stride, first, valid, k, width, panel),
            _ => blocks::<2>(data, stride, first, valid, k, width, panel),
        }
    }

    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    fn blocks<const RB: usize>(
        data: &[f32],
        stride: usize,
        first: usize,
        valid: usize,
        k: usize,
        width: usize,
        panel: &mut [f32],
    ) {
        let (whole_steps, whole_rows) = (k / S * S, valid / RB * RB);
        for r in (0..whole_rows).step_by(RB) {
            for p in (0..whole_steps).step_by(S) {
                let mut block = [[0.0f32; S]; RB];
                for (i, row) in block.iter_mut().enumerate() {
                    let start = (first + r + i) * stride + p;
                    *row = data[start..start + S].try_into().expect("S values");
                }
                for t in 0..S {
                    let mut column = [0.0f32; RB];
                    for (value, row) in column.iter_mut().zip(&block) {
                        *value = row[t];
                    }
                    panel[(p + t) * width + r..][..RB].copy_from_slice(&column);
                }
            }
        }
        rest(data, stride, first, valid, k, width, panel, (whole_steps, whole_rows));
    }

    /// `blocks::<16>`; on AVX-512 CPUs each 16 x 16 block is transposed by register shuffles
    /// (`super::super::transpose512`), twice as fast as the compiler's code for the loops.
    #[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
    fn blocks_of_16(
        data: &[f32],
        stride: usize,
        first: usize,
        valid: usize,
        k: usize,
        width: usize,
        panel: &mut [f32],
    ) {
        match_target! {
            "x86_64+avx512f" => {
                let whole = (k / S * S, valid / 16 * 16);
                super::super::transpose512::blocks(data, stride, first, whole, width, panel);
                rest(data, stride, first, valid, k, width, panel, whole);
            }
            _ => blocks::<16>(data, stride, first, valid, k, width, panel),
        }
    }

    /// The values outside the whole blocks (`whole`: steps and rows they cover), one by one:
    /// the rows past the last whole block, and the steps past the last whole block.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn rest(
        data: &[f32],
        stride: usize,
        first: usize,
        valid: usize,
        k: usize,
        width: usize,
        panel: &mut [f32],
        (whole_steps, whole_rows): (usize, usize),
    ) {
        for row in 0..valid {
            let start = (first + row) * stride;
            let steps = if row < whole_rows { whole_steps..k } else { 0..k };
            for p in steps {
                panel[p * width + row] = data[start + p];
            }
        }
    }
}
