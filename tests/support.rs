//! Helpers shared by the integration tests: a builder that runs the `nnspec` binary and
//! states its exit code, stdout and stderr; scratch directories; in-process training.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary printed and returned.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `nnspec` with `args` in `dir`, without colours.
pub fn nnspec(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_nnspec"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the nnspec binary runs");
    Output {
        code: output.status.code().expect("nnspec exits rather than being killed"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// The repository root (where `specs/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory holding the given files, removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str, files: &[(&str, &str)]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nnspec-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Trains a spec file in-process through the library's façade (as `nnspec run` does), on
/// `threads` threads, with `chunk_rows` rows per parallel chunk instead of the plan's rule.
pub fn train_spec(path: &Path, threads: usize, chunk_rows: Option<usize>) -> nnspec::Run {
    let spec = nnspec::Spec::load(path, &[]).expect("valid spec");
    let options = nnspec::RunOptions { threads: Some(threads), chunk_rows, ..nnspec::RunOptions::default() };
    nnspec::run::train(&spec, &options, &mut ()).unwrap_or_else(|report| panic!("{report}"))
}

/// Every spec under `specs/`, sorted.
pub fn all_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "nn"))
        .collect();
    specs.sort();
    specs
}
