//! Connection ids: one counter per bridge, shared by the JS thread (accepted sockets) and every
//! executor (outbound connections a guest dials), so ids are unique across workers and never
//! reused while the bridge lives.

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

#[cfg(test)]
mod tests {
    use super::*;

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
