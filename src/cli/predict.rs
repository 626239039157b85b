//! `nnspec predict` and `nnspec eval`: trained weights applied to new rows.

use std::path::Path;

use serde_json::json;

use super::{load, summary};
use crate::data::{self, Dataset};
use crate::diagnostic::{Code, ColorChoice, Diagnostic, render_all};
use crate::exec::{Params, State};
use crate::ir::{DataSource, Model};
use crate::plan::{CompileOptions, Plan, compile};
use crate::span::Source;
use crate::train::{self, Confusion, Metrics};
use crate::{Failure, output, weights};

/// A spec's model and plan with its trained weights, input scaling and (when the file
/// records them) feature and target column names.
type Trained = (Model, Plan, Params, data::Scaler, Option<(Vec<String>, Vec<String>)>);

/// The spec's model and plan with weights and input scaling loaded from `weights_path`.
fn load_trained(
    spec: &Path,
    weights_path: &Path,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<Trained, Failure> {
    let model = load(spec, source, color)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let decoded = weights::read(weights_path)?;
    if let Some(warning) = weights::architecture_warning(&plan, &decoded, weights_path) {
        eprint!("{}", render_all(&[warning], source.as_ref().expect("loaded"), color));
    }
    let params = weights::params_from(&plan, &decoded, "", weights_path)?;
    let scaler = weights::scaler_of(&decoded, model.input.width)
        .map_err(|why| Diagnostic::error(Code::DataFile, format!("`{}`: {why}", weights_path.display())))?;
    Ok((model, plan, params, scaler, weights::columns_of(&decoded)))
}

/// The names of the model's feature and target columns, as the spec's data source has them.
fn column_names(model: &Model) -> Result<(Vec<String>, Vec<String>), Failure> {
    match &model.data.source {
        DataSource::Csv(csv) => {
            let layout = data::probe_csv(csv, model)?;
            let names = |columns: &[usize]| columns.iter().map(|&c| layout.header[c].clone()).collect();
            Ok((names(&layout.features), names(&layout.targets)))
        }
        DataSource::Random { inputs, targets, .. } => {
            Ok(((0..*inputs).map(|i| format!("x{i}")).collect(), (0..*targets).map(|i| format!("y{i}")).collect()))
        }
        DataSource::Xor { .. } => Ok((vec!["x0".into(), "x1".into()], vec!["y".into()])),
    }
}

pub fn predict(
    spec: &Path,
    weights_path: &Path,
    input: &Path,
    output_path: Option<&Path>,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    let (model, plan, mut params, scaler, columns) = load_trained(spec, weights_path, source, color)?;
    if let Some(path) = output_path {
        output::check_writable(path)?;
    }
    let (features, targets) = match columns {
        Some(columns) if columns.0.len() == model.input.width => columns,
        _ => column_names(&model)?,
    };
    let mut rows = data::read_columns(input, &features, &[])?;
    scaler.apply(&mut rows);
    let width = plan.buffers[plan.loss_input].width;
    let mut outputs = Vec::with_capacity(rows.rows * width);
    let capacity = plan.batch_rows(rows.rows.max(1));
    let mut state = State::new(&plan, capacity, plan.train.seed);
    let all: Vec<usize> = (0..rows.rows).collect();
    for batch in all.chunks(capacity) {
        state.load_batch(&rows, batch);
        state.infer(&plan, &mut params);
        outputs.extend_from_slice(state.loss_input(&plan));
    }
    if let Some(activation) = plan.fused {
        activation.forward_in_place(&mut outputs, width);
    }
    let mut text = String::new();
    match plan.class_count() {
        Some(classes) => {
            let probabilities: Vec<String> = (0..classes).map(|k| format!("prob_{k}")).collect();
            text += &format!("class,{}\n", probabilities.join(","));
            for sample in outputs.chunks_exact(width) {
                let probabilities: Vec<f32> =
                    if width == 1 { vec![1.0 - sample[0], sample[0]] } else { sample.to_vec() };
                let class = crate::kernels::loss::argmax(&probabilities);
                let cells: Vec<String> = probabilities.iter().map(f32::to_string).collect();
                text += &format!("{class},{}\n", cells.join(","));
            }
        }
        None => {
            text += &(targets.join(",") + "\n");
            for sample in outputs.chunks_exact(width) {
                text += &(sample.iter().map(f32::to_string).collect::<Vec<_>>().join(",") + "\n");
            }
        }
    }
    match output_path {
        Some(path) => output::write_atomic(path, text.as_bytes())?,
        None => super::emit(&text)?,
    }
    Ok(())
}

pub fn eval(
    spec: &Path,
    weights_path: &Path,
    data_path: &Path,
    json_output: bool,
    source: &mut Option<Source>,
    color: ColorChoice,
) -> Result<(), Failure> {
    let (model, plan, mut params, scaler, columns) = load_trained(spec, weights_path, source, color)?;
    let (features, targets) = match columns {
        Some(columns) if columns.0.len() == model.input.width => columns,
        _ => column_names(&model)?,
    };
    let mut rows: Dataset = data::read_columns(data_path, &features, &targets)?;
    if let Some(classes) = model.data.classes {
        data::check_classes(&rows, classes, data_path)?;
    }
    scaler.apply(&mut rows);
    let capacity = plan.batch_rows(rows.rows.max(1));
    let mut state = State::new(&plan, capacity, plan.train.seed);
    let all: Vec<usize> = (0..rows.rows).collect();
    let mut confusion = plan.class_count().map(|classes| Confusion {
        split: "given".into(),
        classes,
        counts: vec![0; classes * classes],
    });
    let sums = train::evaluate(&plan, &mut params, &mut state, &rows, &all, capacity, confusion.as_mut());
    let terms = rows.rows * plan.loss_kernel.terms_per_sample(plan.output_width);
    let sst = crate::train::split_sst(&plan, &rows, &all);
    let metrics = Metrics::from_sums(&plan, sums.loss / terms.max(1) as f64, &sums, rows.rows, sst);
    if json_output {
        let value = json!({ "rows": rows.rows, "metrics": metrics, "confusion": confusion });
        super::emit(&format!("{value}\n"))?;
        return Ok(());
    }
    super::emit(&format!("rows: {}\n", rows.rows))?;
    super::emit(&format!("loss: {:.6}\n", metrics.loss))?;
    for (name, value) in
        [("accuracy", metrics.accuracy), ("mae", metrics.mae), ("rmse", metrics.rmse), ("r2", metrics.r2)]
    {
        if let Some(value) = value {
            super::emit(&format!("{name}: {value:.6}\n"))?;
        }
    }
    if let Some(confusion) = &confusion {
        super::emit(&summary::confusion_matrix(confusion).to_string())?;
    }
    Ok(())
}
