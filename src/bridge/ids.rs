//! Connection ids: one counter per bridge, shared by the JS thread (accepted sockets) and every
//! executor (outbound connections a guest dials), so ids are unique across workers and never
//! reused while the bridge lives.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
pub struct IdSource(AtomicU32);

impl Default for IdSource {
    fn default() -> IdSource {
        IdSource(AtomicU32::new(1))
    }
}

impl IdSource {
    /// The next id (1, 2, ...), or `None` once all 2^32 - 1 have been handed out (`u32::MAX` is
    /// the outbox's "no connection" id and never handed out).
    pub fn next(&self) -> Option<u32> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| {
                (id != u32::MAX).then_some(id + 1)
            })
            .ok()
    }

    #[cfg(test)]
    fn starting_at(id: u32) -> IdSource {
        IdSource(AtomicU32::new(id))
    }
}

/// Hashes a connection id with one multiplication (Fibonacci hashing) instead of SipHash: ids
/// are handed out by the host, not chosen by a peer, so there is nothing to defend against, and
/// the lookup runs on every guest call (`Socket.write`) and every delivered chunk. The product
/// spreads sequential ids over the high bits the map's control bytes use.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::*;

    #[test]
    fn sequential_ids_differ_in_the_top_seven_bits() {
        // hashbrown's control bytes use the top 7 bits: sequential ids must not share them all.
        let build = BuildHasherDefault::<IdHasher>::default();
        let tops: std::collections::HashSet<u64> =
            (1..=128u32).map(|id| build.hash_one(id) >> 57).collect();
        assert!(tops.len() > 64, "only {} distinct top bits", tops.len());
    }

    #[test]
    fn ids_count_up_from_one_and_run_out_before_the_no_id_value() {
        let ids = IdSource::default();
        assert_eq!(ids.next(), Some(1));
        assert_eq!(ids.next(), Some(2));
        let last = IdSource::starting_at(u32::MAX - 1);
        assert_eq!(last.next(), Some(u32::MAX - 1));
        assert_eq!(last.next(), None);
        assert_eq!(last.next(), None);
    }
}
