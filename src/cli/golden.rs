//! `nnspec test`: the users' CI. `nnspec.toml` lists specs and their golden traces; each spec
//! is trained and its trace compared with the committed golden file within a stated tolerance;
//! `--bless` rewrites the golden files. Drift exits 1 with a readable diff of what moved.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::commands::thread_pool;
use super::emit;
use crate::diagnostic::{Code, ColorChoice, Diagnostic};
use crate::plan::{CompileOptions, compile};
use crate::span::Source;
use crate::{Failure, data, output, train};

/// `nnspec.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    test: Settings,
    #[serde(default)]
    specs: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The relative difference allowed for each number of a trace line.
    #[serde(default = "default_tolerance")]
    tolerance: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { tolerance: default_tolerance() }
    }
}

fn default_tolerance() -> f64 {
    1e-4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    spec: PathBuf,
    golden: PathBuf,
}

fn config_error(path: &Path, message: String) -> Failure {
    Failure::Spec(vec![Diagnostic::error(Code::Syntax, format!("`{}`: {message}", path.display()))])
}

pub fn test(config_path: &Path, bless: bool, threads: Option<u16>, color: ColorChoice) -> Result<(), Failure> {
    let text = std::fs::read_to_string(config_path).map_err(|e| {
        Failure::from(Diagnostic::error(Code::DataFile, format!("cannot read `{}`: {e}", config_path.display())))
    })?;
    let config: Config = toml::from_str(&text).map_err(|e| config_error(config_path, e.to_string()))?;
    if config.specs.is_empty() {
        return Err(config_error(config_path, "lists no `[[specs]]`".to_string()));
    }
    let base = config_path.parent().unwrap_or(Path::new("."));
    let pool = thread_pool(threads)?;
    let mut drifted = Vec::new();
    for entry in &config.specs {
        let spec_path = base.join(&entry.spec);
        let golden_path = base.join(&entry.golden);
        let mut source: Option<Source> = None;
        let lines = match trace_of(&spec_path, &mut source, color, &pool) {
            Ok(lines) => lines,
            Err(failure) => {
                let source = source.unwrap_or_else(|| Source::new(spec_path.display().to_string(), ""));
                eprint!("{}", crate::diagnostic::render_all(failure.diagnostics(), &source, color));
                // Keep the kind (an invalid spec exits 2); its diagnostics are already printed.
                return Err(match failure {
                    Failure::Spec(_) => Failure::Spec(Vec::new()),
                    Failure::Run(_) => Failure::Run(Vec::new()),
                });
            }
        };
        if bless {
            let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
            if let Some(dir) = golden_path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Failure::from(Diagnostic::error(Code::Output, format!("cannot create `{}`: {e}", dir.display())))
                })?;
            }
            output::write_atomic(&golden_path, text.as_bytes())?;
            emit(&format!("blessed {} ({} lines)\n", golden_path.display(), lines.len()))?;
            continue;
        }
        let golden = std::fs::read_to_string(&golden_path).map_err(|e| {
            Failure::from(
                Diagnostic::error(Code::DataFile, format!("cannot read golden trace `{}`: {e}", golden_path.display()))
                    .help("write it with `nnspec test --bless`"),
            )
        })?;
        let mut parsed = Vec::new();
        for (number, line) in golden.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            parsed.push(serde_json::from_str::<Value>(line).map_err(|e| {
                Failure::from(Diagnostic::error(
                    Code::DataFile,
                    format!("`{}:{}` is not a trace line: {e}", golden_path.display(), number + 1),
                ))
            })?);
        }
        let golden = parsed;
        let differences = compare(&golden, &lines, config.test.tolerance);
        if differences.is_empty() {
            emit(&format!("ok     {} ({} epochs logged)\n", entry.spec.display(), lines.len()))?;
        } else {
            emit(&format!("DRIFT  {}\n{}", entry.spec.display(), differences.join("")))?;
            drifted.push(entry.spec.display().to_string());
        }
    }
    if drifted.is_empty() {
        return Ok(());
    }
    Err(Failure::Run(vec![
        Diagnostic::error(
            Code::Runtime,
            format!("{} spec(s) drifted from their golden traces: {}", drifted.len(), drifted.join(", ")),
        )
        .help("if the change is intended, run `nnspec test --bless` and commit the golden files"),
    ]))
}

/// Trains a spec and returns its trace lines as JSON without `elapsed_s`.
fn trace_of(
    path: &Path,
    source: &mut Option<Source>,
    color: ColorChoice,
    pool: &rayon::ThreadPool,
) -> Result<Vec<Value>, Failure> {
    let model = super::load(path, source, color)?;
    data::probe(&model)?;
    super::check_memory(&model)?;
    let plan = compile(&model, source.as_ref().expect("loaded"), CompileOptions::default());
    let prepared = data::load(&model)?;
    let outcome = pool.install(|| train::train(&plan, &prepared, |_| {}))?;
    Ok(outcome
        .trace
        .iter()
        .map(|line| {
            let mut value = serde_json::to_value(line).expect("serialisable");
            value.as_object_mut().expect("an object").remove("elapsed_s");
            value
        })
        .collect())
}

/// The epochs whose values moved beyond `tolerance` (relative; absolute below 1e-12), one line
/// per changed key: `epoch 20: loss 0.1234 -> 0.1301 (+5.4%)`.
fn compare(golden: &[Value], now: &[Value], tolerance: f64) -> Vec<String> {
    let mut out = Vec::new();
    if golden.len() != now.len() {
        out.push(format!("  {} logged epochs now, {} in the golden trace\n", now.len(), golden.len()));
    }
    for (old, new) in golden.iter().zip(now) {
        let epoch = new["epoch"].as_u64().unwrap_or(0);
        let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else { continue };
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.dedup();
        let mut seen = Vec::new();
        for key in keys {
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            match (old.get(key).and_then(Value::as_f64), new.get(key).and_then(Value::as_f64)) {
                (Some(a), Some(b)) => {
                    let scale = a.abs().max(b.abs());
                    if (a - b).abs() > tolerance * scale && (a - b).abs() > 1e-12 {
                        let change =
                            if a != 0.0 { format!(" ({:+.2}%)", (b - a) / a.abs() * 100.0) } else { String::new() };
                        out.push(format!("  epoch {epoch}: {key} {a} -> {b}{change}\n"));
                    }
                }
                (a, b) if a.is_some() != b.is_some() => {
                    out.push(format!("  epoch {epoch}: {key} {} -> {}\n", show(a), show(b)));
                }
                _ => {}
            }
        }
    }
    out
}

fn show(value: Option<f64>) -> String {
    value.map_or("absent".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_beyond_the_tolerance_are_listed() {
        let golden = vec![serde_json::json!({"epoch": 1, "loss": 1.0, "accuracy": 0.5})];
        let close = vec![serde_json::json!({"epoch": 1, "loss": 1.00005, "accuracy": 0.5})];
        assert!(compare(&golden, &close, 1e-4).is_empty());
        let moved = vec![serde_json::json!({"epoch": 1, "loss": 1.1, "accuracy": 0.5})];
        assert_eq!(compare(&golden, &moved, 1e-4), ["  epoch 1: loss 1 -> 1.1 (+10.00%)\n"]);
        let fewer: Vec<Value> = Vec::new();
        assert_eq!(compare(&golden, &fewer, 1e-4).len(), 1);
    }
}
