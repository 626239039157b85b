//! Training data from CSV tables, in order: read the training file (and any validation and
//! test files); turn target cells into targets (class labels inferred from the training file,
//! or listed); leave out rows with a missing target or a missing cell in a `drop` column;
//! split; fit the encoding on the training rows only; encode every row with it.

use super::csv_file::{self, CsvLayout, FileRef, Progress, probe_csv};
use super::encoding::{EncodeError, Encoding, FeatureSpec};
use super::labels::{Target, sort_labels};
use super::table::{MISSING, NaValues, Table};
use super::{Dataset, Prepared, Scaler, Splits};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{ClassLabels, ColumnKind, CsvSource, Missing, Model};

/// One file's table and the rows that are kept.
struct File<'a> {
    csv: &'a CsvSource,
    layout: CsvLayout,
    table: Table,
    kept: Vec<usize>,
}

fn read(csv: &CsvSource, model: &Model, na: &NaValues, progress: Progress) -> Result<(CsvLayout, Table), Diagnostic> {
    let layout = probe_csv(csv, model)?;
    let reads = layout.reads(model.data.labels != ClassLabels::None);
    let file = FileRef::of(csv, model);
    let table = csv_file::read_table(
        &file,
        Some(layout.delimiter),
        na,
        &|header| {
            if header != layout.header.as_slice() {
                return Err(Diagnostic::error(Code::DataFile, format!("`{}` changed while it was read", csv.shown)));
            }
            Ok(reads.clone())
        },
        progress,
    )?;
    Ok((layout, table))
}

/// The class labels of the target column, fitted on the training file's rows.
fn fit_target(model: &Model, main: &File) -> Result<Target, Diagnostic> {
    let csv = main.csv;
    let columns: Vec<String> = main.layout.targets.iter().map(|&c| main.layout.header[c].clone()).collect();
    let classes = model.data.classes.unwrap_or(0);
    let text = match model.data.labels {
        ClassLabels::None => return Ok(Target::Values { columns }),
        _ => main.table.text(main.layout.targets[0]),
    };
    let column = columns[0].clone();
    let mut seen = vec![false; text.values.len()];
    for &code in &text.codes {
        if code != MISSING {
            seen[code as usize] = true;
        }
    }
    let mut distinct: Vec<String> = (0..seen.len()).filter(|&c| seen[c]).map(|c| text.values[c].clone()).collect();
    sort_labels(&mut distinct);
    let count_error = |found: usize| {
        let shown: Vec<String> = distinct.iter().take(8).map(|l| format!("`{l}`")).collect();
        Diagnostic::error(
            Code::DataShape,
            format!(
                "target `{column}` of `{}` holds {found} distinct label(s), but the model has {classes} classes",
                csv.shown
            ),
        )
        .at(model.data.span, format!("{classes} classes"))
        .note(format!("the labels are {}{}", shown.join(", "), if found > 8 { ", ..." } else { "" }))
        .help(format!("make the last layer as wide as the number of classes (`dense {found} softmax`)"))
    };
    match &model.data.labels {
        ClassLabels::Listed(labels) => Ok(Target::Classes { column, labels: labels.clone(), indices: false }),
        // Numbers under `classes: K` are class indices (an error names any that is not one).
        ClassLabels::Indices if distinct.iter().all(|l| l.parse::<f64>().is_ok()) => {
            let labels = (0..classes).map(|k| k.to_string()).collect();
            Ok(Target::Classes { column, labels, indices: true })
        }
        ClassLabels::Indices | ClassLabels::Inferred => {
            if distinct.len() != classes {
                return Err(count_error(distinct.len()));
            }
            Ok(Target::Classes { column, labels: distinct, indices: false })
        }
        ClassLabels::None => unreachable!("handled above"),
    }
}

