//! Golden traces, the users' CI (`nnspec test`): `nnspec.toml` lists specs and their golden
//! trace files; each spec is trained and its trace compared with the golden file within a
//! stated relative tolerance, or, when blessing, the golden file is rewritten. `drift` says
//! how a trace moved.

mod drift;

pub use drift::{Change, Drift, LISTED};

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};
use crate::project::{self, Access};
use crate::report::{Kind, Report};
use crate::run::{self, RunOptions};
use crate::spec::LoadOptions;
use crate::spec::Spec;
use crate::{input, output};

/// `nnspec.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub test: Settings,
    #[serde(default)]
    pub specs: Vec<Entry>,
    /// The directory the config's paths are relative to (the config file's own).
    #[serde(skip)]
    pub base: PathBuf,
    /// Where the config's paths may lead.
    #[serde(skip, default = "Access::anywhere")]
    access: Access,
    /// `--allow-path` directories, for the specs it names too.
    #[serde(skip)]
    allow_paths: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The relative difference allowed for each number of a trace line.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { tolerance: default_tolerance() }
    }
}

fn default_tolerance() -> f64 {
    1e-4
}

/// One spec and its golden trace, as the config names them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub spec: PathBuf,
    pub golden: PathBuf,
}

/// What checking one entry found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The trace matches, with this many logged epochs.
    Matches { epochs: usize },
    /// The trace moved: `drift.render(LISTED)` says how.
    Drifted { drift: Drift },
    /// The golden file was rewritten with this many lines.
    Blessed { path: PathBuf, lines: usize },
}

/// The largest configuration or golden trace nnspec reads.
const MAX_TEXT_BYTES: u64 = 64 << 20;

fn config_error(path: &Path, message: String) -> Report {
    Report::of_kind(Kind::Spec, vec![Diagnostic::error(Code::Syntax, format!("`{}`: {message}", path.display()))])
}

/// The file name `nnspec test` looks for.
pub const CONFIG_FILE: &str = "nnspec.toml";

/// The `nnspec.toml` of the folder `start` or the nearest folder above it that has one (as
/// cargo finds `Cargo.toml`).
pub fn find_config(start: &Path) -> Result<PathBuf, Report> {
    let start = project::resolve(start);
    start.ancestors().map(|dir| dir.join(CONFIG_FILE)).find(|path| path.is_file()).ok_or_else(|| {
        Report::from(
            Diagnostic::error(
                Code::DataFile,
                format!("no `{CONFIG_FILE}` in `{}` or any folder above it", start.display()),
            )
            .help(
                "run `nnspec test` inside a project (`nnspec init NAME` makes one), or name the file with `--config`",
            ),
        )
    })
}

