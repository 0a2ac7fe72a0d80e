//! The host import table: every function a guest can import, in one place.
//!
//! Each import is documented where it is defined below: its arguments, its return value and who
//! owns which memory. Common rules:
//! - Pointers and lengths are wasm `i32`s read as `u32`. A range that is not inside guest memory
//!   is a guest error of kind `trap` ("Socket.write: guest passed pointer ..."); the host never
//!   reads or writes outside the guest's memory.
//! - The host copies what it needs out of guest memory during the call; the guest keeps ownership
//!   of every buffer it passes.
//! - Connection ids are `u32`s. An unknown, ended or closed id gets a defined answer (false, or
//!   nothing), never an error: connections can close while the guest still holds their id.
//! - Host imports never call back into the guest and never call JS: what they produce is appended
//!   to the instance's outbox and delivered after the event returns.
//!
//! `HOST_IMPORTS` is the table; `build` turns it into a wasmer `Imports`, `provided` into the
//! signatures `abi::check_imports` validates guests against.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmer::{
    AsStoreRef, Function, FunctionEnv, FunctionEnvMut, Imports, Memory, RuntimeError, Store, Type,
};

use crate::abi::Sig;
use crate::instance::conn::ConnTable;
use crate::instance::failure::{Failure, Kind};
use crate::instance::guestmem::{
    OutOfBounds, checked_range, guest_bytes, read_as_string, read_into,
};
use crate::instance::outbox::{NO_ID, Op, Outbox};
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

/// Log levels carried in outbox `Log` records (`js/batch.js` names them).
pub mod level {
    pub const LOG: u8 = 0;
    pub const INFO: u8 = 1;
    pub const WARN: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const DEBUG: u8 = 4;
    pub const TRACE: u8 = 5;
}

/// Most `console.time` labels one instance may have running; later ones are ignored.
const MAX_TIMERS: usize = 1024;
/// Longest timer label kept (bytes; longer labels are cut, at a character boundary), so the
/// timers of one instance hold at most about 1 MiB.
const MAX_TIMER_LABEL: usize = 1024;

/// The state host imports work on: one per guest instance.
pub struct HostEnv {
    /// The guest's exported memory; `None` until instantiation has finished.
    pub memory: Option<Memory>,
    /// What the guest asked for during the current event(s).
    pub out: Outbox,
    /// The connections this instance knows.
    pub conns: ConnTable,
    /// Set by an import that traps the guest on purpose, so the report names the real cause.
    pub failure: Option<Failure>,
    /// Backpressure mark and hard cap of each connection's queued output.
    pub limits: Limits,
    /// Bytes accepted by `Socket.write`.
    pub bytes_out: u64,
    /// What `Socket.connect` may dial, and the ids it hands out.
    pub dialer: Dialer,
    /// Connections dialed with `Socket.connect`.
    pub dialed: u64,
    timers: HashMap<String, Instant>,
    seed_counter: u64,
}

impl HostEnv {
    pub fn new(limits: Limits, dialer: Dialer) -> HostEnv {
        HostEnv {
            memory: None,
            out: Outbox::default(),
            conns: ConnTable::default(),
            failure: None,
            limits,
            bytes_out: 0,
            dialer,
            dialed: 0,
            timers: HashMap::new(),
            seed_counter: 0,
        }
    }

    /// Records why the guest is being stopped and returns the trap that stops it.
    pub fn fail(&mut self, kind: Kind, message: String) -> RuntimeError {
        let err = RuntimeError::new(message.clone());
        self.failure = Some(Failure::new(kind, message));
        err
    }

    /// Reads an AssemblyScript string argument. Before instantiation finishes (a start function
    /// that logs) the memory is not reachable yet and the text says so instead.
    fn text(&self, store: &impl AsStoreRef, ptr: i32) -> Result<String, OutOfBounds> {
        match &self.memory {
            Some(memory) => read_as_string(&memory.view(store), ptr as u32),
            None => Ok(format!(
                "<string at {}: unreadable during the start function; build with --exportStart _initialize>",
                ptr as u32
            )),
        }
    }
}

