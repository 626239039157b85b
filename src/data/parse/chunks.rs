//! Where the chunks of a body are, and their bytes. Chunks end just after a line end outside
//! quotes, about `CHUNK_BYTES` apart, so that how a file is cut never depends on the number
//! of threads. A regular file without quotes is cut from a first pass over fixed blocks
//! (each read into a buffer the thread reuses: its line ends, where its first line ends,
//! whether it holds a quote); each chunk is then read again just before it is parsed, so the
//! file is never held in memory whole, and no page of it is newly allocated.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::cells::is_space;
use super::{ParseError, ParseErrorKind};

/// A chunk: bytes `start..end` (of the bytes in memory, or of the file), its line ends, and
/// the file line its first byte is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub line_ends: usize,
    pub first_line: u64,
    /// Whether its last byte is a line end (known for every chunk but a file's last).
    pub ends_line: bool,
}

/// The chunks of `bytes[start..]`, whose first byte is on line `first_line`, about
/// `chunk_bytes` long each.
pub fn in_memory(bytes: &[u8], start: usize, first_line: u64, delimiter: u8, chunk_bytes: usize) -> Vec<Piece> {
    let mut cuts = if memchr::memchr(b'"', &bytes[start..]).is_none() {
        plain_cuts(bytes, start, chunk_bytes)
    } else {
        quoted_cuts(bytes, start, delimiter, chunk_bytes)
    };
    if *cuts.last().expect("start") < bytes.len() {
        cuts.push(bytes.len());
    }
    cuts.dedup();
    let line_ends: Vec<usize> =
        cuts.par_windows(2).map(|w| memchr::memchr_iter(b'\n', &bytes[w[0]..w[1]]).count()).collect();
    let mut line = first_line;
    cuts.windows(2)
        .zip(line_ends)
        .map(|(w, line_ends)| {
            let piece =
                Piece { start: w[0], end: w[1], line_ends, first_line: line, ends_line: bytes[w[1] - 1] == b'\n' };
            line += line_ends as u64;
            piece
        })
        .collect()
}

/// Cuts after the first line end at or past every `chunk_bytes`, where no field is quoted.
fn plain_cuts(bytes: &[u8], start: usize, chunk_bytes: usize) -> Vec<usize> {
    let mut cuts = vec![start];
    let mut next = start + chunk_bytes;
    while next < bytes.len() {
        match memchr::memchr(b'\n', &bytes[next..]) {
            Some(offset) => {
                cuts.push(next + offset + 1);
                next = next + offset + 1 + chunk_bytes;
            }
            None => break,
        }
    }
    cuts
}

/// Cuts after record ends, following fields exactly as `quoted::split_record` reads them: a
/// quote opens a quoted field only where the field starts (after spaces), and a quoted field
/// may hold line ends; a quote elsewhere is text. After a quote that never closes, no cut:
/// the parse of the last chunk reports it.
fn quoted_cuts(bytes: &[u8], start: usize, delimiter: u8, chunk_bytes: usize) -> Vec<usize> {
    let mut cuts = vec![start];
    let mut next = start + chunk_bytes;
    // Where the field being read starts, and whether it already holds more than spaces.
    let (mut pos, mut field_start, mut texty) = (start, start, false);
    while let Some(offset) = memchr::memchr3(delimiter, b'\n', b'"', &bytes[pos..]) {
        let at = pos + offset;
        match bytes[at] {
            b'"' if !texty && bytes[field_start..at].iter().all(|&b| is_space(b, delimiter)) => {
                // The quoted part ends at a quote not doubled; the rest of the field is text.
                let mut scan = at + 1;
                loop {
                    let Some(offset) = memchr::memchr(b'"', &bytes[scan..]) else { return cuts };
                    let quote = scan + offset;
                    if bytes.get(quote + 1) == Some(&b'"') {
                        scan = quote + 2;
                    } else {
                        pos = quote + 1;
                        break;
                    }
                }
                match memchr::memchr2(delimiter, b'\n', &bytes[pos..]) {
                    Some(offset) => pos += offset,
                    None => return cuts,
                }
                texty = true;
            }
            b'"' => {
                texty = true;
                pos = at + 1;
            }
            byte => {
                if byte == b'\n' && at + 1 >= next && at + 1 < bytes.len() {
                    cuts.push(at + 1);
                    next = at + 1 + chunk_bytes;
                }
                (pos, field_start, texty) = (at + 1, at + 1, false);
            }
        }
    }
    cuts
}

