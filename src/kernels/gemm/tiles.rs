//! A product split into tasks by output tiles. `Tiles::new` cuts C into a grid decided by the
//! product's shape alone (never by the thread count or the CPU); each task computes its tile
//! completely, every element from its initial value through all `k` steps in order, so any
//! number of threads, running the tasks in any order, writes the same bits.

use std::ops::Range;

use super::isa::{Isa, MAX_MR, MAX_NR};
use super::micro;

/// Multiply-adds a task should have at least: below this, waking a thread costs more than it
/// saves (a task of 2^21 takes about 10 microseconds on one AVX-512 core).
const TASK_MACS: usize = 1 << 21;
/// The most tasks one product is split into: enough for 16 threads, two tasks each.
pub const MAX_TASKS: usize = 32;
/// Steps of `k` per pass over a tile, about (`pass_steps`): a `KC x NR` panel of B then stays
/// in L1 cache.
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
        let (wanted, most_cols) = (wanted_tasks(m, n, k), most_columns(n));
        let most_rows = m.div_ceil(MAX_MR).max(1);
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

    /// The grid for a weight gradient whose optimizer step runs in the tiles: `new`'s task
    /// count, all of it in columns, so that each tile's columns are whole rows of the weight
    /// and the step streams through contiguous weights and moments.
    pub fn whole_columns(m: usize, n: usize, k: usize) -> Tiles {
        Tiles { m, n, k, rows: 1, cols: wanted_tasks(m, n, k).min(most_columns(n)) }
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

/// Tasks an `m x n` product over `k` steps is worth: one per `TASK_MACS`, 1 to `MAX_TASKS`.
fn wanted_tasks(m: usize, n: usize, k: usize) -> usize {
    (m.saturating_mul(n).saturating_mul(k) / TASK_MACS).clamp(1, MAX_TASKS)
}

/// The most columns of tiles `n` columns allow: one of the widest microkernel tile each.
fn most_columns(n: usize) -> usize {
    n.div_ceil(MAX_NR).max(1)
}

/// Steps per pass over a tile: `k` in equal passes of about `KC` (at most 1.5 `KC`), so that no
/// pass is a short remainder (784 steps: 262, 262 and 260, not three of 256 and one of 16, whose
/// pass loads and stores the whole tile of C for 16 steps of work).
fn pass_steps(k: usize) -> usize {
    let passes = ((k + KC / 2) / KC).max(1);
    k.div_ceil(passes).max(1)
}

/// Part `index` of `parts` of `0..len` in whole units of `unit` (the last may be short).
pub fn split(len: usize, unit: usize, parts: usize, index: usize) -> Range<usize> {
    let units = len.div_ceil(unit);
    let at = |i: usize| (i * units / parts * unit).min(len);
    at(index)..at(index + 1)
}

/// One task's part of C: rows `rows` of columns `cols`, as one mutable segment per column.
pub struct Tile<'a> {
    rows: Range<usize>,
    cols: Range<usize>,
    columns: Vec<&'a mut [f32]>,
}

impl Tile<'_> {
    /// Elements of C the tile covers.
    pub fn area(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

impl Tiles {
    /// C (column-major `m x n`) cut into the tasks' tiles for `isa`, in task order: each task
    /// owns its tile, so tasks can run on any threads at once.
    pub fn split<'a>(&self, isa: Isa, c: &'a mut [f32]) -> Vec<Tile<'a>> {
        assert!(c.len() >= self.m * self.n, "split: output too small");
        let mut tiles: Vec<Tile<'a>> = (0..self.count())
            .map(|task| {
                let (rows, cols) = self.bounds(isa, task);
                Tile { columns: Vec::with_capacity(cols.len()), rows, cols }
            })
            .collect();
        let row_lengths: Vec<usize> = (0..self.rows).map(|row| tiles[row * self.cols].rows.len()).collect();
        let mut col = 0;
        for (j, column) in c.chunks_exact_mut(self.m.max(1)).take(self.n).enumerate() {
            while !tiles[col].cols.contains(&j) {
                col += 1;
            }
            let mut rest = column;
            for (row, &len) in row_lengths.iter().enumerate() {
                let (segment, later) = std::mem::take(&mut rest).split_at_mut(len);
                rest = later;
                tiles[row * self.cols + col].columns.push(segment);
            }
        }
        tiles
    }
}