type Ctx<'a> = FunctionEnvMut<'a, HostEnv>;
type Make = fn(&mut Store, &FunctionEnv<HostEnv>) -> Function;

/// One host import: where guests find it, its wasm signature, and how to build it.
pub struct HostImport {
    pub module: &'static str,
    pub name: &'static str,
    pub params: &'static [Type],
    pub results: &'static [Type],
    make: Make,
}

const I32: Type = Type::I32;
const F64: Type = Type::F64;

macro_rules! import {
    ($module:literal, $name:literal, [$($p:expr),*] -> [$($r:expr),*], $f:expr) => {
        HostImport {
            module: $module,
            name: $name,
            params: &[$($p),*],
            results: &[$($r),*],
            make: |store, env| Function::new_typed_with_env(store, env, $f),
        }
    };
}

/// Every import the host provides. A guest importing anything else is refused at load.
pub static HOST_IMPORTS: &[HostImport] = &[
    import!("Socket", "write", [I32, I32, I32] -> [I32], socket_write),
    import!("Socket", "end", [I32] -> [], socket_end),
    import!("Socket", "close", [I32] -> [], socket_close),
    import!("Socket", "pause", [I32] -> [], socket_pause),
    import!("Socket", "resume", [I32] -> [], socket_resume),
    import!("Socket", "connect", [I32, I32, I32] -> [I32], socket_connect),
    import!("env", "abort", [I32, I32, I32, I32] -> [], env_abort),
    import!("env", "trace", [I32, I32, F64, F64, F64, F64, F64] -> [], env_trace),
    import!("env", "seed", [] -> [F64], env_seed),
    import!("env", "Date.now", [] -> [F64], env_date_now),
    import!("env", "console.log", [I32] -> [], |c: Ctx, p: i32| log(c, level::LOG, "console.log", p)),
    import!("env", "console.info", [I32] -> [], |c: Ctx, p: i32| log(c, level::INFO, "console.info", p)),
    import!("env", "console.warn", [I32] -> [], |c: Ctx, p: i32| log(c, level::WARN, "console.warn", p)),
    import!("env", "console.error", [I32] -> [], |c: Ctx, p: i32| log(c, level::ERROR, "console.error", p)),
    import!("env", "console.debug", [I32] -> [], |c: Ctx, p: i32| log(c, level::DEBUG, "console.debug", p)),
    import!("env", "console.assert", [I32, I32] -> [], console_assert),
    import!("env", "console.time", [I32] -> [], |c: Ctx, p: i32| timer(c, Timer::Start, p)),
    import!("env", "console.timeLog", [I32] -> [], |c: Ctx, p: i32| timer(c, Timer::Log, p)),
    import!("env", "console.timeEnd", [I32] -> [], |c: Ctx, p: i32| timer(c, Timer::End, p)),
];

/// Builds the imports for one instance.
pub fn build(store: &mut Store, env: &FunctionEnv<HostEnv>) -> Imports {
    let mut imports = Imports::new();
    for imp in HOST_IMPORTS {
        imports.define(imp.module, imp.name, (imp.make)(store, env));
    }
    imports
}

/// The table as `(module, name, signature)`, for validating a guest's imports at load.
pub fn provided() -> Vec<(&'static str, &'static str, Sig)> {
    HOST_IMPORTS
        .iter()
        .map(|i| (i.module, i.name, Sig::new(i.params, i.results)))
        .collect()
}

/// `Socket.write(id: u32, ptr: usize, len: u32) -> bool`
///
/// Copies `len` bytes at `ptr` out of guest memory now (the guest keeps its buffer) and queues
/// them on connection `id`. Returns true (1) while the connection's queued output stays below
/// `highWaterMark`; false (0) once it reaches it: the bytes are still sent, the host stops reading
/// the socket, and `onDrain` follows once the queue falls below the mark again. Returns false and
/// sends nothing when `id` is unknown, closed or ended.
///
/// A guest that keeps writing past false is stopped at the hard cap (`limits.rs`): the write is
/// dropped, the connection destroyed, and a GuestError of kind `host` reports it. The instance
/// itself is fine and keeps running. A range outside guest memory traps the guest.
fn socket_write(mut ctx: Ctx, id: i32, ptr: i32, len: i32) -> Result<i32, RuntimeError> {
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
        env.out.text(Op::Error, Kind::Host as u8, id, &message);
        env.out.command(Op::Close, id);
        return Ok(0);
    }
    conn.queued = queued;
    let below = queued < limits.high_water_mark;
    let newly_full = !below && !conn.want_drain;
    conn.want_drain |= !below;
    if len > 0 {
        env.out.write(id, data);
        env.bytes_out += len as u64;
    }
    if newly_full {
        env.out.command(Op::WantDrain, id);
    }
    Ok(below as i32)
}

