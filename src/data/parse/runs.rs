//! Runs of whole-number cells (`0,12,255,0,...`), the bulk of large numeric tables, read 64
//! bytes at a time. A block's delimiters and its other bytes (neither a digit nor the
//! delimiter) are found at once as bit masks (the `wide` crate's portable SIMD); each cell
//! is then read from the eight bytes that end with its delimiter, so that cells do not wait
//! on each other, only on where the one before ended. Cells of at most four digits (pixels,
//! counts, codes: nearly every cell of such tables) take two multiplications; a block with a
//! longer cell is read again with three, and so is the rest of the run.
//!
//! No bounds check is left in the loop over a block's cells: each cell's eight bytes are read
//! from a 72-byte window (the block and the eight bytes before it) at an index below 64, and
//! the cells' slots are taken as one slice per block. The loop is compiled for AVX2 and BMI2
//! where the CPU has them (variable shifts and bit scans in one instruction each), and for
//! the baseline elsewhere, by `multiversion`, without `unsafe`.

use multiversion::multiversion;
use wide::u8x16;

/// Bytes per block.
const BLOCK: usize = 64;
/// A block and the eight bytes before it.
const WINDOW: usize = BLOCK + 8;

const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Reads `out.len()` cells from `pos`, each of 1 to 7 digits ended by `delimiter` (not a
/// digit), into `out`; returns the position after the last delimiter, or `None` if any cell
/// is otherwise (`out` is then partly written). Bytes of `bytes` past the run may be looked
/// at (up to a block), never taken as cells.
pub fn digit_cells(bytes: &[u8], pos: usize, delimiter: u8, out: &mut [f32]) -> Option<usize> {
    read_run(bytes, pos, delimiter, out)
}

#[multiversion(targets("x86_64+avx2+bmi1+bmi2+popcnt"))]
fn read_run(bytes: &[u8], pos: usize, delimiter: u8, out: &mut [f32]) -> Option<usize> {
    let count = out.len();
    // Past either end of `bytes`, bytes that are neither digits nor the delimiter.
    let filler = if delimiter == b'\n' { b'\r' } else { b'\n' };
    let mut padded;
    let (mut done, mut start, mut at) = (0, pos, pos);
    let mut short = true;
    while done < count {
        let window: &[u8; WINDOW] = match at.checked_sub(8).and_then(|from| bytes.get(from..at + BLOCK)) {
            Some(window) => window.try_into().ok()?,
            None => {
                padded = [filler; WINDOW];
                let (from, to) = (at.saturating_sub(8), (at + BLOCK).min(bytes.len()));
                if from < to {
                    padded[from + 8 - at..to + 8 - at].copy_from_slice(&bytes[from..to]);
                }
                &padded
            }
        };
        let (delimiters, others) = block_marks(window, delimiter);
        // The delimiters before the first other byte, and the digits.
        let ends = delimiters & (others & others.wrapping_neg()).wrapping_sub(1);
        let digits = !(delimiters | others);
        let take = (ends.count_ones() as usize).min(count - done);
        let slots = out.get_mut(done..done + take)?;
        // Where the block's first cell starts, from the block's start (wrapping: it may
        // start in a block before).
        let first = start.wrapping_sub(at);
        let mut taken = 0;
        if short {
            taken = ends ^ cells::<SHORT>(window, ends, first, slots);
            short = fit(ends, taken, digits, first, SHORT);
        }
        if !short {
            taken = ends ^ cells::<LONG>(window, ends, first, slots);
            if !fit(ends, taken, digits, first, LONG) {
                return None;
            }
        }
        if taken != 0 {
            start = at + (63 - taken.leading_zeros() as usize) + 1;
        }
        done += take;
        if others != 0 && done < count {
            return None;
        }
        at += BLOCK;
    }
    Some(start)
}

/// The bit of each byte of the block in `window` that is the delimiter, and of each that is
/// neither the delimiter nor a digit.
#[inline(always)]
fn block_marks(window: &[u8; WINDOW], delimiter: u8) -> (u64, u64) {
    let (mut delimiters, mut others) = (0u64, 0u64);
    for (i, part) in window[8..].chunks_exact(16).enumerate() {
        let v = u8x16::new(part.try_into().unwrap_or_default());
        let is_delimiter = v.simd_eq(u8x16::splat(delimiter));
        let d = v - u8x16::splat(b'0');
        let is_digit = d.min(u8x16::splat(9)).simd_eq(d);
        delimiters |= u64::from(is_delimiter.to_bitmask()) << (16 * i);
        others |= u64::from(!(is_digit | is_delimiter).to_bitmask() & 0xffff) << (16 * i);
    }
    (delimiters, others)
}

/// The most digits of a short cell (read with two multiplications), and of any cell.
const SHORT: usize = 4;
const LONG: usize = 7;

/// Per digit count (modulo 8), the bits of the last `SHORT` bytes before a delimiter that
/// are a cell's digits (in the top bytes of a `u32`), or of the last `LONG` (of a `u64`).
const SHORT_MASKS: [u64; 8] = {
    let mut masks = [0u64; 8];
    let mut len = 1;
    while len <= SHORT {
        masks[len] = (u32::MAX << (32 - 8 * len)) as u64;
        len += 1;
    }
    masks
};
const LONG_MASKS: [u64; 8] = {
    let mut masks = [0u64; 8];
    let mut len = 1;
    while len <= LONG {
        masks[len] = u64::MAX << (64 - 8 * len);
        len += 1;
    }
    masks
};

/// The eight bytes of `window` that end with byte `end` of its block, little-endian.
#[inline(always)]
fn word_ending(window: &[u8; WINDOW], end: usize) -> u64 {
    let from = (end & (BLOCK - 1)) + 1;
    u64::from_le_bytes(*window[from..].first_chunk::<8>().unwrap_or(&[0; 8]))
}

/// Reads the cells that end at the delimiters `ends` of the block in `window` into `slots`,
/// one per slot, as cells of at most `MOST` digits (`SHORT` or `LONG`); the first starts at
/// `first` from the block's start. Returns the delimiters left over. A cell of another
/// length is read as some number: `fit` tells whether any was.
#[inline(always)]
fn cells<const MOST: usize>(window: &[u8; WINDOW], mut ends: u64, first: usize, slots: &mut [f32]) -> u64 {
    let mut start = first;
    for slot in slots {
        let end = ends.trailing_zeros() as usize;
        ends &= ends.wrapping_sub(1);
        let len = end.wrapping_sub(start);
        start = end + 1;
        let word = word_ending(window, end) ^ ZEROS;
        let value = if MOST == SHORT {
            // The four bytes before the delimiter, the last digit highest, those before the
            // cell cleared: pairs of digits, then the pairs combined.
            let digits = (word >> 24) as u32 & SHORT_MASKS[len & 7] as u32;
            let pairs = digits.wrapping_mul(10 << 8 | 1) >> 8;
            (pairs & 0x00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16
        } else {
            super::swar::combine((word << 8) & LONG_MASKS[len & 7])
        };
        *slot = value as f32;
    }
    ends
}

/// Whether each cell read by `cells` at the delimiters `taken` (the lowest of `ends`) had 1
/// to `most` digits, where `digits` are the block's digits and `first` where its first cell
/// starts. Each cell but the first starts in the block, after a delimiter: it is empty when
/// the byte before its delimiter is one too, and too long when the `most + 1` bytes before
/// it are digits.
#[inline(always)]
fn fit(ends: u64, taken: u64, digits: u64, first: usize, most: usize) -> bool {
    if taken == 0 {
        return true;
    }
    let first_len = (taken.trailing_zeros() as usize).wrapping_sub(first);
    // Runs of two, four, and `most + 1` digits ending at each byte.
    let two = digits & (digits << 1);
    let four = two & (two << 2);
    let over = if most == SHORT { four & (digits << 4) } else { four & (four << 4) };
    let rest = taken & taken.wrapping_sub(1);
    first_len.wrapping_sub(1) < most && rest & ((ends | over) << 1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parse::tests::Cases;

    /// What `digit_cells` must give: the first `count` cells from `pos`, each 1 to 7 digits
    /// then `delimiter`, as `str::parse` reads them, and the position after them.
    fn reference(bytes: &[u8], pos: usize, delimiter: u8, count: usize) -> Option<(Vec<f32>, usize)> {
        let (mut values, mut at) = (Vec::new(), pos);
        for _ in 0..count {
            let len = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=7).contains(&len) || bytes.get(at + len) != Some(&delimiter) {
                return None;
            }
            values.push(std::str::from_utf8(&bytes[at..at + len]).ok()?.parse().ok()?);
            at += len + 1;
        }
        Some((values, at))
    }

    fn read(bytes: &[u8], pos: usize, delimiter: u8, count: usize) -> Option<(Vec<f32>, usize)> {
        let mut out = vec![f32::NAN; count];
        digit_cells(bytes, pos, delimiter, &mut out).map(|next| (out, next))
    }

    /// Runs of cells of every length from 0 to 9 digits (mostly short, some long, now and
    /// then an empty one or another byte), read from every offset before and across block
    /// boundaries, cut at every kind of end (after a delimiter, inside a cell, with or
    /// without bytes after), read as the reference reads them.
    #[test]
    fn runs_read_as_the_text_says() {
        let mut cases = Cases(0x2545_f491_4f6c_dd1d);
        let mut outcomes = [0usize; 2];
        for case in 0..20_000 {
            let delimiter = [b',', b';', b'\t', b' ', b'\n'][cases.next(5)];
            let mut text: Vec<u8> = (0..cases.next(20)).map(|_| b"0123456789,;x\n"[cases.next(14)]).collect();
            let pos = text.len();
            let long = [0, 3, 30][cases.next(3)];
            let cells = 1 + cases.next(150);
            for _ in 0..cells {
                let len = match cases.next(100) {
                    0 => 0,
                    n if n < long => 5 + cases.next(5),
                    _ => 1 + cases.next(4),
                };
                text.extend((0..len).map(|_| b'0' + cases.next(10) as u8));
                match cases.next(400) {
                    0 => text.push(b'.'),
                    1 => text.push(b'\r'),
                    _ => text.push(delimiter),
                }
            }
            // A cut anywhere near the end, or more bytes after.
            match cases.next(4) {
                0 => text.truncate(text.len() - cases.next(text.len() - pos + 1).min(12)),
                1 => text.extend((0..cases.next(80)).map(|_| b"0123456789,x\n"[cases.next(13)])),
                _ => {}
            }
            let count = if cases.next(3) == 0 { cells } else { 1 + cases.next(cells) };
            let expected = reference(&text, pos, delimiter, count);
            outcomes[usize::from(expected.is_some())] += 1;
            assert_eq!(
                read(&text, pos, delimiter, count),
                expected,
                "case {case}: {count} cells of {:?}",
                &text[pos..]
            );
        }
        assert!(outcomes[0] > 3000 && outcomes[1] > 3000, "refused and read: {outcomes:?}");
    }

    /// Each cell length, with its delimiter at each byte of a block; long cells after short
    /// ones and short after long, in one run.
    #[test]
    fn every_length_at_every_offset() {
        for len in 1..=8 {
            for offset in 0..BLOCK + 8 {
                let mut text = vec![b'5'; offset];
                text.push(b',');
                let digits: Vec<u8> = (0..len).map(|i| b'1' + (i % 9) as u8).collect();
                for _ in 0..3 {
                    text.extend_from_slice(&digits);
                    text.extend_from_slice(b",0,");
                }
                text.extend_from_slice(b"x\n");
                let expected = reference(&text, offset + 1, b',', 6);
                assert_eq!(expected.is_some(), len <= 7);
                assert_eq!(read(&text, offset + 1, b',', 6), expected, "{len} digits after {offset} bytes");
            }
        }
        let mixed = b"1,22,333,4444,55555,666666,7777777,1,22,333,1234567,9\n";
        let values: Vec<f32> =
            [1, 22, 333, 4444, 55555, 666666, 7777777, 1, 22, 333, 1234567].map(|v| v as f32).to_vec();
        assert_eq!(read(mixed, 0, b',', 11), Some((values, mixed.len() - 2)));
    }

    #[test]
    fn what_is_not_a_run_of_short_whole_numbers_is_refused() {
        for bad in ["0,1.5,2,x\n", "0,,2,x\n", "0,12345678,2,x\n", "0, 1,2,x\n", "0,1\n2,3,x\n", "0,1", ",1,2,x\n"] {
            assert_eq!(read(bad.as_bytes(), 0, b',', 3), None, "{bad}");
        }
        assert_eq!(read(b"1,2,3,", 0, b',', 3), Some((vec![1.0, 2.0, 3.0], 6)), "the file's end after a delimiter");
        assert_eq!(read(b"1,2,3", 0, b',', 3), None, "the file's end inside a cell");
        assert_eq!(read(b"7,", 0, b',', 0), Some((vec![], 0)), "no cells");
    }
}
