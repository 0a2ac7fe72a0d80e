//! Module `Host`: the guest and its application (the Node program): the configuration it gives,
//! and the host functions it offers. Registered in `abi/imports.rs`.

use wasmer::RuntimeError;

use crate::instance::calls::{self, code};
use crate::instance::failure::Kind;
use crate::instance::guestmem::{guest_bytes, write_from};
use crate::instance::imports::Ctx;
use crate::instance::outbox::Outbox;

/// `Host.config(ptr: usize, cap: u32) -> i32`
///
/// Copies the bridge's `config` option (a string as UTF-8, bytes as given, an object as its
/// JSON) to guest memory at `ptr`: at most `cap` bytes, so `cap` 0 only asks for the length.
/// Returns the config's full length (0: none). The guest owns the buffer; a range outside guest
/// memory traps the guest.
pub(crate) fn config(mut ctx: Ctx, ptr: i32, cap: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let config = env.config.clone();
    let n = config.len().min(cap as u32 as usize);
    if n > 0 {
        let Some(memory) = env.memory.clone() else {
            return Ok(config.len() as i32);
        };
        if let Err(e) = write_from(&memory.view(&store), ptr as u32, &config[..n]) {
            return Err(env.fail(Kind::Trap, format!("Host.config: {e}")));
        }
    }
    Ok(config.len() as i32)
}

/// `Host.call(namePtr: usize, nameLen: u32, dataPtr: usize, dataLen: u32, id: u32) -> i32`
///
/// Calls the application's host function `name` (the bridge's `hostFunctions`) with a copy of
/// `data`, on the JS thread, after the current event; returns a call handle (> 0) at once. The
/// result comes back later as an event of its own, `onReply(call, status, data)` (never inside
/// this call): status 0 with the bytes it returned, 1 with a UTF-8 message when it threw,
/// rejected or returned another type. `id` is the connection the call is for, given to JS as
/// `ctx.connectionId` (0: none). Answers, checked in this order, with nothing called: -2 the
/// name is not 1-64 characters of `A-Za-z0-9_.-`, -1 no host function has that name, -3 this
/// instance has 1024 calls in flight. A reply for an instance that failed or was replaced is
/// dropped. Ranges outside guest memory trap the guest. A guest that imports it must export
/// `onReply`.
pub(crate) fn call(
    mut ctx: Ctx,
    name_ptr: i32,
    name_len: i32,
    data_ptr: i32,
    data_len: i32,
    id: i32,
) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(code::UNKNOWN);
    };
    let view = memory.view(&store);
    let name = match guest_bytes(&view, name_ptr as u32, name_len as u32 as u64) {
        Ok(n) => n.to_vec(),
        Err(e) => return Err(env.fail(Kind::Trap, format!("Host.call: {e}"))),
    };
    if !calls::valid_name(&name) {
        return Ok(code::BAD_NAME);
    }
    // Valid names are ASCII.
    let name = String::from_utf8_lossy(&name).into_owned();
    if !env.host_functions.contains(&name) {
        return Ok(code::UNKNOWN);
    }
    let data = match guest_bytes(&view, data_ptr as u32, data_len as u32 as u64) {
        Ok(d) => d,
        Err(e) => return Err(env.fail(Kind::Trap, format!("Host.call: {e}"))),
    };
    env.room(Outbox::call_size(&name, data))?;
    let Some(call) = env.calls.start() else {
        return Ok(code::LIMIT);
    };
    let (instance, worker) = (env.instance, env.dialer.worker);
    env.out.call(call, instance, worker, id as u32, &name, data);
    Ok(call)
}
