//! An executor owns one guest instance (its `Store` and `Instance`, which never leave the thread
//! that made them) and runs connection events on it, one at a time, in the order given.
//!
//! Inline mode is one executor driven from the JS thread. Every event method appends what the
//! guest asked for to the outbox; `take_output` hands the batch over. When a guest fails
//! (trap, abort, bad pointer), the executor reports a `GuestError` record, closes every connection
//! of the failed instance, and replaces the instance with a fresh one from the same module: the
//! next connection is served as if nothing happened.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use wasmer::{
    FunctionEnv, Global, Instance, InstantiationError, Memory, RuntimeError, Store, TypedFunction,
    Value,
};

use crate::abi::Flavour;
use crate::guest::Guest;
use crate::guest::memcap::{self, GrowWatch, describe_bytes};
use crate::instance::failure::{Failure, Kind};
use crate::instance::guestmem::write_from;
use crate::instance::imports::{self, HostEnv};
use crate::instance::outbox::{NO_ID, Op, Outbox};
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

/// Counters of one executor, summed across the instances it has run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    pub closed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub events: u64,
    pub traps: u64,
    pub restarts: u64,
    /// Connections the guest dialed (`Socket.connect`).
    pub dialed: u64,
}

type Event = TypedFunction<i32, ()>;

enum OnData {
    /// AssemblyScript: `onData(id, buffer)`.
    Buffer(TypedFunction<(i32, i32), ()>),
    /// Raw: `onData(id, ptr, len)`.
    Raw(TypedFunction<(i32, i32, i32), ()>),
}

enum Alloc {
    AssemblyScript {
        new: TypedFunction<(i32, i32), i32>,
        pin: TypedFunction<i32, i32>,
        unpin: Event,
    },
    Legacy {
        alloc: TypedFunction<(i32, i32), i32>,
        retain: TypedFunction<i32, i32>,
        release: Event,
    },
    Raw {
        alloc: TypedFunction<i32, i32>,
        dealloc: TypedFunction<(i32, i32), ()>,
    },
}

/// The metering globals of an instance compiled with a fuel budget (wasmer-middlewares'
/// `Metering` adds them to the module), looked up once instead of by name on every event.
struct Fuel {
    budget: u64,
    remaining: Global,
    exhausted: Global,
}

impl Fuel {
    fn lookup(instance: &Instance, budget: u64) -> Result<Fuel, Failure> {
        let global = |name: &str| {
            instance.exports.get_global(name).cloned().map_err(|e| {
                Failure::new(Kind::Host, format!("fuel metering is missing {name}: {e}"))
            })
        };
        Ok(Fuel {
            budget,
            remaining: global("wasmer_metering_remaining_points")?,
            exhausted: global("wasmer_metering_points_exhausted")?,
        })
    }

    /// Gives the next call a full budget.
    fn refill(&self, store: &mut Store) -> Result<(), RuntimeError> {
        self.remaining.set(store, Value::I64(self.budget as i64))?;
        self.exhausted.set(store, Value::I32(0))
    }

    /// Whether the last call stopped because the budget ran out (metering traps like
    /// `unreachable`; this flag is what tells them apart).
    fn ran_out(&self, store: &mut Store) -> bool {
        matches!(self.exhausted.get(store), Value::I32(v) if v > 0)
    }

    fn failure(&self) -> Failure {
        Failure::new(
            Kind::Fuel,
            format!(
                "the guest used up its budget of {} instructions for one event (fuelPerEvent)",
                self.budget
            ),
        )
    }
}

/// The exports of a running instance, looked up once.
struct Live {
    memory: Memory,
    fuel: Option<Fuel>,
    /// Set when the instance's memory refused to grow (`maxMemoryBytes`); reset per event.
    grow: GrowWatch,
    on_connection: Event,
    on_data: OnData,
    on_close: Event,
    on_error: Option<Event>,
    on_end: Option<Event>,
    on_drain: Option<Event>,
    on_connect: Option<Event>,
    alloc: Alloc,
}

/// AssemblyScript class id of `ArrayBuffer` (>= 0.18), and in the older runtime.
const AS_ARRAYBUFFER_ID: i32 = 1;
const AS_LEGACY_ARRAYBUFFER_ID: i32 = 0;

pub struct Executor {
    guest: Arc<Guest>,
    limits: Limits,
    dialer: Dialer,
    store: Store,
    env: FunctionEnv<HostEnv>,
    /// `None` only when a replacement instance could not be started.
    live: Option<Live>,
    stats: Stats,
}

