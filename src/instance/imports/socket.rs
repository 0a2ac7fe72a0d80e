//! Module `Socket`: what a guest does with its connections (write, end, close, pause, resume,
//! setTimeout), who they are (addresses and ports), and how it opens new ones (connect).
//! Registered in `abi/imports.rs`.

use std::time::Instant;

use wasmer::RuntimeError;

use crate::bridge::event::Peer;

use crate::instance::failure::Kind;
use crate::instance::guestmem::{checked_range, guest_bytes, read_into, write_from};
use crate::instance::imports::{Ctx, level};
use crate::instance::outbox::{HEADER, Op};
use crate::instance::timers;
use crate::policy::{allow, dial};

/// `Socket.write(id: u32, ptr: usize, len: u32) -> bool`
///
/// Copies `len` bytes at `ptr` out of guest memory now (the guest keeps its buffer) and queues
/// them on connection `id`. Returns true (1) while the connection's queued output stays below
/// `highWaterMark`; false (0) once it reaches it: the bytes are still sent, the host stops reading
/// the socket, and `onDrain` follows once the queue falls below the mark again. Returns false and
/// sends nothing when `id` is unknown, closed or ended.
///
/// A guest that keeps writing past false is stopped at the hard cap (`policy/limits.rs`): the write is
/// dropped, the connection destroyed, and a GuestError of kind `host` reports it. The instance
/// itself is fine and keeps running. A range outside guest memory traps the guest. Like every
/// import that produces output, it counts against the event's `maxEventOutputBytes`
/// (`HostEnv::room`).
pub(crate) fn write(mut ctx: Ctx, id: i32, ptr: i32, len: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let (id, ptr, len) = (id as u32, ptr as u32, len as u32);
    let Some(memory) = env.memory.clone() else {
        return Ok(0);
    };
    let view = memory.view(&store);
    let data = match guest_bytes(&view, ptr, len as u64) {
        Ok(data) => data,
        Err(e) => return Err(env.fail(Kind::Trap, format!("Socket.write: {e}"))),
    };
    let limits = env.limits;
    let Some(conn) = env.conns.get_mut(id).filter(|c| c.writable()) else {
        return Ok(0);
    };
    let queued = conn.queued.saturating_add(len as usize);
    if queued > limits.hard_cap {
        conn.closing = true;
        let message = format!(
            "connection {id}: the guest kept writing after Socket.write returned false; \
             {queued} bytes queued would pass the cap of {} ({}); connection destroyed",
            limits.hard_cap,
            limits.hard_cap_rule()
        );
        env.out.error(Kind::Host, id, env.generation, &message);
        env.out.command(Op::Close, id);
        return Ok(0);
    }
    // The write and a WantDrain record.
    env.room(2 * HEADER + len as usize)?;
    let Some(conn) = env.conns.get_mut(id) else {
        return Ok(0);
    };
    conn.queued = queued;
    let below = queued < limits.high_water_mark;
    let newly_full = !below && !conn.want_drain;
    conn.want_drain |= !below;
    if len > 0 {
        env.out.write(id, data);
        env.stats.bytes_out += len as u64;
        env.timers.activity(id);
    }
    if newly_full {
        env.out.command(Op::WantDrain, id);
    }
    Ok(below as i32)
}

/// `Socket.end(id: u32)`: flush the connection's queued output, then half-close it (FIN).
/// Later writes return false. Unknown, ended or closed ids: nothing happens.
pub(crate) fn end(mut ctx: Ctx, id: i32) -> Result<(), RuntimeError> {
    let env = ctx.data_mut();
    let id = id as u32;
    if env.conns.get(id).is_some_and(|c| c.writable()) {
        env.room(HEADER)?;
        if let Some(conn) = env.conns.get_mut(id) {
            conn.ending = true;
        }
        env.out.command(Op::End, id);
    }
    Ok(())
}

/// `Socket.close(id: u32)`: destroy the connection now, dropping queued output. `onClose`
/// follows once the socket is gone; later writes return false. Unknown or closed ids: nothing.
pub(crate) fn close(mut ctx: Ctx, id: i32) -> Result<(), RuntimeError> {
    let env = ctx.data_mut();
    let id = id as u32;
    if env.conns.get(id).is_some_and(|c| !c.closing) {
        env.room(HEADER)?;
        if let Some(conn) = env.conns.get_mut(id) {
            conn.closing = true;
        }
        env.out.command(Op::Close, id);
    }
    Ok(())
}

/// `Socket.pause(id: u32)`: stop delivering `onData` for the connection until `resume`.
/// Unknown or closed ids: nothing.
pub(crate) fn pause(ctx: Ctx, id: i32) -> Result<(), RuntimeError> {
    flow(ctx, Op::Pause, id)
}

/// `Socket.resume(id: u32)`: deliver `onData` again after `pause`. Unknown or closed ids: nothing.
pub(crate) fn resume(ctx: Ctx, id: i32) -> Result<(), RuntimeError> {
    flow(ctx, Op::Resume, id)
}

fn flow(mut ctx: Ctx, op: Op, id: i32) -> Result<(), RuntimeError> {
    let env = ctx.data_mut();
    let id = id as u32;
    if env.conns.get(id).is_some_and(|c| !c.closing) {
        env.room(HEADER)?;
        env.out.command(op, id);
    }
    Ok(())
}

