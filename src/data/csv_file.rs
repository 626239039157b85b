//! CSV data: a header row, then one row per sample. The header is matched against the spec
//! before any row is read; then the whole file is read (through `input::open_input`) and
//! parsed in parallel. Every error names the file, the line and the column, and points at the
//! spec's data clause when there is one.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::input::{self, MAX_HEADER_BYTES, Whole};
use super::parse::{self, Body, Layout, ParseError, ParseErrorKind, Stage};
use super::table::{ColumnRead, NaValues, Table, delimiter_name, sniff_delimiter};
use crate::diagnostic::{Code, Diagnostic, closest_name};
use crate::ir::{ColumnKind, CsvSource, Model};
use crate::span::Span;

/// Which header columns are features (with their declared kinds), targets and ids.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvLayout {
    pub header: Vec<String>,
    pub features: Vec<usize>,
    /// The kind of each feature column, declared or the default `number`.
    pub kinds: Vec<ColumnKind>,
    pub targets: Vec<usize>,
    pub ids: Vec<usize>,
    pub delimiter: u8,
}

/// A data file and where a message about it points.
pub struct FileRef<'a> {
    pub path: &'a Path,
    /// The file as the spec or the command line names it.
    pub shown: &'a str,
    /// The file's span in the spec and the data clause's, when a spec names it.
    pub spans: Option<(Span, Span)>,
}

impl FileRef<'_> {
    pub fn of<'c>(csv: &'c CsvSource, model: &Model) -> FileRef<'c> {
        FileRef { path: &csv.path, shown: &csv.shown, spans: Some((csv.span, model.data.span)) }
    }

    /// Points `diagnostic` at the file in the spec, when there is a spec.
    fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        match self.spans {
            Some((file, _)) => diagnostic.at(file, "in this file"),
            None => diagnostic,
        }
    }

    fn cannot_open(&self, reason: &str) -> Diagnostic {
        match self.spans {
            Some((file, clause)) => {
                Diagnostic::error(Code::DataFile, format!("cannot read data file `{}`: {reason}", self.shown))
                    .at(file, "this file")
                    .with_context(clause, "in this data clause")
                    .help("paths are relative to the spec file's directory")
            }
            None => Diagnostic::error(Code::DataFile, format!("cannot read `{}`: {reason}", self.shown)),
        }
    }
}

/// The header's names and the delimiter, from the file's first line.
fn split_header(file: &FileRef, line: &[u8], delimiter: Option<u8>) -> Result<(Vec<String>, u8), Diagnostic> {
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(line));
    let fields = parse::split_line(line, delimiter).map_err(|_| {
        file.locate(Diagnostic::error(
            Code::DataFile,
            format!("`{}:1`: a quote in the header never closes", file.shown),
        ))
    })?;
    let header: Result<Vec<String>, _> = fields.into_iter().map(String::from_utf8).collect();
    let header = header.map_err(|_| {
        file.locate(Diagnostic::error(
            Code::DataFile,
            format!("cannot read `{}:1`: the file is not valid UTF-8", file.shown),
        ))
    })?;
    if header.is_empty() || header.len() == 1 && header[0].is_empty() {
        let error = Diagnostic::error(Code::DataFile, format!("data file `{}` is empty", file.shown));
        return Err(match file.spans {
            Some((span, _)) => error.at(span, "this file has no header row"),
            None => error,
        }
        .help("the first line of a CSV file names its columns"));
    }
    Ok((header, delimiter))
}

/// Reads and splits the header line of `file`.
pub fn read_header(file: &FileRef, delimiter: Option<u8>) -> Result<(Vec<String>, u8), Diagnostic> {
    let line = input::read_header(file.path).map_err(|e| file.cannot_open(&e.0))?;
    split_header(file, &line, delimiter)
}

/// Names longer than this, or holding control characters, are described rather than shown.
const MAX_SHOWN_NAME: usize = 64;
/// At most this many names are listed in a message.
const MAX_SHOWN_NAMES: usize = 20;

/// A column name as messages show it: a file named by a spec may not be a CSV file at all (a
/// stranger's spec could name a secret), so only what looks like a column name is echoed.
fn shown_name(name: &str) -> String {
    if name.chars().count() > MAX_SHOWN_NAME || name.chars().any(char::is_control) {
        format!("<a name of {} characters>", name.chars().count())
    } else {
        name.to_string()
    }
}