impl Executor {
    /// Starts the first instance. Fails when the module cannot be instantiated or its start
    /// function fails; the failure says why.
    pub fn new(guest: Arc<Guest>, limits: Limits, dialer: Dialer) -> Result<Executor, Failure> {
        let (store, env, live) = instantiate(&guest, limits, &dialer)?;
        Ok(Executor {
            guest,
            limits,
            dialer,
            store,
            env,
            live: Some(live),
            stats: Stats::default(),
        })
    }

    fn env(&mut self) -> &mut HostEnv {
        self.env.as_mut(&mut self.store)
    }

    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        let env = self.env.as_ref(&self.store);
        s.bytes_out += env.bytes_out;
        s.dialed += env.dialed;
        s
    }

    /// Everything the guest asked for since the last `clear_output`, encoded for JS (`outbox.rs`).
    pub fn output(&self) -> &[u8] {
        self.env.as_ref(&self.store).out.bytes()
    }

    /// Takes the output, leaving the outbox empty (for handing a batch to another thread).
    pub fn take_output(&mut self) -> Vec<u8> {
        self.env().out.take()
    }

    /// Records that the guest consumed `bytes` of `id`'s input (threaded mode's flow control).
    pub fn ack(&mut self, id: u32, bytes: usize) {
        self.env().out.ack(id, bytes as u32);
    }

    /// Empties the output after it was handed over.
    pub fn clear_output(&mut self) {
        self.env().out.clear();
    }

    /// A new connection: registers `id` and calls `onConnection(id)`.
    pub fn open(&mut self, id: u32) {
        if self.live.is_none() {
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
        self.env().conns.insert(id);
        self.run(id, |live, store| live.on_connection.call(store, id as i32));
    }

    /// Bytes arrived on `id`. `queued` is the socket's unsent output right now, as JS sees it.
    pub fn data(&mut self, id: u32, data: &[u8], queued: usize) {
        match self.env().conns.get_mut(id) {
            Some(conn) if !conn.closing => conn.queued = queued,
            _ => return,
        }
        self.stats.bytes_in += data.len() as u64;
        let env = self.env.clone();
        self.run(id, |live, store| deliver(live, store, &env, id, data));
    }

    /// The peer half-closed `id` (FIN): `onEnd(id)` when the guest exports it.
    ///
    /// JS keeps every socket half-open at the Node level, so the guest's answers to data that came
    /// before the FIN still go out (with worker threads they arrive after it). A connection that
    /// is not `half_open` is ended here instead: writes from now on are refused (they return
    /// false), and an `End` record after whatever the guest wrote closes our side.
    pub fn end(&mut self, id: u32, half_open: bool) {
        if !half_open && let Some(conn) = self.env().conns.get_mut(id) {
            conn.ending = true;
        }
        self.optional_event(id, |live| live.on_end.as_ref());
        if !half_open && self.env().conns.get(id).is_some_and(|c| !c.closing) {
            self.env().out.command(Op::End, id);
        }
    }

    /// The socket of `id` failed: `onError(id)` when the guest exports it. `onClose` follows.
    pub fn error(&mut self, id: u32) {
        self.optional_event(id, |live| live.on_error.as_ref());
    }

    /// The socket of `id` sent its queued output (`queued` bytes remain): `onDrain(id)` when a
    /// `Socket.write` returned false since the last drain and the guest exports it.
    pub fn drain(&mut self, id: u32, queued: usize) {
        let hwm = self.limits.high_water_mark;
        match self.env().conns.get_mut(id) {
            Some(conn) if !conn.closing && conn.want_drain && queued < hwm => {
                conn.want_drain = false;
                conn.queued = queued;
            }
            _ => return,
        }
        self.optional_event(id, |live| live.on_drain.as_ref());
    }

    /// The outbound connection `id` (dialed by the guest) is established: `onConnect(id)` when
    /// the guest exports it.
    pub fn connected(&mut self, id: u32) {
        self.optional_event(id, |live| live.on_connect.as_ref());
    }

    /// The socket of `id` is gone: `onClose(id)`, the last event of the connection. Ids this
    /// instance does not know (closed before, or owned by a failed instance) are ignored.
    pub fn close(&mut self, id: u32) {
        if self.env().conns.remove(id).is_none() {
            return;
        }
        self.stats.closed += 1;
        self.run(id, |live, store| live.on_close.call(store, id as i32));
    }

    fn optional_event(&mut self, id: u32, pick: impl FnOnce(&Live) -> Option<&Event>) {
        if self.env().conns.get(id).is_none_or(|c| c.closing) {
            return;
        }
        let Some(f) = self.live.as_ref().and_then(pick).cloned() else {
            return;
        };
        self.run(id, |_, store| f.call(store, id as i32));
    }

    /// Runs one guest call for connection `id`, handling a failure. A panic of host code during
    /// the call (a bug: host code must not panic) is contained the same way, as a `host` failure.
    fn run(&mut self, id: u32, call: impl FnOnce(&Live, &mut Store) -> Result<(), RuntimeError>) {
        let Some(live) = &self.live else { return };
        self.stats.events += 1;
        let store = &mut self.store;
        live.grow.reset();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(fuel) = &live.fuel {
                fuel.refill(store)?;
            }
            call(live, store)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                let failure = explain(
                    &mut self.store,
                    &self.env,
                    live.fuel.as_ref(),
                    &live.grow,
                    &self.guest,
                    &err,
                );
                self.fail(id, failure);
            }
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                let message = format!("internal error in the host while running the guest: {what}");
                self.fail(id, Failure::new(Kind::Host, message));
            }
        }
    }

    /// The instance failed during an event for `id`: report it, close its connections, and
    /// replace it.
    fn fail(&mut self, id: u32, failure: Failure) {
        self.stats.traps += 1;
        let env = self.env.as_mut(&mut self.store);
        env.failure = None;
        let mut out = std::mem::take(&mut env.out);
        out.text(Op::Error, failure.kind as u8, id, &failure.message);
        for cid in env.conns.drain_ids() {
            out.command(Op::Close, cid);
            self.stats.closed += 1;
        }
        self.live = None;
        self.restart(out);
    }

    /// Starts a fresh instance, carrying the pending output over.
    fn restart(&mut self, mut out: Outbox) {
        match instantiate(&self.guest, self.limits, &self.dialer) {
            Ok((store, env, live)) => {
                let old = self.env.as_ref(&self.store);
                self.stats.bytes_out += old.bytes_out;
                self.stats.dialed += old.dialed;
                self.store = store;
                self.env = env;
                self.live = Some(live);
                self.stats.restarts += 1;
            }
            Err(f) => out.text(
                Op::Error,
                Kind::Host as u8,
                NO_ID,
                &format!("cannot restart guest '{}': {}", self.guest.name, f.message),
            ),
        }
        self.env().out = out;
    }
}

