//! Module `Shared`: the bridge's shared store (`bridge/shared.rs`), one per bridge, seen by every
//! instance on every worker and across restarts. Registered in `abi/imports.rs`.
//!
//! Keys are bytes (the SDK sends UTF-8), at most 1 KiB; keys plus values are bounded by
//! `maxSharedBytes`. Every range is checked against guest memory first: a bad one traps the
//! guest. The host copies what it needs during the call; the guest owns every buffer.

use wasmer::{MemoryView, RuntimeError};

use crate::bridge::shared::{Refused, code};
use crate::instance::failure::Kind;
use crate::instance::guestmem::{guest_bytes, write_from};
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
