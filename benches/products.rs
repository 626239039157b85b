//! The products of the benchmark workloads' dense layers on one thread: nalgebra's `gemm`
//! (matrixmultiply) against the tiled products with each microkernel this CPU runs.
//!
//!     cargo bench --bench products
//!
//! Prints GFLOP/s. Each product runs in interleaved rounds, so a disturbance on a shared
//! machine hits every variant alike; the best round is kept (interference only slows a round).

mod support;

use nnspec::kernels::gemm::reference::{StridedMut, gemm as nalgebra_gemm};
use nnspec::kernels::gemm::{Isa, PackBuffer, Strided, Tiles, pack_both, run_tile};
use support::{time, values};

fn main() {
    // (name, m, n, k, A layout row-major?): C = A B with C column-major, as the layers use them.
    let shapes = [
        ("W3 forward 1024x1024, batch 256", 1024, 256, 1024, true),
        ("W3 dW 1024x1024 over 256 samples", 1024, 1024, 256, false),
        ("W3 dX 1024x1024, batch 256", 1024, 256, 1024, false),
        ("W2 forward 256x784, batch 128", 256, 128, 784, true),
        ("W2 dW 784x256 over 128 samples", 784, 256, 128, false),
    ];
    // The scalar kernel is the portable fallback (libm's fmaf without FMA hardware): correct,
    // not fast, and not measured here.
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.is_supported() && *i != Isa::Scalar).collect();
    println!("| product | variant | GFLOP/s, one thread |");
    println!("|---|---|---|");
    for (name, m, n, k, a_row_major) in shapes {
        let (a_data, b_data) = (values(m * k), values(k * n));
        let a = if a_row_major { Strided::row_major(&a_data, m, k) } else { Strided::col_major(&a_data, m, k) };
        let b = Strided::col_major(&b_data, k, n);
        let flop = 2.0 * (m * n * k) as f64;
        let reps = ((2e9 / flop) as usize).max(1);
        let mut c = vec![0.0f32; m * n];
        let variants = 1 + 2 * isas.len();
        let mut best = vec![f64::MAX; variants];
        for _round in 0..5 {
            for (v, slot) in best.iter_mut().enumerate() {
                let seconds = if v == 0 {
                    time(reps, || nalgebra_gemm(StridedMut::col_major(&mut c, m, n), a, b))
                } else {
                    let isa = isas[(v - 1) / 2];
                    let pack_only = v % 2 == 0;
                    let (mut pa, mut pb) = (PackBuffer::default(), PackBuffer::default());
                    pack_both(isa, a, b, &mut pa, &mut pb);
                    time(reps, || {
                        pack_both(isa, a, b, &mut pa, &mut pb);
                        if pack_only {
                            return;
                        }
                        let tiles = Tiles::new(m, n, k);
                        for tile in tiles.split(isa, &mut c) {
                            run_tile(isa, &tiles, tile, pa.as_slice(), pb.as_slice(), &mut |_, _, _| {});
                        }
                    })
                };
                *slot = slot.min(seconds);
            }
        }
        for (v, &seconds) in best.iter().enumerate() {
            let variant = match v {
                0 => "nalgebra (matrixmultiply)".to_string(),
                _ if v % 2 == 1 => format!("tiled, {}", isas[(v - 1) / 2].name()),
                _ => format!("packing alone, {} (flops of the product)", isas[(v - 1) / 2].name()),
            };
            println!("| {name} | {variant} | {:.0} |", flop * reps as f64 / seconds / 1e9);
        }
    }
}
