//! Splitting a batch into fixed-size row chunks and running them on rayon. With a single
//! chunk the work runs inline: small batches pay nothing for parallelism.

use super::phase::{run_tasks, run_weighted_tasks};

use crate::kernels::gemm::Isa;
use crate::kernels::tiled::{Job, Product, Shared, TileWork};

/// Runs `f(read_chunk, write_chunk)` over matching chunks of two column-major buffers whose
/// columns are `read_width` and `write_width` long.
pub fn zip2(
    chunk_rows: usize,
    read: &[f32],
    read_width: usize,
    write: &mut [f32],
    write_width: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    if read.len() <= chunk_rows * read_width {
        f(read, write);
    } else {
        let chunks = read.chunks(chunk_rows * read_width).zip(write.chunks_mut(chunk_rows * write_width));
        run_tasks(chunks, |(r, w)| f(r, w));
    }
}

/// Runs `f` on each chunk of one buffer, in place.
pub fn each_mut(chunk_rows: usize, buffer: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync) {
    if buffer.len() <= chunk_rows * width {
        f(buffer);
    } else {
        run_tasks(buffer.chunks_mut(chunk_rows * width), &f);
    }
}

/// `(&items[read], &mut items[write])` for two different indices.
pub fn read_write<T>(items: &mut [T], read: usize, write: usize) -> (&T, &mut T) {
    assert_ne!(read, write, "a kernel never reads and writes the same buffer");
    if read < write {
        let (low, high) = items.split_at_mut(write);
        (&low[read], &mut high[0])
    } else {
        let (low, high) = items.split_at_mut(read);
        (&high[0], &mut low[write])
    }
}

/// `(&mut items[a], &mut items[b])` for two different indices.
pub fn both_mut<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "two different tensors");
    if a < b {
        let (low, high) = items.split_at_mut(b);
        (&mut low[a], &mut high[0])
    } else {
        let (low, high) = items.split_at_mut(a);
        (&mut high[0], &mut low[b])
    }
}

/// Sums `chunks` consecutive partial results of length `len` into the first, in chunk order.
pub fn reduce_in_order(partials: &mut [f32], len: usize, chunks: usize) {
    if chunks <= 1 {
        return;
    }
    let (total, rest) = partials.split_at_mut(len);
    let rest = &rest[..(chunks - 1) * len];
    // Each element adds its chunks in order, whichever thread runs it: the sum is the same.
    const SPAN: usize = 16 * 1024;
    run_tasks(total.chunks_mut(SPAN).enumerate(), |(block, out)| add_later_chunks(out, rest, len, block * SPAN));
}

/// `total += rest[c * len + offset..]` for each chunk `c` of `rest`, in chunk order: `total`
/// is the range at `offset` of chunk 0's values and `rest` holds chunks 1, 2, ... back to back.
pub fn add_later_chunks(total: &mut [f32], rest: &[f32], len: usize, offset: usize) {
    for chunk in rest.chunks_exact(len) {
        let part = &chunk[offset..offset + total.len()];
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
    }
}

/// Runs the first phase of a tiled pass: every job in parallel, or inline when the pass is
/// light (`parallel` false: its product is one tile).
pub fn run_jobs(jobs: Vec<Job<'_>>, parallel: bool) {
    if parallel && jobs.len() > 1 {
        run_weighted_tasks(jobs, Job::weight, Job::run);
    } else {
        jobs.into_iter().for_each(Job::run);
    }
}

/// Runs every tile of the given products: all in one parallel loop (one wake-up of the
/// threads), or inline when there is a single tile.
pub fn run_products(isa: Isa, products: Vec<Product<'_>>) {
    let (shared, tiles): (Vec<Shared<'_>>, Vec<Vec<TileWork<'_>>>) =
        products.into_iter().map(Product::into_parts).unzip();
    let mut work: Vec<(&Shared<'_>, TileWork<'_>)> = shared
        .iter()
        .zip(tiles)
        .flat_map(|(shared, tiles)| tiles.into_iter().map(move |tile| (shared, tile)))
        .collect();
    if work.len() == 1 {
        let (shared, tile) = work.pop().expect("one tile");
        shared.run(isa, tile);
    } else {
        run_weighted_tasks(work, |(shared, tile)| shared.weight(tile), |(shared, tile)| shared.run(isa, tile));
    }
}
