//! A product split into tasks by output tiles. `Tiles::new` cuts C into a grid decided by the
//! product's shape alone (never by the thread count or the CPU); each task computes its tile
//! completely, every element from its initial value through all `k` steps in order, so any
//! number of threads, running the tasks in any order, writes the same bits.

use std::marker::PhantomData;
use std::ops::Range;

use super::isa::{Isa, MAX_MR, MAX_NR};

/// Multiply-adds a task should have at least: below this, waking a thread costs more than it
/// saves (a task of 2^21 takes about 10 microseconds on one AVX-512 core).
const TASK_MACS: usize = 1 << 21;
/// The most tasks one product is split into: enough for 16 threads, two tasks each.
pub const MAX_TASKS: usize = 32;
/// Steps of `k` per pass over a tile: a `KC x NR` panel of B then stays in L1 cache.
const KC: usize = 256;
/// Rows of C per pass: the `MC x KC` block of A then stays in L2 cache.
const MC: usize = 256;

/// The task grid of an `m x n` product over `k` steps: `rows x cols` tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiles {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Tiles {
    /// The grid for a shape: as many tasks as the work allows (at most `MAX_TASKS`, each at
    /// least `TASK_MACS`, each at least one of the largest microkernel tile), and of those
    /// grids the one whose tiles are closest to square, which reads the least memory.
    pub fn new(m: usize, n: usize, k: usize) -> Tiles {
        let wanted = (m.saturating_mul(n).saturating_mul(k) / TASK_MACS).clamp(1, MAX_TASKS);
        let (most_rows, most_cols) = (m.div_ceil(MAX_MR).max(1), n.div_ceil(MAX_NR).max(1));
        let mut best = (1, 1);
        for rows in 1..=most_rows.min(wanted) {
            let cols = (wanted / rows).min(most_cols);
            let better = rows * cols > best.0 * best.1
                || (rows * cols == best.0 * best.1 && m / rows + n / cols < m / best.0 + n / best.1);
            if better {
                best = (rows, cols);
            }
        }
        Tiles { m, n, k, rows: best.0, cols: best.1 }
    }

    pub fn count(&self) -> usize {
        self.rows * self.cols
    }

    /// The rows and columns of C that task `task` computes with `isa`'s tile sizes: whole
    /// microkernel tiles, split as evenly as they go.
    pub fn bounds(&self, isa: Isa, task: usize) -> (Range<usize>, Range<usize>) {
        let (row, col) = (task / self.cols, task % self.cols);
        (split(self.m, isa.mr(), self.rows, row), split(self.n, isa.nr(), self.cols, col))
    }
}

/// Part `index` of `parts` of `0..len` in whole units of `unit` (the last may be short).
pub fn split(len: usize, unit: usize, parts: usize, index: usize) -> Range<usize> {
    let units = len.div_ceil(unit);
    let at = |i: usize| (i * units / parts * unit).min(len);
    at(index)..at(index + 1)
}

/// C: a column-major `rows x cols` matrix with column stride `ld`, written by many tasks at
/// once, each in its own tile.
pub struct Output<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    ld: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks write disjoint tiles (see `run_tile`), so sharing the pointer is sound.
unsafe impl Send for Output<'_> {}
unsafe impl Sync for Output<'_> {}

