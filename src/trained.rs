//! `Trained`: a spec's model with weights saved by a run, applied to new rows. `predict` gives
//! class probabilities or regression outputs; `evaluate` gives the loss, metrics and confusion
//! matrix of labelled rows. Rows go through the model in bounded batches, so any number of
//! them runs in the memory of one batch.

use std::path::Path;

use serde::Serialize;

use crate::data::Encoding;
use crate::data::{self, Dataset, Scaler};
use crate::diagnostic::{Code, Diagnostic};
use crate::exec::{Params, State};
use crate::ir::ExtraMetric;
use crate::plan::{CompileOptions, Plan};
use crate::report::Report;
use crate::spec::Spec;
use crate::train::{self, Confusion, Metrics};
use crate::weights;

/// Rows per inference batch at most: memory stays bounded whatever the input's size.
const MAX_BATCH_ROWS: usize = 4096;

/// A model with its trained weights and the column encoding they were trained with.
pub struct Trained {
    plan: Plan,
    params: Params,
    scaler: Scaler,
    encoding: Encoding,
    /// The input slots, in order (the feature columns, for models of plain numbers).
    features: Vec<String>,
    targets: Vec<String>,
    /// The spec's delimiter for the files it reads, if it names one.
    delimiter: Option<u8>,
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
    /// The column names of `values`: `prob_<class>`... or the target names.
    pub names: Vec<String>,
    /// The class names (labels, or `0`, `1`, ...), for the `class` column.
    pub labels: Vec<String>,
    /// Columns copied to the output before the predictions (`id(...)` columns), with their cells.
    pub ids: Vec<(String, Vec<String>)>,
}

/// Loss, metrics and (for classifiers) the confusion matrix of labelled rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub rows: usize,
    /// Rows left out: a missing target, or a missing cell in a `drop` column.
    pub dropped: usize,
    pub metrics: Metrics,
    pub confusion: Option<Confusion>,
}

impl Trained {
    /// The spec's model with the weights and column encoding saved in `weights_path`.
    pub fn load(spec: &Spec, weights_path: &Path) -> Result<Trained, Report> {
        let decoded = weights::read(weights_path).map_err(|d| spec.fail(d))?;
        let model = spec.model();
        let encoding = data::predict::trained_encoding(model, &decoded, weights_path).map_err(|d| spec.fail(d))?;
        let plan = spec.compile_for_width(encoding.width(), CompileOptions::default());
        let warnings: Vec<Report> =
            weights::architecture_warning(&plan, &decoded, weights_path).map(|w| spec.fail(w)).into_iter().collect();
        let params = weights::params_from(&plan, &decoded, "", weights_path).map_err(|d| spec.fail(d))?;
        let (offset, factor) = encoding.offsets_and_factors();
        let scaler = Scaler { kind: model.input.scaling, offset, factor };
        let delimiter = match &model.data.source {
            crate::ir::DataSource::Csv(csv) => csv.table.delimiter,
            _ => None,
        };
        Ok(Trained {
            plan,
            params,
            scaler,
            features: encoding.slot_names(),
            targets: encoding.target.columns(),
            encoding,
            delimiter,
            warnings,
        })
    }

    /// The column encoding the weights were trained with.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
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

    /// Every row of a CSV file, encoded (unscaled) as the model's inputs, with its id
    /// columns; other columns are ignored.
    pub fn read_rows(&self, path: &Path) -> Result<data::predict::Rows, Report> {
        data::predict::read_rows(path, &self.encoding, self.delimiter, false).map_err(Report::from)
    }

    /// Every row of a table given in memory (named columns: a DataFrame's, say), encoded
    /// (unscaled) as the model's inputs exactly as `read_rows` encodes a file's, with its id
    /// columns; other columns are ignored.
    pub fn frame_rows(&self, frame: &data::Frame) -> Result<data::predict::Rows, Report> {
        data::predict::frame_rows(frame, &self.encoding, false).map_err(Report::from)
    }

    /// The class names of a classifier (`0`, `1`, ... for classes given as indices), else
    /// `None`.
    pub fn class_names(&self) -> Option<&[String]> {
        self.encoding.target.labels()
    }

    /// Whether a classifier's classes were given as indices `0..K-1`, not as names.
    pub fn classes_are_indices(&self) -> bool {
        matches!(self.encoding.target, data::Target::Classes { indices: true, .. })
    }

