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
        Some(k) => (0..rows).map(|_| ((rng::uniform01(&mut rng) * k as f32) as usize).min(k - 1) as f32).collect(),
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

/// `xor(rows, seed)`: `x = 2 u - 1` for two uniform draws per row (all inputs first, from the
/// `data` stream), target 1 where `x0 * x1 > 0`, else 0.
pub fn xor(rows: usize, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, Stream::Data);
    let inputs: Vec<f32> = (0..rows * 2).map(|_| rng::uniform01(&mut rng) * 2.0 - 1.0).collect();
    let targets = inputs.chunks_exact(2).map(|x| f32::from(u8::from(x[0] * x[1] > 0.0))).collect();
    Dataset {
        rows,
        input_width: 2,
        target_width: 1,
        inputs,
        targets,
        input_names: vec!["x0".into(), "x1".into()],
        target_names: vec!["y".into()],
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
    fn xor_labels_the_quadrants() {
        let data = super::xor(500, 1);
        for (x, y) in data.inputs.chunks_exact(2).zip(&data.targets) {
            assert!(x.iter().all(|v| (-1.0..1.0).contains(v)));
            assert_eq!(*y == 1.0, x[0] * x[1] > 0.0);
        }
        let positives = data.targets.iter().filter(|&&y| y == 1.0).count();
        assert!((200..300).contains(&positives), "about half: {positives}");
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