/// Names as a list for a message: the first few, then how many more.
fn shown_list(names: &[&str]) -> String {
    let mut text: Vec<String> = names.iter().take(MAX_SHOWN_NAMES).map(|n| shown_name(n)).collect();
    if names.len() > MAX_SHOWN_NAMES {
        text.push(format!("... and {} more", names.len() - MAX_SHOWN_NAMES));
    }
    text.join(", ")
}

/// A cell for a message, without its text: its length and whether it looks numeric.
fn describe_cell(cell: &str) -> String {
    let length = cell.chars().count();
    let kind = if cell.chars().any(|c| c.is_ascii_digit()) { "with digits" } else { "of text" };
    format!("{length} character{} {kind}", if length == 1 { "" } else { "s" })
}

/// The header for a message. A "header" of one column with no separator in it is not shown:
/// the file is probably not a CSV file, and its first line could be anything.
fn shown_header(header: &[String]) -> String {
    let separated = header.len() > 1 || super::table::DELIMITERS.iter().any(|&d| header[0].contains(d as char));
    if !separated {
        return format!(
            "the header is one column of {} characters, not shown (is this a CSV file?)",
            header[0].chars().count()
        );
    }
    let names: Vec<&str> = header.iter().map(String::as_str).collect();
    format!("the header is: {}", shown_list(&names))
}

/// Reads the header and matches it against the spec.
pub fn probe_csv(csv: &CsvSource, model: &Model) -> Result<CsvLayout, Diagnostic> {
    let file = FileRef::of(csv, model);
    let (header, delimiter) = read_header(&file, csv.table.delimiter)?;
    // Each name's column, found in constant time: a header of 100,000 columns checks in
    // linear time. A name given twice would make "which column" ambiguous.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        if index.insert(name.as_str(), i).is_some() {
            return Err(Diagnostic::error(
                Code::DataShape,
                format!("`{}` names column `{}` twice", csv.shown, shown_name(name)),
            )
            .at(csv.span, "this file")
            .help("give every column of the header its own name"));
        }
    }
    let find = |name: &str, role: &str| -> Result<usize, Diagnostic> {
        index.get(name).copied().ok_or_else(|| {
            let mut error = Diagnostic::error(
                Code::DataShape,
                format!("{role} column `{name}` is not in the header of `{}`", csv.shown),
            )
            .at(model.data.span, format!("names {role} column `{name}`"))
            .note(shown_header(&header));
            // One long name holding another delimiter: the file is separated by that one.
            let other = super::table::DELIMITERS.iter().find(|&&d| d != delimiter && header[0].contains(d as char));
            if let (1, Some(&other)) = (header.len(), other) {
                let shown = if other == b'\t' { "\\t".to_string() } else { (other as char).to_string() };
                error = error
                    .note(format!("the header was read as one column, split at {}", delimiter_name(delimiter)))
                    .help(format!(
                        "the file seems separated by {}: write `delimiter: \"{shown}\"`",
                        delimiter_name(other)
                    ));
            } else if header.len() > 1 {
                error = error.help_opt(closest_name(name, header.iter().map(String::as_str)));
            }
            error
        })
    };
    let targets = csv.targets.iter().map(|name| find(name, "target")).collect::<Result<Vec<_>, _>>()?;
    for name in &csv.ignore {
        find(name, "ignored")?;
    }
    let mut ids = Vec::new();
    for decl in &csv.table.columns {
        let column = find(&decl.name, decl.kind.keyword())?;
        if decl.kind == ColumnKind::Id {
            ids.push(column);
        }
    }
    let target_set: HashSet<usize> = targets.iter().copied().collect();
    let ignored: HashSet<&str> = csv.ignore.iter().map(String::as_str).collect();
    let declared: HashMap<&str, &ColumnKind> = csv.table.columns.iter().map(|d| (d.name.as_str(), &d.kind)).collect();
    let not_feature = |i: &usize| {
        let name = header[*i].as_str();
        target_set.contains(i)
            || ignored.contains(name)
            || declared.get(name).is_some_and(|kind| matches!(kind, ColumnKind::Id | ColumnKind::Ignore))
    };
    let features = match &csv.features {
        Some(names) => {
            let features = names.iter().map(|name| find(name, "feature")).collect::<Result<Vec<_>, _>>()?;
            // A target among the features would hand the model its own answer.
            if let Some(&leak) = features.iter().find(|i| target_set.contains(i)) {
                return Err(Diagnostic::error(
                    Code::DataShape,
                    format!("column `{}` is both a target and a feature", shown_name(&header[leak])),
                )
                .at(model.data.span, "names it in `target` and in `features`")
                .help("a model must not read its own target: take it out of `features`"));
            }
            features
        }
        None => (0..header.len()).filter(|i| !not_feature(i)).collect(),
    };
    let kinds: Vec<ColumnKind> = features
        .iter()
        .map(|&i| declared.get(header[i].as_str()).map_or_else(ColumnKind::default_number, |&kind| kind.clone()))
        .collect();
    // The input width is known from the header unless a category's vocabulary decides it.
    let has_categories = kinds.iter().any(|k| matches!(k, ColumnKind::Category { .. }));
    let slots: usize = kinds
        .iter()
        .map(|k| match k {
            ColumnKind::Number { indicator, .. } | ColumnKind::Binary { indicator, .. } => 1 + usize::from(*indicator),
            _ => 0,
        })
        .sum();
    if !model.input.inferred && !has_categories && slots != model.input.width {
        let names: Vec<&str> = features.iter().map(|&i| header[i].as_str()).collect();
        let (count, what) =
            if slots == features.len() { (features.len(), "feature column(s)") } else { (slots, "input slot(s)") };
        return Err(Diagnostic::error(
            Code::DataShape,
            format!("`{}` has {count} {what} but the model's input is {}", csv.shown, model.input.width),
        )
        .at(model.data.span, format!("{count} {what}"))
        .with_context(model.input.span, format!("input width {}", model.input.width))
        .note(format!("feature columns: {}", if names.is_empty() { "none".to_string() } else { shown_list(&names) }))
        .help(format!("set `input {count}`, or choose the columns with `features: [...]` or `ignore: [...]`")));
    }
    Ok(CsvLayout { header, features, kinds, targets, ids, delimiter })
}

