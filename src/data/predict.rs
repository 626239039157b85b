//! New rows for a trained model (`predict`, `eval`): read with the encoding saved with the
//! weights, exactly as the training rows were encoded; and predictions written as CSV with
//! the class names and the id columns.

use std::path::Path;

use super::Dataset;
use super::csv_file::{self, FileRef};
use super::encoding::{Encoding, FeatureKind};
use super::labels::Target;
use super::parse::{self, Frame, Layout};
use super::table::{ColumnRead, Table};
use super::tabular::encode_error;
use crate::diagnostic::{Code, Diagnostic};

/// Encoded rows of a file, with the cells of its id columns.
pub struct Rows {
    pub dataset: Dataset,
    /// Each id column present in the file, with its cells of the kept rows.
    pub ids: Vec<(String, Vec<String>)>,
    /// Rows left out (`eval` only): a missing target, or a missing cell in a `drop` column.
    pub dropped: usize,
}

/// Reads `path` for a model trained with `encoding`: every row for `predict`, or, with
/// `with_targets`, the rows with a target for `eval`. The slots are not scaled yet.
pub fn read_rows(
    path: &Path,
    encoding: &Encoding,
    delimiter: Option<u8>,
    with_targets: bool,
) -> Result<Rows, Diagnostic> {
    let shown = path.display().to_string();
    let file = FileRef { path, shown: &shown, spans: None };
    let reads = |header: &[String]| column_reads(header, encoding, with_targets, &shown);
    let table = csv_file::read_table(&file, delimiter, &encoding.na(), &reads, &|_, _, _| {})?;
    encode_rows(&table, encoding, with_targets, &file)
}

/// Reads a table given in memory (named columns) for a model trained with `encoding`, as
/// `read_rows` reads a file: columns it does not need are ignored; rows are numbered from 1
/// in messages.
pub fn frame_rows(frame: &Frame, encoding: &Encoding, with_targets: bool) -> Result<Rows, Diagnostic> {
    let shown = "<table>";
    let file = FileRef { path: Path::new(shown), shown, spans: None };
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = frame.names.iter().find(|name| !seen.insert(name.as_str())) {
        return Err(Diagnostic::error(Code::DataShape, format!("the table names column `{twice}` twice"))
            .help("give every column its own name"));
    }
    if let Some((name, cells)) = frame.names.iter().zip(&frame.columns).find(|(_, c)| c.len() != frame.rows()) {
        return Err(Diagnostic::error(
            Code::DataShape,
            format!("column `{name}` has {} rows, but column `{}` has {}", cells.len(), frame.names[0], frame.rows()),
        )
        .help("give every column one cell per row"));
    }
    let reads = column_reads(&frame.names, encoding, with_targets, shown)?;
    let na = encoding.na();
    let layout = Layout { width: reads.len(), reads: &reads, na: &na, delimiter: b',' };
    let known = |column: usize| known_values(encoding, &frame.names[column]);
    let table =
        parse::read_frame(frame, &layout, &known).map_err(|error| csv_file::parse_error(&file, &frame.names, error))?;
    encode_rows(&table, encoding, with_targets, &file)
}

/// The values a text column of `encoding` is matched against: a category's vocabulary, a
/// binary column's two values, the class labels.
fn known_values(encoding: &Encoding, column: &str) -> Vec<String> {
    let mut known = Vec::new();
    for feature in encoding.features.iter().filter(|f| f.column == column) {
        match &feature.kind {
            FeatureKind::Category { vocabulary, .. } => known.extend(vocabulary.iter().cloned()),
            FeatureKind::Binary { negative, positive, .. } => known.extend([negative.clone(), positive.clone()]),
            FeatureKind::Number { .. } => {}
        }
    }
    if let Target::Classes { column: target, labels, .. } = &encoding.target
        && target == column
    {
        known.extend(labels.iter().cloned());
    }
    known
}

/// How each column of `header` is read for a model trained with `encoding`: its features
/// (numbers or text), its targets with `with_targets`, its id columns; the rest skipped.
fn column_reads(
    header: &[String],
    encoding: &Encoding,
    with_targets: bool,
    shown: &str,
) -> Result<Vec<ColumnRead>, Diagnostic> {
    let mut reads = vec![ColumnRead::Skip; header.len()];
    let find = |name: &str, role: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            Diagnostic::error(Code::DataShape, format!("{role} column `{name}` is not in the header of `{shown}`"))
                .note(format!("the header is: {}", header.join(", ")))
                .help_opt(crate::diagnostic::closest_name(name, header.iter().map(String::as_str)))
        })
    };
    for feature in &encoding.features {
        reads[find(&feature.column, "feature")?] = match feature.kind {
            FeatureKind::Number { .. } => ColumnRead::Number,
            _ => ColumnRead::Text,
        };
    }
    if with_targets {
        let read = match encoding.target {
            Target::Values { .. } => ColumnRead::Number,
            Target::Classes { .. } => ColumnRead::Text,
        };
        for name in &encoding.target.columns() {
            reads[find(name, "target")?] = read;
        }
    }
    for id in &encoding.ids {
        if let Some(column) = header.iter().position(|h| h == id) {
            reads[column] = ColumnRead::Text;
        }
    }
    Ok(reads)
}

