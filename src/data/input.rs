//! The one way a data file is opened. Every CSV that training, `check`, `predict` and `eval`
//! read comes through `open_input`, so checks on what may be read live in one place: only
//! regular files (not FIFOs, devices or directories, which could block or never end), and
//! `.gz` files are decompressed as they are read.

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

/// Reads a whole data file into memory; `progress` is told `(bytes read, bytes expected)`
/// as blocks arrive (for `.gz`, decompressed bytes against four times the file's size). A
/// plain file is read in parallel blocks (positioned reads into disjoint parts of the buffer).
pub fn read_all(path: &Path, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Vec<u8>, InputError> {
    let mut input = open_input(path)?;
    if !input.gzip {
        return read_plain(path, input.disk_bytes, progress);
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
    Ok(bytes)
}

/// A regular file of `size` bytes, read in blocks of 8 MiB in parallel.
#[cfg(unix)]
fn read_plain(path: &Path, size: u64, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Vec<u8>, InputError> {
    use rayon::prelude::*;
    use std::os::unix::fs::FileExt;
    let file = crate::input::open(path, "data file", "").map_err(reason_of)?;
    let size = usize::try_from(size).map_err(|_| InputError("too large for this machine".into()))?;
    let mut bytes = vec![0u8; size];
    let done = std::sync::atomic::AtomicU64::new(0);
    const BLOCK: usize = 1 << 23;
    bytes.par_chunks_mut(BLOCK).enumerate().try_for_each(|(i, block)| {
        file.read_exact_at(block, (i * BLOCK) as u64).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => InputError("it became shorter while it was read".into()),
            _ => InputError(io_reason(&e)),
        })?;
        let read = done.fetch_add(block.len() as u64, std::sync::atomic::Ordering::Relaxed) + block.len() as u64;
        progress(read, size as u64);
        Ok(())
    })?;
    // A file that grew while it was read is read to its size at the start.
    Ok(bytes)
}

/// A regular file, read in one go (where positioned reads are not available).
#[cfg(not(unix))]
fn read_plain(path: &Path, size: u64, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Vec<u8>, InputError> {
    let bytes = std::fs::read(path).map_err(|e| InputError(io_reason(&e)))?;
    progress(bytes.len() as u64, size.max(bytes.len() as u64));
    Ok(bytes)
}

/// Reads only the first line of a data file (for checks before any row is read), refusing a
/// line longer than `MAX_HEADER_BYTES`.
pub fn read_header(path: &Path) -> Result<Vec<u8>, InputError> {
    let mut input = open_input(path)?;
    let mut line = Vec::new();
    let mut block = [0u8; 8192];
    loop {
        let read = match input.reader.read(&mut block) {
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
        assert_eq!(read_all(&path, &|_, _| {}).unwrap(), b"a,b\n1,2\n");
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
