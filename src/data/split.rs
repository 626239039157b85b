//! Which rows train, validate and test.
//!
//! Separate validation and test files give their own rows. Fractions (`split(validation: v,
//! test: t)`) hold out rows of the main source from the `split` random stream: for classifiers
//! with `classes: K`, each class separately (stratified), classes in ascending order; otherwise
//! all rows at once. The rows of a group are shuffled (Fisher-Yates, `rng::shuffle`); the first
//! `round(t n)` go to test, the next `round(v n)` to validation, the rest to training. Each
//! list is then sorted, so training without shuffling visits rows in file order.

use super::Dataset;
use crate::ir::Model;
use crate::rng::{self, Stream};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Splits {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

impl Splits {
    /// `own_rows` come from the main source, followed in `data` by the validation file's rows
    /// and the test file's.
    pub fn new(model: &Model, data: &Dataset, own_rows: usize, validation_rows: usize, test_rows: usize) -> Splits {
        let mut splits = Splits::default();
        let split = model.data.split;
        let mut groups: Vec<Vec<usize>> = match model.data.classes {
            Some(classes) => {
                let mut groups = vec![Vec::new(); classes];
                for row in 0..own_rows {
                    groups[data.target_row(row)[0] as usize].push(row);
                }
                groups
            }
            None => vec![(0..own_rows).collect()],
        };
        let mut rng = rng::stream(model.train.seed, Stream::Split);
        for group in &mut groups {
            if split.validation == 0.0 && split.test == 0.0 {
                splits.train.extend_from_slice(group);
                continue;
            }
            rng::shuffle(&mut rng, group);
            let n = group.len() as f64;
            let test = (split.test * n).round() as usize;
            let validation = ((split.validation * n).round() as usize).min(group.len() - test);
            splits.test.extend_from_slice(&group[..test]);
            splits.validation.extend_from_slice(&group[test..test + validation]);
            splits.train.extend_from_slice(&group[test + validation..]);
        }
        splits.validation.extend(own_rows..own_rows + validation_rows);
        splits.test.extend(own_rows + validation_rows..own_rows + validation_rows + test_rows);
        for list in [&mut splits.train, &mut splits.validation, &mut splits.test] {
            list.sort_unstable();
        }
        splits
    }
}
