//! Output files, written so that nothing else is harmed and nothing is left half-written.
//!
//! A file is written to a temporary file beside it, then renamed over it: a killed run leaves
//! each output complete or absent. The temporary file is created exclusively under an
//! unpredictable name (`.NAME.nnspec-PID-RANDOM.tmp`, by the `tempfile` crate), so a planted
//! file or link cannot redirect the write. The target itself must be a regular file (or absent):
//! a symbolic link, a device, a pipe or a directory is refused rather than replaced, as is a
//! read-only file or one owned by another user. A replaced file keeps its permissions; a new
//! one gets the usual `0666` less the umask. Temporary files that a killed nnspec left beside
//! a target (their process is gone) are removed on the next write of that target.
//!
//! A file that grows as a run goes (the `--trace` file, which can be followed live) is a
//! `LiveFile`: made the same way, but renamed over its target at once, while still empty, then
//! appended to a whole line at a time and flushed. It is never half a line long, but it is not
//! atomic: a killed run leaves the lines written until then.

use std::fs::{Metadata, Permissions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic};

fn cannot_write(path: &Path, why: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Code::Output, format!("cannot write `{}`: {why}", path.display()))
}

fn io_error(path: &Path, error: &std::io::Error) -> Diagnostic {
    cannot_write(path, error).help("check that the directory exists and is writable")
}

/// The directory a target lives in and its file name.
fn split(path: &Path) -> Result<(PathBuf, String), Diagnostic> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| cannot_write(path, "it names no file"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name))
}

/// The existing target's metadata (`None` if absent), refusing what must not be replaced.
fn existing_target(path: &Path) -> Result<Option<Metadata>, Diagnostic> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path, &error)),
    };
    let kind = metadata.file_type();
    if kind.is_symlink() {
        return Err(cannot_write(path, "it is a symbolic link, which nnspec does not replace or write through")
            .help("name the file the link points to, or another path"));
    }
    if kind.is_dir() {
        return Err(cannot_write(path, "it is a directory"));
    }
    if !kind.is_file() {
        return Err(cannot_write(path, "it is not a regular file (a device, pipe or socket)")
            .help("nnspec writes outputs as regular files only"));
    }
    if metadata.permissions().readonly() {
        return Err(cannot_write(path, "it is read-only").help("make it writable, or choose another path"));
    }
    Ok(Some(metadata))
}

/// The prefix of this process's temporary files for `name`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.nnspec-{}-", std::process::id())
}

