//! Deterministic ids: the same seed gives the same sequence, so simulated runs repeat exactly.

use crius::backend::IdSource;
use crius::backend::ids::hex;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// Ids hashed from a seed and a counter.
#[derive(Debug)]
pub struct SeededIds {
    seed: u64,
    counter: AtomicU64,
}

impl SeededIds {
    /// A sequence of ids determined by `seed`.
    pub fn new(seed: u64) -> SeededIds {
        SeededIds {
            seed,
            counter: AtomicU64::new(0),
        }
    }
}

impl IdSource for SeededIds {
    fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut hasher = Sha256::new();
        hasher.update(self.seed.to_le_bytes());
        hasher.update(n.to_le_bytes());
        hex(&hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let (a, b, c) = (SeededIds::new(1), SeededIds::new(1), SeededIds::new(2));
        let first: Vec<_> = (0..3).map(|_| a.new_id()).collect();
        let second: Vec<_> = (0..3).map(|_| b.new_id()).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], c.new_id());
        assert_ne!(first[0], first[1]);
        assert_eq!(first[0].len(), 64);
    }
}
