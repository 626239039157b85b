//! `random(rows, inputs, targets | classes, seed)`: uniform `[0, 1)` inputs, as
//! `X = rand(rows, inputs)`, then either uniform `[0, 1)` targets (`rand(rows, targets)`) or,
//! with `classes: K`, one class index per row, `floor(u * K)` of a uniform draw `u`. Every
//! value comes from the `data` stream of `seed`: all inputs row by row, then all targets.

use super::Dataset;
use crate::rng::{self, Stream};

pub fn generate(rows: usize, inputs: usize, targets: usize, classes: Option<usize>, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, Stream::Data);
    let input_values = (0..rows * inputs).map(|_| rng::uniform01(&mut rng)).collect();
    let target_values = match classes {
        Some(k) => (0..rows)
            .map(|_| ((rng::uniform01(&mut rng) * k as f32) as usize).min(k - 1) as f32)
            .collect(),
        None => (0..rows * targets).map(|_| rng::uniform01(&mut rng)).collect(),
    };
    Dataset {
        rows,
        input_width: inputs,
        target_width: targets,
        inputs: input_values,
        targets: target_values,
        input_names: (0..inputs).map(|i| format!("x{i}")).collect(),
        target_names: (0..targets).map(|i| format!("y{i}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::generate;

    #[test]
    fn is_reproducible_and_in_range() {
        let a = generate(50, 2, 1, None, 9);
        assert_eq!(a, generate(50, 2, 1, None, 9));
        assert_ne!(a.inputs, generate(50, 2, 1, None, 10).inputs);
        assert!(a.inputs.iter().chain(&a.targets).all(|v| (0.0..1.0).contains(v)));
        assert_eq!((a.inputs.len(), a.targets.len()), (100, 50));
    }

    #[test]
    fn classes_are_whole_and_cover_the_range() {
        let data = generate(1000, 3, 1, Some(4), 2);
        let mut counts = [0; 4];
        for &t in &data.targets {
            assert_eq!(t.fract(), 0.0);
            counts[t as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 200), "{counts:?}");
    }
}
