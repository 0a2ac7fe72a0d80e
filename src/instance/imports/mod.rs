//! The state host imports work on (`HostEnv`, one per guest instance), and the imports
//! themselves by module: `socket.rs` (`Socket.*`), `env.rs` (what AssemblyScript imports from
//! `env`). The table that registers them is `abi/imports.rs` (`HOST_IMPORTS`).
//!
//! Each import is documented where it is defined: its arguments, its return value and who owns
//! which memory. Common rules:
//! - Pointers and lengths are wasm `i32`s read as `u32`. A range that is not inside guest memory
//!   is a guest error of kind `trap` ("Socket.write: guest passed pointer ..."); the host never
//!   reads or writes outside the guest's memory.
//! - The host copies what it needs out of guest memory during the call; the guest keeps ownership
//!   of every buffer it passes.
//! - Connection ids are `u32`s. An unknown, ended or closed id gets a defined answer (false, or
//!   nothing), never an error: connections can close while the guest still holds their id.
//! - Host imports never call back into the guest and never call JS: what they produce is appended
//!   to the instance's outbox and delivered after the event returns.

pub mod env;
pub mod host;
pub mod shared;
pub mod socket;
pub mod timer;
pub mod wasi;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use wasmer::{AsStoreRef, FunctionEnvMut, Memory, RuntimeError};

use crate::bridge::shared::Shared;
use crate::bridge::stats::Stats;
use crate::guest::memcap::describe_bytes;
use crate::instance::calls::Calls;
use crate::instance::conn::ConnTable;
use crate::instance::failure::{Failure, Kind};
use crate::instance::guestmem::{OutOfBounds, read_as_string};
use crate::instance::outbox::{NO_ID, Op, Outbox};
use crate::instance::timers::Timers;
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

pub use crate::abi::imports::build;

/// What a host import function receives: the instance's `HostEnv` and its store.
pub(crate) type Ctx<'a> = FunctionEnvMut<'a, HostEnv>;

/// Log levels carried in outbox `Log` records; `NAMES` is how JS shows them (`'log'` events).
pub mod level {
    pub const LOG: u8 = 0;
    pub const INFO: u8 = 1;
    pub const WARN: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const DEBUG: u8 = 4;
    pub const TRACE: u8 = 5;
    /// Indexed by level.
    pub const NAMES: [&str; 6] = ["log", "info", "warn", "error", "debug", "trace"];
}

pub(crate) const MAX_TIME_LABELS: usize = 1024;
/// Longest timer label kept (bytes; longer labels are cut, at a character boundary), so the
/// timers of one instance hold at most about 1 MiB.
pub(crate) const MAX_TIMER_LABEL: usize = 1024;

/// Most bytes of log lines one event may produce (`'log'` events; a line is at most 64 KiB).
pub const MAX_EVENT_LOG_BYTES: usize = 1 << 20;
/// Most log lines one event may produce.
pub const MAX_EVENT_LOG_LINES: usize = 10_000;

/// The output of the event running now: where it starts in the outbox, and its logs so far.
#[derive(Debug, Default)]
struct EventOutput {
    start: usize,
    log_bytes: usize,
    log_lines: usize,
    /// The log cap was reached: later lines are dropped.
    truncated: bool,
}

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
    /// This instance's `bytes_out` (bytes accepted by `Socket.write`), `dialed` (connections
    /// opened by `Socket.connect`) and `logs_dropped`; the executor counts the rest.
    pub stats: Stats,
    /// What `Socket.connect` may dial, and the ids it hands out.
    pub dialer: Dialer,
    /// `Timer.set` timers and `Socket.setTimeout` timeouts.
    pub timers: Timers,
    /// The bridge's `config` option (`Host.config`); empty: none.
    pub config: Arc<[u8]>,
    /// The bridge's shared store (`Shared.*`).
    pub shared: Arc<Shared>,
    /// The names of the application's host functions (`Host.call`).
    pub host_functions: Arc<HashSet<String>>,
    /// `Host.call`s in flight.
    pub calls: Calls,
    /// Which instance of the bridge this is, unique within it (replies carry it, so a successor
    /// drops the answers to calls its failed predecessor made, and a reloaded guest those of
    /// the guest it replaced).
    pub instance: u32,
    /// Which load of the bridge's guest this instance runs (`bridge.generation`).
    pub generation: u32,
    /// What the current event has produced so far, against the per-event caps.
    event: EventOutput,
    /// `console.time` labels running (`env.rs`).
    pub(crate) time_labels: HashMap<String, Instant>,
    /// Makes every `env.seed` (and `random_get` word) differ.
    seed_counter: u64,
    /// WASI's held partial stdout / stderr lines (`wasi.rs`).
    wasi: wasi::WasiState,
}

