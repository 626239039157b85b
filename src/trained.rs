//! `Trained`: a spec's model with weights saved by a run, applied to new rows. `predict` gives
//! class probabilities or regression outputs; `evaluate` gives the loss, metrics and confusion
//! matrix of labelled rows. Rows go through the model in bounded batches, so any number of
//! them runs in the memory of one batch.

use std::path::Path;

use serde::Serialize;

use crate::data::{self, Dataset, Scaler};
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::{Params, State};
use crate::plan::{CompileOptions, Plan};
use crate::report::Report;
use crate::spec::Spec;
use crate::train::{self, Confusion, Metrics};
use crate::weights;

/// Rows per inference batch at most: memory stays bounded whatever the input's size.
const MAX_BATCH_ROWS: usize = 4096;

/// A model with its trained weights, input scaling and column names.
pub struct Trained {
    plan: Plan,
    params: Params,
    scaler: Scaler,
    features: Vec<String>,
    targets: Vec<String>,
    classes: Option<usize>,
    warnings: Vec<Report>,
}

/// The model's outputs for some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub rows: usize,
    /// Per row: the class probabilities of a classifier (two for one sigmoid output), or the
    /// regression outputs; row-major.
    pub values: Vec<f32>,
    /// Values per row.
    pub width: usize,
    /// Per row, the most probable class (classifiers only).
    pub classes: Option<Vec<usize>>,
    /// The column names of `values`: `prob_0`... or the target names.
    pub names: Vec<String>,
}

/// Loss, metrics and (for classifiers) the confusion matrix of labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub rows: usize,
    pub metrics: Metrics,
    pub confusion: Option<Confusion>,
}

impl Trained {
    /// The spec's model with the weights and input scaling saved in `weights_path`.
    pub fn load(spec: &Spec, weights_path: &Path) -> Result<Trained, Report> {
        let plan = spec.compile(CompileOptions::default());
        let decoded = weights::read(weights_path).map_err(|d| spec.fail(d))?;
        let warnings: Vec<Report> =
            weights::architecture_warning(&plan, &decoded, weights_path).map(|w| spec.fail(w)).into_iter().collect();
        let params = weights::params_from(&plan, &decoded, "", weights_path).map_err(|d| spec.fail(d))?;
        let model = spec.model();
        let scaler = weights::scaler_of(&decoded, model.input.width).map_err(|why| {
            Report::from(Diagnostic::error(Code::DataFile, format!("`{}`: {why}", weights_path.display())))
        })?;
        let (features, targets) = match weights::columns_of(&decoded) {
            Some(columns) if columns.0.len() == model.input.width => columns,
            _ => spec.column_names()?,
        };
        Ok(Trained { plan, params, scaler, features, targets, classes: model.data.classes, warnings })
    }

