//! Module `Timer`: time for a guest. Registered in `abi/imports.rs`; the table itself is
//! `instance/timers.rs`. A guest that imports `Timer.set` must export `onTimer(timer, id)`.

use std::time::Instant;

use crate::instance::imports::Ctx;
use crate::instance::timers::code;

/// `Timer.set(ms: u32, repeat: i32, id: u32) -> i32`
///
/// After `ms` milliseconds (every `ms` if `repeat` != 0, at least 1 ms apart), the host calls
/// `onTimer(timer, id)`, as an event of its own: in order with the connection's other events,
/// under `fuelPerEvent`, a failure in it handled like any guest failure. `id` 0 makes an
/// instance timer, which lives as long as the instance; otherwise `id` must be an open
/// connection of this instance, and the timer dies at its close (it never fires after
/// `onClose`). Returns the timer (> 0), or -1 unknown or closing connection, -2 `ms` over
/// 2^31 - 1, -3 the instance has 10,000 live timers. Nothing is read from guest memory.
pub(crate) fn set(mut ctx: Ctx, ms: i32, repeat: i32, id: i32) -> i32 {
    let env = ctx.data_mut();
    let id = id as u32;
    if id != 0 && env.conns.get(id).is_none_or(|c| c.closing) {
        return code::UNKNOWN;
    }
    env.timers.set(Instant::now(), ms as u32, repeat != 0, id)
}

/// `Timer.clear(timer: i32)`: cancels a timer of this instance. Unknown, cleared and fired
/// one-shot timers are ignored (a timer id of another instance is unknown here).
pub(crate) fn clear(mut ctx: Ctx, timer: i32) {
    ctx.data_mut().timers.clear(timer);
}