/// What the first pass learns of a block of a file.
struct Block {
    line_ends: usize,
    /// Where its first line end is, from the block's start.
    first_end: Option<usize>,
    quoted: bool,
}

/// Why a file cannot be read to its end.
fn unreadable(error: &std::io::Error) -> ParseError {
    let reason = match error.kind() {
        std::io::ErrorKind::UnexpectedEof => "it became shorter while it was read".to_string(),
        _ => error.to_string(),
    };
    ParseError { line: 0, kind: ParseErrorKind::Unreadable(reason) }
}

/// Reads bytes `start..end` of `file` into `buffer`.
#[cfg(unix)]
pub fn read_range(file: &File, start: usize, end: usize, buffer: &mut Vec<u8>) -> Result<(), ParseError> {
    use std::os::unix::fs::FileExt;
    buffer.resize(end - start, 0);
    file.read_exact_at(buffer, start as u64).map_err(|e| unreadable(&e))
}

/// Reads bytes `start..end` of `file` into `buffer`.
#[cfg(not(unix))]
pub fn read_range(file: &File, start: usize, end: usize, buffer: &mut Vec<u8>) -> Result<(), ParseError> {
    use std::io::{Read, Seek, SeekFrom};
    buffer.resize(end - start, 0);
    let mut file = file;
    file.seek(SeekFrom::Start(start as u64)).map_err(|e| unreadable(&e))?;
    file.read_exact(buffer).map_err(|e| unreadable(&e))
}

/// The chunks of bytes `start..end` of `file`, whose first byte is on line `first_line`; `None`
/// if the file holds a quote (quoted fields may hold line ends: it is then read whole).
/// `progress` is told `(bytes read, bytes)` as blocks are read.
pub fn in_file(
    file: &File,
    start: usize,
    end: usize,
    first_line: u64,
    chunk_bytes: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Option<Vec<Piece>>, ParseError> {
    let done = AtomicU64::new(0);
    let total = (end - start) as u64;
    let blocks: Vec<Block> = (start..end)
        .into_par_iter()
        .step_by(chunk_bytes)
        .map_init(Vec::new, |buffer, at| {
            read_range(file, at, (at + chunk_bytes).min(end), buffer)?;
            let read = done.fetch_add(buffer.len() as u64, Ordering::Relaxed) + buffer.len() as u64;
            progress(read, total);
            Ok(Block {
                line_ends: memchr::memchr_iter(b'\n', buffer).count(),
                first_end: memchr::memchr(b'\n', buffer),
                quoted: memchr::memchr(b'"', buffer).is_some(),
            })
        })
        .collect::<Result<_, ParseError>>()?;
    if blocks.iter().any(|b| b.quoted) {
        return Ok(None);
    }
    // A chunk starts after the first line end of each block (after the first), and takes
    // in the lines that began before it.
    let mut pieces = Vec::with_capacity(blocks.len());
    let (mut cut, mut before, mut line_ends) = (start, 0, 0);
    for (i, block) in blocks.iter().enumerate() {
        if i > 0
            && let Some(first) = block.first_end
            && start + i * chunk_bytes + first + 1 < end
        {
            let next = start + i * chunk_bytes + first + 1;
            let ends = line_ends + 1 - before;
            pieces.push(Piece {
                start: cut,
                end: next,
                line_ends: ends,
                first_line: first_line + before as u64,
                ends_line: true,
            });
            (cut, before) = (next, line_ends + 1);
        }
        line_ends += block.line_ends;
    }
    if cut < end {
        let ends = line_ends - before;
        // Whether the file ends with a line end is not known here: room for one more row.
        pieces.push(Piece {
            start: cut,
            end,
            line_ends: ends,
            first_line: first_line + before as u64,
            ends_line: false,
        });
    }
    Ok(Some(pieces))
}
