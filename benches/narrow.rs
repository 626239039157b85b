//! The benchmark workloads' output layers (10 units) on one thread: the tiled products'
//! forward and backward passes (packing included) against the narrow kernels that run such
//! layers (`nnspec::kernels::narrow`), which give the same bits.
//!
//!     cargo bench --bench narrow
//!
//! Prints microseconds per pass. The variants run in interleaved rounds, so a disturbance on
//! a shared machine hits each alike; the best round is kept (interference only slows a round).

mod support;

use nnspec::kernels::dense::Dense;
use nnspec::kernels::gemm::Isa;
use nnspec::kernels::tiled::Packs;
use support::{time, values};

fn main() {
    let isa = Isa::current();
    println!("| layer | pass | tiled (us) | narrow (us) | ratio |");
    println!("|---|---|---|---|---|");
    for (name, inputs, n) in
        [("W2 output, 128 -> 10, batch 128", 128, 128), ("W3 output, 1024 -> 10, batch 256", 1024, 256)]
    {
        let layer = Dense { inputs, units: 10 };
        assert!(layer.is_narrow());
        let (w, b, x, dz) = (values(10 * inputs), values(10), values(n * inputs), values(n * 10));
        let (mut z, mut dw, mut db, mut dx) =
            (vec![0.0; n * 10], vec![0.0; 10 * inputs], vec![0.0; 10], vec![0.0; n * inputs]);
        let mut packs = Packs::default();
        let mut wt = vec![0.0; layer.padded_len()];
        let reps = (2e8 / (n * inputs * 10) as f64) as usize + 1;
        let micros = |seconds: f64| seconds / reps as f64 * 1e6;
        let mut best = [f64::MAX; 4];
        for _round in 0..5 {
            best[0] = best[0].min(micros(time(reps, || {
                layer.forward_jobs(isa, &w, &x, &mut packs).into_iter().for_each(|job| job.run());
                let (shared, tiles) = layer.forward_product(isa, &b, &mut z, &packs, None).into_parts();
                tiles.into_iter().for_each(|tile| shared.run(isa, tile));
            })));
            best[1] = best[1].min(micros(time(reps, || {
                layer.transpose_padded(&w, &mut wt);
                for (x, z) in layer.narrow_forward_parts(&x, &mut z) {
                    layer.narrow_forward(&wt, &b, x, z, None);
                }
            })));
            best[2] = best[2].min(micros(time(reps, || {
                let jobs = layer.backward_jobs(isa, &w, &x, &dz, &mut db, true, &mut packs);
                jobs.into_iter().for_each(|job| job.run());
                let (weight_grad, input_grad) =
                    layer.backward_products(isa, n, &mut dw, Some((&mut dx, None)), &packs, None);
                for product in std::iter::once(weight_grad).chain(input_grad) {
                    let (shared, tiles) = product.into_parts();
                    tiles.into_iter().for_each(|tile| shared.run(isa, tile));
                }
            })));
            best[3] = best[3].min(micros(time(reps, || {
                for part in layer.narrow_backward_parts(&dz, &mut dw, &mut db, Some((&mut dx, None)), None) {
                    layer.narrow_backward(part, &x, &dz, &w);
                }
            })));
        }
        for (pass, tiled, narrow) in [("forward", best[0], best[1]), ("backward", best[2], best[3])] {
            println!("| {name} | {pass} | {tiled:.1} | {narrow:.1} | {:.2}x |", tiled / narrow);
        }
    }
}
