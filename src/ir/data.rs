//! The data clause: a source, then modifiers.
//!
//! ```text
//! data csv("train.csv", target: "species", classes: 3) split(validation: 0.2, test: 0.2)
//! data csv("train.csv", target: "y") validation("val.csv") test("test.csv")
//! data random(rows: 100, inputs: 4, classes: 3, seed: 1)
//! ```

use super::args::Args;
use super::check::Checker;
use super::model::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::syntax::ast;

const SOURCES: [&str; 3] = ["csv", "random", "xor"];
const MODIFIERS: [&str; 3] = ["split", "validation", "test"];

impl Checker<'_> {
    pub(super) fn data(&mut self, calls: &[ast::Call], span: Span) -> Option<Data> {
        let (source_call, modifiers) = calls.split_first()?;
        let (source, classes) = self.source(source_call)?;
        let (classes, labels) = classes;
        let mut data =
            Data { source, classes, labels, split: Split::default(), validation_file: None, test_file: None, span };
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for modifier in modifiers {
            let name = modifier.name.name.as_str();
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                self.error(
                    Diagnostic::error(Code::Duplicate, format!("`{name}` is given twice"))
                        .at(modifier.span, "given again here")
                        .with_context(*first, "first given here"),
                );
                continue;
            }
            seen.push((name, modifier.span));
            match name {
                "split" => {
                    let mut args =
                        Args::bind("split", modifier.span, &modifier.args, &["validation", "test"], 0, &mut self.diags);
                    let fraction =
                        |args: &mut Args, name| args.number_where(name, 0.0, "in [0, 1)", |f| (0.0..1.0).contains(&f));
                    data.split =
                        Split { validation: fraction(&mut args, "validation"), test: fraction(&mut args, "test") };
                    if data.split.validation + data.split.test >= 1.0 {
                        self.error(
                            Diagnostic::error(Code::OutOfRange, "the split leaves no training rows")
                                .at(modifier.span, "validation + test >= 1")
                                .help("hold out less, e.g. `split(validation: 0.2, test: 0.2)`"),
                        );
                    }
                }
                "validation" | "test" => {
                    let DataSource::Csv(train) = &data.source else {
                        self.error(
                            Diagnostic::error(Code::WrongType, format!("`{name}(...)` needs a `csv` source"))
                                .at(modifier.span, "a file for a generated dataset")
                                .help("use `split(...)` to hold out generated rows"),
                        );
                        continue;
                    };
                    let mut args = Args::bind(name, modifier.span, &modifier.args, &["path"], 1, &mut self.diags);
                    args.require("path", "\"data/validation.csv\"");
                    if let Some((shown, path_span)) = args.string("path") {
                        let file =
                            CsvSource { path: self.spec_dir.join(&shown), shown, span: path_span, ..train.clone() };
                        if name == "validation" {
                            data.validation_file = Some(file);
                        } else {
                            data.test_file = Some(file);
                        }
                    }
                }
                other => self.unknown("data modifier", other, modifier.name.span, &MODIFIERS),
            }
        }
        let files_and_split = [
            (data.validation_file.is_some(), data.split.validation > 0.0, "validation"),
            (data.test_file.is_some(), data.split.test > 0.0, "test"),
        ];
        for (file, fraction, what) in files_and_split {
            if file && fraction {
                self.error(
                    Diagnostic::error(Code::Duplicate, format!("{what} rows come from both a file and a split"))
                        .at(span, format!("two sources of {what} rows"))
                        .help(format!("keep either `{what}(\"...\")` or the `{what}:` fraction of `split`")),
                );
            }
        }
        Some(data)
    }

    fn source(&mut self, call: &ast::Call) -> Option<(DataSource, (Option<usize>, ClassLabels))> {
        let name = call.name.name.as_str();
        match name {
            "csv" => {
                let params = ["path", "target", "features", "ignore", "classes", "columns", "na_values", "delimiter"];
                let mut args = Args::bind("csv", call.span, &call.args, &params, 1, &mut self.diags);
                args.require("path", "\"data/train.csv\"");
                args.require("target", "\"y\"");
                let path = args.string("path");
                let targets = args.strings("target");
                let features = args.strings("features");
                let ignore = args.strings("ignore").unwrap_or_default();
                let classes_value = args.value("classes");
                let columns_value = args.value("columns");
                let mut table = super::columns::table_options(&mut args, Vec::new());
                if targets.as_ref().is_some_and(Vec::is_empty) {
                    let value = args.value("target").expect("present");
                    args.error(
                        Diagnostic::error(Code::OutOfRange, "`target` names no column")
                            .at(value.span, "empty list")
                            .help("name at least one target column"),
                    );
                }
                drop(args);
                let classes = match classes_value {
                    Some(value) => self.classes(value)?,
                    None => (None, ClassLabels::None),
                };
                if let Some(value) = columns_value {
                    table.columns = self.columns(value);
                }
                let targets = targets?;
                for decl in &table.columns {
                    if targets.contains(&decl.name) {
                        self.error(
                            Diagnostic::error(
                                Code::Duplicate,
                                format!("`{}` is the target, not a feature column", decl.name),
                            )
                            .at(decl.span, format!("declared as `{}`", decl.kind.keyword()))
                            .help("a target's classes are given by `classes: [...]` or `classes: auto`"),
                        );
                    }
                }
                let (shown, path_span) = path?;
                let source = CsvSource {
                    path: self.spec_dir.join(&shown),
                    shown,
                    targets,
                    features,
                    ignore,
                    table,
                    span: path_span,
                };
                Some((DataSource::Csv(source), classes))
            }
            "random" => {
                let params = ["rows", "inputs", "targets", "classes", "seed"];
                let mut args = Args::bind("random", call.span, &call.args, &params, 0, &mut self.diags);
                args.require("rows", "100");
                args.require("inputs", "1");
                let rows = args.count("rows", 1, 1);
                let inputs = args.count("inputs", 1, 1);
                let classes = args.has("classes").then(|| args.count("classes", 2, 2));
                let labels = if classes.is_some() { ClassLabels::Indices } else { ClassLabels::None };
                if classes.is_some() && args.has("targets") {
                    let value = args.value("targets").expect("present");
                    args.error(
                        Diagnostic::error(Code::Duplicate, "`random` takes `targets` or `classes`, not both")
                            .at(value.span, "regression targets")
                            .help("`classes: K` gives one class index per row"),
                    );
                }
                let targets = if classes.is_some() { 1 } else { args.count("targets", 1, 1) };
                let seed = args.count("seed", 0, 0) as u64;
                Some((DataSource::Random { rows, inputs, targets, seed }, (classes, labels)))
            }
            "xor" => {
                let mut args = Args::bind("xor", call.span, &call.args, &["rows", "seed"], 0, &mut self.diags);
                args.require("rows", "1000");
                let rows = args.count("rows", 1, 1);
                let seed = args.count("seed", 0, 0) as u64;
                Some((DataSource::Xor { rows, seed }, (None, ClassLabels::None)))
            }
            other => {
                self.unknown("data source", other, call.name.span, &SOURCES);
                None
            }
        }
    }
}