impl Config {
    /// Reads and checks `nnspec.toml`: its tolerance is a finite, non-negative number, and every
    /// spec and golden path it names lies inside its project (or a directory of `allow_paths`).
    pub fn load(path: &Path, allow_paths: &[PathBuf]) -> Result<Config, Report> {
        let bytes = input::read(path, "configuration", &path.display().to_string(), MAX_TEXT_BYTES)?;
        let text = String::from_utf8(bytes).map_err(|_| config_error(path, "is not valid UTF-8".to_string()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        if config.specs.is_empty() {
            return Err(config_error(path, "lists no `[[specs]]`".to_string()));
        }
        let tolerance = config.test.tolerance;
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            return Err(config_error(path, format!("`tolerance = {tolerance}` is not a finite number of at least 0")));
        }
        config.base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        config.access = Access::new(&config.base, allow_paths);
        config.allow_paths = allow_paths.to_vec();
        let mut outside = Vec::new();
        for entry in &config.specs {
            for named in [&entry.spec, &entry.golden] {
                if let Err(error) = config.access.check(&config.base.join(named), &named.display().to_string()) {
                    outside.push(Diagnostic { message: format!("`{}`: {}", path.display(), error.message), ..error });
                }
            }
        }
        if !outside.is_empty() {
            return Err(Report::of_kind(Kind::Spec, outside));
        }
        Ok(config)
    }

    /// Trains an entry's spec and compares its trace with the golden file, or rewrites the
    /// golden file when `bless`. The spec's warnings come with the verdict.
    pub fn check(&self, entry: &Entry, bless: bool, options: &RunOptions) -> Result<(Verdict, Option<Report>), Report> {
        let load = LoadOptions { allow_paths: self.allow_paths.clone(), ..LoadOptions::default() };
        let spec = Spec::load_with(&self.base.join(&entry.spec), &load)?;
        Ok((self.verdict(&spec, entry, bless, options)?, spec.warnings_report()))
    }

    fn verdict(&self, spec: &Spec, entry: &Entry, bless: bool, options: &RunOptions) -> Result<Verdict, Report> {
        let golden_path = self.base.join(&entry.golden);
        if bless {
            // A golden file is an output: never one of the files a spec of this config reads.
            let mut inputs = Vec::new();
            for other in &self.specs {
                inputs.push(("a spec of the configuration", self.base.join(&other.spec)));
            }
            inputs.extend(spec.inputs());
            project::check_roles(&inputs, &[("a golden trace", &golden_path)]).map_err(|d| spec.fail(d))?;
        }
        let lines = trace_of(spec, options)?;
        if bless {
            let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
            if let Some(dir) = golden_path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Report::from(Diagnostic::error(Code::Output, format!("cannot create `{}`: {e}", dir.display())))
                })?;
            }
            output::write_atomic(&golden_path, text.as_bytes())?;
            return Ok(Verdict::Blessed { path: golden_path, lines: lines.len() });
        }
        let golden = read_golden(&golden_path)?;
        let drift = Drift::between(&golden, &lines, self.test.tolerance);
        Ok(if drift.is_empty() { Verdict::Matches { epochs: lines.len() } } else { Verdict::Drifted { drift } })
    }
}

/// A golden trace: one JSON object per line, each with its `epoch`.
fn read_golden(path: &Path) -> Result<Vec<Value>, Report> {
    let shown = path.display().to_string();
    let bytes = input::read(path, "golden trace", &shown, MAX_TEXT_BYTES)
        .map_err(|error| Report::from(error.help("write it with `nnspec test --bless`")))?;
    let golden = String::from_utf8_lossy(&bytes);
    let mut parsed = Vec::new();
    for (number, line) in golden.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let not_a_line = |why: String| {
            Report::from(Diagnostic::error(
                Code::DataFile,
                format!("`{shown}:{}` is not a trace line: {why}", number + 1),
            ))
        };
        let value = serde_json::from_str::<Value>(line).map_err(|e| not_a_line(e.to_string()))?;
        if !value.is_object() || value.get("epoch").and_then(Value::as_u64).is_none() {
            return Err(not_a_line("a trace line is an object with its `epoch`".to_string()));
        }
        parsed.push(value);
    }
    Ok(parsed)
}

/// Trains a spec and returns its trace lines as JSON without `elapsed_s`.
fn trace_of(spec: &Spec, options: &RunOptions) -> Result<Vec<Value>, Report> {
    let run = run::train(spec, options, &mut ())?;
    Ok(run
        .outcome
        .trace
        .iter()
        .map(|line| {
            let mut value = serde_json::to_value(line).expect("serialisable");
            value.as_object_mut().expect("an object").remove("elapsed_s");
            value
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_found_in_the_nearest_folder_above() {
        let dir = std::env::temp_dir().join(format!("nnspec-find-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("project/specs/deep")).unwrap();
        std::fs::create_dir_all(dir.join("project/inner")).unwrap();
        std::fs::write(dir.join("project/nnspec.toml"), "").unwrap();
        std::fs::write(dir.join("project/inner/nnspec.toml"), "").unwrap();
        let found = |from: &str| {
            find_config(&dir.join(from)).map(|p| p.strip_prefix(project::resolve(&dir)).unwrap().to_path_buf())
        };
        assert_eq!(found("project/specs/deep").unwrap(), Path::new("project/nnspec.toml"));
        assert_eq!(found("project").unwrap(), Path::new("project/nnspec.toml"));
        assert_eq!(found("project/inner").unwrap(), Path::new("project/inner/nnspec.toml"), "the nearest wins");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
