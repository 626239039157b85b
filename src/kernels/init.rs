//! Weight initialisers, with torch.nn.init's formulas (fan_in = inputs, fan_out = units).
//! Draws come from the `init` random stream in the order documented in `crate::rng`.

use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::rng;

/// How a dense layer's weights (and bias) start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weight and bias uniform in `±1/sqrt(fan_in)`.
    Default,
    /// All weights zero.
    Zeros,
    /// Weights uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// `xavier_uniform_`: uniform in `±sqrt(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// `xavier_normal_`: normal with std `sqrt(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// `kaiming_uniform_(nonlinearity='relu')`: uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// `kaiming_normal_(nonlinearity='relu')`: normal with std `sqrt(2 / fan_in)`.
    HeNormal,
}

impl Init {
    /// Keywords, with their aliases, for parsing and did-you-mean.
    pub const KEYWORDS: [&'static str; 10] = [
        "default",
        "zeros",
        "uniform",
        "xavier",
        "xavier_uniform",
        "glorot_uniform",
        "xavier_normal",
        "glorot_normal",
        "he",
        "he_normal",
    ];

    /// A keyword that takes no arguments (`uniform` takes two and is handled by the checker).
    pub fn from_keyword(word: &str) -> Option<Init> {
        Some(match word {
            "default" => Init::Default,
            "zeros" => Init::Zeros,
            "xavier" | "xavier_uniform" | "glorot" | "glorot_uniform" => Init::XavierUniform,
            "xavier_normal" | "glorot_normal" => Init::XavierNormal,
            "he" | "he_uniform" | "kaiming" | "kaiming_uniform" => Init::HeUniform,
            "he_normal" | "kaiming_normal" => Init::HeNormal,
            _ => return None,
        })
    }

    /// Fills a `[fan_out, fan_in]` weight then its bias. Every initialiser but `Default` sets
    /// the bias to zero, as the classic examples do.
    pub fn fill(self, weight: &mut [f32], bias: &mut [f32], fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng) {
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        let uniform = |weight: &mut [f32], bound: f64, rng: &mut ChaCha8Rng| {
            weight.iter_mut().for_each(|w| *w = rng::uniform(rng, -bound, bound));
        };
        let normal = |weight: &mut [f32], std: f64, rng: &mut ChaCha8Rng| {
            weight.iter_mut().for_each(|w| *w = (std * rng::normal(rng)) as f32);
        };
        bias.fill(0.0);
        match self {
            Init::Default => {
                let bound = 1.0 / fan_in.sqrt();
                uniform(weight, bound, rng);
                uniform(bias, bound, rng);
            }
            Init::Zeros => weight.fill(0.0),
            Init::Uniform { low, high } => weight.iter_mut().for_each(|w| *w = rng::uniform(rng, low, high)),
            Init::XavierUniform => uniform(weight, (6.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::XavierNormal => normal(weight, (2.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeUniform => uniform(weight, (6.0 / fan_in).sqrt(), rng),
            Init::HeNormal => normal(weight, (2.0 / fan_in).sqrt(), rng),
        }
    }

    /// The form written in plans and summaries.
    pub fn describe(self) -> String {
        match self {
            Init::Uniform { low, high } => format!("uniform({low}, {high})"),
            other => serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, stream};

    fn moments(init: Init, fan_in: usize, fan_out: usize) -> (f64, f64, f32) {
        let mut weight = vec![0.0; fan_in * fan_out];
        let mut bias = vec![1.0; fan_out];
        init.fill(&mut weight, &mut bias, fan_in, fan_out, &mut stream(5, Stream::Init));
        let n = weight.len() as f64;
        let mean = weight.iter().map(|&w| f64::from(w)).sum::<f64>() / n;
        let var = weight.iter().map(|&w| (f64::from(w) - mean).powi(2)).sum::<f64>() / n;
        let max = weight.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        (mean, var, max)
    }

    /// Variances from torch.nn.init's documentation: uniform(-a, a) has variance a^2 / 3.
    #[test]
    fn variances_follow_torch_formulas() {
        let (fan_in, fan_out) = (200, 300);
        let cases = [
            (Init::XavierUniform, 2.0 / 500.0, Some((6.0f64 / 500.0).sqrt())),
            (Init::XavierNormal, 2.0 / 500.0, None),
            (Init::HeUniform, 2.0 / 200.0, Some((6.0f64 / 200.0).sqrt())),
            (Init::HeNormal, 2.0 / 200.0, None),
            (Init::Default, 1.0 / (3.0 * 200.0), Some(1.0 / 200f64.sqrt())),
        ];
        for (init, expected_var, bound) in cases {
            let (mean, var, max) = moments(init, fan_in, fan_out);
            assert!(mean.abs() < 0.01, "{init:?} mean {mean}");
            assert!((var / expected_var - 1.0).abs() < 0.05, "{init:?} var {var} expected {expected_var}");
            if let Some(bound) = bound {
                assert!(f64::from(max) <= bound, "{init:?} max {max} above {bound}");
            }
        }
    }

    #[test]
    fn explicit_initialisers_zero_the_bias() {
        let mut weight = vec![0.0; 4];
        let mut bias = vec![1.0; 2];
        Init::Uniform { low: -1.0, high: 1.0 }.fill(&mut weight, &mut bias, 2, 2, &mut stream(1, Stream::Init));
        assert_eq!(bias, [0.0, 0.0]);
        assert!(weight.iter().all(|w| (-1.0..1.0).contains(w)) && weight.iter().any(|&w| w != 0.0));
    }
}
