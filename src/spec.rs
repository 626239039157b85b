//! `Spec`: a checked spec, the entry point of the library's façade. It sequences the first
//! stages (read, parse, `--set` overrides, check) and keeps what they produced together: the
//! source (which every later error renders against), the model and the warnings. The later
//! stages hang off it: `compile`, `probe` (the data header), `check_memory`, `load_data`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::{self, CsvLayout, Prepared};
use crate::diagnostic::{Code, Diagnostic};
use crate::ir::{self, Model};
use crate::plan::{self, CompileOptions, Plan};
use crate::project::Access;
use crate::report::{Kind, Report};
use crate::span::Source;
use crate::syntax;

/// A parsed and checked spec: nothing about its model can fail from here on.
#[derive(Debug, Clone)]
pub struct Spec {
    source: Arc<Source>,
    /// The file the spec was read from (`None` for text given directly).
    path: Option<PathBuf>,
    model: Model,
    warnings: Vec<Diagnostic>,
    /// Where the spec's paths may lead.
    access: Access,
}

/// How to load a spec, beyond its path.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--set key=value` overrides, applied in order before checking.
    pub overrides: Vec<String>,
    /// Directories outside the project the spec's paths may lead into (`--allow-path`).
    pub allow_paths: Vec<PathBuf>,
}