impl CsvLayout {
    /// How each header column is read: features by kind, targets as text labels or numbers,
    /// ids as text, the rest skipped.
    pub fn reads(&self, target_text: bool) -> Vec<ColumnRead> {
        let mut reads = vec![ColumnRead::Skip; self.header.len()];
        for (&column, kind) in self.features.iter().zip(&self.kinds) {
            reads[column] = match kind {
                ColumnKind::Number { .. } => ColumnRead::Number,
                _ => ColumnRead::Text,
            };
        }
        for &column in &self.targets {
            reads[column] = if target_text { ColumnRead::Text } else { ColumnRead::Number };
        }
        for &column in &self.ids {
            reads[column] = ColumnRead::Text;
        }
        reads
    }
}

/// How each column of a header is read, decided once the header is known.
pub type ReadsOf<'a> = &'a dyn Fn(&[String]) -> Result<Vec<ColumnRead>, Diagnostic>;

/// Progress while loading: `(what, done, total)`, e.g. `("reading data/x.csv", bytes, bytes)`.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Reads a whole file into a table: `reads` says how each column of its header is read
/// (it is given the header and the delimiter); a file with a header but no rows is an error.
/// A regular file is read in chunks as they are parsed; a `.gz` file is decompressed first.
pub fn read_table(
    file: &FileRef,
    delimiter: Option<u8>,
    na: &NaValues,
    reads: ReadsOf,
    progress: Progress,
) -> Result<Table, Diagnostic> {
    let reading = format!("reading {}", file.shown);
    let parsing = format!("parsing {}", file.shown);
    let tell = |stage: Stage, done: u64, total: u64| {
        progress(if stage == Stage::Reading { &reading } else { &parsing }, done, total);
    };
    let opened = input::open_whole(file.path, &|done, total| tell(Stage::Reading, done, total))
        .map_err(|e| file.cannot_open(&e.0))?;
    let header_line = match &opened {
        Whole::Plain { file: plain, .. } => input::first_line(plain).map_err(|e| file.cannot_open(&e.0))?,
        Whole::Bytes(bytes) => {
            let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
            if end > MAX_HEADER_BYTES {
                return Err(file.cannot_open(&format!(
                    "its first line is longer than {} MiB: not a header",
                    MAX_HEADER_BYTES >> 20
                )));
            }
            bytes[..end].to_vec()
        }
    };
    let (header, delimiter) = split_header(file, &header_line, delimiter)?;
    let column_reads = reads(&header)?;
    let layout = Layout { width: header.len(), reads: &column_reads, na, delimiter };
    let body = match &opened {
        Whole::Plain { file, size } => {
            Body::File { file, start: (header_line.len() + 1).min(*size), end: *size, first_line: 2 }
        }
        Whole::Bytes(bytes) => Body::Bytes { bytes, start: (header_line.len() + 1).min(bytes.len()), first_line: 2 },
    };
    let table = parse::parse_body(body, header.clone(), &layout, &tell).map_err(|e| parse_error(file, &header, e))?;
    if table.rows == 0 {
        let error = Diagnostic::error(Code::DataFile, format!("`{}` has a header but no rows", file.shown));
        return Err(match file.spans {
            Some((span, _)) => error.at(span, "this file has no data"),
            None => error,
        });
    }
    Ok(table)
}

