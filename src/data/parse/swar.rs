//! Reading whole numbers eight bytes at a time (SWAR: SIMD within a register), for the most
//! common cells of large files: a few digits and a delimiter. A byte `x` is a digit when
//! `x ^ b'0'` is below 10, which adding 118 to its low seven bits tells by the high bit
//! (exact, without carries between bytes); runs of cells find their delimiters 16 bytes at a
//! time with the `wide` crate's portable SIMD.

use wide::u8x16;

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Eight bytes of `bytes` from `pos`, little-endian (the first byte lowest), if there are eight.
#[inline]
pub fn word_at(bytes: &[u8], pos: usize) -> Option<u64> {
    let word: [u8; 8] = bytes.get(pos..pos + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(word))
}

/// The high bit of each byte of `word` that is not an ASCII digit.
#[inline]
fn not_digits(word: u64) -> u64 {
    let x = word ^ ZEROS;
    ((x & LOW7).wrapping_add(0x7676_7676_7676_7676) | x) & HIGH
}

/// The number whose digits (values 0 to 9, not ASCII) are the bytes of `v`, the first digit
/// in the lowest byte (zero bytes below the digits are leading zeros): pairs, quads and
/// eights combined by three multiplications.
#[inline]
fn combine(mut v: u64) -> u32 {
    v = ((v & 0x0f0f_0f0f_0f0f_0f0f).wrapping_mul(10 << 8 | 1)) >> 8;
    v = ((v & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1)) >> 16;
    v = ((v & 0x0000_ffff_0000_ffff).wrapping_mul(10000 << 32 | 1)) >> 32;
    v as u32
}

/// The whole number of 1 to 7 digits that `word` starts with, and its digit count; `None`
/// when it starts otherwise or with 8 digits (the ninth byte is not in the word).
#[inline]
pub fn leading_digits(word: u64) -> Option<(u32, usize)> {
    let len = (not_digits(word).trailing_zeros() / 8) as usize;
    if len == 0 || len == 8 {
        return None;
    }
    // The digits moved to the top bytes, zeros below them.
    Some((combine((word ^ ZEROS) << (8 * (8 - len))), len))
}

/// The bit of each byte of `block` that is the delimiter, and of each that is neither the
/// delimiter nor a digit (16 bytes at once, by the `wide` crate's portable SIMD).
#[inline]
fn block_marks(block: [u8; 16], delimiter: u8) -> (u32, u32) {
    let v = u8x16::new(block);
    let delimiters = v.simd_eq(u8x16::splat(delimiter)).to_bitmask();
    let d = v - u8x16::splat(b'0');
    let digits = d.min(u8x16::splat(9)).simd_eq(d).to_bitmask();
    (delimiters, !(digits | delimiters) & 0xffff)
}

/// Reads `out.len()` cells from `pos`, each of 1 to 7 digits ended by `delimiter`, into
/// `out`; returns the position after the last delimiter, or `None` if any cell is otherwise
/// (`out` is then partly written). The delimiters are found 16 bytes at a time; each cell is
/// then read from the eight bytes that end with its delimiter, so cells do not wait on each
/// other (only on where the one before ended).
pub fn digit_cells(bytes: &[u8], pos: usize, delimiter: u8, out: &mut [f32]) -> Option<usize> {
    let count = out.len();
    let (mut done, mut start, mut at) = (0, pos, pos);
    // Past the file's end, bytes that are neither digits nor the delimiter.
    let filler = if delimiter == b'\n' { b'\r' } else { b'\n' };
    while done < count {
        let block: [u8; 16] = match bytes.get(at..at + 16) {
            Some(block) => block.try_into().ok()?,
            None => {
                let mut tail = [filler; 16];
                let rest = bytes.get(at..).unwrap_or_default();
                tail[..rest.len()].copy_from_slice(rest);
                tail
            }
        };
        let (delimiters, others) = block_marks(block, delimiter);
        // Delimiters up to the first byte that is neither a digit nor one.
        let mut ends = if others == 0 { delimiters } else { delimiters & ((others & others.wrapping_neg()) - 1) };
        while ends != 0 && done < count {
            let end = at + ends.trailing_zeros() as usize;
            let len = end - start;
            if len == 0 || len > 7 {
                return None;
            }
            // The eight bytes that end with the delimiter (near the start of `bytes`, the
            // first eight, moved up), the delimiter then shifted out, the digits kept.
            let word = match end.checked_sub(7) {
                Some(from) => word_at(bytes, from)?,
                None => word_at(bytes, 0)? << (8 * (7 - end)),
            };
            out[done] = combine(((word ^ ZEROS) << 8) & (u64::MAX << (8 * (8 - len)))) as f32;
            done += 1;
            start = end + 1;
            ends &= ends - 1;
        }
        if others != 0 && done < count {
            return None;
        }
        at += 16;
    }
    Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &[u8]) -> u64 {
        let mut bytes = [b'#'; 8];
        bytes[..text.len()].copy_from_slice(text);
        u64::from_le_bytes(bytes)
    }

    /// Every whole number of 1 to 5 digits (with leading zeros), and a sample of 6 and 7,
    /// before each kind of byte that ends a cell, reads as `str::parse` reads it.
    #[test]
    fn leading_digits_agree_with_parsing_the_text() {
        for len in 1..=7u32 {
            let step = if len <= 5 { 1 } else { 7919 };
            for n in (0..10u32.pow(len)).step_by(step) {
                let digits = format!("{n:0width$}", width = len as usize);
                for end in [b',', b'\n', b'\r', b';', b'.', b'e', b' ', b'/', b':', 0, 0x80, 0xff] {
                    let text = [digits.as_bytes(), &[end]].concat();
                    assert_eq!(leading_digits(word(&text)), Some((digits.parse().unwrap(), len as usize)), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn leading_digits_refuse_what_is_not_a_short_whole_number() {
        for first in (0..=255u8).filter(|b| !b.is_ascii_digit()) {
            assert_eq!(leading_digits(word(&[first, b'1', b'2'])), None, "{first}");
        }
        assert_eq!(leading_digits(word(b"12345678")), None, "eight digits need the ninth byte");
        assert_eq!(leading_digits(word(b"-12,")), None);
        assert_eq!(leading_digits(word(b"1.5,")), Some((1, 1)), "the caller checks what ends it");
    }

    fn cells(text: &str, count: usize) -> Option<(Vec<f32>, usize)> {
        let mut out = vec![0.0; count];
        digit_cells(text.as_bytes(), 0, b',', &mut out).map(|next| (out, next))
    }

    #[test]
    fn digit_cells_read_runs_of_whole_numbers() {
        let text = "0,12,345,0,6789,1234567,0,0,0,0,9,label\n";
        let (values, next) = cells(text, 11).unwrap();
        assert_eq!(values, [0.0, 12.0, 345.0, 0.0, 6789.0, 1234567.0, 0.0, 0.0, 0.0, 0.0, 9.0]);
        assert_eq!(&text[next..], "label\n");
        // Anything else is left to the general path.
        for bad in ["0,1.5,2,x\n", "0,,2,x\n", "0,12345678,2,x\n", "0, 1,2,x\n", "0,1\n2,3,x\n", "0,1"] {
            assert_eq!(cells(bad, 3), None, "{bad}");
        }
        assert_eq!(cells("1234567,2,3,x", 3).unwrap().0, [1234567.0, 2.0, 3.0], "up to the file's end");
        assert_eq!(cells("1,2,3,", 3), None, "fewer than eight bytes in all");
        assert_eq!(cells("1,2,3,4567", 3).unwrap(), (vec![1.0, 2.0, 3.0], 6), "at the very start");
    }
}