/// `Socket.end(id: u32)`: flush the connection's queued output, then half-close it (FIN).
/// Later writes return false. Unknown, ended or closed ids: nothing happens.
fn socket_end(mut ctx: Ctx, id: i32) {
    let env = ctx.data_mut();
    let id = id as u32;
    if let Some(conn) = env.conns.get_mut(id).filter(|c| c.writable()) {
        conn.ending = true;
        env.out.command(Op::End, id);
    }
}

/// `Socket.close(id: u32)`: destroy the connection now, dropping queued output. `onClose`
/// follows once the socket is gone; later writes return false. Unknown or closed ids: nothing.
fn socket_close(mut ctx: Ctx, id: i32) {
    let env = ctx.data_mut();
    let id = id as u32;
    if let Some(conn) = env.conns.get_mut(id).filter(|c| !c.closing) {
        conn.closing = true;
        env.out.command(Op::Close, id);
    }
}

/// `Socket.pause(id: u32)`: stop delivering `onData` for the connection until `resume`.
/// Unknown or closed ids: nothing.
fn socket_pause(ctx: Ctx, id: i32) {
    flow(ctx, Op::Pause, id);
}

/// `Socket.resume(id: u32)`: deliver `onData` again after `pause`. Unknown or closed ids: nothing.
fn socket_resume(ctx: Ctx, id: i32) {
    flow(ctx, Op::Resume, id);
}

fn flow(mut ctx: Ctx, op: Op, id: i32) {
    let env = ctx.data_mut();
    let id = id as u32;
    if env.conns.get(id).is_some_and(|c| !c.closing) {
        env.out.command(op, id);
    }
}

/// `Socket.connect(hostPtr: usize, hostLen: u32, port: u32) -> i32`
///
/// Dials `host:port` (`hostLen` bytes of UTF-8 at `hostPtr`, copied now; a name, an IPv4
/// address, or an IPv6 address with or without brackets) when the bridge's `allowConnect`
/// permits exactly that host and port. Returns the new connection's id (> 0) at once; the host
/// connects with Node afterwards, then calls `onConnect(id)` once established, or `onError(id)`
/// and `onClose(id)` if it fails. Until then, `Socket.write` queues (and `end`, `close` work) as
/// on any connection. The connection belongs to this instance (on worker threads, to this
/// worker). Negative answers, with nothing dialed and a `'log'` line (level `warn`) naming the
/// address and the reason: -1 not in `allowConnect`; -2 malformed host or port; -3 this
/// instance already has `dial::MAX_OUTBOUND` outbound connections, or the bridge ran out of ids.
/// A host range outside guest memory traps the guest.
fn socket_connect(mut ctx: Ctx, ptr: i32, len: i32, port: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return Ok(crate::policy::dial::code::BAD_ADDRESS);
    };
    let view = memory.view(&store);
    let (ptr, len) = (ptr as u32, len as u32);
    if let Err(e) = checked_range(ptr, len as u64, view.data_size()) {
        return Err(env.fail(Kind::Trap, format!("Socket.connect: {e}")));
    }
    // A host name is short; anything longer is refused without copying it.
    if len as usize > crate::policy::allow::MAX_HOST_LEN {
        let message = format!(
            "Socket.connect: the host is {len} bytes long (at most {}); refused",
            crate::policy::allow::MAX_HOST_LEN
        );
        env.out.text(Op::Log, level::WARN, NO_ID, &message);
        return Ok(crate::policy::dial::code::BAD_ADDRESS);
    }
    let mut host = vec![0; len as usize];
    if let Err(e) = read_into(&view, ptr, &mut host) {
        return Err(env.fail(Kind::Trap, format!("Socket.connect: {e}")));
    }
    match env.dialer.dial(&host, port, env.conns.outbound()) {
        Ok(dial) => {
            env.conns.insert_outbound(dial.id);
            env.out
                .connect(dial.id, env.dialer.worker, dial.port, &dial.host);
            env.dialed += 1;
            Ok(dial.id as i32)
        }
        Err(refusal) => {
            env.out.text(Op::Log, level::WARN, NO_ID, &refusal.message);
            Ok(refusal.code)
        }
    }
}

