//! Input scaling, fitted on the training rows only and applied to every row, so validation
//! and test rows are scaled as unseen data would be.

use super::Dataset;
use crate::ir::Scaling;

/// `x' = (x - offset) * factor`, per feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaler {
    pub kind: Scaling,
    pub offset: Vec<f32>,
    pub factor: Vec<f32>,
}

/// Per input column, `step` folded over the values of `rows` from `init`. Row by row (memory
/// in order, every column at once), each column's values still taken in row order: the same
/// result as folding column by column.
fn fold(data: &Dataset, rows: &[usize], init: f64, step: impl Fn(f64, usize, f64) -> f64) -> Vec<f64> {
    let mut acc = vec![init; data.input_width];
    for &r in rows {
        for (f, (a, &x)) in acc.iter_mut().zip(data.input_row(r)).enumerate() {
            *a = step(*a, f, f64::from(x));
        }
    }
    acc
}

impl Scaler {
    /// Statistics of `rows` (computed in f64): mean and population std for `standardize`,
    /// min and range for `minmax`. A constant feature keeps a factor of 1.
    pub fn fit(kind: Scaling, data: &Dataset, rows: &[usize]) -> Scaler {
        Scaler::fit_slots(kind, &vec![kind; data.input_width], data, rows)
    }

    /// `fit` with a scaling per input slot (`kinds`); `kind` is the input line's, for the record.
    pub fn fit_slots(kind: Scaling, kinds: &[Scaling], data: &Dataset, rows: &[usize]) -> Scaler {
        let width = data.input_width;
        let (mut offset, mut factor) = (vec![0.0f32; width], vec![1.0f32; width]);
        let n = rows.len() as f64;
        let has = |kind: Scaling| kinds.contains(&kind);
        // Sums from -0.0, as `Iterator::sum` of floats starts.
        let (means, squares) = if has(Scaling::Standardize) {
            let means: Vec<f64> = fold(data, rows, -0.0, |a, _, x| a + x).iter().map(|s| s / n).collect();
            let squares = fold(data, rows, -0.0, |a, f, x| a + (x - means[f]).powi(2));
            (means, squares)
        } else {
            (vec![], vec![])
        };
        let (mins, maxs) = if has(Scaling::MinMax) {
            (
                fold(data, rows, f64::INFINITY, |a, _, x| a.min(x)),
                fold(data, rows, f64::NEG_INFINITY, |a, _, x| a.max(x)),
            )
        } else {
            (vec![], vec![])
        };
        for f in 0..width {
            match kinds[f] {
                Scaling::None => {}
                Scaling::Standardize => {
                    let mean = means[f];
                    let std = (squares[f] / n).sqrt();
                    offset[f] = mean as f32;
                    if std > 0.0 && ((1.0 / std) as f32).is_finite() {
                        factor[f] = (1.0 / std) as f32;
                    }
                }
                Scaling::MinMax => {
                    let (min, max) = (mins[f], maxs[f]);
                    offset[f] = min as f32;
                    if max > min && ((1.0 / (max - min)) as f32).is_finite() {
                        factor[f] = (1.0 / (max - min)) as f32;
                    }
                }
                Scaling::Range { low, high } => {
                    offset[f] = low;
                    factor[f] = (1.0 / (f64::from(high) - f64::from(low))) as f32;
                }
            }
        }
        Scaler { kind, offset, factor }
    }

    /// Whether applying this scaler changes nothing.
    pub fn is_identity(&self) -> bool {
        self.offset.iter().all(|&o| o == 0.0) && self.factor.iter().all(|&f| f == 1.0)
    }

    pub fn apply(&self, data: &mut Dataset) {
        if self.is_identity() {
            return;
        }
        // Element by element, so rows may be scaled in parallel with the same result.
        use rayon::prelude::*;
        let width = data.input_width.max(1);
        data.inputs.par_chunks_mut(width * 1024).for_each(|rows| {
            for row in rows.chunks_exact_mut(width) {
                for ((x, offset), factor) in row.iter_mut().zip(&self.offset).zip(&self.factor) {
                    *x = (*x - offset) * factor;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Dataset {
        Dataset {
            rows: 4,
            input_width: 2,
            target_width: 1,
            inputs: vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0, 100.0, 5.0],
            targets: vec![0.0; 4],
            input_names: vec!["a".into(), "b".into()],
            target_names: vec!["y".into()],
        }
    }

    #[test]
    fn fits_on_the_given_rows_only() {
        let mut d = data();
        // Rows 0..3 only: feature a is 1, 3, 5 (mean 3, std sqrt(8/3)); row 3's 100 is unseen.
        let scaler = Scaler::fit(Scaling::Standardize, &d, &[0, 1, 2]);
        scaler.apply(&mut d);
        let std = (8.0f32 / 3.0).sqrt();
        assert!((d.inputs[0] + 2.0 / std).abs() < 1e-6 && d.inputs[2].abs() < 1e-6);
        assert!((d.inputs[6] - 97.0 / std).abs() < 1e-4);
        assert_eq!(d.inputs[1], 0.0, "a constant feature is centred, not divided by zero");
        let mut d = data();
        Scaler::fit(Scaling::MinMax, &d, &[0, 1, 2]).apply(&mut d);
        assert_eq!([d.inputs[0], d.inputs[2], d.inputs[4]], [0.0, 0.5, 1.0]);
        // Fixed bounds fit nothing: row 3's 100 scales as the bounds say, not to 1.
        let mut d = data();
        let range = Scaling::Range { low: 0.0, high: 256.0 };
        Scaler::fit(range, &d, &[0, 1, 2]).apply(&mut d);
        assert_eq!([d.inputs[0], d.inputs[6]], [1.0 / 256.0, 100.0 / 256.0]);
    }

    /// Gathered row by row, the statistics have the bits of each column summed on its own in
    /// row order (as `Iterator::sum` and `fold` give them), on awkward values.
    #[test]
    fn row_by_row_statistics_equal_column_by_column() {
        let (rows, width) = (97, 5);
        let inputs: Vec<f32> = (0..rows * width).map(|i| ((i * 7919) % 1013) as f32 * 0.37 - 151.3).collect();
        let d = Dataset {
            rows,
            input_width: width,
            inputs,
            target_width: 0,
            targets: vec![],
            input_names: vec![],
            target_names: vec![],
        };
        let picked: Vec<usize> = (0..rows).filter(|r| r % 3 != 1).collect();
        let kinds = [Scaling::Standardize, Scaling::MinMax, Scaling::None, Scaling::Standardize, Scaling::MinMax];
        let scaler = Scaler::fit_slots(Scaling::Standardize, &kinds, &d, &picked);
        for (f, kind) in kinds.iter().enumerate() {
            let column = || picked.iter().map(|&r| f64::from(d.input_row(r)[f]));
            let n = picked.len() as f64;
            let (offset, factor) = match kind {
                Scaling::Standardize => {
                    let mean = column().sum::<f64>() / n;
                    let std = (column().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
                    (mean as f32, (1.0 / std) as f32)
                }
                Scaling::MinMax => {
                    let min = column().fold(f64::INFINITY, f64::min);
                    let max = column().fold(f64::NEG_INFINITY, f64::max);
                    (min as f32, (1.0 / (max - min)) as f32)
                }
                _ => (0.0, 1.0),
            };
            assert_eq!((scaler.offset[f].to_bits(), scaler.factor[f].to_bits()), (offset.to_bits(), factor.to_bits()));
        }
    }
}