/// The targets of the kept rows; rows whose target is missing are left out of `kept`.
fn targets(model: &Model, file: &mut File, target: &Target) -> Result<Vec<f32>, Diagnostic> {
    let mut values = Vec::new();
    let table = &file.table;
    let mut kept = Vec::with_capacity(file.kept.len());
    for &row in &file.kept {
        match target {
            Target::Values { .. } => {
                let cells: Vec<f32> = file.layout.targets.iter().map(|&c| table.number(row, c)).collect();
                if cells.iter().any(|v| v.is_nan()) {
                    continue;
                }
                // Binary cross-entropy needs labels 0 and 1, or probabilities.
                if model.loss.loss == crate::kernels::loss::Loss::Bce
                    && let Some(bad) = cells.iter().find(|t| !(0.0..=1.0).contains(*t))
                {
                    let at = format!("`{}:{}`", file.csv.shown, table.lines[row]);
                    return Err(Diagnostic::error(
                        Code::DataShape,
                        format!("`bce` targets must be in [0, 1], but {at} has {bad}"),
                    )
                    .at(file.csv.span, "this file")
                    .help("binary cross-entropy takes labels 0 and 1; for more classes use `cross_entropy` with `classes: K`"));
                }
                values.extend(cells);
            }
            Target::Classes { labels, indices, .. } => {
                let column = file.layout.targets[0];
                let Some(cell) = table.text(column).get(row) else { continue };
                let Some(class) = target.class_of(cell) else {
                    let reference = FileRef::of(file.csv, model);
                    let name = &file.layout.header[column];
                    return Err(csv_file::not_a_class(
                        &reference,
                        table.lines[row],
                        column,
                        name,
                        cell,
                        labels,
                        *indices,
                    ));
                };
                values.push(class as f32);
            }
        }
        kept.push(row);
    }
    file.kept = kept;
    Ok(values)
}

/// The features to fit, in slot order, with their scalings.
fn feature_specs(model: &Model, layout: &CsvLayout) -> Vec<FeatureSpec> {
    layout
        .features
        .iter()
        .zip(&layout.kinds)
        .map(|(&c, kind)| {
            let scaling = match kind {
                ColumnKind::Number { scale: Some(scale), .. } => *scale,
                _ => model.input.scaling,
            };
            FeatureSpec { column: layout.header[c].clone(), kind: kind.clone(), scaling }
        })
        .collect()
}

/// Whether `row` has a missing cell in a feature column whose strategy is `drop`.
fn dropped(layout: &CsvLayout, table: &Table, row: usize) -> bool {
    layout.features.iter().zip(&layout.kinds).any(|(&c, kind)| {
        let missing = match kind {
            ColumnKind::Number { missing, .. }
            | ColumnKind::Category { missing, .. }
            | ColumnKind::Binary { missing, .. } => *missing,
            _ => Missing::Error,
        };
        missing == Missing::Drop && table.is_missing(row, c)
    })
}

/// A missing cell the encoding cannot fill, as a data error.
pub fn encode_error(error: EncodeError, file: &FileRef, table: &Table) -> Diagnostic {
    let (message, help) = match error {
        EncodeError::Missing { row, column, strategy } => {
            let index = table.header.iter().position(|h| *h == column).unwrap_or(0);
            let line = table.lines[row];
            let message = format!("`{}:{line}`, column {} (`{column}`): the value is missing", file.shown, index + 1);
            let help = if strategy == "drop" {
                "rows with a missing value in a `drop` column cannot be predicted".to_string()
            } else {
                format!("declare how to fill it, e.g. `columns: [number(\"{column}\", missing: mean)]`")
            };
            (message, help)
        }
        EncodeError::NoColumn { column } => (
            format!("feature column `{column}` is not in the header of `{}`", file.shown),
            "the file needs every feature column the model was trained on".to_string(),
        ),
    };
    let error = Diagnostic::error(Code::DataFile, message).help(help);
    match file.spans {
        Some((span, _)) => error.at(span, "in this file"),
        None => error,
    }
}

