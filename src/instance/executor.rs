//! An executor owns one guest instance (its `Store` and `Instance`, which never leave the thread
//! that made them) and runs connection events on it, one at a time, in the order given
//! (`handle`).
//!
//! Inline mode is one executor driven from the JS thread; with worker threads each worker owns
//! one. Every event appends what the guest asked for to the outbox; `take_output` hands the batch
//! over. When a guest fails (trap, abort, bad pointer, fuel, memory), the executor reports a
//! `GuestError` record, closes every connection of the failed instance, and replaces the instance
//! with a fresh one from the same module: the next connection is served as if nothing happened.

use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use wasmer::{FunctionEnv, Instance, InstantiationError, RuntimeError, Store};

use crate::abi::Hook;
use crate::bridge::event::{Event, Peer};
use crate::bridge::shared::Shared;
use crate::bridge::stats::Stats;
use crate::guest::Guest;
use crate::guest::memcap::{self, GrowWatch, describe_bytes};
use crate::guest::metering;
use crate::instance::deadline::Deadline;
use crate::instance::exports::{Bytes, Exports};
use crate::instance::failure::{Failure, Kind, panic_message};
use crate::instance::fuel::Fuel;
use crate::instance::imports::{self, HostEnv};
use crate::instance::outbox::{NO_ID, Op, Outbox};
use crate::instance::timers::Due;
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

/// A running instance: its exports, and the flag its memory sets when it refuses to grow
/// (`maxMemoryBytes`), reset per event.
struct Live {
    exports: Exports,
    grow: GrowWatch,
}

/// What every instance of an executor is made with.
#[derive(Clone, Debug)]
pub struct Setup {
    pub limits: Limits,
    pub dialer: Dialer,
    /// The bridge's `config` option (`Host.config`).
    pub config: Arc<[u8]>,
    /// The bridge's shared store, the same for every instance (`Shared.*`).
    pub shared: Arc<Shared>,
    /// The names of the application's host functions (`Host.call`).
    pub host_functions: Arc<HashSet<String>>,
    /// Which load of the bridge's guest this is: 1 for the first, one more per reload
    /// (`bridge.generation`). Failures report it.
    pub generation: u32,
    /// Numbers instances, unique within the bridge (so a `Host.call` answer finds the instance
    /// that asked even when several executors share a thread); shared by every executor.
    pub instances: Arc<AtomicU32>,
}

impl Setup {
    /// The next instance number of the bridge.
    fn next_instance(&self) -> u32 {
        self.instances.fetch_add(1, Ordering::Relaxed)
    }
}

pub struct Executor {
    guest: Arc<Guest>,
    setup: Setup,
    store: Store,
    env: FunctionEnv<HostEnv>,
    /// `None` only when a replacement instance could not be started, or a retiring executor's
    /// instance failed.
    live: Option<Live>,
    stats: Stats,
    /// A reload replaced this executor's guest: it serves the connections it has until they
    /// close, takes no new ones, and is not restarted when its instance fails.
    retiring: bool,
    /// `eventTimeoutMs`: the watchdog's slot for this executor's calls.
    deadline: Option<Deadline>,
}

impl Executor {
    /// Starts the first instance. Fails when the module cannot be instantiated or its start
    /// function fails; the failure says why.
    pub fn new(guest: Arc<Guest>, setup: Setup) -> Result<Executor, Failure> {
        let deadline = guest.settings.deadline.map(Deadline::new);
        let (store, env, live) = instantiate(&guest, &setup, deadline.as_ref())?;
        Ok(Executor {
            guest,
            setup,
            store,
            env,
            live: Some(live),
            stats: Stats::default(),
            retiring: false,
            deadline,
        })
    }

    /// What this executor's instances are made with.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The guest a reload replaced: from now on this executor only finishes the connections it
    /// has (`connections`), and a failure is not followed by a fresh instance.
    pub fn retire(&mut self) {
        self.retiring = true;
    }

    /// Connections of the running instance, open or closing.
    pub fn connections(&self) -> usize {
        self.env.as_ref(&self.store).conns.len()
    }

    /// Whether connection `id` belongs to the running instance.
    pub fn owns(&self, id: u32) -> bool {
        self.env.as_ref(&self.store).conns.get(id).is_some()
    }

    /// The number of the running instance (what its `Call` records carry).
    pub fn instance(&self) -> u32 {
        self.env.as_ref(&self.store).instance
    }