impl Spec {
    /// Reads, parses and checks the spec at `path`, after `--set key=value` overrides (see
    /// `syntax::overrides`). Relative data paths start at the spec's directory.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Spec, Report> {
        Spec::load_with(path, &LoadOptions { overrides: overrides.to_vec(), ..LoadOptions::default() })
    }

    /// `load`, with the paths the command line allows besides the project.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Spec, Report> {
        let source = read_source(path)?;
        let access = Access::new(spec_dir(path), &options.allow_paths);
        let mut spec = Spec::check(source, spec_dir(path), &options.overrides, access)?;
        spec.path = Some(path.to_path_buf());
        Ok(spec)
    }

    /// Parses and checks spec text shown under `name` in diagnostics; relative data paths
    /// start at `base_dir`, and must stay in its project.
    pub fn parse(text: &str, name: &str, base_dir: &Path, overrides: &[String]) -> Result<Spec, Report> {
        Spec::check(Source::new(name, text), base_dir, overrides, Access::new(base_dir, &[]))
    }

    fn check(mut source: Source, base_dir: &Path, overrides: &[String], access: Access) -> Result<Spec, Report> {
        let invalid =
            |diagnostics, source: Source| Report::of_kind(Kind::Spec, diagnostics).with_source(&Arc::new(source));
        let mut ast = match syntax::parse_tolerant(&source.text) {
            Ok(ast) => ast,
            Err(recovered) => {
                // The statements that parsed are checked too: their own errors (unknown names,
                // wrong values) are reported with the syntax errors, in the order of the text.
                let mut diagnostics = recovered.errors;
                diagnostics.extend(ir::check_statements(&recovered.spec, base_dir, source.text.len()));
                diagnostics.sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |(span, _)| span.start));
                return Err(invalid(diagnostics, source));
            }
        };
        if let Err(diagnostics) = syntax::overrides::apply(&mut ast, overrides, &mut source) {
            return Err(invalid(diagnostics, source));
        }
        let source = Arc::new(source);
        let invalid = |diagnostics| Report::of_kind(Kind::Spec, diagnostics).with_source(&source);
        let checked = ir::check(&ast, base_dir, source.text.len()).map_err(invalid)?;
        let outside = confine(&checked.model, &access);
        if !outside.is_empty() {
            return Err(invalid(outside));
        }
        let mut warnings = checked.warnings;
        warnings.iter_mut().for_each(|w| w.locate(&source));
        Ok(Spec { source, path: None, model: checked.model, warnings, access })
    }

    /// The files the spec reads, with their roles (for `project::check_roles`).
    pub fn inputs(&self) -> Vec<(&'static str, PathBuf)> {
        let data = &self.model.data;
        let mut inputs: Vec<(&'static str, PathBuf)> = self.path.iter().map(|p| ("the spec", p.clone())).collect();
        if let ir::DataSource::Csv(csv) = &data.source {
            inputs.push(("a data file", csv.path.clone()));
        }
        inputs.extend(data.validation_file.iter().chain(&data.test_file).map(|csv| ("a data file", csv.path.clone())));
        inputs
    }

    /// Where the spec's paths may lead.
    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn source(&self) -> &Arc<Source> {
        &self.source
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The name the spec is shown under (its path as given).
    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// What the check found worth saying about a valid spec.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// What the loaded data makes worth a warning: a batch-norm model whose training batches
    /// can have one row. `nnspec check` and every run show it.
    pub fn data_warnings(&self, data: &Prepared) -> Option<Report> {
        let warning = ir::one_row_batch_warning(&self.model, data.splits.train.len())?;
        Some(self.report(vec![warning]))
    }

    /// The warnings as a report to render, if there are any.
    pub fn warnings_report(&self) -> Option<Report> {
        (!self.warnings.is_empty()).then(|| self.report(self.warnings.clone()))
    }

    /// A report of `diagnostics`, rendered against this spec's source.
    pub fn report(&self, diagnostics: Vec<Diagnostic>) -> Report {
        Report::new(diagnostics).with_source(&self.source)
    }

    /// A diagnostic of a later stage, as a report against this spec's source.
    pub fn fail(&self, diagnostic: Diagnostic) -> Report {
        self.report(vec![diagnostic])
    }

    /// Stage 3: the execution plan. Cannot fail: the model is valid. (A model whose `input`
    /// has no width gets its width from the data: see `compile_for`.)
    pub fn compile(&self, options: CompileOptions) -> Plan {
        plan::compile(&self.model, &self.source, options)
    }

    /// The model with its input width taken from `data` (where the spec's `input` has none).
    pub fn resolved_model(&self, data: &Prepared) -> Model {
        data::resolve(&self.model, data)
    }

    /// The execution plan for the data the spec was loaded with.
    pub fn compile_for(&self, data: &Prepared, options: CompileOptions) -> Plan {
        plan::compile(&self.resolved_model(data), &self.source, options)
    }

    /// The execution plan for `width` input slots where the spec's `input` has no width (the
    /// width a weights file's encoding records).
    pub fn compile_for_width(&self, width: usize, options: CompileOptions) -> Plan {
        if self.model.input.inferred {
            plan::compile(&self.model.with_input_width(width), &self.source, options)
        } else {
            self.compile(options)
        }
    }

    /// Whether the spec declares its columns or takes its input width from them: then `check`
    /// and `plan` show the resolved columns.
    pub fn declares_columns(&self) -> bool {
        self.model.input.inferred
            || matches!(&self.model.data.source, crate::ir::DataSource::Csv(csv) if !csv.table.columns.is_empty())
    }

    /// Checks the data without reading its rows: each file exists and its header has the
    /// columns the spec names. The layout of the main CSV file, if the data is one.
    pub fn probe(&self) -> Result<Option<CsvLayout>, Report> {
        data::probe(&self.model).map_err(|d| self.fail(d))
    }

    /// Refuses a run estimated to need more memory than `limit` bytes (by default, the memory
    /// this process may use): an invalid spec for this machine, before anything is allocated.
    pub fn check_memory(&self, limit: Option<f64>) -> Result<(), Report> {
        match limit.or_else(data::memory::available_bytes) {
            Some(limit) => data::memory::check(&self.model, limit).map_err(|d| self.fail(d)),
            None => Ok(()),
        }
    }

    /// Every check that can be made before reading the rows: the data header (`probe`), then
    /// the memory estimate. What `nnspec check` checks, and what every run checks first.
    pub fn validate(&self, max_memory: Option<f64>) -> Result<Option<CsvLayout>, Report> {
        let layout = self.probe()?;
        self.check_memory(max_memory)?;
        Ok(layout)
    }

    /// Reads (or generates) every row, splits, encodes and scales them.
    pub fn load_data(&self) -> Result<Prepared, Report> {
        data::load(&self.model).map_err(|d| self.fail(d))
    }

    /// `load_data`, telling `progress` `(what, done, total)` as files are read and parsed.
    pub fn load_data_with(&self, progress: data::Progress) -> Result<Prepared, Report> {
        data::load_with(&self.model, progress).map_err(|d| self.fail(d))
    }

    /// The names of the model's feature and target columns, as its data source has them.
    pub fn column_names(&self) -> Result<(Vec<String>, Vec<String>), Report> {
        use crate::ir::DataSource;
        match &self.model.data.source {
            DataSource::Csv(csv) => {
                let layout = data::probe_csv(csv, &self.model).map_err(|d| self.fail(d))?;
                let names = |columns: &[usize]| columns.iter().map(|&c| layout.header[c].clone()).collect();
                Ok((names(&layout.features), names(&layout.targets)))
            }
            DataSource::Random { inputs, targets, .. } => {
                Ok(((0..*inputs).map(|i| format!("x{i}")).collect(), (0..*targets).map(|i| format!("y{i}")).collect()))
            }
            DataSource::Xor { .. } => Ok((vec!["x0".into(), "x1".into()], vec!["y".into()])),
        }
    }
}

/// Every data path of `model` that leads outside the project, as errors at its span.
fn confine(model: &Model, access: &Access) -> Vec<Diagnostic> {
    let data = &model.data;
    let files = match &data.source {
        ir::DataSource::Csv(csv) => Some(csv),
        _ => None,
    };
    files
        .into_iter()
        .chain(&data.validation_file)
        .chain(&data.test_file)
        .filter_map(|csv| access.check(&csv.path, &csv.shown).err().map(|e| e.at(csv.span, "outside the project")))
        .collect()
}

/// The largest spec nnspec reads (a spec of a million layers is about 30 MiB).
const MAX_SPEC_BYTES: u64 = 64 << 20;

/// Reads a spec file as UTF-8 text (without a byte-order mark).
pub fn read_source(path: &Path) -> Result<Source, Report> {
    let text = crate::input::read(path, "spec", &path.display().to_string(), MAX_SPEC_BYTES)?;
    let text = String::from_utf8(text).map_err(|error| {
        let at = error.utf8_error().valid_up_to();
        Report::from(Diagnostic::error(
            Code::Syntax,
            format!("spec `{}` is not valid UTF-8 (byte {at} is not)", path.display()),
        ))
    })?;
    // A byte-order mark some editors write is not part of the spec.
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    Ok(Source::new(path.display().to_string(), text))
}

/// The directory a spec's relative paths start from.
pub fn spec_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const XOR: &str = "model m {\n input 2\n dense 1 sigmoid\n}\nloss bce\noptimizer sgd(lr: 0.5)\n\
                       data xor(rows: 8, seed: 1)\ntrain { epochs: 2 }\n";

    #[test]
    fn a_valid_spec_compiles_and_loads_its_data() {
        let spec = Spec::parse(XOR, "m.nn", Path::new("."), &[]).expect("valid");
        assert_eq!(spec.model().input.width, 2);
        assert_eq!(spec.compile(CompileOptions::default()).name, "m");
        assert_eq!(spec.load_data().expect("generated").dataset.rows, 8);
    }

    #[test]
    fn an_invalid_spec_reports_against_its_own_text() {
        let report = Spec::parse(&XOR.replace("sigmoid", "sigmod"), "bad.nn", Path::new("."), &[]).unwrap_err();
        assert_eq!(report.kind(), Kind::Spec);
        assert!(report.to_string().contains("--> bad.nn:3:10"), "{report}");
        let overridden = Spec::parse(XOR, "m.nn", Path::new("."), &["train.epochs=0".into()]).unwrap_err();
        assert_eq!(overridden.exit_code(), 2, "{overridden}");
    }
}
