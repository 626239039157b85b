//! Reading whole numbers eight bytes at a time (SWAR: SIMD within a register), for the most
//! common cells of large files: a few digits and a delimiter. A byte `x` is a digit when
//! `x ^ b'0'` is below 10, which adding 118 to its low seven bits tells by the high bit
//! (exact, without carries between bytes). Runs of such cells are read by `runs`.

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
pub fn combine(mut v: u64) -> u32 {
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
}
