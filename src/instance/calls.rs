//! Host calls in flight for one instance (`Host.call`): handles handed out and not yet answered,
//! bounded so a guest cannot make the host hold more than `MAX_CALLS` pending calls.

use std::collections::HashSet;

/// Most calls one instance may have in flight.
pub const MAX_CALLS: usize = 1024;
/// Longest host function name.
pub const MAX_NAME: usize = 64;

/// `Host.call` return codes (negative: nothing was called).
pub mod code {
    /// No host function has that name.
    pub const UNKNOWN: i32 = -1;
    /// The name is not 1-64 characters of `A-Za-z0-9_.-`.
    pub const BAD_NAME: i32 = -2;
    /// `MAX_CALLS` calls are in flight.
    pub const LIMIT: i32 = -3;
}

/// Whether `name` is 1-64 characters of `A-Za-z0-9_.-`.
pub fn valid_name(name: &[u8]) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[derive(Debug, Default)]
pub struct Calls {
    next: i32,
    pending: HashSet<i32>,
}

impl Calls {
    /// A new handle (> 0), or `None` when `MAX_CALLS` are in flight.
    pub fn start(&mut self) -> Option<i32> {
        if self.pending.len() >= MAX_CALLS {
            return None;
        }
        loop {
            self.next = if self.next == i32::MAX {
                1
            } else {
                self.next + 1
            };
            if self.pending.insert(self.next) {
                return Some(self.next);
            }
        }
    }

    /// The answer to `call` arrived: whether it was in flight (a second answer is dropped).
    pub fn finish(&mut self, call: i32) -> bool {
        self.pending.remove(&call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_to_64_token_characters() {
        assert!(valid_name(b"auth.check_token-v2"));
        assert!(!valid_name(b""));
        assert!(!valid_name(&[b'a'; 65]));
        assert!(valid_name(&[b'a'; 64]));
        assert!(!valid_name(b"has space"));
        assert!(!valid_name("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn at_most_1024_calls_are_in_flight_and_each_finishes_once() {
        let mut c = Calls::default();
        let first = c.start().unwrap();
        for _ in 1..MAX_CALLS {
            assert!(c.start().is_some());
        }
        assert_eq!(c.start(), None);
        assert!(c.finish(first));
        assert!(!c.finish(first));
        assert!(c.start().is_some());
    }
}
