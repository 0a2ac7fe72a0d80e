//! Module `Shared`: the bridge's shared store (`bridge/shared.rs`), one per bridge, seen by every
//! instance on every worker and across restarts. Registered in `abi/imports.rs`.
//!
//! Keys are bytes (the SDK sends UTF-8), at most 1 KiB; keys plus values are bounded by
//! `maxSharedBytes`. Every range is checked against guest memory first: a bad one traps the
//! guest. The host copies what it needs during the call; the guest owns every buffer.

use wasmer::{MemoryView, RuntimeError};

use crate::bridge::shared::{Refused, code};
use crate::instance::failure::Kind;
use crate::instance::guestmem::{OutOfBounds, guest_bytes, write_from};
use crate::instance::imports::{Ctx, HostEnv};

/// The key at `ptr`/`len`, copied (so it can never alias a range the host writes), or why not.
fn key(
    env: &mut HostEnv,
    view: &MemoryView,
    what: &str,
    ptr: i32,
    len: i32,
) -> Result<Result<Vec<u8>, Refused>, RuntimeError> {
    match guest_bytes(view, ptr as u32, len as u32 as u64) {
        Err(e) => Err(env.fail(Kind::Trap, format!("{what}: {e}"))),
        Ok(k) if k.len() > crate::bridge::shared::MAX_KEY => Ok(Err(Refused::KeyTooLong)),
        Ok(k) => Ok(Ok(k.to_vec())),
    }
}

/// `Shared.get(kPtr, kLen, outPtr, outCap) -> i32`
///
/// Copies the value of the key (at most `outCap` bytes) to `outPtr` and returns its full length;
/// -1 when the key is missing, -2 when it is longer than 1 KiB.
pub(crate) fn get(mut ctx: Ctx, kp: i32, kl: i32, out: i32, cap: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(-1);
    };
    let view = memory.view(&store);
    let k = match key(env, &view, "Shared.get", kp, kl)? {
        Ok(k) => k,
        Err(r) => return Ok(r.code()),
    };
    let copied = env.shared.get(&k, |value| match value {
        None => Ok(-1),
        Some(v) => {
            let n = v.len().min(cap as u32 as usize);
            write_from(&view, out as u32, &v[..n]).map(|()| v.len() as i32)
        }
    });
    match copied {
        Ok(Ok(len)) => Ok(len),
        Ok(Err(e)) => Err(env.fail(Kind::Trap, format!("Shared.get: {e}"))),
        Err(r) => Ok(r.code()),
    }
}

/// `Shared.set(kPtr, kLen, vPtr, vLen) -> i32`: stores a copy of the value under the key.
/// Returns 0, -2 key longer than 1 KiB, or -3 when keys plus values would pass `maxSharedBytes`
/// (nothing changes then).
pub(crate) fn set(mut ctx: Ctx, kp: i32, kl: i32, vp: i32, vl: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(code::FULL);
    };
    let view = memory.view(&store);
    let k = match key(env, &view, "Shared.set", kp, kl)? {
        Ok(k) => k,
        Err(r) => return Ok(r.code()),
    };
    let value = match guest_bytes(&view, vp as u32, vl as u32 as u64) {
        Ok(v) => v,
        Err(e) => return Err(env.fail(Kind::Trap, format!("Shared.set: {e}"))),
    };
    Ok(env.shared.set(&k, value).map_or_else(Refused::code, |()| 0))
}

/// `Shared.delete(kPtr, kLen) -> i32`: 1 deleted, 0 absent, -2 key longer than 1 KiB.
pub(crate) fn delete(mut ctx: Ctx, kp: i32, kl: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(0);
    };
    let view = memory.view(&store);
    let k = match key(env, &view, "Shared.delete", kp, kl)? {
        Ok(k) => k,
        Err(r) => return Ok(r.code()),
    };
    Ok(env.shared.delete(&k).map_or_else(Refused::code, i32::from))
}

/// `Shared.add(kPtr, kLen, delta: i64) -> i64`: atomically adds `delta` to the little-endian i64
/// under the key (missing, or a value of another length: counts as 0 and is replaced; wraps on
/// overflow) and returns the new value; -2^63, with nothing changed, when the key is longer than
/// 1 KiB or the value would pass `maxSharedBytes`.
pub(crate) fn add(mut ctx: Ctx, kp: i32, kl: i32, delta: i64) -> Result<i64, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(code::ADD_REFUSED);
    };
    let view = memory.view(&store);
    let k = match key(env, &view, "Shared.add", kp, kl)? {
        Ok(k) => k,
        Err(_) => return Ok(code::ADD_REFUSED),
    };
    Ok(env.shared.add(&k, delta).unwrap_or(code::ADD_REFUSED))
}

