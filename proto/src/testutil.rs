//! Helpers shared by the unit tests.

/// A deterministic xorshift generator, for inputs that must be the same on
/// every run.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next number of the sequence.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fewer than `max_len` bytes drawn from `alphabet`.
    pub(crate) fn bytes(&mut self, alphabet: &[u8], max_len: u64) -> Vec<u8> {
        let len = (self.next() % max_len) as usize;
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize])
            .collect()
    }
}