    /// Appends records made elsewhere (another executor on this thread) to the output.
    pub fn append_output(&mut self, records: &[u8]) {
        self.env().out.append(records);
    }

    /// When the earliest timer or timeout may be due (a worker waits until then).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.env.as_ref(&self.store).timers.next_deadline()
    }

    fn env(&mut self) -> &mut HostEnv {
        self.env.as_mut(&mut self.store)
    }

    /// Counters of every instance this executor has run.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s += self.env.as_ref(&self.store).stats;
        s
    }

    /// Everything the guest asked for since the last `clear_output`, encoded for JS (`instance/outbox.rs`).
    pub fn output(&self) -> &[u8] {
        self.env.as_ref(&self.store).out.bytes()
    }

    /// Takes the output, leaving the outbox empty (for handing a batch to another thread).
    pub fn take_output(&mut self) -> Vec<u8> {
        self.env().out.take()
    }

    /// Empties the output after it was handed over.
    pub fn clear_output(&mut self) {
        self.env().out.clear();
    }

    /// Appends an `Error` record of `kind` that concerns no connection.
    pub fn report(&mut self, kind: Kind, message: &str) {
        let generation = self.setup.generation;
        self.env().out.error(kind, NO_ID, generation, message);
    }

    /// Appends a `Timer` record (inline mode: the next timer is due in `ms`).
    pub fn timer(&mut self, ms: u32) {
        self.env().out.timer(ms);
    }

    /// Records that the guest consumed `bytes` of `id`'s input (threaded mode's flow control).
    pub fn ack(&mut self, id: u32, bytes: usize) {
        self.env().out.ack(id, bytes as u32);
    }

    /// Runs one event.
    pub fn handle(&mut self, event: Event<'_>) {
        match event {
            Event::Open { id, peer } => self.open(id, peer),
            Event::Data { id, bytes, queued } => self.data(id, &bytes, queued),
            Event::End { id, half_open } => self.end(id, half_open),
            Event::Error(id) => self.hook(id, Hook::Error),
            Event::Drain { id, queued } => self.drain(id, queued),
            Event::Connected { id, peer } => self.connected(id, peer),
            Event::Close(id) => self.close(id),
            Event::Message { id, bytes } => self.message(id, &bytes),
            Event::Reply {
                instance,
                call,
                status,
                bytes,
            } => self.reply(instance, call, status, &bytes),
            Event::Tick => self.tick(),
        }
    }

    /// Runs every timer and timeout due now, each as an event of its own.
    fn tick(&mut self) {
        let now = Instant::now();
        while self.live.is_some() {
            let Some(due) = self.env().timers.pop_due(now) else {
                break;
            };
            match due {
                Due::Idle(id) => self.hook(id, Hook::Timeout),
                Due::Timer { timer, conn } => {
                    if conn != 0 && self.env().conns.get(conn).is_none_or(|c| c.closing) {
                        continue;
                    }
                    // An instance timer concerns no connection.
                    let owner = if conn == 0 { NO_ID } else { conn };
                    self.run(owner, |exports, store| match &exports.on_timer {
                        Some(f) => f.call(store, timer, conn as i32),
                        None => Ok(()),
                    });
                }
            }
        }
    }

    /// A new connection: registers `id` and calls `onConnection(id)`.
    fn open(&mut self, id: u32, peer: Peer) {
        if self.live.is_none() && !self.retiring {
            let out = std::mem::take(&mut self.env().out);
            self.restart(out);
        }
        self.stats.accepted += 1;
        if self.live.is_none() {
            // Still no instance: refuse the connection (restart already reported why).
            self.env().out.command(Op::Close, id);
            self.stats.closed += 1;
            return;
        }
        self.env().conns.insert(id, peer);
        self.call_hook(id, Hook::Connection);
    }

    /// The outbound connection `id` (dialed by the guest) is established at `peer`:
    /// `onConnect(id)` when the guest exports it.
    fn connected(&mut self, id: u32, peer: Peer) {
        if let Some(conn) = self.env().conns.get_mut(id) {
            conn.peer = Some(Box::new(peer));
        }
        self.hook(id, Hook::Connect);
    }

    /// Bytes arrived on `id`. `queued` is the socket's unsent output right now, as JS sees it.
    fn data(&mut self, id: u32, data: &[u8], queued: usize) {
        match self.env().conns.get_mut(id) {
            Some(conn) if !conn.closing => conn.queued = queued,
            _ => return,
        }
        self.stats.bytes_in += data.len() as u64;
        self.env().timers.activity(id);
        let env = self.env.clone();
        self.run(id, |exports, store| {
            exports.deliver(store, &env, Bytes::Data(id), data)
        });
    }

    /// Native I/O: bytes are waiting on `id` (`len` of them, as the kernel counts): `onData`
    /// with them read straight into a guest buffer by `source`, which returns how many it wrote.
    /// `source` is not called when the instance does not take them (the connection is unknown
    /// or closing, there is no instance, or its allocator failed): the caller reads them itself.
    pub fn data_from(
        &mut self,
        id: u32,
        len: usize,
        queued: usize,
        source: &mut dyn FnMut(&mut [u8]) -> usize,
    ) {
        match self.env().conns.get_mut(id) {
            Some(conn) if !conn.closing => conn.queued = queued,
            _ => return,
        }
        self.env().timers.activity(id);
        let env = self.env.clone();
        let mut read = 0;
        self.run(id, |exports, store| {
            read = exports.deliver_filled(store, &env, Bytes::Data(id), len, source)?;
            Ok(())
        });
        self.stats.bytes_in += read as u64;
    }

    /// The application answered `Host.call` `call`: `onReply(call, status, bytes)`, unless the
    /// instance that made the call is gone (then the answer is dropped, never given to its
    /// successor) or the call was answered already.
    fn reply(&mut self, instance: u32, call: i32, status: i32, bytes: &[u8]) {
        let env = self.env();
        if env.instance != instance || !env.calls.finish(call) {
            return;
        }
        let env = self.env.clone();
        self.run(NO_ID, |exports, store| {
            exports.deliver(store, &env, Bytes::Reply { call, status }, bytes)
        });
    }

    /// A message from the application for connection `id` (0: for the instance):
    /// `onMessage(id, bytes)` when the guest exports it. Connections this instance does not
    /// know, or that are closing, are skipped.
    fn message(&mut self, id: u32, bytes: &[u8]) {
        if id != 0 && self.env().conns.get(id).is_none_or(|c| c.closing) {
            return;
        }
        let owner = if id == 0 { NO_ID } else { id };
        let env = self.env.clone();
        self.run(owner, |exports, store| {
            exports.deliver(store, &env, Bytes::Message(id), bytes)
        });
    }

    /// The peer half-closed `id` (FIN): `onEnd(id)` when the guest exports it.
    ///
    /// JS keeps every socket half-open at the Node level, so the guest's answers to data that came
    /// before the FIN still go out (with worker threads they arrive after it). A connection that
    /// is not `half_open` is ended here instead: writes from now on are refused (they return
    /// false), and an `End` record after whatever the guest wrote closes our side.
    fn end(&mut self, id: u32, half_open: bool) {
        if !half_open && let Some(conn) = self.env().conns.get_mut(id) {
            conn.ending = true;
        }
        self.hook(id, Hook::End);
        if !half_open && self.env().conns.get(id).is_some_and(|c| !c.closing) {
            self.env().out.command(Op::End, id);
        }
    }

    /// The socket of `id` sent its queued output (`queued` bytes remain): `onDrain(id)` when a
    /// `Socket.write` returned false since the last drain and the guest exports it.
    fn drain(&mut self, id: u32, queued: usize) {
        let hwm = self.setup.limits.high_water_mark;
        match self.env().conns.get_mut(id) {
            Some(conn) if !conn.closing && conn.want_drain && queued < hwm => {
                conn.want_drain = false;
                conn.queued = queued;
            }
            _ => return,
        }
        self.hook(id, Hook::Drain);
    }

    /// The socket of `id` is gone: `onClose(id)`, the last event of the connection. Ids this
    /// instance does not know (closed before, or owned by a failed instance) are ignored.
    fn close(&mut self, id: u32) {
        if self.env().conns.remove(id).is_none() {
            return;
        }
        self.env().timers.forget(id);
        self.stats.closed += 1;
        self.call_hook(id, Hook::Close);
    }

    /// An event of a connection that is open and not closing: calls `hook` if exported.
    fn hook(&mut self, id: u32, hook: Hook) {
        if self.env().conns.get(id).is_none_or(|c| c.closing) {
            return;
        }
        self.call_hook(id, hook);
    }

    fn call_hook(&mut self, id: u32, hook: Hook) {
        let has = self
            .live
            .as_ref()
            .is_some_and(|l| l.exports.hook(hook).is_some());
        if has {
            self.run(id, |exports, store| match exports.hook(hook) {
                Some(f) => f.call(store, id as i32),
                None => Ok(()),
            });
        }
    }

    /// Runs one guest call for connection `id`, handling a failure. A panic of host code during
    /// the call (a bug: host code must not panic) is contained the same way, as a `host` failure.
    fn run(
        &mut self,
        id: u32,
        call: impl FnOnce(&Exports, &mut Store) -> Result<(), RuntimeError>,
    ) {
        let Some(live) = &self.live else { return };
        self.stats.events += 1;
        self.env.as_mut(&mut self.store).begin_event();
        let store = &mut self.store;
        live.grow.reset();
        if let Some(deadline) = &self.deadline {
            deadline.arm(live.exports.fuel.as_ref().and_then(Fuel::cell));
        }
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(fuel) = &live.exports.fuel {
                fuel.refill(store)?;
            }
            call(&live.exports, store)
        }));
        let timed_out = self.deadline.as_ref().is_some_and(Deadline::disarm);
        self.env.as_mut(&mut self.store).end_event();
        if let (Some(fuel), Ok(Ok(()))) = (&live.exports.fuel, &outcome) {
            self.stats.note_fuel(fuel.used(&mut self.store));
        }
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(err)) => explain(
                &mut self.store,
                &self.env,
                Stop {
                    fuel: live.exports.fuel.as_ref(),
                    deadline: self.deadline.as_ref().filter(|_| timed_out),
                },
                &live.grow,
                &self.guest,
                &err,
            ),
            Err(payload) => {
                let what = panic_message(payload.as_ref());
                Failure::new(
                    Kind::Host,
                    format!("internal error in the host while running the guest: {what}"),
                )
            }
        };
        self.fail(id, failure);
    }

    /// The instance failed during an event for `id`: report it, close its connections, and
    /// replace it.
    fn fail(&mut self, id: u32, failure: Failure) {
        self.stats.traps += 1;
        let env = self.env.as_mut(&mut self.store);
        env.failure = None;
        let mut out = std::mem::take(&mut env.out);
        out.error(failure.kind, id, self.setup.generation, &failure.message);
        for cid in env.conns.drain_ids() {
            out.command(Op::Close, cid);
            self.stats.closed += 1;
        }
        self.live = None;
        if self.retiring {
            // Replaced by a reload and now without connections: nothing to restart for.
            self.env().out = out;
            return;
        }
        self.restart(out);
    }

    /// Starts a fresh instance, carrying the pending output over.
    fn restart(&mut self, mut out: Outbox) {
        match instantiate(&self.guest, &self.setup, self.deadline.as_ref()) {
            Ok((store, env, live)) => {
                self.stats += self.env.as_ref(&self.store).stats;
                self.store = store;
                self.env = env;
                self.live = Some(live);
                self.stats.restarts += 1;
            }
            Err(f) => out.error(
                Kind::Host,
                NO_ID,
                self.setup.generation,
                &format!("cannot restart guest '{}': {}", self.guest.name, f.message),
            ),
        }
        self.env().out = out;
    }
}