/// Copies `data` into a fresh guest buffer made by the guest's allocator and calls `onData`.
fn deliver(
    live: &Live,
    store: &mut Store,
    env: &FunctionEnv<HostEnv>,
    id: u32,
    data: &[u8],
) -> Result<(), RuntimeError> {
    let id = id as i32;
    let Ok(len) = i32::try_from(data.len()) else {
        let message = format!(
            "a chunk of {} bytes does not fit a 32-bit guest",
            data.len()
        );
        return Err(env.as_mut(store).fail(Kind::Host, message));
    };
    match (&live.alloc, &live.on_data) {
        (Alloc::AssemblyScript { new, pin, unpin }, OnData::Buffer(on_data)) => {
            let ptr = new.call(store, len, AS_ARRAYBUFFER_ID)?;
            pin.call(store, ptr)?;
            copy_in(live, store, env, "__new", ptr, data)?;
            on_data.call(store, id, ptr)?;
            unpin.call(store, ptr)
        }
        (
            Alloc::Legacy {
                alloc,
                retain,
                release,
            },
            OnData::Buffer(on_data),
        ) => {
            let ptr = alloc.call(store, len, AS_LEGACY_ARRAYBUFFER_ID)?;
            retain.call(store, ptr)?;
            copy_in(live, store, env, "__alloc", ptr, data)?;
            on_data.call(store, id, ptr)?;
            release.call(store, ptr)
        }
        (Alloc::Raw { alloc, dealloc }, OnData::Raw(on_data)) => {
            let ptr = alloc.call(store, len)?;
            copy_in(live, store, env, "alloc", ptr, data)?;
            on_data.call(store, id, ptr, len)?;
            dealloc.call(store, ptr, len)
        }
        _ => unreachable!("abi::detect pairs each allocator with its onData signature"),
    }
}