/// The rows of `table` encoded for a model trained with `encoding` (targets checked with
/// `with_targets`), with the cells of its id columns.
fn encode_rows(table: &Table, encoding: &Encoding, with_targets: bool, file: &FileRef) -> Result<Rows, Diagnostic> {
    let targets = encoding.target.columns();
    let mut kept: Vec<usize> = (0..table.rows).collect();
    let mut target_values = Vec::new();
    if with_targets {
        let columns: Vec<usize> =
            targets.iter().map(|name| table.header.iter().position(|h| h == name).expect("read")).collect();
        let mut rows = Vec::with_capacity(kept.len());
        for row in kept {
            if encoding.drops(table, row) {
                continue;
            }
            match &encoding.target {
                Target::Values { .. } => {
                    let cells: Vec<f32> = columns.iter().map(|&c| table.number(row, c)).collect();
                    if cells.iter().any(|v| v.is_nan()) {
                        continue;
                    }
                    target_values.extend(cells);
                }
                Target::Classes { labels, indices, .. } => {
                    let Some(cell) = table.text(columns[0]).get(row) else { continue };
                    let Some(class) = encoding.target.class_of(cell) else {
                        let name = &table.header[columns[0]];
                        return Err(csv_file::not_a_class(
                            file,
                            table.lines[row],
                            columns[0],
                            name,
                            cell,
                            labels,
                            *indices,
                        ));
                    };
                    target_values.push(class as f32);
                }
            }
            rows.push(row);
        }
        kept = rows;
    }
    let dropped = table.rows - kept.len();
    let inputs = encoding.raw_slots(table, &kept).map_err(|e| encode_error(e, file, table))?;
    let ids = encoding
        .ids
        .iter()
        .filter_map(|id| {
            let column = table.header.iter().position(|h| h == id)?;
            let text = table.text(column);
            Some((id.clone(), kept.iter().map(|&r| text.get(r).unwrap_or("").to_string()).collect()))
        })
        .collect();
    let dataset = Dataset {
        rows: kept.len(),
        input_width: encoding.width(),
        target_width: if with_targets { targets.len() } else { 0 },
        inputs,
        targets: target_values,
        input_names: encoding.slot_names(),
        target_names: if with_targets { targets } else { Vec::new() },
    };
    Ok(Rows { dataset, ids, dropped })
}

/// The encoding a model's weights were trained with: the file's own, or for files saved
/// before encodings existed, the spec's numeric columns with the file's input scaling.
pub fn trained_encoding(
    model: &crate::ir::Model,
    decoded: &crate::weights::Decoded,
    file: &Path,
) -> Result<Encoding, Diagnostic> {
    use crate::ir::{ClassLabels, DataSource};
    let invalid = |why: String| Diagnostic::error(Code::DataFile, format!("`{}`: {why}", file.display()));
    let targets: Vec<String> = match &model.data.source {
        DataSource::Csv(csv) => csv.targets.clone(),
        DataSource::Random { targets, .. } => (0..*targets).map(|i| format!("y{i}")).collect(),
        DataSource::Xor { .. } => vec!["y".into()],
    };
    let target = match model.data.classes {
        Some(classes) if model.data.labels != ClassLabels::None || !matches!(model.data.source, DataSource::Csv(_)) => {
            Target::Classes {
                column: targets[0].clone(),
                labels: (0..classes).map(|k| k.to_string()).collect(),
                indices: true,
            }
        }
        _ => Target::Values { columns: targets },
    };
    let width = if model.input.inferred { None } else { Some(model.input.width) };
    if let Some(encoding) = crate::weights::encoding_of(decoded, width, target.clone()).map_err(invalid)? {
        return Ok(encoding);
    }
    if model.input.inferred {
        return Err(invalid("it records no column encoding, which this spec's `input` without a width needs".into())
            .help("train again with `nnspec run --save` to record it"));
    }
    let features: Vec<String> = match &model.data.source {
        DataSource::Csv(csv) => {
            let layout = super::probe_csv(csv, model)?;
            layout.features.iter().map(|&c| layout.header[c].clone()).collect()
        }
        DataSource::Random { inputs, .. } => (0..*inputs).map(|i| format!("x{i}")).collect(),
        DataSource::Xor { .. } => vec!["x0".into(), "x1".into()],
    };
    let scaler = crate::weights::scaler_of(decoded, model.input.width).map_err(invalid)?;
    Ok(Encoding::numeric(&features, target, &scaler.offset, &scaler.factor))
}

/// A CSV cell, quoted when it holds a comma, a quote or a line end.
pub fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}