/// The diagnostic for a parse error in `file` with `header`.
pub fn parse_error(file: &FileRef, header: &[String], error: ParseError) -> Diagnostic {
    let line = error.line;
    let name = |column: usize| shown_name(header.get(column).map_or("", String::as_str));
    let at = |column: usize| format!("`{}:{line}`, column {} (`{}`)", file.shown, column + 1, name(column));
    file.locate(match error.kind {
        ParseErrorKind::FieldCount { found, expected } => Diagnostic::error(
            Code::DataFile,
            format!("`{}:{line}` has {found} field(s), but the header has {expected}", file.shown),
        )
        .help("every row needs one value per header column"),
        // Cells are described, never echoed: a spec may name a file that is not data, and its
        // errors can end up in a public CI log.
        ParseErrorKind::NotANumber { column, cell } => Diagnostic::error(
            Code::DataFile,
            format!("{}: the value ({}) is not a number", at(column), describe_cell(&cell)),
        )
        .help("number columns hold numbers; declare a text column with `category(...)` or `binary(...)`"),
        ParseErrorKind::NotFinite { column, cell } => Diagnostic::error(
            Code::DataFile,
            format!("{}: the value ({}) is not a finite number", at(column), describe_cell(&cell)),
        )
        .help("remove or impute rows with NaN or infinite values"),
        ParseErrorKind::UnclosedQuote => {
            Diagnostic::error(Code::DataFile, format!("`{}:{line}`: a quoted field never closes", file.shown))
                .help("close the quote, or write a quote inside a quoted field as `\"\"`")
        }
        ParseErrorKind::NotUtf8 { column } => {
            Diagnostic::error(Code::DataFile, format!("cannot read {}: the file is not valid UTF-8", at(column)))
        }
        ParseErrorKind::Unreadable(reason) => return file.cannot_open(&reason),
    })
}

/// The error for a target cell that is not one of the classes.
pub fn not_a_class(
    file: &FileRef,
    line: u64,
    column: usize,
    name: &str,
    cell: &str,
    labels: &[String],
    indices: bool,
) -> Diagnostic {
    let at = format!("`{}:{line}`, column {} (`{}`)", file.shown, column + 1, shown_name(name));
    let classes = labels.len();
    let cell = describe_cell(cell);
    let error = if indices {
        Diagnostic::error(
            Code::DataShape,
            format!("{at}: the value ({cell}) is not a class index in 0..{}", classes - 1),
        )
        .help(format!("class targets are whole numbers from 0 to {} (`classes: {classes}`)", classes - 1))
    } else {
        let shown: Vec<String> = labels.iter().take(8).map(|l| format!("`{}`", shown_name(l))).collect();
        Diagnostic::error(Code::DataShape, format!("{at}: the value ({cell}) is not one of the classes"))
            .note(format!("the classes are {}", shown.join(", ")))
            .help("list every class in `classes: [...]`, or use `classes: auto`")
    };
    match file.spans {
        Some((span, _)) => error.at(span, "in this file"),
        None => error,
    }
}
