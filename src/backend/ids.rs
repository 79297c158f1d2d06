//! Object ids: 64 lower-case hex digits, like every CRI runtime's.

use std::fmt::Write as _;

/// Mints ids for sandboxes, containers and exec sessions.
pub trait IdSource: Send + Sync {
    /// A fresh id: 64 lower-case hex digits, never handed out before.
    fn new_id(&self) -> String;
}

/// Random ids from the operating system's generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self) -> String {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        hex(&bytes)
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn fill_random(bytes: &mut [u8]) {
    use std::io::Read;
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(bytes));
    if filled.is_err() {
        // Fall back to hashing the time and a counter: unique, though not unpredictable.
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            let value = hasher.finish().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_64_hex_digits_and_differ() {
        let a = RandomIds.new_id();
        let b = RandomIds.new_id();
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
