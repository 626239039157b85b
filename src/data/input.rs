//! The one way a data file is opened. Every CSV that training, `check`, `predict` and `eval`
//! read comes through `open_input`, so checks on what may be read live in one place: only
//! regular files (not FIFOs, devices or directories, which could block or never end), and
//! `.gz` files are decompressed as they are read. A regular file is read in parts by the
//! parser (`parse::Body::File`), never held whole.

use std::io::{BufReader, Read};
use std::path::Path;

/// The longest header line nnspec reads: a header is column names, not data.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Why a data file cannot be read, in words for a diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError(pub String);

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// An open data file: its bytes (decompressed for `.gz`) and its size on disk.
pub struct Input {
    pub reader: Box<dyn Read + Send>,
    /// Bytes on disk (compressed for `.gz`), for progress.
    pub disk_bytes: u64,
    pub gzip: bool,
}

/// The reason in `crate::input`'s message `cannot read data file ``: REASON`.
fn reason_of(diagnostic: crate::diagnostic::Diagnostic) -> InputError {
    let message = diagnostic.message;
    InputError(message.split_once("``: ").map_or(message.clone(), |(_, why)| why.to_string()))
}

/// Opens a data file for reading, refusing anything but a regular file.
pub fn open_input(path: &Path) -> Result<Input, InputError> {
    // `crate::input::open` refuses anything but a regular file, before opening it (a FIFO
    // would block) and after (it was not swapped in between).
    let file = crate::input::open(path, "data file", "").map_err(reason_of)?;
    let meta = file.metadata().map_err(|e| InputError(io_reason(&e)))?;
    let gzip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
    } else {
        Box::new(file)
    };
    Ok(Input { reader, disk_bytes: meta.len(), gzip })
}

/// A data file to read whole: a regular file, read in parts as it is parsed (`size` bytes,
/// its size when opened); or a `.gz` file's decompressed bytes.
pub enum Whole {
    Plain { file: std::fs::File, size: usize },
    Bytes(Vec<u8>),
}

/// Opens a data file to read whole; a `.gz` file is decompressed here, and `progress` told
/// `(bytes read, bytes expected)` as blocks arrive (four times the file's size expected).
pub fn open_whole(path: &Path, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Whole, InputError> {
    let mut input = open_input(path)?;
    if !input.gzip {
        let file = crate::input::open(path, "data file", "").map_err(reason_of)?;
        let size = usize::try_from(input.disk_bytes).map_err(|_| InputError("too large for this machine".into()))?;
        return Ok(Whole::Plain { file, size });
    }
    let expected = input.disk_bytes.saturating_mul(4);
    let mut bytes = Vec::with_capacity(usize::try_from(expected.min(1 << 34)).unwrap_or(0) + 1);
    let mut block = vec![0u8; 1 << 22];
    loop {
        let read = match input.reader.read(&mut block) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InputError(format!("not a readable gzip file ({e})"))),
        };
        bytes.extend_from_slice(&block[..read]);
        progress(bytes.len() as u64, expected.max(bytes.len() as u64));
    }
    Ok(Whole::Bytes(bytes))
}

/// The first line of a regular file (without its line end), refusing a line longer than
/// `MAX_HEADER_BYTES`.
pub fn first_line(file: &std::fs::File) -> Result<Vec<u8>, InputError> {
    line_of(file)
}

/// Reads only the first line of a data file (for checks before any row is read), refusing a
/// line longer than `MAX_HEADER_BYTES`.
pub fn read_header(path: &Path) -> Result<Vec<u8>, InputError> {
    line_of(open_input(path)?.reader)
}

/// The first line `reader` gives (without its line end), read block by block so an endless
/// line stops at `MAX_HEADER_BYTES` instead of filling memory.
fn line_of(mut reader: impl Read) -> Result<Vec<u8>, InputError> {
    let mut line = Vec::new();
    let mut block = vec![0u8; 1 << 16];
    loop {
        let read = match reader.read(&mut block) {
            Ok(0) => return Ok(line),
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InputError(io_reason(&e))),
        };
        if let Some(end) = memchr::memchr(b'\n', &block[..read]) {
            line.extend_from_slice(&block[..end]);
            return check_header_length(line);
        }
        line.extend_from_slice(&block[..read]);
        if line.len() > MAX_HEADER_BYTES {
            return check_header_length(line);
        }
    }
}

fn check_header_length(line: Vec<u8>) -> Result<Vec<u8>, InputError> {
    if line.len() > MAX_HEADER_BYTES {
        return Err(InputError(format!("its first line is longer than {} MiB: not a header", MAX_HEADER_BYTES >> 20)));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_directories_and_reads_gzip() {
        let dir = std::env::temp_dir().join(format!("nnspec-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(open_input(&dir).err().unwrap().0, "it is a directory");
        let path = dir.join("t.csv.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, b"a,b\n1,2\n").unwrap();
        std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        assert!(matches!(open_whole(&path, &|_, _| {}).unwrap(), Whole::Bytes(bytes) if bytes == b"a,b\n1,2\n"));
        let plain = dir.join("t.csv");
        std::fs::write(&plain, b"a,b\r\n1,2\n").unwrap();
        let Whole::Plain { file, size: 9 } = open_whole(&plain, &|_, _| {}).unwrap() else { panic!("a plain file") };
        assert_eq!(first_line(&file).unwrap(), b"a,b\r");
        assert_eq!(read_header(&path).unwrap(), b"a,b");
        std::fs::write(dir.join("long.csv"), vec![b'a'; MAX_HEADER_BYTES + 10]).unwrap();
        assert!(read_header(&dir.join("long.csv")).unwrap_err().0.contains("longer than"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_devices() {
        assert!(open_input(Path::new("/dev/null")).err().unwrap().0.contains("not a regular file"));
        assert_eq!(open_input(Path::new("/no/such")).err().unwrap().0, "no such file");
    }
}
