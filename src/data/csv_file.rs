//! CSV data: a header row, then one numeric row per sample. Every error names the file, the
//! row (as a line number of the file) and the column, and points at the spec's data clause.

use std::fs::File;

use super::Dataset;
use crate::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::input::{self, LineLimit};
use crate::ir::{CsvSource, Model};

/// Which header columns are features and which are targets, in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvLayout {
    pub header: Vec<String>,
    pub features: Vec<usize>,
    pub targets: Vec<usize>,
}

/// A CSV reader over a data file, whose lines may not exceed `input::MAX_LINE_BYTES`.
type Reader = csv::Reader<LineLimit<File>>;

fn reader(file: File) -> Reader {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(LineLimit::new(file, input::MAX_LINE_BYTES))
}

fn open(csv: &CsvSource, model: &Model) -> Result<Reader, Diagnostic> {
    let file = input::open(&csv.path, "data file", &csv.shown).map_err(|error| {
        error
            .at(csv.span, "this file")
            .with_context(model.data.span, "in this data clause")
            .help("paths are relative to the spec file's directory")
    })?;
    Ok(reader(file))
}

/// Reads the header and matches it against the spec.
pub fn probe_csv(csv: &CsvSource, model: &Model) -> Result<CsvLayout, Diagnostic> {
    let mut reader = open(csv, model)?;
    let header: Vec<String> = match reader.headers() {
        Ok(record) if !(record.is_empty() || record.len() == 1 && record[0].is_empty()) => {
            record.iter().map(str::to_string).collect()
        }
        Ok(_) => {
            return Err(Diagnostic::error(Code::DataFile, format!("data file `{}` is empty", csv.shown))
                .at(csv.span, "this file has no header row")
                .help("the first line of a CSV file names its columns"));
        }
        Err(error) => return Err(csv_error(csv, &error)),
    };
    let find = |name: &str, role: &str| -> Result<usize, Diagnostic> {
        header.iter().position(|column| column == name).ok_or_else(|| {
            Diagnostic::error(
                Code::DataShape,
                format!("{role} column `{name}` is not in the header of `{}`", csv.shown),
            )
            .at(model.data.span, format!("names {role} column `{name}`"))
            .note(format!("the header is: {}", header.join(", ")))
            .help_opt(did_you_mean(name, header.iter().map(String::as_str)))
        })
    };
    let targets = csv.targets.iter().map(|name| find(name, "target")).collect::<Result<Vec<_>, _>>()?;
    for name in &csv.ignore {
        find(name, "ignored")?;
    }
    let features = match &csv.features {
        Some(names) => names.iter().map(|name| find(name, "feature")).collect::<Result<Vec<_>, _>>()?,
        None => (0..header.len()).filter(|i| !targets.contains(i) && !csv.ignore.contains(&header[*i])).collect(),
    };
    if features.len() != model.input.width {
        let names: Vec<&str> = features.iter().map(|&i| header[i].as_str()).collect();
        return Err(Diagnostic::error(
            Code::DataShape,
            format!(
                "`{}` has {} feature column(s) but the model's input is {}",
                csv.shown,
                features.len(),
                model.input.width
            ),
        )
        .at(model.data.span, format!("{} feature column(s)", features.len()))
        .with_context(model.input.span, format!("input width {}", model.input.width))
        .note(format!("feature columns: {}", if names.is_empty() { "none".to_string() } else { names.join(", ") }))
        .help(format!(
            "set `input {}`, or choose the columns with `features: [...]` or `ignore: [...]`",
            features.len()
        )));
    }
    Ok(CsvLayout { header, features, targets })
}

fn csv_error(csv: &CsvSource, error: &csv::Error) -> Diagnostic {
    let line = error.position().map(|p| format!(":{}", p.line())).unwrap_or_default();
    let reason = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not valid UTF-8".to_string(),
        _ => error.to_string(),
    };
    Diagnostic::error(Code::DataFile, format!("cannot read `{}{line}`: {reason}", csv.shown)).at(csv.span, "this file")
}

/// Reads every row into memory as f32.
pub fn load_csv(csv: &CsvSource, layout: &CsvLayout, model: &Model) -> Result<Dataset, Diagnostic> {
    let mut reader = open(csv, model)?;
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    let mut rows = 0;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => return Err(csv_error(csv, &error)),
        }
        let line = record.position().map_or(rows + 2, |p| p.line() as usize);
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        if record.len() != layout.header.len() {
            return Err(Diagnostic::error(
                Code::DataFile,
                format!(
                    "`{}:{line}` has {} field(s), but the header has {}",
                    csv.shown,
                    record.len(),
                    layout.header.len()
                ),
            )
            .at(csv.span, "in this file")
            .help("every row needs one value per header column"));
        }
        for &column in &layout.features {
            inputs.push(number(csv, &record[column], line, column, layout)?);
        }
        for &column in &layout.targets {
            let value = number(csv, &record[column], line, column, layout)?;
            if let Some(classes) = model.data.classes {
                check_class(csv, value, classes, line, column, layout)?;
            }
            targets.push(value);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Diagnostic::error(Code::DataFile, format!("`{}` has a header but no rows", csv.shown))
            .at(csv.span, "this file has no data"));
    }
    let names = |columns: &[usize]| columns.iter().map(|&c| layout.header[c].clone()).collect();
    Ok(Dataset {
        rows,
        input_width: layout.features.len(),
        target_width: layout.targets.len(),
        inputs,
        targets,
        input_names: names(&layout.features),
        target_names: names(&layout.targets),
    })
}

