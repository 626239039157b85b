use super::*;

/// Every instruction set this CPU can run (AVX-512 and AVX2 are skipped where absent, so the
/// suite passes on any x86-64 machine; the scalar kernel always runs).
fn supported() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|isa| isa.is_supported()).collect()
}

fn values(len: usize, k: f32) -> Vec<f32> {
    (0..len).map(|i| ((i as f32 + 0.5) * k).sin()).collect()
}

/// The contract itself: element (i, j) is zero followed by k fused multiply-adds in order.
fn chain(a: Strided<'_>, b: Strided<'_>, i: usize, j: usize) -> f32 {
    (0..a.cols).fold(0.0, |c, p| a.at(i, p).mul_add(b.at(p, j), c))
}

/// Shapes around every tile and block edge: single elements, partial microkernel tiles, more
/// rows than one row block (MC = 256), more steps than one pass (about KC = 256 each, up to
/// 1.5 KC: 513 is 257 and 256, 600 two of 300, 700 234, 234 and 232, 784 262, 262 and 260).
/// Widths leaving 4 and 8 columns in the last panel (40, 64, 16, 20) run the narrow AVX-512
/// kernels, also over more than one pass (16 over 700 steps, 20 over 600), where they add to C.
const SHAPES: [(usize, usize, usize); 12] = [
    (1, 1, 1),
    (3, 2, 7),
    (33, 13, 5),
    (32, 12, 600),
    (70, 25, 1),
    (300, 40, 9),
    (17, 100, 513),
    (64, 64, 0),
    (96, 20, 270),
    (64, 16, 700),
    (40, 13, 784),
    (64, 20, 600),
];

