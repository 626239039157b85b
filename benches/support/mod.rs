//! What the benches share: deterministic operand values and a timer.

use std::time::Instant;

/// `len` values in [-0.5, 0.5), the same on every run.
pub fn values(len: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3).collect()
}

/// Seconds for `reps` calls of `f`.
pub fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    start.elapsed().as_secs_f64()
}