/// Reads, splits, fits and encodes the CSV data of `model`.
pub fn load(model: &Model, csv: &CsvSource, progress: Progress) -> Result<Prepared, Diagnostic> {
    let na = NaValues::new(csv.table.na_values.as_deref());
    let mut files = Vec::new();
    for source in std::iter::once(csv).chain(&model.data.validation_file).chain(&model.data.test_file) {
        let (layout, table) = read(source, model, &na, progress)?;
        let drops = layout.features.iter().zip(&layout.kinds).any(|(_, kind)| {
            matches!(
                kind,
                ColumnKind::Number { missing: Missing::Drop, .. }
                    | ColumnKind::Category { missing: Missing::Drop, .. }
                    | ColumnKind::Binary { missing: Missing::Drop, .. }
            )
        });
        let kept = (0..table.rows).filter(|&r| !drops || !dropped(&layout, &table, r)).collect();
        files.push(File { csv: source, layout, table, kept });
    }
    let target = fit_target(model, &files[0])?;
    let mut target_values = Vec::new();
    let mut counts = Vec::new();
    let mut dropped_rows = 0;
    for file in &mut files {
        let before = file.table.rows;
        target_values.extend(targets(model, file, &target)?);
        dropped_rows += before - file.kept.len();
        counts.push(file.kept.len());
    }
    let own_rows = counts[0];
    let validation_rows = if model.data.validation_file.is_some() { counts[1] } else { 0 };
    let test_rows = counts.last().copied().filter(|_| model.data.test_file.is_some()).unwrap_or(0);
    let target_width = target.columns().len();
    let rows = counts.iter().sum();
    let mut dataset = Dataset {
        rows,
        input_width: 0,
        target_width,
        inputs: Vec::new(),
        targets: target_values,
        input_names: Vec::new(),
        target_names: target.columns(),
    };
    let splits = Splits::new(model, &dataset, own_rows, validation_rows, test_rows);
    super::check_rows(model, &splits, own_rows)?;
    let main = &files[0];
    let train_rows: Vec<usize> = splits.train.iter().map(|&r| main.kept[r]).collect();
    let ids = main.layout.ids.iter().map(|&c| main.layout.header[c].clone()).collect();
    let specs = feature_specs(model, &main.layout);
    let (mut encoding, scalings) =
        Encoding::fit(&specs, &main.table, &train_rows, target, ids, &na, csv.table.na_values.is_none()).map_err(
            |error| {
                Diagnostic::error(
                    Code::DataShape,
                    format!("column `{}` of `{}`: {}", error.column, csv.shown, error.reason),
                )
                .at(model.data.span, "in this data")
            },
        )?;
    let mut inputs: Vec<f32> = Vec::new();
    for file in files {
        let reference = FileRef::of(file.csv, model);
        let encoded = if file.kept.len() == file.table.rows {
            encoding.encode_all(file.table).map_err(|(e, table)| encode_error(e, &reference, &table))?
        } else {
            encoding.raw_slots(&file.table, &file.kept).map_err(|e| encode_error(e, &reference, &file.table))?
        };
        if inputs.is_empty() {
            inputs = encoded;
        } else {
            inputs.extend(encoded);
        }
    }
    dataset.input_width = encoding.width();
    dataset.inputs = inputs;
    dataset.input_names = encoding.slot_names();
    if !model.input.inferred && dataset.input_width != model.input.width {
        return Err(width_error(model, csv, &encoding));
    }
    let scaler = Scaler::fit_slots(model.input.scaling, &scalings, &dataset, &splits.train);
    scaler.apply(&mut dataset);
    encoding.set_scaling(&scaler.offset, &scaler.factor);
    Ok(Prepared { dataset, splits, scaler, encoding, dropped: dropped_rows, class_weights: Vec::new() })
}

fn width_error(model: &Model, csv: &CsvSource, encoding: &Encoding) -> Diagnostic {
    let width = encoding.width();
    let per_column: Vec<String> = encoding.features.iter().map(|f| format!("{} {}", f.column, f.slots.len())).collect();
    Diagnostic::error(
        Code::DataShape,
        format!(
            "the columns of `{}` give {width} input slot(s) but the model's input is {}",
            csv.shown, model.input.width
        ),
    )
    .at(model.data.span, format!("{width} input slot(s)"))
    .with_context(model.input.span, format!("input width {}", model.input.width))
    .note(format!("slots per column: {}", per_column.join(", ")))
    .help(format!("write `input {width}`, or `input` alone to take the width from the columns"))
}