    /// Warnings about the weights (saved from another architecture).
    pub fn warnings(&self) -> &[Report] {
        &self.warnings
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The trained parameters, in the plan's order.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The input scaling saved with the weights.
    pub fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    /// The feature columns the model reads, in order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// The target columns it predicts (regression) or the class column (classifiers).
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// The feature columns of a CSV file (other columns are ignored).
    pub fn read_inputs(&self, path: &Path) -> Result<Dataset, Report> {
        data::read_columns(path, &self.features, &[]).map_err(Report::from)
    }

    /// The feature and target columns of a labelled CSV file, targets checked: class indices
    /// for a classifier, labels in [0, 1] for binary cross-entropy.
    pub fn read_labelled(&self, path: &Path) -> Result<Dataset, Report> {
        let rows = data::read_columns(path, &self.features, &self.targets)?;
        if let Some(classes) = self.classes {
            data::check_classes(&rows, classes, path)?;
        }
        if self.plan.loss == crate::kernels::loss::Loss::Bce {
            data::check_probabilities(&rows.targets, rows.target_width, &path.display().to_string(), 2)?;
        }
        Ok(rows)
    }

    /// Refuses to read `input` for inference if the rows and one batch's buffers would need
    /// more memory than `limit` bytes (by default, what this process may use).
    pub fn check_memory(&self, input: &Path, limit: Option<f64>) -> Result<(), Report> {
        let Some(limit) = limit.or_else(data::memory::available_bytes) else { return Ok(()) };
        let widths: usize = self.plan.buffers.iter().map(|b| b.width).sum();
        let outputs = self.plan.output_width.max(2);
        let needed =
            data::memory::estimate_inference_bytes(input, self.features.len(), outputs, MAX_BATCH_ROWS, widths);
        if needed <= limit {
            return Ok(());
        }
        Err(Report::from(
            Diagnostic::error(
                Code::TooLarge,
                format!(
                    "reading `{}` needs about {} of memory, more than the {} allowed",
                    input.display(),
                    data::memory::human(needed),
                    data::memory::human(limit)
                ),
            )
            .help("split the file, or raise `--max-memory`"),
        ))
    }

    /// Rows of raw (unscaled) features, row-major, `features().len()` values per row.
    pub fn dataset(&self, inputs: Vec<f32>, targets: Vec<f32>) -> Result<Dataset, Report> {
        let width = self.features.len();
        if width == 0 || !inputs.len().is_multiple_of(width) {
            return Err(Report::from(Diagnostic::error(
                Code::DataShape,
                format!("{} values are not whole rows of {width} features", inputs.len()),
            )));
        }
        let rows = inputs.len() / width;
        let target_width = if targets.is_empty() { 0 } else { targets.len() / rows.max(1) };
        Ok(Dataset {
            rows,
            input_width: width,
            target_width,
            inputs,
            targets,
            input_names: self.features.clone(),
            target_names: self.targets.clone(),
        })
    }

    fn batch_rows(&self, rows: usize) -> usize {
        self.plan.batch_rows(rows.max(1)).min(MAX_BATCH_ROWS)
    }

    /// The model's outputs for every row of `inputs` (raw features; the saved scaling is
    /// applied here). Outputs that are not finite (weights that overflow on these rows) are an
    /// error, never a silent NaN.
    pub fn predict(&self, inputs: &Dataset) -> Result<Predictions, Report> {
        let plan = &self.plan;
        let mut rows = inputs.clone();
        self.scaler.apply(&mut rows);
        let width = plan.buffers[plan.loss_input].width;
        let mut outputs = Vec::with_capacity(rows.rows * width);
        let capacity = self.batch_rows(rows.rows);
        let mut state = State::new(plan, capacity, plan.train.seed);
        let mut params = self.params.clone();
        let all: Vec<usize> = (0..rows.rows).collect();
        for batch in all.chunks(capacity) {
            state.load_batch(&rows, batch);
            state.infer(plan, &mut params);
            outputs.extend_from_slice(state.loss_input(plan));
        }
        if let Some(activation) = plan.fused {
            activation.forward_in_place(&mut outputs, width);
        }
        if let Some(index) = outputs.iter().position(|v| !v.is_finite()) {
            return Err(Report::from(
                Diagnostic::error(
                    Code::Runtime,
                    format!("the model's output for input row {} is {}", index / width.max(1) + 1, outputs[index]),
                )
                .help("the weights overflow on this row: check its values, or train again with scaled inputs"),
            ));
        }
        Ok(match plan.class_count() {
            Some(classes) => {
                let values: Vec<f32> =
                    if width == 1 { outputs.iter().flat_map(|&p| [1.0 - p, p]).collect() } else { outputs };
                let predicted = values.chunks_exact(classes).map(crate::kernels::loss::argmax).collect();
                Predictions {
                    rows: rows.rows,
                    values,
                    width: classes,
                    classes: Some(predicted),
                    names: (0..classes).map(|k| format!("prob_{k}")).collect(),
                }
            }
            None => Predictions { rows: rows.rows, values: outputs, width, classes: None, names: self.targets.clone() },
        })
    }

    /// Loss, metrics and confusion matrix of labelled rows (raw features; scaled here).
    pub fn evaluate(&self, labelled: &Dataset) -> Evaluation {
        let plan = &self.plan;
        let mut rows = labelled.clone();
        self.scaler.apply(&mut rows);
        let capacity = self.batch_rows(rows.rows);
        let mut state = State::new(plan, capacity, plan.train.seed);
        let mut params = self.params.clone();
        let all: Vec<usize> = (0..rows.rows).collect();
        let mut confusion = plan.class_count().map(|classes| Confusion {
            split: "given".into(),
            classes,
            counts: vec![0; classes * classes],
        });
        let sums = train::evaluate(plan, &mut params, &mut state, &rows, &all, capacity, confusion.as_mut());
        let sst = train::split_sst(plan, &rows, &all);
        let metrics = Metrics::from_sums(plan, plan.mean_loss(sums.loss, rows.rows), &sums, rows.rows, sst);
        Evaluation { rows: rows.rows, metrics, confusion }
    }
}

impl Predictions {
    /// A header and one line per row: `class,prob_0,...` for classifiers, the target names
    /// for regression.
    pub fn to_csv(&self) -> String {
        let mut text = String::new();
        let cells = |row: &[f32]| row.iter().map(f32::to_string).collect::<Vec<_>>().join(",");
        match &self.classes {
            Some(classes) => {
                text += &format!("class,{}\n", self.names.join(","));
                for (row, class) in self.values.chunks_exact(self.width).zip(classes) {
                    text += &format!("{class},{}\n", cells(row));
                }
            }
            None => {
                text += &(self.names.join(",") + "\n");
                for row in self.values.chunks_exact(self.width) {
                    text += &(cells(row) + "\n");
                }
            }
        }
        text
    }
}