impl HostEnv {
    pub fn new(limits: Limits, dialer: Dialer, config: Arc<[u8]>, shared: Arc<Shared>) -> HostEnv {
        HostEnv {
            memory: None,
            out: Outbox::default(),
            conns: ConnTable::default(),
            failure: None,
            limits,
            stats: Stats::default(),
            dialer,
            timers: Timers::default(),
            config,
            shared,
            host_functions: Arc::default(),
            calls: Calls::default(),
            instance: 0,
            generation: 1,
            event: EventOutput::default(),
            time_labels: HashMap::new(),
            seed_counter: 0,
            wasi: wasi::WasiState::default(),
        }
    }

    /// Records why the guest is being stopped and returns the trap that stops it.
    pub fn fail(&mut self, kind: Kind, message: String) -> RuntimeError {
        let err = RuntimeError::new(message.clone());
        self.failure = Some(Failure::new(kind, message));
        err
    }

    /// A new event starts: its output is measured from here.
    pub fn begin_event(&mut self) {
        self.event = EventOutput {
            start: self.out.mark(),
            ..EventOutput::default()
        };
    }

    /// Checks that `bytes` more output fit this event's cap (`maxEventOutputBytes`). Past it,
    /// the event's output is dropped and the returned trap stops the guest, which is then
    /// replaced like any failing guest: no event can make the host hold more than the cap.
    pub fn room(&mut self, bytes: usize) -> Result<(), RuntimeError> {
        let cap = self.limits.max_event_output;
        let used = self.out.mark() - self.event.start;
        if used.saturating_add(bytes) <= cap {
            return Ok(());
        }
        self.out.truncate(self.event.start);
        Err(self.fail(
            Kind::Host,
            format!(
                "the guest's output in one event would pass {} (maxEventOutputBytes): it was \
                 stopped and that event's output dropped",
                describe_bytes(cap as u64)
            ),
        ))
    }

    /// Whether one more log line fits this event's log cap (`MAX_EVENT_LOG_BYTES`,
    /// `MAX_EVENT_LOG_LINES`). When it does not, the line is counted as dropped; callers check
    /// this before reading the guest's string, so dropped lines cost nothing to read.
    pub fn log_room(&mut self) -> bool {
        let e = &self.event;
        let fits =
            e.log_bytes < MAX_EVENT_LOG_BYTES && e.log_lines < MAX_EVENT_LOG_LINES && !e.truncated;
        if !fits {
            self.drop_log_line();
        }
        fits
    }

    /// Appends a `'log'` line at `level`, within this event's log cap: the line that would pass
    /// it is replaced by one `log output truncated` warning, and the rest are dropped (counted
    /// in `stats().logsDropped`).
    pub fn log(&mut self, level: u8, line: &str) {
        let e = &mut self.event;
        if e.truncated {
            self.drop_log_line();
            return;
        }
        if e.log_bytes + line.len() > MAX_EVENT_LOG_BYTES || e.log_lines + 1 > MAX_EVENT_LOG_LINES {
            e.truncated = true;
            let notice = format!(
                "log output truncated: one event may log {} lines or {} at most; the rest of \
                 this event's lines are dropped",
                MAX_EVENT_LOG_LINES,
                describe_bytes(MAX_EVENT_LOG_BYTES as u64)
            );
            self.out.text(Op::Log, level::WARN, NO_ID, &notice);
            self.drop_log_line();
            return;
        }
        e.log_bytes += line.len();
        e.log_lines += 1;
        self.out.text(Op::Log, level, NO_ID, line);
    }

    fn drop_log_line(&mut self) {
        self.event.truncated = true;
        self.stats.logs_dropped += 1;
    }

    /// Reads an AssemblyScript string argument. Before instantiation finishes (a start function
    /// that logs) the memory is not reachable yet and the text says so instead.
    pub(crate) fn text(&self, store: &impl AsStoreRef, ptr: i32) -> Result<String, OutOfBounds> {
        match &self.memory {
            Some(memory) => read_as_string(&memory.view(store), ptr as u32),
            None => Ok(format!(
                "<string at {}: unreadable during the start function; build with --exportStart _initialize>",
                ptr as u32
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use wasmer::{FunctionEnv, Store};

    use super::*;
    use crate::instance::outbox::Op;

    /// Instantiates `wat` with the host imports and a connection table holding `conns`, calls its
    /// export `run`, and returns the results with what the imports recorded: the failure, and the
    /// outbox records as `(op, id)`.
    fn run_wat(wat: &str, conns: &[u32]) -> (Vec<i32>, Option<Failure>, Vec<(u8, u32)>) {
        let mut store = Store::default();
        let env = FunctionEnv::new(
            &mut store,
            HostEnv::new(
                Limits::new(65536),
                Dialer::default(),
                Arc::from(&b""[..]),
                Arc::new(Shared::new(1 << 20)),
            ),
        );
        let imports = build(&mut store, &env);
        let module = wasmer::Module::new(&store, wat).unwrap();
        let instance = wasmer::Instance::new(&mut store, &module, &imports).unwrap();
        let memory = instance.exports.get_memory("memory").unwrap().clone();
        let host = env.as_mut(&mut store);
        host.memory = Some(memory);
        conns
            .iter()
            .for_each(|&id| host.conns.insert(id, Default::default()));
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
}
