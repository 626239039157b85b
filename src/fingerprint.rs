//! Fingerprints: FNV-1a (64 bits) of bytes, shown as 16 hex digits. They tell whether two
//! things are the same (an architecture, the training rows, a trace); they guard against
//! mistakes, not against forgery.

/// An FNV-1a hash being computed.
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_values() {
        // From the FNV reference test vectors (64-bit FNV-1a).
        assert_eq!(Fingerprint::default().hex(), "cbf29ce484222325");
        assert_eq!(Fingerprint::default().add(b"a").hex(), "af63dc4c8601ec8c");
        assert_eq!(Fingerprint::default().add(b"foobar").hex(), "85944171f73967e8");
    }
}
