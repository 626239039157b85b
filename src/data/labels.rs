//! Target cells as training targets: numbers as they are (regression, or BCE on 0/1 or
//! probabilities), or class labels mapped to class indices. The labels are fitted once, on the
//! training file, and stored with the weights, so `predict` writes names and `eval` reads them.

use serde::{Deserialize, Serialize};

/// How the target columns become targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Each column's number is a target value.
    Values { columns: Vec<String> },
    /// One column of labels; class `i` is `labels[i]`.
    Classes {
        column: String,
        labels: Vec<String>,
        /// The labels were class indices `0..K-1` (`classes: K` on numbers): messages say so,
        /// and `predict` names the classes by their indices.
        indices: bool,
    },
}

impl Target {
    /// The class names, for classifiers.
    pub fn labels(&self) -> Option<&[String]> {
        match self {
            Target::Classes { labels, .. } => Some(labels),
            Target::Values { .. } => None,
        }
    }

    pub fn columns(&self) -> Vec<String> {
        match self {
            Target::Values { columns } => columns.clone(),
            Target::Classes { column, .. } => vec![column.clone()],
        }
    }

    /// The class index of a label: the same text, or the same number (`1.0` is `1`).
    pub fn class_of(&self, cell: &str) -> Option<usize> {
        let Target::Classes { labels, .. } = self else { return None };
        if let Some(index) = labels.iter().position(|l| l == cell) {
            return Some(index);
        }
        let number: f64 = cell.trim().parse().ok()?;
        labels.iter().position(|l| l.parse::<f64>().is_ok_and(|n| n == number))
    }
}

/// Labels sorted as a person would: numerically when every label is a number, else by text.
pub fn sort_labels(labels: &mut [String]) {
    let numbers: Option<Vec<f64>> = labels.iter().map(|l| l.trim().parse::<f64>().ok()).collect();
    match numbers {
        Some(_) => labels.sort_by(|a, b| {
            let (x, y) = (a.trim().parse::<f64>().unwrap_or(0.0), b.trim().parse::<f64>().unwrap_or(0.0));
            x.total_cmp(&y).then_with(|| a.cmp(b))
        }),
        None => labels.sort(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_and_match() {
        let mut labels: Vec<String> = ["10", "2", "1"].map(String::from).to_vec();
        sort_labels(&mut labels);
        assert_eq!(labels, ["1", "2", "10"]);
        let mut names: Vec<String> = ["Gentoo", "Adelie", "Chinstrap"].map(String::from).to_vec();
        sort_labels(&mut names);
        assert_eq!(names, ["Adelie", "Chinstrap", "Gentoo"]);
        let target = Target::Classes { column: "y".into(), labels, indices: false };
        assert_eq!(target.class_of("2"), Some(1));
        assert_eq!(target.class_of("10.0"), Some(2));
        assert_eq!(target.class_of("3"), None);
    }
}
