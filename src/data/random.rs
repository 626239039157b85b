//! `random(rows, inputs, targets, seed)`: uniform `[0, 1)` inputs and targets, as
//! `X, Y = rand(rows, inputs), rand(rows, targets)`: every input drawn first (row by row),
//! then every target, from the `data` stream of `seed`.

use super::Dataset;
use crate::rng::{self, Stream};

pub fn generate(rows: usize, inputs: usize, targets: usize, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, Stream::Data);
    let input_values = (0..rows * inputs).map(|_| rng::uniform01(&mut rng)).collect();
    let target_values = (0..rows * targets).map(|_| rng::uniform01(&mut rng)).collect();
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
    #[test]
    fn is_reproducible_and_in_range() {
        let a = super::generate(50, 2, 1, 9);
        assert_eq!(a, super::generate(50, 2, 1, 9));
        assert_ne!(a.inputs, super::generate(50, 2, 1, 10).inputs);
        assert!(a.inputs.iter().chain(&a.targets).all(|v| (0.0..1.0).contains(v)));
        assert_eq!((a.inputs.len(), a.targets.len()), (100, 50));
    }
}
