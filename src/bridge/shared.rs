//! The shared store: one key-value map per bridge, read and written by every instance of it (on
//! every worker thread, across restarts) through module `Shared`, and by JS through
//! `bridge.shared`. A lock is held only while one operation copies bytes in or out, never while a
//! guest runs other code. Keys plus values are bounded by `maxSharedBytes`.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Longest key (bytes).
pub const MAX_KEY: usize = 1024;
/// Default `maxSharedBytes`: keys plus values the store may hold.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// Answers of the store's operations, as the guest sees them.
pub mod code {
    /// The key is longer than `MAX_KEY`.
    pub const KEY_TOO_LONG: i32 = -2;
    /// Storing it would pass `maxSharedBytes`.
    pub const FULL: i32 = -3;
    /// `add`'s answer for a refusal (too long a key, or over `maxSharedBytes`).
    pub const ADD_REFUSED: i64 = i64::MIN;
}

/// Why an operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    KeyTooLong,
    Full,
}

impl Refused {
    pub fn code(self) -> i32 {
        match self {
            Refused::KeyTooLong => code::KEY_TOO_LONG,
            Refused::Full => code::FULL,
        }
    }
}

#[derive(Debug, Default)]
struct Map {
    entries: HashMap<Vec<u8>, Vec<u8>>,
    /// Keys plus values held.
    bytes: usize,
}

#[derive(Debug)]
pub struct Shared {
    map: Mutex<Map>,
    max_bytes: usize,
}

impl Shared {
    pub fn new(max_bytes: usize) -> Shared {
        Shared {
            map: Mutex::new(Map::default()),
            max_bytes,
        }
    }

    fn check_key(key: &[u8]) -> Result<(), Refused> {
        if key.len() > MAX_KEY {
            Err(Refused::KeyTooLong)
        } else {
            Ok(())
        }
    }

    /// Calls `with` on the value of `key` (while the lock is held: copy, nothing more).
    pub fn get<R>(&self, key: &[u8], with: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, Refused> {
        Self::check_key(key)?;
        let map = self.map.lock();
        Ok(with(map.entries.get(key).map(Vec::as_slice)))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<(), Refused> {
        Self::check_key(key)?;
        let mut map = self.map.lock();
        let old = map.entries.get(key).map_or(0, |v| key.len() + v.len());
        let after = map.bytes - old + key.len() + value.len();
        if after > self.max_bytes {
            return Err(Refused::Full);
        }
        map.entries.insert(key.to_vec(), value.to_vec());
        map.bytes = after;
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn delete(&self, key: &[u8]) -> Result<bool, Refused> {
        Self::check_key(key)?;
        let mut map = self.map.lock();
        match map.entries.remove(key) {
            Some(v) => {
                map.bytes -= key.len() + v.len();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds `delta` to the little-endian i64 under `key` (a missing key, or a value of another
    /// length, counts as 0 and is replaced), atomically; returns the new value. Wraps around on
    /// overflow, as two's complement does.
    pub fn add(&self, key: &[u8], delta: i64) -> Result<i64, Refused> {
        Self::check_key(key)?;
        let mut map = self.map.lock();
        let (current, old_bytes) = match map.entries.get(key) {
            Some(v) => {
                let n = <[u8; 8]>::try_from(v.as_slice()).map_or(0, i64::from_le_bytes);
                (n, key.len() + v.len())
            }
            None => (0, 0),
        };
        let after = map.bytes - old_bytes + key.len() + 8;
        if after > self.max_bytes {
            return Err(Refused::Full);
        }
        let next = current.wrapping_add(delta);
        map.entries
            .insert(key.to_vec(), next.to_le_bytes().to_vec());
        map.bytes = after;
        Ok(next)
    }

    /// Keys plus values held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.map.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_keep_the_byte_count() {
        let s = Shared::new(100);
        s.set(b"k", b"value").unwrap();
        assert_eq!(
            s.get(b"k", |v| v.map(<[u8]>::to_vec)).unwrap(),
            Some(b"value".to_vec())
        );
        assert_eq!(s.bytes(), 6);
        s.set(b"k", b"v").unwrap();
        assert_eq!(s.bytes(), 2);
        assert_eq!(s.delete(b"k"), Ok(true));
        assert_eq!(s.delete(b"k"), Ok(false));
        assert_eq!(s.bytes(), 0);
        assert_eq!(s.get(b"k", |v| v.is_none()), Ok(true));
    }

    #[test]
    fn the_byte_limit_and_the_key_length_are_enforced() {
        let s = Shared::new(20);
        assert_eq!(s.set(b"key", &[0; 17]), Ok(()));
        assert_eq!(s.set(b"other", b"x"), Err(Refused::Full));
        assert_eq!(s.set(b"key", &[0; 18]), Err(Refused::Full));
        assert_eq!(s.add(b"n", 1), Err(Refused::Full));
        let long = vec![b'k'; MAX_KEY + 1];
        assert_eq!(s.set(&long, b""), Err(Refused::KeyTooLong));
        assert_eq!(s.delete(&long), Err(Refused::KeyTooLong));
    }

    #[test]
    fn add_counts_from_zero_and_replaces_values_of_another_length() {
        let s = Shared::new(1000);
        assert_eq!(s.add(b"n", 5), Ok(5));
        assert_eq!(s.add(b"n", -7), Ok(-2));
        s.set(b"t", b"text").unwrap();
        assert_eq!(s.add(b"t", 3), Ok(3));
        assert_eq!(s.add(b"n", i64::MAX), Ok(i64::MAX - 2));
    }

    #[test]
    fn add_is_atomic_across_threads() {
        let s = std::sync::Arc::new(Shared::new(1000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        s.add(b"n", 1).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(s.add(b"n", 0), Ok(40_000));
    }
}