    /// The columns of a table the model reads: its feature columns, in order (a category
    /// becomes several input slots, listed by `features`).
    pub fn columns(&self) -> Vec<String> {
        self.encoding.features.iter().map(|f| f.column.clone()).collect()
    }

    /// The encoded (unscaled) inputs of every row of a CSV file.
    pub fn read_inputs(&self, path: &Path) -> Result<Dataset, Report> {
        Ok(self.read_rows(path)?.dataset)
    }

    /// The rows of a labelled CSV file that have a target, encoded, targets checked: one of
    /// the classes for a classifier, in [0, 1] for binary cross-entropy.
    pub fn read_labelled_rows(&self, path: &Path) -> Result<data::predict::Rows, Report> {
        let rows = data::predict::read_rows(path, &self.encoding, self.delimiter, true)?;
        if self.plan.loss == crate::kernels::loss::Loss::Bce {
            let targets = &rows.dataset;
            data::check_probabilities(&targets.targets, targets.target_width, &path.display().to_string(), 2)?;
        }
        Ok(rows)
    }

    /// `read_labelled_rows`' dataset.
    pub fn read_labelled(&self, path: &Path) -> Result<Dataset, Report> {
        Ok(self.read_labelled_rows(path)?.dataset)
    }

    /// Loss, metrics and confusion matrix of the labelled rows of a CSV file.
    pub fn evaluate_file(&self, path: &Path) -> Result<Evaluation, Report> {
        let rows = self.read_labelled_rows(path)?;
        Ok(Evaluation { dropped: rows.dropped, ..self.evaluate(&rows.dataset) })
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
                let labels: Vec<String> = match self.encoding.target.labels() {
                    Some(labels) if labels.len() == classes => labels.to_vec(),
                    _ => (0..classes).map(|k| k.to_string()).collect(),
                };
                Predictions {
                    rows: rows.rows,
                    values,
                    width: classes,
                    classes: Some(predicted),
                    names: labels.iter().map(|l| format!("prob_{l}")).collect(),
                    labels,
                    ids: Vec::new(),
                }
            }
            None => Predictions {
                rows: rows.rows,
                values: outputs,
                width,
                classes: None,
                names: self.targets.clone(),
                labels: Vec::new(),
                ids: Vec::new(),
            },
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
        let labels: &[String] = match &self.encoding.target {
            data::Target::Classes { labels, indices: false, .. } => labels,
            _ => &[],
        };
        let mut confusion = plan.class_count().map(|classes| Confusion::new("given", classes, labels));
        let sums = train::evaluate(plan, &mut params, &mut state, &rows, &all, capacity, confusion.as_mut());
        let sst = train::split_sst(plan, &rows, &all);
        let mut metrics = Metrics::from_sums(plan, plan.mean_loss(sums.loss, rows.rows), &sums, rows.rows, sst);
        if let Some(confusion) = &confusion {
            let all = [ExtraMetric::Precision, ExtraMetric::Recall, ExtraMetric::F1, ExtraMetric::Auc];
            metrics = metrics.with_extras(confusion, &all);
        }
        Evaluation { rows: rows.rows, dropped: 0, metrics, confusion }
    }
}

impl Predictions {
    /// A header and one line per row: the id columns, then `class,prob_<class>,...` for
    /// classifiers, the target names for regression. Cells holding a comma, quote or line
    /// end are quoted.
    pub fn to_csv(&self) -> String {
        use data::predict::csv_cell;
        let mut header: Vec<String> = self.ids.iter().map(|(name, _)| csv_cell(name)).collect();
        if self.classes.is_some() {
            header.push("class".into());
        }
        header.extend(self.names.iter().map(|n| csv_cell(n)));
        let mut text = header.join(",") + "\n";
        for (row, values) in self.values.chunks_exact(self.width.max(1)).enumerate() {
            let mut cells: Vec<String> = self.ids.iter().map(|(_, cells)| csv_cell(&cells[row])).collect();
            if let Some(classes) = &self.classes {
                cells.push(csv_cell(&self.labels[classes[row]]));
            }
            cells.extend(values.iter().map(f32::to_string));
            text += &(cells.join(",") + "\n");
        }
        text
    }
}
