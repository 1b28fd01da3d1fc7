//! Randomness as a parameter.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Mutex;

pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);

    fn bytes(&self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }

    /// A number in `0..upper` (upper > 0), without modulo bias worth mentioning for our uses.
    fn below(&self, upper: u64) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b) % upper.max(1)
    }
}

/// The operating system's cryptographic random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// A deterministic generator for tests and for the demo city.
#[derive(Debug)]
pub struct SeededRandom(Mutex<ChaCha20Rng>);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(ChaCha20Rng::seed_from_u64(seed)))
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(buf);
    }
}