/// `Socket.connect(hostPtr: usize, hostLen: u32, port: u32) -> i32`
///
/// Dials `host:port` (`hostLen` bytes of UTF-8 at `hostPtr`, copied now; a name, an IPv4
/// address, or an IPv6 address with or without brackets) when the bridge's `allowConnect`
/// permits exactly that host and port. Returns the new connection's id (> 0) at once; the host
/// connects afterwards (with Node, or natively on a worker that serves a listener), then calls
/// `onConnect(id)` once established, or `onError(id)` and `onClose(id)` if it fails. Until
/// then, `Socket.write` queues (and `end`, `close` work) as on any connection. The connection belongs to this instance (on worker threads, to this
/// worker). Negative answers, with nothing dialed and a `'log'` line (level `warn`) naming the
/// address and the reason: -1 not in `allowConnect`; -2 malformed host or port; -3 this
/// instance already has `dial::MAX_OUTBOUND` outbound connections, or the bridge ran out of ids.
/// A host range outside guest memory traps the guest.
pub(crate) fn connect(mut ctx: Ctx, ptr: i32, len: i32, port: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(dial::code::BAD_ADDRESS);
    };
    let view = memory.view(&store);
    let (ptr, len) = (ptr as u32, len as u32);
    if let Err(e) = checked_range(ptr, len as u64, view.data_size()) {
        return Err(env.fail(Kind::Trap, format!("Socket.connect: {e}")));
    }
    // A host name is short; anything longer is refused without copying it.
    if len as usize > allow::MAX_HOST_LEN {
        let message = format!(
            "Socket.connect: the host is {len} bytes long (at most {}); refused",
            allow::MAX_HOST_LEN
        );
        env.log(level::WARN, &message);
        return Ok(dial::code::BAD_ADDRESS);
    }
    let mut host = vec![0; len as usize];
    if let Err(e) = read_into(&view, ptr, &mut host) {
        return Err(env.fail(Kind::Trap, format!("Socket.connect: {e}")));
    }
    env.room(HEADER + host.len())?;
    match env.dialer.dial(&host, port, env.conns.outbound()) {
        Ok(dial) => {
            env.conns.insert_outbound(dial.id);
            env.out
                .connect(dial.id, env.dialer.worker, dial.port, &dial.host);
            env.stats.dialed += 1;
            Ok(dial.id as i32)
        }
        Err(refusal) => {
            env.log(level::WARN, &refusal.message);
            Ok(refusal.code)
        }
    }
}

/// `Socket.setTimeout(id: u32, ms: u32) -> i32`
///
/// Node's `socket.setTimeout`: the host calls `onTimeout(id)` once `ms` pass with no bytes read
/// from or written to `id` (data delivered to `onData`, or accepted by `Socket.write`); activity
/// re-arms it, and it fires once per quiet period. 0 turns it off. The connection is not closed:
/// the guest decides. Returns 0, or -1 unknown or closing connection, -2 `ms` over 2^31 - 1. A
/// guest that imports it must export `onTimeout(id)`.
pub(crate) fn set_timeout(mut ctx: Ctx, id: i32, ms: i32) -> i32 {
    let env = ctx.data_mut();
    let id = id as u32;
    if env.conns.get(id).is_none_or(|c| c.closing) {
        return timers::code::UNKNOWN;
    }
    env.timers.set_idle(Instant::now(), id, ms as u32)
}

/// `Socket.remoteAddress(id: u32, ptr: usize, cap: u32) -> i32`
///
/// Copies the peer's address as Node prints it (`127.0.0.1`, `::1`), UTF-8, at most `cap` bytes,
/// to guest memory at `ptr` (the guest owns the buffer), and returns its full length; -1 for an
/// id this instance does not know, or a dialed connection before `onConnect`. Valid from
/// `onConnection` / `onConnect` until `onClose` returns. A range outside guest memory traps.
pub(crate) fn remote_address(ctx: Ctx, id: i32, ptr: i32, cap: i32) -> Result<i32, RuntimeError> {
    copy_address(ctx, "Socket.remoteAddress", id, ptr, cap, |p| {
        &p.remote_address
    })
}

/// `Socket.localAddress(id: u32, ptr: usize, cap: u32) -> i32`: this side's address, as
/// `remoteAddress`.
pub(crate) fn local_address(ctx: Ctx, id: i32, ptr: i32, cap: i32) -> Result<i32, RuntimeError> {
    copy_address(ctx, "Socket.localAddress", id, ptr, cap, |p| {
        &p.local_address
    })
}

fn copy_address(
    mut ctx: Ctx,
    what: &str,
    id: i32,
    ptr: i32,
    cap: i32,
    pick: fn(&Peer) -> &String,
) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(peer) = env.conns.get(id as u32).and_then(|c| c.peer.as_deref()) else {
        return Ok(-1);
    };
    let address = pick(peer).clone();
    let n = address.len().min(cap as u32 as usize);
    if n > 0
        && let Some(memory) = env.memory.clone()
        && let Err(e) = write_from(&memory.view(&store), ptr as u32, &address.as_bytes()[..n])
    {
        return Err(env.fail(Kind::Trap, format!("{what}: {e}")));
    }
    Ok(address.len() as i32)
}

/// `Socket.remotePort(id: u32) -> i32`: the peer's port; -1 as for `remoteAddress`.
pub(crate) fn remote_port(mut ctx: Ctx, id: i32) -> i32 {
    port(&mut ctx, id, |p| p.remote_port)
}

/// `Socket.localPort(id: u32) -> i32`: this side's port; -1 as for `remoteAddress`.
pub(crate) fn local_port(mut ctx: Ctx, id: i32) -> i32 {
    port(&mut ctx, id, |p| p.local_port)
}

fn port(ctx: &mut Ctx, id: i32, pick: fn(&Peer) -> u16) -> i32 {
    let env = ctx.data_mut();
    env.conns
        .get(id as u32)
        .and_then(|c| c.peer.as_deref())
        .map_or(-1, |p| pick(p) as i32)
}
