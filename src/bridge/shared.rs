//! The shared store: one key-value map per bridge, read and written by every instance of it (on
//! every worker thread, across restarts) through module `Shared`, and by JS through
//! `bridge.shared`. A lock is held only while one operation copies bytes in or out (for `keys`,
//! while every key is compared and the matching ones copied: O(keys)), never while a guest runs
//! other code. `set_if` is the one read-modify-write any caller can build on: compare and store
//! under one lock. Keys plus values are bounded by `maxSharedBytes`.

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

    /// Compare-and-set, atomic under the store's lock: when the key's value is `expected` (`None`:
    /// the key is absent), stores `value` (`None`: deletes the key) and answers true; otherwise
    /// answers false and changes nothing. Refused (nothing changes) for too long a key, or when
    /// the store would pass `maxSharedBytes` (checked only when the comparison held).
    pub fn set_if(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<bool, Refused> {
        Self::check_key(key)?;
        let mut map = self.map.lock();
        let current = map.entries.get(key).map(Vec::as_slice);
        if current != expected {
            return Ok(false);
        }
        let old = current.map_or(0, |v| key.len() + v.len());
        match value {
            None => {
                if map.entries.remove(key).is_some() {
                    map.bytes -= old;
                }
            }
            Some(v) => {
                let after = map.bytes - old + key.len() + v.len();
                if after > self.max_bytes {
                    return Err(Refused::Full);
                }
                map.entries.insert(key.to_vec(), v.to_vec());
                map.bytes = after;
            }
        }
        Ok(true)
    }

    /// The keys that start with `prefix`, sorted bytewise. Costs O(keys in the store): the lock is
    /// held while every key is compared and the matching ones copied; the sort runs after it is
    /// released.
    pub fn keys(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, Refused> {
        Self::check_key(prefix)?;
        let mut keys: Vec<Vec<u8>> = {
            let map = self.map.lock();
            map.entries
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        };
        keys.sort_unstable();
        Ok(keys)
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

    #[test]
    fn set_if_stores_or_deletes_only_when_the_value_is_the_expected_one() {
        let s = Shared::new(100);
        assert_eq!(s.set_if(b"k", Some(b"x"), Some(b"v1")), Ok(false));
        assert_eq!(s.bytes(), 0);
        assert_eq!(s.set_if(b"k", None, Some(b"v1")), Ok(true));
        assert_eq!(s.set_if(b"k", None, Some(b"v2")), Ok(false));
        assert_eq!(s.set_if(b"k", Some(b"v2"), Some(b"v3")), Ok(false));
        assert_eq!(s.set_if(b"k", Some(b"v1"), Some(b"value")), Ok(true));
        assert_eq!(s.bytes(), 6);
        assert_eq!(s.set_if(b"k", Some(b"v1"), None), Ok(false));
        assert_eq!(s.set_if(b"k", Some(b"value"), None), Ok(true));
        assert_eq!(s.bytes(), 0);
        assert_eq!(s.get(b"k", |v| v.is_none()), Ok(true));
        // An empty value is a value, not an absent key.
        assert_eq!(s.set_if(b"e", None, Some(b"")), Ok(true));
        assert_eq!(s.set_if(b"e", None, Some(b"x")), Ok(false));
        assert_eq!(s.set_if(b"e", Some(b""), None), Ok(true));
        // Deleting an absent key that was expected absent holds and changes nothing.
        assert_eq!(s.set_if(b"e", None, None), Ok(true));
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn set_if_keeps_the_byte_limit_and_the_key_length() {
        let s = Shared::new(10);
        assert_eq!(s.set_if(b"k", None, Some(&[0; 9])), Ok(true));
        assert_eq!(
            s.set_if(b"k", Some(&[0; 9]), Some(&[0; 10])),
            Err(Refused::Full)
        );
        assert_eq!(
            s.set_if(b"k", Some(&[1; 9]), Some(&[0; 10])),
            Ok(false),
            "no match: no refusal"
        );
        assert_eq!(s.get(b"k", |v| v.map(<[u8]>::len)), Ok(Some(9)));
        assert_eq!(s.bytes(), 10);
        let long = vec![b'k'; MAX_KEY + 1];
        assert_eq!(s.set_if(&long, None, Some(b"")), Err(Refused::KeyTooLong));
        assert_eq!(s.keys(&long), Err(Refused::KeyTooLong));
    }

    #[test]
    fn keys_lists_the_keys_with_the_prefix_sorted_bytewise() {
        let s = Shared::new(1000);
        for k in [&b"kv:b"[..], b"kv:a", b"kv:\xff", b"other", b"kv", b"kv:"] {
            s.set(k, b"v").unwrap();
        }
        assert_eq!(
            s.keys(b"kv:").unwrap(),
            vec![
                b"kv:".to_vec(),
                b"kv:a".to_vec(),
                b"kv:b".to_vec(),
                b"kv:\xff".to_vec()
            ]
        );
        assert_eq!(s.keys(b"").unwrap().len(), 6);
        assert_eq!(s.keys(b"none").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn set_if_is_atomic_across_threads() {
        // Each thread increments a decimal string by compare-and-set retries: no lost update.
        let s = std::sync::Arc::new(Shared::new(1000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        loop {
                            let old = s.get(b"n", |v| v.map(<[u8]>::to_vec)).unwrap();
                            let n: u64 = old
                                .as_deref()
                                .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                            let next = (n + 1).to_string();
                            if s.set_if(b"n", old.as_deref(), Some(next.as_bytes()))
                                .unwrap()
                            {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(
            s.get(b"n", |v| v.map(<[u8]>::to_vec)).unwrap(),
            Some(b"20000".to_vec())
        );
        assert_eq!(s.bytes(), 1 + 5);
    }
}