/// Creates an exclusive, unpredictably named temporary file in `dir` for target `name`.
fn create_temp(dir: &Path, name: &str, target: &Path) -> Result<tempfile::NamedTempFile, Diagnostic> {
    #[cfg(unix)]
    let permissions = {
        use std::os::unix::fs::PermissionsExt;
        Permissions::from_mode(0o666)
    };
    let prefix = temp_prefix(name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp").rand_bytes(12);
    #[cfg(unix)]
    builder.permissions(permissions);
    builder.tempfile_in(dir).map_err(|error| io_error(target, &error))
}

/// Whether two files have the same owner (on Unix; elsewhere, always).
fn same_owner(a: &Metadata, b: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.uid() == b.uid()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Removes temporary files for `name` in `dir` whose process has ended (left by a killed run).
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.nnspec-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<u32>().ok()) else { continue };
        if !file_name.ends_with(".tmp") || pid == std::process::id() || process_alive(pid) {
            continue;
        }
        if entry.file_type().is_ok_and(|kind| kind.is_file() || kind.is_symlink()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process exists (Linux's /proc; elsewhere assumed alive, so nothing is removed).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// A temporary file beside `path`, ready to replace it: the target checked (a regular file of
/// ours, or absent), stale temporary files removed, a replaced file's permissions taken over.
fn replacement(path: &Path) -> Result<tempfile::NamedTempFile, Diagnostic> {
    let (dir, name) = split(path)?;
    let existing = existing_target(path)?;
    remove_stale_temps(&dir, &name);
    let temp = create_temp(&dir, &name, path)?;
    if let Some(existing) = &existing {
        let mine = temp.as_file().metadata().map_err(|error| io_error(path, &error))?;
        if !same_owner(existing, &mine) {
            return Err(cannot_write(path, "it belongs to another user").help("choose a path of your own"));
        }
        temp.as_file().set_permissions(existing.permissions()).map_err(|error| io_error(path, &error))?;
    }
    Ok(temp)
}

/// Writes `bytes` to `path` atomically, safely (see the module's documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    let mut temp = replacement(path)?;
    temp.write_all(bytes).and_then(|()| temp.as_file().sync_all()).map_err(|error| io_error(path, &error))?;
    temp.persist(path).map_err(|error| io_error(path, &error.error))?;
    Ok(())
}

/// A file written as it grows, at its final path (see the module's documentation): each
/// `append` is one write, flushed to disk before it returns.
#[derive(Debug)]
pub struct LiveFile {
    path: PathBuf,
    file: std::fs::File,
    /// Bytes written, and where the last `append` began.
    len: u64,
    last: u64,
}

impl LiveFile {
    /// Replaces `path` with an empty file, with `write_atomic`'s checks: a link, a device, a
    /// directory, a read-only file or another user's file is refused and left as it was.
    pub fn create(path: &Path) -> Result<LiveFile, Diagnostic> {
        let temp = replacement(path)?;
        let file = temp.persist(path).map_err(|error| io_error(path, &error.error))?;
        Ok(LiveFile { path: path.to_path_buf(), file, len: 0, last: 0 })
    }

    /// Appends `bytes` (whole lines) and flushes them.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), Diagnostic> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|error| io_error(&self.path, &error))?;
        self.last = self.len;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Replaces what the last `append` wrote with `bytes` (a final line that gained keys).
    pub fn replace_last(&mut self, bytes: &[u8]) -> Result<(), Diagnostic> {
        use std::io::{Seek, SeekFrom};
        let last = self.last;
        self.file
            .set_len(last)
            .and_then(|()| self.file.seek(SeekFrom::Start(last)).map(drop))
            .map_err(|error| io_error(&self.path, &error))?;
        self.len = last;
        self.append(bytes)?;
        self.last = last;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Appends `bytes` to the regular file `path` (created if absent) and flushes them to disk.
/// Used for files that grow as a run goes (a checkpoint directory's trace); a killed run may
/// leave a partial last line, which readers of such files ignore.
pub fn append(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    existing_target(path)?;
    let mut file =
        std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|error| io_error(path, &error))?;
    file.write_all(bytes).and_then(|()| file.sync_data()).map_err(|error| io_error(path, &error))
}

/// Checks before a run that `path` can be written, so that a long run does not fail at its end.
pub fn check_writable(path: &Path) -> Result<(), Diagnostic> {
    let (dir, name) = split(path)?;
    let existing = existing_target(path)?;
    let temp = create_temp(&dir, &name, path)?;
    if let Some(existing) = &existing {
        let mine = temp.as_file().metadata().map_err(|error| io_error(path, &error))?;
        if !same_owner(existing, &mine) {
            return Err(cannot_write(path, "it belongs to another user").help("choose a path of your own"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nnspec-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_whole_files_and_reports_bad_paths() {
        let dir = scratch("whole");
        let path = dir.join("trace.jsonl");
        write_atomic(&path, b"{}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
        let missing = dir.join("no/such/dir/trace.jsonl");
        assert!(check_writable(&missing).is_err());
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(write_atomic(&dir, b"x").unwrap_err().message.contains("is a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_file_replaces_its_target_at_once_and_grows_by_whole_lines() {
        let dir = scratch("live");
        let path = dir.join("trace.jsonl");
        std::fs::write(&path, "an older run's trace\n").unwrap();
        let mut live = LiveFile::create(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"", "replaced at once, not at the end");
        live.append(b"{\"epoch\":1}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"epoch\":1}\n", "readable as soon as appended");
        live.append(b"{\"epoch\":2}\n").unwrap();
        live.replace_last(b"{\"epoch\":2,\"test_loss\":0.5}\n").unwrap();
        live.append(b"{\"epoch\":3}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"epoch\":1}\n{\"epoch\":2,\"test_loss\":0.5}\n{\"epoch\":3}\n"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
        assert!(LiveFile::create(&dir).unwrap_err().message.contains("is a directory"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let victim = dir.join("victim.txt");
            std::fs::write(&victim, "keep me").unwrap();
            let link = dir.join("link.jsonl");
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            assert!(LiveFile::create(&link).unwrap_err().message.contains("symbolic link"));
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
            assert!(LiveFile::create(Path::new("/dev/null")).unwrap_err().message.contains("not a regular file"));
            std::fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
            drop(LiveFile::create(&path).unwrap());
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "the mode is kept");
            std::fs::set_permissions(&path, Permissions::from_mode(0o444)).unwrap();
            assert!(LiveFile::create(&path).unwrap_err().message.contains("read-only"));
            let theirs = dir.join("theirs.jsonl");
            std::fs::write(&theirs, "old").unwrap();
            if std::os::unix::fs::chown(&theirs, Some(54_321), None).is_ok() {
                assert!(LiveFile::create(&theirs).unwrap_err().message.contains("another user"));
                assert_eq!(std::fs::read(&theirs).unwrap(), b"old");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_devices_and_read_only_files_are_refused_and_modes_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("refuse");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let link = dir.join("out.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let error = write_atomic(&link, b"x").unwrap_err();
        assert!(error.message.contains("symbolic link"), "{}", error.message);
        assert!(check_writable(&link).is_err());
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        let error = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(error.message.contains("not a regular file"), "{}", error.message);
        // A private file stays private.
        let private = dir.join("private.safetensors");
        std::fs::write(&private, "old").unwrap();
        std::fs::set_permissions(&private, Permissions::from_mode(0o600)).unwrap();
        write_atomic(&private, b"new").unwrap();
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&private).unwrap(), b"new");
        let read_only = dir.join("read-only.jsonl");
        std::fs::write(&read_only, "old").unwrap();
        std::fs::set_permissions(&read_only, Permissions::from_mode(0o444)).unwrap();
        assert!(write_atomic(&read_only, b"new").unwrap_err().message.contains("read-only"));
        assert_eq!(std::fs::read(&read_only).unwrap(), b"old");
        // Another user's file (only root can make one to test with).
        let theirs = dir.join("theirs.jsonl");
        std::fs::write(&theirs, "old").unwrap();
        if std::os::unix::fs::chown(&theirs, Some(54_321), None).is_ok() {
            assert!(write_atomic(&theirs, b"new").unwrap_err().message.contains("another user"));
            assert!(check_writable(&theirs).is_err());
            assert_eq!(std::fs::read(&theirs).unwrap(), b"old");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn planted_temp_names_are_not_followed_and_stale_temps_are_removed() {
        let dir = scratch("planted");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        // The old predictable name, and this process's own prefix, planted as links.
        std::os::unix::fs::symlink(&victim, dir.join(format!(".w.bin.tmp-{}", std::process::id()))).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(format!("{}abc.tmp", temp_prefix("w.bin")))).unwrap();
        // A temporary file of a process that no longer exists (pid beyond the kernel's maximum).
        let stale = dir.join(".w.bin.nnspec-4294967295-x1y2z3.tmp");
        std::fs::write(&stale, "half").unwrap();
        write_atomic(&dir.join("w.bin"), b"whole").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(std::fs::read(dir.join("w.bin")).unwrap(), b"whole");
        assert!(!stale.exists(), "the dead process's temporary file is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