/// `env.abort(message: string, file: string, line: u32, column: u32)`: AssemblyScript's `abort`
/// (failed `assert`, `throw`, index out of range). Stops the guest with a GuestError of kind
/// `abort` whose message is `message at file:line:column`. The strings are AssemblyScript
/// `String` pointers (null allowed); unreadable ones are described, not trusted.
fn env_abort(mut ctx: Ctx, msg: i32, file: i32, line: i32, col: i32) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let text = |p: i32| {
        env.text(&store, p)
            .unwrap_or_else(|e| format!("<unreadable: {e}>"))
    };
    let mut message = if msg == 0 {
        "abort".to_string()
    } else {
        text(msg)
    };
    if file != 0 {
        message = format!("{message} at {}:{}:{}", text(file), line as u32, col as u32);
    }
    Err(env.fail(Kind::Abort, message))
}

/// `env.trace(message: string, n: i32, a0..a4: f64)`: a `'log'` line at level `trace`,
/// `trace: message a0, a1, ...` with the first `n` (at most 5) numbers.
#[allow(clippy::too_many_arguments)]
fn env_trace(
    mut ctx: Ctx,
    msg: i32,
    n: i32,
    a0: f64,
    a1: f64,
    a2: f64,
    a3: f64,
    a4: f64,
) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let text = match env.text(&store, msg) {
        Ok(t) => t,
        Err(e) => return Err(env.fail(Kind::Trap, format!("trace: {e}"))),
    };
    let count = (n.max(0) as usize).min(5);
    let args: Vec<String> = [a0, a1, a2, a3, a4][..count]
        .iter()
        .map(|&v| js_number(v))
        .collect();
    let line = if args.is_empty() {
        format!("trace: {text}")
    } else {
        format!("trace: {text} {}", args.join(", "))
    };
    env.out.text(Op::Log, level::TRACE, NO_ID, &line);
    Ok(())
}

/// `env.seed() -> f64`: a fresh random seed for AssemblyScript's `Math.random`.
fn env_seed(mut ctx: Ctx) -> f64 {
    let env = ctx.data_mut();
    env.seed_counter += 1;
    let bits = RandomState::new().hash_one(env.seed_counter);
    // A large integer in f64: AssemblyScript reinterprets its bits, so any non-zero value works.
    ((bits >> 11) | 1) as f64
}

/// `env.Date.now() -> f64`: milliseconds since the Unix epoch.
fn env_date_now(_ctx: Ctx) -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `env.console.log|info|warn|error|debug(message: string)`: one `'log'` line at that level.
fn log(mut ctx: Ctx, lvl: u8, what: &str, ptr: i32) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    match env.text(&store, ptr) {
        Ok(line) => {
            env.out.text(Op::Log, lvl, NO_ID, &line);
            Ok(())
        }
        Err(e) => Err(env.fail(Kind::Trap, format!("{what}: {e}"))),
    }
}

/// `env.console.assert(condition: bool, message: string)`: when `condition` is false, an
/// error-level `'log'` line `Assertion failed: message`. Never stops the guest.
fn console_assert(mut ctx: Ctx, cond: i32, ptr: i32) -> Result<(), RuntimeError> {
    if cond != 0 {
        return Ok(());
    }
    let (env, store) = ctx.data_and_store_mut();
    match env.text(&store, ptr) {
        Ok(msg) => {
            env.out.text(
                Op::Log,
                level::ERROR,
                NO_ID,
                &format!("Assertion failed: {msg}"),
            );
            Ok(())
        }
        Err(e) => Err(env.fail(Kind::Trap, format!("console.assert: {e}"))),
    }
}

