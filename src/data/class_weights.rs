//! The class weights of `cross_entropy(class_weights: ...)`, resolved once the rows are read:
//! listed weights as given, `balanced` from the class counts of the training rows only (as
//! every fitted statistic), `n / (K * n_k)` as scikit-learn's
//! `compute_class_weight("balanced")` gives them.

use super::Prepared;
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{ClassWeights, Model};

/// One weight per class (empty when the loss has none).
pub fn resolve(model: &Model, prepared: &Prepared) -> Result<Vec<f32>, Diagnostic> {
    let Some((weights, span)) = &model.loss.class_weights else { return Ok(Vec::new()) };
    let classes = model.output_width();
    match weights {
        ClassWeights::Listed(weights) => Ok(weights.clone()),
        ClassWeights::Balanced => {
            let dataset = &prepared.dataset;
            let mut counts = vec![0usize; classes];
            for &row in &prepared.splits.train {
                // Targets are class indices below `classes`, checked when they were read.
                if let Some(count) = counts.get_mut(dataset.target_row(row)[0] as usize) {
                    *count += 1;
                }
            }
            if let Some(empty) = counts.iter().position(|&c| c == 0) {
                let name = prepared.encoding.target.labels().and_then(|l| l.get(empty)).cloned();
                let name = name.unwrap_or_else(|| empty.to_string());
                return Err(Diagnostic::error(
                    Code::DataShape,
                    format!("class `{name}` has no training rows: `balanced` cannot weight it"),
                )
                .at(*span, "weights from the training rows' class counts")
                .with_context(model.data.span, "in this data")
                .help("list the weights instead, or use more data or a smaller validation and test split"));
            }
            let n = prepared.splits.train.len() as f64;
            Ok(counts.iter().map(|&count| (n / (classes as f64 * count as f64)) as f32).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: sklearn.utils.class_weight.compute_class_weight("balanced", classes=[0, 1, 2],
    /// y=[0, 0, 0, 0, 1, 1, 2, 0, 0]) = [0.5, 1.5, 3.0] on the training rows; the held-out
    /// rows (a 2 and a 1) do not count.
    #[test]
    fn balanced_weights_count_the_training_rows_only() {
        let spec = "model m {\n    input 1\n    dense 3 softmax\n}\nloss cross_entropy(class_weights: balanced)\n\
                    optimizer sgd(lr: 0.1)\ndata random(rows: 11, inputs: 1, classes: 3)\ntrain { epochs: 1 }\n";
        let spec = crate::Spec::parse(spec, "m.nn", std::path::Path::new("."), &[]).unwrap();
        let mut prepared = crate::data::load(spec.model()).unwrap();
        let classes = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 0.0, 0.0, 2.0, 1.0];
        prepared.dataset.targets = classes.to_vec();
        prepared.splits.train = (0..9).collect();
        assert_eq!(resolve(spec.model(), &prepared).unwrap(), [0.5, 1.5, 3.0]);
        prepared.splits.train = (0..6).collect();
        let error = resolve(spec.model(), &prepared).unwrap_err();
        assert!(error.message.contains("class `2` has no training rows"), "{}", error.message);
    }
}
