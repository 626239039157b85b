//! W1's tiny layers (2 -> 16 -> 16 -> 1, tanh between, a batch of 32) on one thread: one
//! step's forward and backward passes of each layer, which run in registers
//! (`nnspec::kernels::dense`'s tiny kernels).
//!
//!     cargo bench --bench tiny
//!
//! Prints nanoseconds per pass. Each pass runs in interleaved rounds, so a disturbance on a
//! shared machine hits each alike; the best round is kept (interference only slows a round).

mod support;

use nnspec::kernels::activation::Activation;
use nnspec::kernels::dense::Dense;
use support::{time, values};

fn main() {
    let n = 32;
    let reps = 100_000;
    let nanos = |seconds: f64| seconds / reps as f64 * 1e9;
    println!("| layer | forward (ns) | backward (ns) |");
    println!("|---|---|---|");
    let mut total = [0.0; 2];
    for (inputs, units, activation) in
        [(2, 16, Some(Activation::Tanh)), (16, 16, Some(Activation::Tanh)), (16, 1, None)]
    {
        let layer = Dense { inputs, units };
        assert!(layer.is_tiny());
        let (w, b, x, dz) = (values(units * inputs), values(units), values(n * inputs), values(n * units));
        let (mut z, mut grad) = (vec![0.0; n * units], vec![0.0; n * units]);
        let (mut dw, mut db, mut dx) = (vec![0.0; units * inputs], vec![0.0; units], vec![0.0; n * inputs]);
        let mut best = [f64::MAX; 2];
        for _round in 0..7 {
            best[0] = best[0].min(nanos(time(reps, || layer.forward(&w, &[], &b, &x, &mut z, activation))));
            best[1] = best[1].min(nanos(time(reps, || {
                // The pass turns the output's gradient into the pre-activation's in place.
                grad.copy_from_slice(&dz);
                layer.backward(&w, &x, &z, &mut grad, &mut dw, &mut db, Some(&mut dx), activation);
            })));
        }
        let name = format!("{inputs} -> {units}{}", if activation.is_some() { " tanh" } else { "" });
        println!("| {name} | {:.0} | {:.0} |", best[0], best[1]);
        total[0] += best[0];
        total[1] += best[1];
    }
    println!("| W1's three layers, batch 32 | {:.0} | {:.0} |", total[0], total[1]);
}