/// The bytes at `ptr`/`len`, or `None` when `len` is -1 (the only negative length allowed: any
/// other is a huge one and fails the range check).
fn optional<'v>(view: &'v MemoryView, ptr: i32, len: i32) -> Result<Option<&'v [u8]>, OutOfBounds> {
    if len == -1 {
        Ok(None)
    } else {
        guest_bytes(view, ptr as u32, len as u32 as u64).map(Some)
    }
}

/// `Shared.setIf(kPtr, kLen, ePtr, eLen, vPtr, vLen) -> i32`: compare-and-set, atomic under the
/// store's lock. When the key's value equals the `eLen` bytes at `ePtr` (`eLen` -1: when the key
/// is absent), stores a copy of the `vLen` bytes at `vPtr` (`vLen` -1: deletes the key) and
/// returns 1; otherwise returns 0 and nothing changes. -2 key longer than 1 KiB, -3 when the
/// store would pass `maxSharedBytes` (only when the comparison held; nothing changes). `kLen` -1,
/// or any range outside guest memory, traps. The host only reads the three buffers.
pub(crate) fn set_if(
    mut ctx: Ctx,
    kp: i32,
    kl: i32,
    ep: i32,
    el: i32,
    vp: i32,
    vl: i32,
) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(0);
    };
    let view = memory.view(&store);
    let k = match key(env, &view, "Shared.setIf", kp, kl)? {
        Ok(k) => k,
        Err(r) => return Ok(r.code()),
    };
    let (expected, value) = match (optional(&view, ep, el), optional(&view, vp, vl)) {
        (Ok(e), Ok(v)) => (e, v),
        (Err(e), _) | (_, Err(e)) => {
            return Err(env.fail(Kind::Trap, format!("Shared.setIf: {e}")));
        }
    };
    Ok(env
        .shared
        .set_if(&k, expected, value)
        .map_or_else(Refused::code, i32::from))
}

/// `Shared.keys(pPtr, pLen, outPtr, outCap) -> i32`: the keys that start with the prefix, sorted
/// bytewise, written to `outPtr` as entries of (u32 little-endian length, key bytes): only whole
/// entries, as many as fit in `outCap` bytes. Returns the byte length of the full listing (more
/// than `outCap` when it did not all fit: call again with a bigger buffer), capped at 2^31 - 1;
/// -2 when the prefix is longer than 1 KiB. The range actually written must lie in guest memory
/// (else it traps, as a bad prefix range does); the guest owns both buffers.
///
/// Cost: O(keys in the store). Every key is compared, and the matching ones copied, while the
/// store's lock is held (other instances' Shared calls wait that long), so a guest that lists
/// often should keep its keys few or use its own index.
pub(crate) fn keys(
    mut ctx: Ctx,
    pp: i32,
    pl: i32,
    out: i32,
    cap: i32,
) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(0);
    };
    let view = memory.view(&store);
    let prefix = match key(env, &view, "Shared.keys", pp, pl)? {
        Ok(p) => p,
        Err(r) => return Ok(r.code()),
    };
    let keys = match env.shared.keys(&prefix) {
        Ok(keys) => keys,
        Err(r) => return Ok(r.code()),
    };
    let (listing, total) = listing(&keys, cap as u32 as u64);
    if let Err(e) = write_from(&view, out as u32, &listing) {
        return Err(env.fail(Kind::Trap, format!("Shared.keys: {e}")));
    }
    Ok(total.min(i32::MAX as u64) as i32)
}

/// The entries (u32 LE length, bytes) of the keys that fit whole in `cap` bytes, and the byte
/// length of the full listing.
pub(crate) fn listing(keys: &[Vec<u8>], cap: u64) -> (Vec<u8>, u64) {
    let total: u64 = keys.iter().map(|k| 4 + k.len() as u64).sum();
    let mut out = Vec::with_capacity(total.min(cap) as usize);
    for k in keys {
        if (out.len() + 4 + k.len()) as u64 > cap {
            break;
        }
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::listing;

    #[test]
    fn a_listing_holds_only_whole_entries_and_counts_them_all() {
        let keys = vec![b"ab".to_vec(), b"".to_vec(), b"cde".to_vec()];
        let (all, total) = listing(&keys, u32::MAX as u64);
        assert_eq!(total, 6 + 4 + 7);
        assert_eq!(all, b"\x02\0\0\0ab\0\0\0\0\x03\0\0\0cde".to_vec());
        let (part, total) = listing(&keys, 12);
        assert_eq!(total, 17);
        assert_eq!(part, b"\x02\0\0\0ab\0\0\0\0".to_vec());
        let (none, _) = listing(&keys, 5);
        assert!(none.is_empty());
    }
}