enum Timer {
    Start,
    Log,
    End,
}

impl Timer {
    /// The import's name, for error messages.
    fn import(&self) -> &'static str {
        match self {
            Timer::Start => "console.time",
            Timer::Log => "console.timeLog",
            Timer::End => "console.timeEnd",
        }
    }
}

/// `env.console.time|timeLog|timeEnd(label: string)`: start a timer, or log `label: 1.234ms`
/// (and, for `timeEnd`, forget it). At most 1024 labels per instance; unknown labels are ignored.
fn timer(mut ctx: Ctx, what: Timer, ptr: i32) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let mut label = match env.text(&store, ptr) {
        Ok(l) => l,
        Err(e) => return Err(env.fail(Kind::Trap, format!("{}: {e}", what.import()))),
    };
    if label.len() > MAX_TIMER_LABEL {
        let mut cut = MAX_TIMER_LABEL;
        while !label.is_char_boundary(cut) {
            cut -= 1;
        }
        label.truncate(cut);
    }
    let started = match what {
        Timer::Start => {
            if env.timers.len() < MAX_TIMERS {
                env.timers.insert(label, Instant::now());
            }
            return Ok(());
        }
        Timer::Log => env.timers.get(&label).copied(),
        Timer::End => env.timers.remove(&label),
    };
    if let Some(t) = started {
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        env.out
            .text(Op::Log, level::LOG, NO_ID, &format!("{label}: {ms:.3}ms"));
    }
    Ok(())
}

