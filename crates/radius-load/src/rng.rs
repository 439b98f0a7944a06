//! `FastRng`: cheap randomness for authenticators and challenges in load tests.

/// A small, fast, non-cryptographic generator (wyrand) for authenticators and challenges in
/// load tests, seeded from the OS. Load tests need unpredictability across runs, not
/// cryptographic strength, and this keeps the send path free of locks.
#[derive(Debug, Clone)]
pub(crate) struct FastRng(u64);

impl FastRng {
    /// Seeded from the thread RNG.
    pub(crate) fn from_os() -> Self {
        use rand::Rng;
        Self(rand::rng().next_u64())
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// 16 random bytes.
    pub(crate) fn bytes16(&mut self) -> [u8; 16] {
        let a = self.next_u64().to_le_bytes();
        let b = self.next_u64().to_le_bytes();
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a);
        out[8..].copy_from_slice(&b);
        out
    }

    /// Uniform-ish value below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }

    /// A random octet.
    pub(crate) fn byte(&mut self) -> u8 {
        (self.next_u64() & 0xff) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_varies() {
        let mut r = FastRng(42);
        assert_eq!(r.below(0), 0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
        assert_ne!(r.bytes16(), r.bytes16());
    }
}