impl<'a> Output<'a> {
    /// `data` as a column-major `rows x cols` matrix.
    pub fn col_major(data: &'a mut [f32], rows: usize, cols: usize) -> Output<'a> {
        assert!(data.len() >= rows * cols, "output too small");
        Output { ptr: data.as_mut_ptr(), rows, cols, ld: rows, _data: PhantomData }
    }

    /// Rows `rows` of column `j`.
    ///
    /// # Safety
    /// No other reference to these elements may exist while the slice lives.
    // A shared `&self` hands out `&mut` on purpose: tasks share the output and each writes
    // only its own tile, which is what the safety contract asks of the caller.
    #[allow(clippy::mut_from_ref)]
    unsafe fn column(&self, j: usize, rows: Range<usize>) -> &mut [f32] {
        assert!(j < self.cols && rows.end <= self.rows);
        // SAFETY: in bounds (checked above); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(j * self.ld + rows.start), rows.len()) }
    }
}

/// Computes task `task`'s tile of `c = A B`, from A and B packed for `isa`
/// (`pack(a, isa.mr())`, `pack(b.t(), isa.nr())`), then runs `epilogue(rows, segment)` on
/// each of the tile's column segments (bias and activation, while the tile is in cache).
///
/// # Safety
/// While this runs, nothing else may access this task's tile of `c`: run each task of a
/// product at most once at a time (distinct tasks have disjoint tiles).
pub unsafe fn run_tile(
    isa: Isa,
    tiles: &Tiles,
    task: usize,
    a: &[f32],
    b: &[f32],
    c: &Output<'_>,
    epilogue: &(dyn Fn(Range<usize>, &mut [f32]) + Sync),
) {
    let (m, n, k) = (tiles.m, tiles.n, tiles.k);
    let (mr, nr) = (isa.mr(), isa.nr());
    assert!(c.rows == m && c.cols == n, "run_tile: output shape");
    assert!(a.len() >= m.div_ceil(mr) * mr * k && b.len() >= n.div_ceil(nr) * nr * k, "run_tile: packed sizes");
    assert_eq!(a.as_ptr() as usize % 64, 0, "run_tile: A must come from a PackBuffer");
    let (rows, cols) = tiles.bounds(isa, task);
    let kernel = isa.microkernel();
    const ZEROS: [f32; MAX_MR] = [0.0; MAX_MR];
    let mut edge = [0.0f32; MAX_MR * MAX_NR];
    for block in (rows.start..rows.end).step_by(MC) {
        let block_end = (block + MC).min(rows.end);
        // The first pass over k starts each element from zero, later ones from C.
        for first_step in (0..k.max(1)).step_by(KC) {
            let kc = KC.min(k - first_step);
            for j in (cols.start..cols.end).step_by(nr) {
                let b_panel = &b[(j / nr) * nr * k + first_step * nr..][..kc * nr];
                for i in (block..block_end).step_by(mr) {
                    let a_panel = &a[(i / mr) * mr * k + first_step * mr..][..kc * mr];
                    let (height, width) = (mr.min(m - i), nr.min(n - j));
                    // SAFETY: in bounds of C.
                    let tile = unsafe { c.ptr.add(j * c.ld + i) };
                    if height == mr && width == nr {
                        let (start, start_ld) =
                            if first_step > 0 { (tile.cast_const(), c.ld) } else { (ZEROS.as_ptr(), 0) };
                        // SAFETY: the panels hold kc steps, A is aligned (offsets are whole
                        // panels of 64-byte multiples), the tile is inside C and ours, and
                        // `start` has `mr` values per column.
                        unsafe { kernel(kc, a_panel.as_ptr(), b_panel.as_ptr(), tile, c.ld, start, start_ld) };
                    } else {
                        // A tile over C's edge runs on a full-size copy; its padding is dropped.
                        for col in 0..nr {
                            let slot = &mut edge[col * mr..(col + 1) * mr];
                            slot.fill(0.0);
                            if col < width && first_step > 0 {
                                slot[..height].copy_from_slice(unsafe { c.column(j + col, i..i + height) });
                            }
                        }
                        let start = edge.as_mut_ptr();
                        // SAFETY: as above, with `edge` as an `mr x nr` tile and its own start.
                        unsafe { kernel(kc, a_panel.as_ptr(), b_panel.as_ptr(), start, mr, start, mr) };
                        for col in 0..width {
                            unsafe { c.column(j + col, i..i + height) }.copy_from_slice(&edge[col * mr..][..height]);
                        }
                    }
                }
            }
        }
    }
    for j in cols {
        epilogue(rows.clone(), unsafe { c.column(j, rows.clone()) });
    }
}