fn copy_in(
    live: &Live,
    store: &mut Store,
    env: &FunctionEnv<HostEnv>,
    allocator: &str,
    ptr: i32,
    data: &[u8],
) -> Result<(), RuntimeError> {
    let result = write_from(&live.memory.view(store), ptr as u32, data);
    result.map_err(|e| {
        let message = format!("the guest allocator {allocator} returned an unusable buffer: {e}");
        env.as_mut(store).fail(Kind::Trap, message)
    })
}

/// Why a guest call failed: what a host import recorded when it stopped the guest, else an
/// exhausted fuel budget, else a refused memory grow (the allocator traps right after one), else
/// the trap itself.
fn explain(
    store: &mut Store,
    env: &FunctionEnv<HostEnv>,
    fuel: Option<&Fuel>,
    grow: &GrowWatch,
    guest: &Guest,
    err: &RuntimeError,
) -> Failure {
    if let Some(failure) = env.as_mut(store).failure.take() {
        return failure;
    }
    if let Some(fuel) = fuel.filter(|f| f.ran_out(store)) {
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
    limits: Limits,
    dialer: &Dialer,
) -> Result<(Store, FunctionEnv<HostEnv>, Live), Failure> {
    let mut store = Store::new(guest.engine.clone());
    let env = FunctionEnv::new(&mut store, HostEnv::new(limits, dialer.clone()));
    let imports = imports::build(&mut store, &env);
    let grow = GrowWatch::default();
    let instance = memcap::watching(&grow, || {
        Instance::new(&mut store, &guest.module, &imports).map_err(Box::new)
    })
    .map_err(|e| match *e {
        InstantiationError::Start(err) => {
            let f = explain(&mut store, &env, None, &grow, guest, &err);
            Failure::new(f.kind, format!("its start function failed: {}", f.message))
        }
        other => Failure::new(Kind::Host, format!("cannot instantiate: {other}")),
    })?;
    let host = |e: wasmer::ExportError| Failure::new(Kind::Host, e.to_string());
    let memory = instance.exports.get_memory("memory").map_err(host)?.clone();
    env.as_mut(&mut store).memory = Some(memory.clone());

    let exports = &instance.exports;
    let optional = guest.abi.optional;
    macro_rules! typed {
        ($name:literal) => {
            exports
                .get_typed_function(&store, $name)
                .map_err(|e| Failure::new(Kind::Host, format!("{}: {e}", $name)))?
        };
    }
    macro_rules! maybe {
        ($flag:expr, $name:literal) => {
            if $flag { Some(typed!($name)) } else { None }
        };
    }
    let alloc = match guest.abi.flavour {
        Flavour::AssemblyScript => Alloc::AssemblyScript {
            new: typed!("__new"),
            pin: typed!("__pin"),
            unpin: typed!("__unpin"),
        },
        Flavour::AssemblyScriptLegacy => Alloc::Legacy {
            alloc: typed!("__alloc"),
            retain: typed!("__retain"),
            release: typed!("__release"),
        },
        Flavour::Raw => Alloc::Raw {
            alloc: typed!("alloc"),
            dealloc: typed!("dealloc"),
        },
    };
    let on_data = match guest.abi.flavour {
        Flavour::Raw => OnData::Raw(typed!("onData")),
        _ => OnData::Buffer(typed!("onData")),
    };
    let fuel = match guest.settings.fuel {
        Some(budget) => Some(Fuel::lookup(&instance, budget)?),
        None => None,
    };
    let live = Live {
        memory,
        fuel,
        grow,
        on_connection: typed!("onConnection"),
        on_data,
        on_close: typed!("onClose"),
        on_error: maybe!(optional.on_error, "onError"),
        on_end: maybe!(optional.on_end, "onEnd"),
        on_drain: maybe!(optional.on_drain, "onDrain"),
        on_connect: maybe!(optional.on_connect, "onConnect"),
        alloc,
    };
    if optional.initialize {
        let init: TypedFunction<(), ()> = typed!("_initialize");
        let result = match &live.fuel {
            Some(fuel) => fuel.refill(&mut store).and_then(|()| init.call(&mut store)),
            None => init.call(&mut store),
        };
        if let Err(err) = result {
            let f = explain(
                &mut store,
                &env,
                live.fuel.as_ref(),
                &live.grow,
                guest,
                &err,
            );
            return Err(Failure::new(
                f.kind,
                format!("its start function failed: {}", f.message),
            ));
        }
    }
    // Output of the start function (logs) stays in the outbox and is delivered with the first batch.
    Ok((store, env, live))
}