/// What can stop a call from outside the guest's own code: its fuel, and the deadline when the
/// watchdog fired during the call.
#[derive(Clone, Copy, Default)]
struct Stop<'a> {
    fuel: Option<&'a Fuel>,
    deadline: Option<&'a Deadline>,
}

/// Why a guest call failed: what a host import recorded when it stopped the guest, else the
/// deadline (the watchdog stops a guest by taking its fuel), else an exhausted fuel budget, else a
/// refused memory grow (the allocator traps right after one), else the trap itself.
fn explain(
    store: &mut Store,
    env: &FunctionEnv<HostEnv>,
    stop: Stop,
    grow: &GrowWatch,
    guest: &Guest,
    err: &RuntimeError,
) -> Failure {
    if let Some(failure) = env.as_mut(store).failure.take() {
        return failure;
    }
    let ran_out = stop.fuel.is_some_and(|f| f.ran_out(store));
    if let Some(deadline) = stop.deadline.filter(|_| ran_out || stop.fuel.is_none()) {
        return Failure::new(
            Kind::Timeout,
            format!(
                "the guest ran longer than eventTimeoutMs ({} ms) in one call and was stopped",
                deadline.limit().as_millis()
            ),
        );
    }
    if let Some(fuel) = stop.fuel.filter(|_| ran_out) {
        return fuel.failure();
    }
    let trap = Failure::from_trap(err);
    if grow.refused() {
        return Failure::new(
            Kind::Memory,
            format!(
                "the guest ran out of memory: its memory may not grow past {} (maxMemoryBytes), \
                 and it failed after a refused grow: {}",
                describe_bytes(guest.settings.memory.bytes()),
                trap.message
            ),
        );
    }
    trap
}

