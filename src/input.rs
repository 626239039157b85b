//! Input files, read so that no input can hang nnspec or exhaust its memory: only regular files
//! are opened (a FIFO would block forever, `/dev/zero` never ends), whole-file reads are capped,
//! and text is read through `LineLimit`, which refuses a line longer than a cap instead of
//! buffering an endless one.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::diagnostic::{Code, Diagnostic};

/// The longest line a CSV file (header or row) may have: ~1.6 million columns of 9 characters.
pub const MAX_LINE_BYTES: usize = 16 << 20;

fn reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// The diagnostic for an input that cannot be read: `cannot read {what} `{shown}`: {why}`.
pub fn cannot_read(what: &str, shown: &str, why: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Code::DataFile, format!("cannot read {what} `{shown}`: {why}"))
}

/// Opens `path` for reading if it is a regular file (links followed). `what` and `shown` name
/// it in errors: `("data file", "data/iris.csv")`.
pub fn open(path: &Path, what: &str, shown: &str) -> Result<File, Diagnostic> {
    // Checked before opening: opening a FIFO for reading would block until a writer comes.
    let metadata = std::fs::metadata(path).map_err(|error| cannot_read(what, shown, reason(&error)))?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() { "a directory" } else { "not a regular file (a device, pipe or socket)" };
        return Err(cannot_read(what, shown, format!("it is {kind}")));
    }
    let file = File::open(path).map_err(|error| cannot_read(what, shown, reason(&error)))?;
    // The file opened must still be a regular one (it was not swapped in between).
    match file.metadata() {
        Ok(opened) if opened.is_file() => Ok(file),
        _ => Err(cannot_read(what, shown, "it is not a regular file")),
    }
}

/// Reads a whole regular file of at most `max_bytes` bytes.
pub fn read(path: &Path, what: &str, shown: &str, max_bytes: u64) -> Result<Vec<u8>, Diagnostic> {
    let file = open(path, what, shown)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max_bytes {
        return Err(cannot_read(
            what,
            shown,
            format!("it is {} bytes, more than the {max_bytes} nnspec reads as a {what}", size),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take` bounds the read even if the file grows meanwhile.
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|error| cannot_read(what, shown, reason(&error)))?;
    if bytes.len() as u64 > max_bytes {
        return Err(cannot_read(what, shown, format!("it grew past {max_bytes} bytes while being read")));
    }
    Ok(bytes)
}

/// A reader that fails with `InvalidData` once a line runs past `limit` bytes.
pub struct LineLimit<R> {
    inner: R,
    limit: usize,
    /// Bytes since the last newline.
    current: usize,
}

impl<R: Read> LineLimit<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        LineLimit { inner, limit, current: 0 }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        for &byte in &buffer[..read] {
            if byte == b'\n' {
                self.current = 0;
            } else {
                self.current += 1;
                if self.current > self.limit {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a line is longer than {} bytes", self.limit),
                    ));
                }
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        assert!(open(Path::new("/dev/zero"), "data file", "z").unwrap_err().message.contains("not a regular file"));
        assert!(open(Path::new("/"), "spec", "/").unwrap_err().message.contains("a directory"));
        assert!(open(Path::new("/no/such/file"), "spec", "f").unwrap_err().message.contains("no such file"));
    }

    #[test]
    fn long_lines_are_refused_and_big_files_not_read() {
        let text = format!("a,b\n{}\n", "x".repeat(100));
        let mut out = String::new();
        let error = LineLimit::new(text.as_bytes(), 50).read_to_string(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let mut out = String::new();
        LineLimit::new(text.as_bytes(), 100).read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
        let path = std::env::temp_dir().join(format!("nnspec-input-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; 1000]).unwrap();
        assert!(read(&path, "spec", "s", 999).unwrap_err().message.contains("more than the 999"));
        assert_eq!(read(&path, "spec", "s", 1000).unwrap().len(), 1000);
        std::fs::remove_file(&path).unwrap();
    }
}
