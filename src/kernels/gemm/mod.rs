//! Matrix products `C = A B` for the large dense layers, split by output tiles.
//!
//! The contract that keeps training bit-identical for any thread count: every element of C
//! starts from zero and adds its `k` products one fused multiply-add at a time,
//! `c = fma(a[i,p], b[p,j], c)` for `p = 0, 1, ..., k-1`. The
//! tile a task computes, the blocking inside it and the microkernel that runs (AVX-512, AVX2 or
//! scalar) only decide which elements go through that chain together, never its order. So the
//! result is the same bits with 1 or 64 threads, on any x86-64 CPU and with every kernel.
//!
//! A product runs in two parallel phases: `pack` copies each operand once into the panels the
//! microkernel reads (several tasks per operand for large ones), then `run_tile` computes each
//! task's tile of C (`Tiles` decides the grid from the shape alone and `Tiles::split` hands
//! each task its own part of C). No `unsafe` anywhere: the AVX2 and portable microkernels are
//! plain Rust that the compiler turns into register-blocked code (see `micro`); the AVX-512
//! microkernels (`avx512`, which prefetch the panels) and packing's AVX-512 transposes
//! (`transpose512`) use `std::arch` intrinsics, which are safe inside `#[target_feature]`
//! functions.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod isa;
mod micro;
mod pack;
pub mod reference;
mod tiles;
#[cfg(target_arch = "x86_64")]
mod transpose512;

pub use isa::{Isa, MAX_MR, MAX_NR};
pub use pack::{PackBuffer, pack, pack_steps, packed_len};
pub use tiles::{MAX_TASKS, Tile, Tiles, run_tile, split};
#[cfg(target_arch = "x86_64")]
pub(crate) use transpose512::transpose as transpose16;

use nalgebra::{Dyn, MatrixView};

/// A read-only strided matrix: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Strided<'a> {
    /// A column-major `rows x cols` matrix (the layout of activation buffers).
    pub fn col_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Strided { data, rows, cols, row_stride: 1, col_stride: rows }
    }

    /// A row-major `rows x cols` matrix (the layout of weights).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Strided { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The same memory read as the transpose.
    pub fn t(self) -> Self {
        Strided { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    /// The same memory as a nalgebra matrix view.
    pub fn view(self) -> MatrixView<'a, f32, Dyn, Dyn, Dyn, Dyn> {
        MatrixView::from_slice_with_strides_generic(
            self.data,
            Dyn(self.rows),
            Dyn(self.cols),
            Dyn(self.row_stride),
            Dyn(self.col_stride),
        )
    }

    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// Packs A and B for `isa` into the given buffers (one task: for tests, benchmarks and
/// products too small to split).
pub fn pack_both(isa: Isa, a: Strided<'_>, b: Strided<'_>, packed_a: &mut PackBuffer, packed_b: &mut PackBuffer) {
    let (mr, nr) = (isa.mr(), isa.nr());
    packed_a.reserve(packed_len(a.rows, a.cols, mr));
    pack(a, mr, 0..a.rows.div_ceil(mr), packed_a.as_mut_slice());
    packed_b.reserve(packed_len(b.cols, b.rows, nr));
    pack(b.t(), nr, 0..b.cols.div_ceil(nr), packed_b.as_mut_slice());
}

/// `c = a b` (`c` column-major `a.rows x b.cols`), every task in turn on this thread.
pub fn gemm(isa: Isa, c: &mut [f32], a: Strided<'_>, b: Strided<'_>) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions");
    let (mut packed_a, mut packed_b) = (PackBuffer::default(), PackBuffer::default());
    pack_both(isa, a, b, &mut packed_a, &mut packed_b);
    let tiles = Tiles::new(a.rows, b.cols, a.cols);
    for tile in tiles.split(isa, c) {
        run_tile(isa, &tiles, tile, packed_a.as_slice(), packed_b.as_slice(), &mut |_, _, _| {});
    }
}

#[cfg(test)]
mod tests;