/// Formats a number the way JavaScript prints it, for the common cases.
fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_declares_the_signature_of_the_function_it_builds() {
        let mut store = Store::default();
        let env = FunctionEnv::new(
            &mut store,
            HostEnv::new(Limits::new(1024), Dialer::default()),
        );
        for imp in HOST_IMPORTS {
            let f = (imp.make)(&mut store, &env);
            let ty = f.ty(&store);
            assert_eq!(ty.params(), imp.params, "{}.{}", imp.module, imp.name);
            assert_eq!(ty.results(), imp.results, "{}.{}", imp.module, imp.name);
        }
    }

    #[test]
    fn no_import_is_registered_twice() {
        let mut names: Vec<_> = HOST_IMPORTS.iter().map(|i| (i.module, i.name)).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }

    /// Instantiates `wat` with the host imports and a connection table holding `conns`, calls its
    /// export `run`, and returns the results with what the imports recorded: the failure, and the
    /// outbox records as `(op, id)`.
    fn run_wat(wat: &str, conns: &[u32]) -> (Vec<i32>, Option<Failure>, Vec<(u8, u32)>) {
        let mut store = Store::default();
        let env = FunctionEnv::new(
            &mut store,
            HostEnv::new(Limits::new(65536), Dialer::default()),
        );
        let imports = build(&mut store, &env);
        let module = wasmer::Module::new(&store, wat).unwrap();
        let instance = wasmer::Instance::new(&mut store, &module, &imports).unwrap();
        let memory = instance.exports.get_memory("memory").unwrap().clone();
        let host = env.as_mut(&mut store);
        host.memory = Some(memory);
        conns.iter().for_each(|&id| host.conns.insert(id));
        let run = instance.exports.get_function("run").unwrap();
        let results = match run.call(&mut store, &[]) {
            Ok(values) => values.iter().map(|v| v.unwrap_i32()).collect(),
            Err(_) => Vec::new(),
        };
        let host = env.as_mut(&mut store);
        let mut records = Vec::new();
        let bytes = host.out.bytes();
        let mut at = 0;
        while at < bytes.len() {
            let word = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
            records.push((bytes[at], word(at + 4)));
            at += crate::instance::outbox::HEADER + word(at + 8) as usize;
        }
        (results, host.failure.take(), records)
    }

    #[test]
    fn every_string_import_names_itself_when_the_guest_passes_a_bad_pointer() {
        let calls = [
            ("console.log", "(call $f (i32.const -1))", "(param i32)"),
            ("console.info", "(call $f (i32.const -1))", "(param i32)"),
            ("console.warn", "(call $f (i32.const -1))", "(param i32)"),
            ("console.error", "(call $f (i32.const -1))", "(param i32)"),
            ("console.debug", "(call $f (i32.const -1))", "(param i32)"),
            ("console.time", "(call $f (i32.const -1))", "(param i32)"),
            ("console.timeLog", "(call $f (i32.const -1))", "(param i32)"),
            ("console.timeEnd", "(call $f (i32.const -1))", "(param i32)"),
            (
                "console.assert",
                "(call $f (i32.const 0) (i32.const -1))",
                "(param i32 i32)",
            ),
            (
                "trace",
                "(call $f (i32.const -1) (i32.const 0) (f64.const 0) (f64.const 0) \
                 (f64.const 0) (f64.const 0) (f64.const 0))",
                "(param i32 i32 f64 f64 f64 f64 f64)",
            ),
        ];
        for (name, call, sig) in calls {
            let wat = format!(
                r#"(module (import "env" "{name}" (func $f {sig})) (memory (export "memory") 1)
                   (func (export "run") {call}))"#
            );
            let (_, failure, records) = run_wat(&wat, &[]);
            let failure = failure.unwrap_or_else(|| panic!("{name} did not stop the guest"));
            assert_eq!(failure.kind, Kind::Trap, "{name}");
            assert_eq!(
                failure.message,
                format!(
                    "{name}: guest passed pointer 4294967291 with length 4, outside its memory \
                     of 65536 bytes"
                )
            );
            assert!(records.is_empty(), "{name}: {records:?}");
        }
    }

    #[test]
    fn socket_imports_answer_unknown_and_closed_ids_as_documented() {
        let wat = r#"(module
            (import "Socket" "write" (func $write (param i32 i32 i32) (result i32)))
            (import "Socket" "end" (func $end (param i32)))
            (import "Socket" "close" (func $close (param i32)))
            (import "Socket" "pause" (func $pause (param i32)))
            (import "Socket" "resume" (func $resume (param i32)))
            (memory (export "memory") 1)
            (func (export "run") (result i32 i32 i32 i32 i32)
              (call $end (i32.const 9)) (call $close (i32.const 9))
              (call $pause (i32.const 9)) (call $resume (i32.const 9))
              (call $write (i32.const 9) (i32.const 0) (i32.const 4))
              (call $write (i32.const 7) (i32.const 65536) (i32.const 0))
              (call $write (i32.const -1) (i32.const 65536) (i32.const 0))
              (call $close (i32.const 7))
              (call $write (i32.const 7) (i32.const 0) (i32.const 4))
              (call $close (i32.const 7)) (call $end (i32.const 7))
              (call $pause (i32.const 7)) (call $resume (i32.const 7))
              (call $write (i32.const 7) (i32.const 0) (i32.const 0))))"#;
        let (results, failure, records) = run_wat(wat, &[7]);
        assert_eq!(failure, None);
        assert_eq!(results, vec![0, 1, 0, 0, 0]);
        assert_eq!(records, vec![(Op::Close as u8, 7)]);
    }

    #[test]
    fn a_bad_write_range_traps_even_for_an_unknown_or_closed_id() {
        for id in ["9", "-1", "7"] {
            let wat = format!(
                r#"(module
                (import "Socket" "write" (func $write (param i32 i32 i32) (result i32)))
                (import "Socket" "close" (func $close (param i32)))
                (memory (export "memory") 1)
                (func (export "run") (result i32)
                  (call $close (i32.const 7))
                  (call $write (i32.const {id}) (i32.const -16) (i32.const 32))))"#
            );
            let (results, failure, _) = run_wat(&wat, &[7]);
            assert!(results.is_empty());
            let failure = failure.expect("the write must stop the guest");
            assert_eq!(failure.kind, Kind::Trap);
            assert_eq!(
                failure.message,
                "Socket.write: guest passed pointer 4294967280 with length 32, outside its \
                 memory of 65536 bytes"
            );
        }
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        assert_eq!(js_number(1.0), "1");
        assert_eq!(js_number(2.5), "2.5");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
    }
}
