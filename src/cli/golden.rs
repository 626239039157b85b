//! `nnspec test`: trains the specs nnspec.toml lists and prints, for each, whether its trace
//! matches the golden file (see `crate::golden`); drift exits 1.

use std::path::{Path, PathBuf};

use super::{Context, emit, warn};
use crate::diagnostic::{Code, Diagnostic};
use crate::golden::{self, Config, LISTED, Verdict};
use crate::report::Report;
use crate::run::RunOptions;

pub fn test(config_path: Option<PathBuf>, bless: bool, options: &RunOptions, ctx: &Context) -> Result<(), Report> {
    let config_path = match config_path {
        Some(path) => path,
        None => golden::find_config(Path::new("."))?,
    };
    let config = Config::load(&config_path, &ctx.allow_paths)?;
    let mut drifted = Vec::new();
    for entry in &config.specs {
        let (verdict, warnings) = config.check(entry, bless, options)?;
        warn(warnings, ctx.color);
        match verdict {
            Verdict::Matches { epochs } => {
                emit(&format!("ok     {} ({epochs} epochs logged)\n", entry.spec.display()))?
            }
            Verdict::Blessed { path, lines } => emit(&format!("blessed {} ({lines} lines)\n", path.display()))?,
            Verdict::Drifted { drift } => {
                emit(&format!("DRIFT  {}\n{}", entry.spec.display(), drift.render(LISTED)))?;
                drifted.push(entry.spec.display().to_string());
            }
        }
    }
    if drifted.is_empty() {
        return Ok(());
    }
    Err(Report::from(
        Diagnostic::error(
            Code::Runtime,
            format!("{} spec(s) drifted from their golden traces: {}", drifted.len(), drifted.join(", ")),
        )
        .help("if the change is intended, run `nnspec test --bless` and commit the golden files"),
    ))
}