fn number(csv: &CsvSource, cell: &str, line: usize, column: usize, layout: &CsvLayout) -> Result<f32, Diagnostic> {
    let at = format!("`{}:{line}`, column {} (`{}`)", csv.shown, column + 1, layout.header[column]);
    match cell.parse::<f32>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(Diagnostic::error(Code::DataFile, format!("{at}: `{cell}` is not a finite number"))
            .at(csv.span, "in this file")
            .help("remove or impute rows with NaN or infinite values")),
        Err(_) => Err(Diagnostic::error(Code::DataFile, format!("{at}: `{cell}` is not a number"))
            .at(csv.span, "in this file")
            .help("every feature and target cell must be numeric")),
    }
}

fn check_class(
    csv: &CsvSource,
    value: f32,
    classes: usize,
    line: usize,
    column: usize,
    layout: &CsvLayout,
) -> Result<(), Diagnostic> {
    if value.fract() == 0.0 && value >= 0.0 && (value as usize) < classes {
        return Ok(());
    }
    Err(Diagnostic::error(
        Code::DataShape,
        format!(
            "`{}:{line}`, column {} (`{}`): `{value}` is not a class index in 0..{}",
            csv.shown,
            column + 1,
            layout.header[column],
            classes - 1
        ),
    )
    .at(csv.span, "in this file")
    .help(format!("class targets are whole numbers from 0 to {} (`classes: {classes}`)", classes - 1)))
}

/// Reads the named feature and target columns of any CSV file (for `predict` and `eval`);
/// other columns are ignored. Errors name the file, row and column.
pub fn read_columns(path: &std::path::Path, features: &[String], targets: &[String]) -> Result<Dataset, Diagnostic> {
    let shown = path.display().to_string();
    let mut reader = reader(input::open(path, "data file", &shown)?);
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| Diagnostic::error(Code::DataFile, format!("cannot read `{shown}`: {error}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let find = |name: &String, role: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            Diagnostic::error(Code::DataShape, format!("{role} column `{name}` is not in the header of `{shown}`"))
                .note(format!("the header is: {}", header.join(", ")))
                .help_opt(did_you_mean(name, header.iter().map(String::as_str)))
        })
    };
    let feature_columns = features.iter().map(|n| find(n, "feature")).collect::<Result<Vec<_>, _>>()?;
    let target_columns = targets.iter().map(|n| find(n, "target")).collect::<Result<Vec<_>, _>>()?;
    let layout = CsvLayout { header: header.clone(), features: feature_columns, targets: target_columns };
    let (mut inputs, mut target_values, mut rows) = (Vec::new(), Vec::new(), 0);
    let mut record = csv::StringRecord::new();
    let source = CsvSource {
        shown: shown.clone(),
        path: path.to_path_buf(),
        targets: targets.to_vec(),
        features: None,
        ignore: Vec::new(),
        span: crate::span::Span::default(),
    };
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => return Err(Diagnostic::error(Code::DataFile, format!("cannot read `{shown}`: {error}"))),
        }
        let line = record.position().map_or(rows + 2, |p| p.line() as usize);
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != header.len() {
            return Err(Diagnostic::error(
                Code::DataFile,
                format!("`{shown}:{line}` has {} field(s), but the header has {}", record.len(), header.len()),
            ));
        }
        for &column in &layout.features {
            inputs.push(number(&source, &record[column], line, column, &layout).map_err(without_span)?);
        }
        for &column in &layout.targets {
            target_values.push(number(&source, &record[column], line, column, &layout).map_err(without_span)?);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Diagnostic::error(Code::DataFile, format!("`{shown}` has a header but no rows")));
    }
    Ok(Dataset {
        rows,
        input_width: features.len(),
        target_width: targets.len(),
        inputs,
        targets: target_values,
        input_names: features.to_vec(),
        target_names: targets.to_vec(),
    })
}

/// A data error about a file given on the command line points at no spec text.
fn without_span(mut diagnostic: Diagnostic) -> Diagnostic {
    diagnostic.span = None;
    diagnostic
}

/// Checks that every target of `data` is a class index below `classes`.
pub fn check_classes(data: &Dataset, classes: usize, path: &std::path::Path) -> Result<(), Diagnostic> {
    for (row, &value) in data.targets.iter().enumerate() {
        if value.fract() != 0.0 || value < 0.0 || value as usize >= classes {
            return Err(Diagnostic::error(
                Code::DataShape,
                format!(
                    "`{}:{}`: target `{value}` is not a class index in 0..{}",
                    path.display(),
                    row + 2,
                    classes - 1
                ),
            ));
        }
    }
    Ok(())
}
