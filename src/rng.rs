//! Seeded randomness with one documented stream per purpose.
//!
//! Every random draw in nnspec comes from `ChaCha8Rng::seed_from_u64(seed)` with
//! `set_stream(n)`, where `n` names the purpose (see [`Stream`]). Floats are derived by the
//! arithmetic written here, never by a library distribution whose output could change between
//! versions, so a spec gives the same numbers on every machine and every nnspec release that
//! keeps these functions.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// The purpose of a random stream; its value is the ChaCha stream number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Weight initialisation, layer by layer, each weight in `[out, in]` row-major order, then its bias.
    Init = 1,
    /// The per-epoch permutation of the training rows.
    Shuffle = 2,
    /// Dropout masks.
    Dropout = 3,
    /// Train/validation/test splits.
    Split = 4,
    /// Built-in data generators such as `random(...)`.
    Data = 5,
}

/// A generator for one purpose.
pub fn stream(seed: u64, purpose: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose as u64);
    rng
}

/// Uniform in `[0, 1)`: `(next_u32 >> 8) * 2^-24`, exact in f32.
pub fn uniform01(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in `[low, high)`, computed in f64 from one `uniform01` draw and rounded to f32.
pub fn uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f32 {
    (low + (high - low) * f64::from(uniform01(rng))) as f32
}

/// A standard normal by Box-Muller from two draws: `u1 = ((next_u32 >> 8) + 1) * 2^-24` in
/// `(0, 1]`, `u2 = uniform01`, `z = sqrt(-2 ln u1) cos(2 pi u2)`, in f64. One normal per pair.
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = f64::from((rng.next_u32() >> 8) + 1) * (1.0 / 16_777_216.0);
    let u2 = f64::from(uniform01(rng));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// An index in `0..n` by Lemire's multiply-shift on a u64 draw: `(next_u64 * n) >> 64`.
/// Its bias is below `n / 2^64`, far beneath anything a training run could observe.
pub fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Fisher-Yates from the last position down, drawing `below(i + 1)` for each `i`.
pub fn shuffle(rng: &mut ChaCha8Rng, items: &mut [usize]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: Vec<u32> = (0..4).map(|_| stream(7, Stream::Init).next_u32()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed and stream, same draw");
        let mut init = stream(7, Stream::Init);
        let mut shuffle = stream(7, Stream::Shuffle);
        assert_ne!(init.next_u32(), shuffle.next_u32());
    }

    #[test]
    fn uniform_and_normal_have_the_expected_moments() {
        let mut rng = stream(1, Stream::Data);
        let n = 200_000;
        let u: Vec<f64> = (0..n).map(|_| f64::from(uniform01(&mut rng))).collect();
        let mean = u.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "uniform mean {mean}");
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let z: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "normal mean {mean} var {var}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<usize> = (0..100).collect();
        shuffle(&mut stream(3, Stream::Shuffle), &mut items);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
    }
}
