//! Output files are written atomically: to a temporary file beside the target, then renamed,
//! so a killed run leaves each output complete or absent, never half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Diagnostic {
    Diagnostic::error(Code::Output, format!("cannot write `{}`: {error}", path.display()))
        .help("check that the directory exists and is writable")
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    let temp = temp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|error| {
        let _ = std::fs::remove_file(&temp);
        cannot_write(path, &error)
    })
}

/// Checks before a run that `path` can be written, so a long run does not fail at its end.
pub fn check_writable(path: &Path) -> Result<(), Diagnostic> {
    let temp = temp_path(path);
    std::fs::File::create(&temp).map_err(|error| cannot_write(path, &error))?;
    let _ = std::fs::remove_file(&temp);
    if path.is_dir() {
        return Err(Diagnostic::error(Code::Output, format!("cannot write `{}`: it is a directory", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_reports_bad_paths() {
        let dir = std::env::temp_dir().join(format!("nnspec-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        write_atomic(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
        let missing = dir.join("no/such/dir/trace.jsonl");
        assert!(check_writable(&missing).is_err());
        assert!(write_atomic(&missing, b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