/// Instantiates the guest in a fresh store, runs its start function (and `_initialize`), and
/// looks up its exports.
fn instantiate(
    guest: &Guest,
    setup: &Setup,
    deadline: Option<&Deadline>,
) -> Result<(Store, FunctionEnv<HostEnv>, Live), Failure> {
    let mut store = Store::new(guest.engine.clone());
    // Declared after the store, so dropped before it: the watchdog never holds a cell of a
    // dropped instance.
    let _disarm = Disarm(deadline);
    let mut host = HostEnv::new(
        setup.limits,
        setup.dialer.clone(),
        setup.config.clone(),
        setup.shared.clone(),
    );
    host.host_functions = setup.host_functions.clone();
    host.instance = setup.next_instance();
    host.generation = setup.generation;
    let env = FunctionEnv::new(&mut store, host);
    let imports = imports::build(&mut store, &env);
    let grow = GrowWatch::default();
    let start_failed =
        |f: Failure| Failure::new(f.kind, format!("its start function failed: {}", f.message));
    // Where the instance's fuel lives, told by the tunables before its start function runs.
    let noted: Rc<Cell<Option<metering::FuelCell>>> = Rc::default();
    let note = {
        let noted = noted.clone();
        let setter = deadline.map(Deadline::cell_setter);
        move |cell| {
            noted.set(Some(cell));
            if let Some(set) = &setter {
                set(cell);
            }
        }
    };
    if let Some(d) = deadline {
        d.arm(None);
    }
    let instance = memcap::watching(&grow, || {
        metering::noting_fuel_cell(note, || {
            Instance::new(&mut store, &guest.module, &imports).map_err(Box::new)
        })
    });
    let timed_out = deadline.is_some_and(Deadline::disarm);
    let instance = instance.map_err(|e| match *e {
        InstantiationError::Start(err) => {
            let stop = Stop {
                fuel: None,
                deadline: deadline.filter(|_| timed_out),
            };
            start_failed(explain(&mut store, &env, stop, &grow, guest, &err))
        }
        other => Failure::new(Kind::Host, format!("cannot instantiate: {other}")),
    })?;
    let budget = guest
        .settings
        .metered()
        .then(|| guest.settings.points_per_event());
    let mut exports = Exports::lookup(&instance, &store, &guest.abi, budget)?;
    if let (Some(fuel), Some(cell)) = (exports.fuel.as_mut(), noted.get())
        && deadline.is_some()
    {
        fuel.locate(&mut store, cell)?;
    }
    env.as_mut(&mut store).memory = Some(exports.memory.clone());
    if let Some(init) = &exports.initialize {
        if let Some(d) = deadline {
            d.arm(exports.fuel.as_ref().and_then(Fuel::cell));
        }
        let result = match &exports.fuel {
            Some(fuel) => fuel.refill(&mut store).and_then(|()| init.call(&mut store)),
            None => init.call(&mut store),
        };
        let timed_out = deadline.is_some_and(Deadline::disarm);
        env.as_mut(&mut store).end_event();
        if let Err(err) = result {
            let stop = Stop {
                fuel: exports.fuel.as_ref(),
                deadline: deadline.filter(|_| timed_out),
            };
            let f = explain(&mut store, &env, stop, &grow, guest, &err);
            return Err(start_failed(f));
        }
    }
    // Output of the start function (logs) stays in the outbox and is delivered with the first batch.
    Ok((store, env, Live { exports, grow }))
}

/// Disarms a deadline when dropped (an instance that failed to start is dropped right after).
struct Disarm<'a>(Option<&'a Deadline>);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.0 {
            d.disarm();
        }
    }
}
