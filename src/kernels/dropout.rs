//! Inverted dropout: in training each value is kept with probability `1 - p` and scaled by
//! `1 / (1 - p)`, so evaluation needs no rescaling; in evaluation it is the identity.
//!
//! Masks come from the `dropout` random stream. Element `i` of a batch's buffer for one
//! dropout layer draws the 32-bit word at position `offset + i`, where `offset` counts the
//! words every earlier dropout application used, so a chunk can seek to its own position:
//! the masks are the same whatever the number of threads.

use rand_chacha::ChaCha8Rng;

use crate::rng;

/// Fills `mask` with `0` or `1 / (1 - p)` from `rng` (already at this chunk's position) and
/// writes `y = x * mask`.
pub fn forward(p: f32, rng: &mut ChaCha8Rng, x: &[f32], mask: &mut [f32], y: &mut [f32]) {
    let scale = 1.0 / (1.0 - p);
    for ((x, m), y) in x.iter().zip(mask.iter_mut()).zip(y.iter_mut()) {
        *m = if rng::uniform01(rng) >= p { scale } else { 0.0 };
        *y = x * *m;
    }
}

/// `dx = dy * mask`.
pub fn backward(mask: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.iter_mut().zip(dy).zip(mask).for_each(|((dx, dy), m)| *dx = dy * m);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream};

    #[test]
    fn keeps_the_expected_fraction_and_scales_it() {
        let n = 100_000;
        let x = vec![1.0f32; n];
        let (mut mask, mut y) = (vec![0.0; n], vec![0.0; n]);
        forward(0.25, &mut stream(1, Stream::Dropout), &x, &mut mask, &mut y);
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.02, "inverted dropout keeps the mean: {mean}");
    }

    /// With a fixed mask dropout is linear, so its gradient is the mask itself; check it
    /// against finite differences of `sum(y * r)`.
    #[test]
    fn gradient_with_a_fixed_mask_matches_finite_differences() {
        let x = [0.5f32, -1.0, 2.0, 0.3];
        let r = [1.0f32, 2.0, -1.0, 0.5];
        let (mut mask, mut y) = ([0.0; 4], [0.0; 4]);
        forward(0.5, &mut stream(3, Stream::Dropout), &x, &mut mask, &mut y);
        let mut dx = [0.0; 4];
        backward(&mask, &r, &mut dx);
        for i in 0..4 {
            let objective = |xi: f32| {
                let mut moved = x;
                moved[i] = xi;
                moved.iter().zip(&mask).zip(&r).map(|((x, m), r)| x * m * r).sum::<f32>()
            };
            let numeric = (objective(x[i] + 1e-2) - objective(x[i] - 1e-2)) / 2e-2;
            assert!((dx[i] - numeric).abs() < 1e-3);
        }
    }
}