#[test]
fn every_kernel_follows_the_fma_chain_bit_for_bit() {
    for isa in supported() {
        for (m, n, k) in SHAPES {
            let (a_data, b_data) = (values(m * k, 0.37), values(k * n, 0.91));
            // A as stored (row-major weights) and transposed; B column-major and transposed.
            for a in [Strided::row_major(&a_data, m, k), Strided::col_major(&a_data, m, k)] {
                for b in [Strided::col_major(&b_data, k, n), Strided::row_major(&b_data, k, n)] {
                    let mut c = vec![f32::NAN; m * n];
                    gemm(isa, &mut c, a, b);
                    for j in 0..n {
                        for i in 0..m {
                            let expected = chain(a, b, i, j);
                            assert_eq!(
                                c[i + j * m].to_bits(),
                                expected.to_bits(),
                                "{isa:?} {m}x{n}x{k} at ({i},{j}): {} vs {expected}",
                                c[i + j * m]
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn products_agree_with_nalgebra() {
    let (m, n, k) = (70, 50, 300);
    let (a_data, b_data) = (values(m * k, 0.37), values(k * n, 0.91));
    let (a, b) = (Strided::row_major(&a_data, m, k), Strided::col_major(&b_data, k, n));
    let mut expected = vec![0.0; m * n];
    reference::gemm(reference::StridedMut::col_major(&mut expected, m, n), a, b);
    for isa in supported() {
        let mut c = vec![0.0; m * n];
        gemm(isa, &mut c, a, b);
        for (got, want) in c.iter().zip(&expected) {
            assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{isa:?}: {got} vs {want}");
        }
    }
}

/// Tasks tile C exactly: every element belongs to one task, for every kernel's tile sizes.
#[test]
fn task_tiles_cover_the_output_once() {
    for (m, n, k) in [(1024, 256, 1024), (784, 256, 128), (10, 128, 128), (1000, 7, 3000), (5, 5, 5)] {
        for tiles in [Tiles::new(m, n, k), Tiles::whole_columns(m, n, k)] {
            assert!(tiles.count() >= 1 && tiles.count() <= MAX_TASKS);
            for isa in Isa::ALL {
                let mut owner = vec![usize::MAX; m * n];
                for task in 0..tiles.count() {
                    let (rows, cols) = tiles.bounds(isa, task);
                    assert!(!rows.is_empty() && !cols.is_empty(), "{isa:?} {m}x{n}: task {task} is empty");
                    for j in cols {
                        for i in rows.clone() {
                            assert_eq!(owner[i + j * m], usize::MAX, "({i},{j}) in two tasks");
                            owner[i + j * m] = task;
                        }
                    }
                }
                assert!(owner.iter().all(|&t| t != usize::MAX), "{isa:?} {m}x{n}: an element has no task");
            }
        }
    }
}

/// A grid of whole columns (the weight gradients whose optimizer step runs in the tiles)
/// gives the same bits as the square one: the grid decides which elements go together,
/// never an element's chain.
#[test]
fn every_grid_gives_the_same_bits() {
    let (m, n, k) = (300, 100, 270);
    let (a_data, b_data) = (values(m * k, 0.37), values(k * n, 0.91));
    let (a, b) = (Strided::col_major(&a_data, m, k), Strided::col_major(&b_data, k, n));
    for isa in supported() {
        let (mut packed_a, mut packed_b) = (PackBuffer::default(), PackBuffer::default());
        pack_both(isa, a, b, &mut packed_a, &mut packed_b);
        let product = |tiles: Tiles| {
            let mut c = vec![f32::NAN; m * n];
            for tile in tiles.split(isa, &mut c) {
                run_tile(isa, &tiles, tile, packed_a.as_slice(), packed_b.as_slice(), &mut |_, _, _| {});
            }
            c.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
        };
        let columns = Tiles::whole_columns(m, n, k);
        // 300 * 100 * 270 multiply-adds are 3.9 tasks' worth: three tiles side by side.
        assert_eq!((columns.rows, columns.cols), (1, 3), "one row of tiles, as many columns as the work asks");
        assert_eq!(product(columns), product(Tiles::new(m, n, k)), "{isa:?}");
    }
}

/// The grid follows the work: heavy products get many tasks, light ones stay whole.
#[test]
fn grids_are_sized_by_the_work() {
    assert_eq!(Tiles::new(1024, 256, 1024).count(), MAX_TASKS);
    assert_eq!(Tiles::new(256, 128, 784).count(), 12);
    assert_eq!(Tiles::new(10, 128, 128).count(), 1);
    let wide = Tiles::new(1024, 256, 1024);
    assert_eq!((wide.rows, wide.cols), (8, 4), "tiles of 128 x 64, as square as 32 tasks allow");
}

#[test]
fn packing_pads_with_zeros() {
    let data = values(5 * 3, 1.0);
    let a = Strided::row_major(&data, 5, 3);
    let mut out = vec![f32::NAN; packed_len(5, 3, 4)];
    pack(a, 4, 0..2, &mut out);
    // Panel 1 holds row 4 and three rows of padding, for each of the 3 steps.
    for p in 0..3 {
        assert_eq!(out[12 + p * 4], a.at(4, p));
        assert_eq!(&out[12 + p * 4 + 1..12 + p * 4 + 4], &[0.0; 3]);
        assert_eq!(out[p * 4 + 2], a.at(2, p));
    }
}

#[test]
fn forcing_a_kernel_by_name() {
    assert_eq!(Isa::from_name("AVX2"), Some(Isa::Avx2));
    assert_eq!(Isa::from_name("scalar"), Some(Isa::Scalar));
    assert_eq!(Isa::from_name("neon"), None);
    assert!(Isa::current().is_supported());
}

/// Packing step by step across panels, in any split of the steps, writes what packing panel by
/// panel writes, padding included, for every width the kernels use and others.
#[test]
fn packing_by_steps_matches_packing_by_panels() {
    for width in [2, 4, 5, 6, 8, 12, 16, 32] {
        for (rows, k) in [(1, 1), (7, 3), (32, 5), (33, 9), (70, 17), (96, 2)] {
            let data = values(rows * k, 1.0);
            let src = Strided::col_major(&data, rows, k);
            let panels = rows.div_ceil(width);
            let mut expected = vec![f32::NAN; packed_len(rows, k, width)];
            pack(src, width, 0..panels, &mut expected);
            for parts in [1, 2, 3] {
                let mut out = vec![f32::NAN; expected.len()];
                for part in 0..parts {
                    let steps = split(k, 1, parts, part);
                    let mut slices: Vec<&mut [f32]> = out
                        .chunks_exact_mut(width * k)
                        .map(|panel| &mut panel[steps.start * width..steps.end * width])
                        .collect();
                    pack_steps(src, width, steps, &mut slices);
                }
                let same = out.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "width {width}, {rows} x {k}, {parts} parts");
            }
        }
    }
}
