//! Helpers shared by the integration tests: a builder that runs the `nnspec` binary and
//! states its exit code, stdout and stderr; scratch directories; in-process training.

use std::path::{Path, PathBuf};
use std::process::Command;

use nnspec::data::Prepared;
use nnspec::plan::{CompileOptions, Plan};
use nnspec::train::Outcome;

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

/// Compiles a spec file for in-process use.
pub fn compile_spec(path: &Path, chunk_rows: Option<usize>) -> (Plan, Prepared) {
    let spec = nnspec::Spec::load(path, &[]).expect("valid spec");
    let plan = spec.compile(CompileOptions { chunk_rows });
    let data = spec.load_data().expect("loadable data");
    (plan, data)
}

/// Trains in-process on a pool of `threads` threads.
pub fn train_with_threads(plan: &Plan, data: &Prepared, threads: usize) -> Outcome {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| nnspec::train::train(plan, data, &mut ())).expect("training succeeds")
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