/// What a tile runs on each of its finished column segments: `(rows, column, segment)`.
pub type Epilogue<'a> = dyn FnMut(Range<usize>, usize, &mut [f32]) + 'a;

/// Computes `tile` of `c = A B`, from A and B packed for `isa` (`pack(a, isa.mr())`,
/// `pack(b.t(), isa.nr())`), then runs `epilogue(rows, column, segment)` on each of the tile's
/// column segments (bias and activation, while the tile is in cache).
pub fn run_tile(isa: Isa, tiles: &Tiles, tile: Tile<'_>, a: &[f32], b: &[f32], epilogue: &mut Epilogue<'_>) {
    match isa {
        Isa::Avx512 => {
            let narrow: [(usize, micro::Kernel); 2] = [(4, micro::avx512_4), (8, micro::avx512_8)];
            run::<32, 12>(micro::avx512, &narrow, tiles, tile, a, b, epilogue)
        }
        Isa::Avx2 => run::<16, 6>(micro::avx2, &[], tiles, tile, a, b, epilogue),
        Isa::Scalar => run::<8, 4>(micro::scalar, &[], tiles, tile, a, b, epilogue),
    }
}

/// `narrow` lists kernels for full-height tiles of fewer columns (width, kernel), reading the
/// same `NR`-wide panels of B.
fn run<const MR: usize, const NR: usize>(
    kernel: micro::Kernel,
    narrow: &[(usize, micro::Kernel)],
    tiles: &Tiles,
    mut tile: Tile<'_>,
    a: &[f32],
    b: &[f32],
    epilogue: &mut Epilogue<'_>,
) {
    let (m, n, k) = (tiles.m, tiles.n, tiles.k);
    assert!(a.len() >= m.div_ceil(MR) * MR * k && b.len() >= n.div_ceil(NR) * NR * k, "run_tile: packed sizes");
    let (rows, cols) = (tile.rows.clone(), tile.cols.clone());
    let mut edge = [[0.0f32; MR]; NR];
    let pass = pass_steps(k);
    for block in rows.clone().step_by(MC) {
        let block_end = (block + MC).min(rows.end);
        // The first pass over k starts each element from zero, later ones from C.
        for first_step in (0..k.max(1)).step_by(pass) {
            let (kc, fresh) = (pass.min(k - first_step), first_step == 0);
            for j in cols.clone().step_by(NR) {
                // The panels and what follows them in memory, which the AVX-512 kernels
                // prefetch across (every kernel reads only its `kc` steps).
                let b_panel = &b[(j / NR) * NR * k + first_step * NR..];
                let width = NR.min(n - j);
                let segments = &mut tile.columns[j - cols.start..][..width];
                for i in (block..block_end).step_by(MR) {
                    let a_panel = &a[(i / MR) * MR * k + first_step * MR..];
                    let (height, offset) = (MR.min(m - i), i - rows.start);
                    if height == MR && width == NR {
                        kernel(kc, a_panel, b_panel, segments, offset, fresh);
                        continue;
                    }
                    if let Some(&(_, narrow)) = narrow.iter().find(|&&(w, _)| height == MR && w == width) {
                        narrow(kc, a_panel, b_panel, segments, offset, fresh);
                        continue;
                    }
                    // A tile over C's edge runs on a full-size copy; its padding meets only
                    // the packed zeros and is dropped.
                    for (slot, segment) in edge.iter_mut().zip(segments.iter()) {
                        slot[..height].copy_from_slice(&segment[offset..offset + height]);
                    }
                    kernel(kc, a_panel, b_panel, &mut edge.each_mut().map(|slot| slot.as_mut_slice()), 0, fresh);
                    for (segment, slot) in segments.iter_mut().zip(&edge) {
                        segment[offset..offset + height].copy_from_slice(&slot[..height]);
                    }
                }
            }
        }
    }
    for (column, segment) in cols.zip(tile.columns) {
        epilogue(rows.clone(), column, segment);
    }
}
