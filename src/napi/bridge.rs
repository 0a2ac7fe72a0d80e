//! `NativeBridge`: the native half of a JS `Bridge` (js/bridge.js). Each event method runs one
//! connection event and returns the length of the output batch it produced.

use std::borrow::Cow;
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;

use crate::bridge::event::{Event, Peer};
use crate::bridge::generations::Reload;
use crate::bridge::pool::Sink;
use crate::bridge::shared::Shared;
use crate::bridge::{Bridge, Options as BridgeOptions, Preparing};
use crate::guest::Code;
use crate::instance::failure::{Failure, Kind};
use crate::napi::compile::CompiledGuest;
use crate::native::{ListenOptions, Server};
use crate::policy::allow::Allowlist;
use crate::policy::limits::Limits;

/// What `new NativeBridge(guest, options)` takes (js/bridge.js builds it from the checked
/// `Bridge` options).
#[napi(object, object_to_js = false)]
pub struct NativeOptions<'a> {
    pub high_water_mark: u32,
    /// `maxEventOutputBytes`: most output one event may produce.
    pub max_event_output_bytes: u32,
    /// 0: inline; N: N worker threads.
    pub threads: u32,
    /// `allowConnect` entries, already checked (`checkAllowConnect`).
    pub allow_connect: Vec<String>,
    /// The buffer inline output batches that fit are copied into (see `NativeBridge`).
    pub out: Buffer,
    /// Threaded mode: called on the JS thread with each batch a worker produced.
    pub on_output: Option<Function<'a, Buffer, ()>>,
    /// The `config` option as bytes (`Host.config`); absent: none.
    pub config: Option<Buffer>,
    /// `maxSharedBytes`: keys plus values the shared store may hold.
    pub max_shared_bytes: f64,
    /// The names of `hostFunctions` (checked by JS).
    pub host_functions: Vec<String>,
}

/// A connection's addresses as JS passes them (`socket.remoteAddress`, ...).
fn peer(remote_address: String, remote_port: u32, local_address: String, local_port: u32) -> Peer {
    Peer {
        remote_address,
        remote_port: remote_port as u16,
        local_address,
        local_port: local_port as u16,
    }
}

#[napi(object)]
pub struct NativeStats {
    pub accepted: f64,
    pub closed: f64,
    pub bytes_in: f64,
    pub bytes_out: f64,
    pub events: f64,
    pub traps: f64,
    pub restarts: f64,
    pub dialed: f64,
    pub logs_dropped: f64,
    pub fuel_used: f64,
    pub fuel_max: f64,
    pub instances: u32,
}

/// Joins stopped worker threads on the libuv pool, never on the JS thread.
pub struct JoinTask {
    handles: Vec<JoinHandle<()>>,
}

impl Task for JoinTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _: ()) -> Result<()> {
        Ok(())
    }
}

/// Waits (on the libuv pool) for a reload's new instances to start: resolves to null when they
/// did, else to why not.
pub struct ReloadTask {
    preparing: Option<Preparing>,
}

impl Task for ReloadTask {
    type Output = Option<String>;
    type JsValue = Option<String>;

    fn compute(&mut self) -> Result<Option<String>> {
        let ready = match self.preparing.take() {
            Some(Preparing::Done(ready)) => ready,
            Some(Preparing::Waiting(rx)) => rx.recv().unwrap_or_else(|_| {
                Err(Failure::new(
                    Kind::Host,
                    "the worker threads stopped before starting the new guest",
                ))
            }),
            None => Ok(()),
        };
        Ok(ready.err().map(|f| f.message))
    }

    fn resolve(&mut self, _env: Env, output: Option<String>) -> Result<Option<String>> {
        Ok(output)
    }
}

/// A listening socket the workers serve natively (`bridge.listen`; js/native-server.js wraps it).
#[napi]
pub struct NativeListener {
    server: Arc<Server>,
    addr: std::net::SocketAddr,
}

#[napi]
impl NativeListener {
    /// The address bound, as Node's `server.address()` gives it.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.addr.ip().to_string()
    }

    #[napi(getter)]
    pub fn family(&self) -> String {
        if self.addr.is_ipv4() { "IPv4" } else { "IPv6" }.to_string()
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        u32::from(self.addr.port())
    }

    /// Connections it accepted that are still open.
    #[napi]
    pub fn connections(&self) -> u32 {
        self.server.connections() as u32
    }
}

/// Worker threads asked to stop, not yet joined.
#[napi]
pub struct StoppedWorkers {
    handles: Vec<JoinHandle<()>>,
}

#[napi]
impl StoppedWorkers {
    /// Resolves once every worker thread has finished.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn join(&mut self) -> AsyncTask<JoinTask> {
        AsyncTask::new(JoinTask {
            handles: std::mem::take(&mut self.handles),
        })
    }
}

/// A bridge. Inline (`threads` 0): each event method returns the byte length of the output
/// batch the guest produced (instance/outbox.rs), 0 for none. A batch that fits the shared output
/// buffer (`out`, given by JS at construction) is already copied into it; a larger one stays
/// here until `take` returns it as a Buffer of its own. Threaded: event methods return 0 and
/// batches arrive through `onOutput`, called on the JS thread; it never keeps the process
/// alive.
///
/// Why a shared buffer: most batches are a few hundred bytes (one echoed message), and making
/// a Buffer for each from native code (a malloc'd backing store, a finalizer, work for V8's
/// ArrayBuffer sweeper) cost more than running the guest. JS copies each write's bytes out of
/// the shared buffer into Node's pooled Buffers instead.
#[napi]
pub struct NativeBridge {
    /// Shared with the fast `data` function (fastcall.rs), which holds its own handle.
    core: Rc<RefCell<Core>>,
    input_window: u32,
    /// The shared store (`bridge.shared`); its operations need no borrow of the core.
    shared: Arc<Shared>,
}

/// What the napi methods and the fast `data` function both act on.
pub(crate) struct Core {
    pub(crate) bridge: Bridge,
    /// JS's output buffer; holding it keeps it alive and its bytes in place.
    out: Buffer,
}

impl Core {
    /// Runs `event` on the bridge and hands its output over (`out`); `None` when the bridge
    /// is busy (see `BUSY`).
    pub(crate) fn event(core: &RefCell<Core>, event: Event<'_>) -> Option<u32> {
        let mut core = core.try_borrow_mut().ok()?;
        core.bridge.event(event);
        Some(core.out())
    }

    /// Hands the pending output batch over: copied into the shared buffer when it fits
    /// (then cleared), else left for `take`. Returns its length, 0 for none. A batch cannot
    /// reach 4 GiB: the hard cap bounds a connection's queued output far below it.
    pub(crate) fn out(&mut self) -> u32 {
        let batch = self.bridge.output();
        let len = batch.len();
        if len == 0 {
            return 0;
        }
        if let Some(dst) = self.out.get_mut(..len) {
            dst.copy_from_slice(batch);
            self.bridge.clear_output();
        }
        len as u32
    }
}

/// The error for a call made while another holds the bridge: only possible if JS re-entered
/// the addon from inside a call, which the glue never does.
pub(crate) const BUSY: &std::ffi::CStr =
    c"wasm-socket-bridge: re-entrant call into a bridge that is busy";

/// A guest that compiled but could not start: thrown with its stable code (`error.code`).
fn start_failed(guest: &CompiledGuest, message: &str) -> Error<String> {
    Error::new(
        Code::StartFailed.as_str().to_string(),
        format!("cannot load guest '{}': {message}", guest.name()),
    )
}

#[napi]
impl NativeBridge {
    /// Starts the guest's instance (or its worker threads, each with one). Throws an Error whose
    /// `code` is `ERR_GUEST_START_FAILED` when an instance cannot start.
    #[napi(constructor)]
    pub fn new(
        guest: &CompiledGuest,
        options: NativeOptions<'_>,
    ) -> std::result::Result<Self, Error<String>> {
        let invalid = |message: String| Error::new("ERR_INVALID_ARG_VALUE".to_string(), message);
        let allow = Allowlist::parse(&options.allow_connect).map_err(invalid)?;
        let sink: Option<Sink> = match options.on_output {
            Some(f) => {
                let tsfn = f
                    .build_threadsafe_function::<Vec<u8>>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build_callback(|ctx| Ok(Buffer::from(ctx.value)))
                    .map_err(|e| Error::new("ERR_GUEST_HOST".to_string(), e.reason.clone()))?;
                Some(Arc::new(move |batch: Vec<u8>| {
                    tsfn.call(batch, ThreadsafeFunctionCallMode::NonBlocking);
                }))
            }
            None => None,
        };
        let (hwm, threads) = (options.high_water_mark as usize, options.threads as usize);
        let limits = if threads > 0 {
            Limits::threaded(hwm)
        } else {
            Limits::new(hwm)
        }
        .with_max_event_output(options.max_event_output_bytes as usize);
        let config: Arc<[u8]> = Arc::from(options.config.as_deref().unwrap_or_default());
        let shared = Arc::new(Shared::new(options.max_shared_bytes as usize));
        let module = guest
            .take()
            .map_err(|m| Error::new("ERR_INVALID_ARG_VALUE".to_string(), m))?;
        let bridge = Bridge::new(
            module,
            BridgeOptions {
                limits,
                threads,
                sink,
                allow,
                config,
                shared: shared.clone(),
                host_functions: Arc::new(options.host_functions.into_iter().collect()),
            },
        )
        .map_err(|f| start_failed(guest, &f.message))?;
        Ok(NativeBridge {
            core: Rc::new(RefCell::new(Core {
                bridge,
                out: options.out,
            })),
            input_window: limits.input_window as u32,
            shared,
        })
    }

    fn core(&self) -> Result<RefMut<'_, Core>> {
        self.core
            .try_borrow_mut()
            .map_err(|_| Error::from_reason(BUSY.to_string_lossy()))
    }

    fn event(&self, event: Event<'_>) -> Result<u32> {
        Core::event(&self.core, event).ok_or_else(|| Error::from_reason(BUSY.to_string_lossy()))
    }

    /// `data(id, bytes, queued)`, the per-chunk event, as a plain function bound to this
    /// bridge: returns what the other event methods return, without the per-call cost of a
    /// class method (fastcall.rs).
    #[napi(ts_return_type = "(id: number, data: Uint8Array, queued: number) => number")]
    pub fn data_function<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        crate::napi::fastcall::data_function(env, self.core.clone())
    }

    /// The pending batch that did not fit the shared buffer, handed over as a Buffer without
    /// a copy (its allocation goes to JS; the outbox starts a new one); null when there is
    /// none.
    #[napi]
    pub fn take(&self) -> Result<Option<Buffer>> {
        let batch = self.core()?.bridge.take_output();
        Ok((!batch.is_empty()).then(|| Buffer::from(batch)))
    }

    /// Threaded mode: bytes of one connection's input a worker may have to go before JS
    /// pauses that socket (policy/limits.rs); 0 inline.
    #[napi(getter)]
    pub fn input_window(&self) -> u32 {
        self.input_window
    }

    /// JS is dialing `id`, which the guest on `worker` asked for: route its events there.
    #[napi]
    pub fn adopt(&self, id: u32, worker: u32) -> Result<()> {
        self.core()?.bridge.adopt(id, worker as u8);
        Ok(())
    }

    /// Registers a connection with its addresses and runs onConnection; returns its id, or
    /// null when ids ran out. Its output is read with `flush`.
    #[napi]
    pub fn open(
        &self,
        remote_address: String,
        remote_port: u32,
        local_address: String,
        local_port: u32,
    ) -> Result<Option<u32>> {
        let peer = peer(remote_address, remote_port, local_address, local_port);
        Ok(self.core()?.bridge.open(peer))
    }

    /// The outbound connection `id` is established, with these addresses: onConnect.
    #[napi]
    pub fn connected(
        &self,
        id: u32,
        remote_address: String,
        remote_port: u32,
        local_address: String,
        local_port: u32,
    ) -> Result<u32> {
        let peer = peer(remote_address, remote_port, local_address, local_port);
        self.event(Event::Connected { id, peer })
    }

    /// `bridge.shared.get`: the value, or null when missing; -2 (as a number) is never returned:
    /// JS checks the key's length first.
    #[napi]
    pub fn shared_get(&self, key: &[u8]) -> Option<Buffer> {
        self.shared
            .get(key, |v| v.map(|v| Buffer::from(v.to_vec())))
            .ok()
            .flatten()
    }

    /// `bridge.shared.set`: 0, -2 key too long, -3 over `maxSharedBytes`.
    #[napi]
    pub fn shared_set(&self, key: &[u8], value: &[u8]) -> i32 {
        self.shared
            .set(key, value)
            .map_or_else(|r| r.code(), |()| 0)
    }

    /// `bridge.shared.delete`: 1 deleted, 0 absent, -2 key too long.
    #[napi]
    pub fn shared_delete(&self, key: &[u8]) -> i32 {
        self.shared.delete(key).map_or_else(|r| r.code(), i32::from)
    }

    /// `bridge.shared.add`: the new value, or null when refused (key too long, or full).
    #[napi]
    pub fn shared_add(&self, key: &[u8], delta: i64) -> Option<i64> {
        self.shared.add(key, delta).ok()
    }

    /// `bridge.shared.setIf`: compare-and-set (`expected` null: the key must be absent; `value`
    /// null: delete it). 1 stored, 0 the value was another, -2 key too long, -3 over
    /// `maxSharedBytes`.
    #[napi]
    pub fn shared_set_if(&self, key: &[u8], expected: Option<&[u8]>, value: Option<&[u8]>) -> i32 {
        self.shared
            .set_if(key, expected, value)
            .map_or_else(|r| r.code(), i32::from)
    }

    /// `bridge.shared.keys`: the keys that start with `prefix`, sorted bytewise (O(keys in the
    /// store), see `Shared::keys`); empty for a prefix over 1 KiB, which JS refuses first.
    #[napi]
    pub fn shared_keys(&self, prefix: &[u8]) -> Vec<Buffer> {
        self.shared
            .keys(prefix)
            .unwrap_or_default()
            .into_iter()
            .map(Buffer::from)
            .collect()
    }

    /// `bridge.send(id, data)` (`id` > 0) or `bridge.broadcast(data)` (`id` 0): onMessage.
    #[napi]
    pub fn message(&self, id: u32, data: &[u8]) -> Result<u32> {
        self.event(Event::Message {
            id,
            bytes: Cow::Borrowed(data),
        })
    }

    /// The answer to a `Host.call` (a `Call` record of worker `worker`, instance `instance`):
    /// onReply(call, status, data) on that instance, unless it is gone.
    #[napi]
    pub fn reply(
        &self,
        worker: u32,
        instance: u32,
        call: i32,
        status: i32,
        data: &[u8],
    ) -> Result<u32> {
        let event = Event::Reply {
            instance,
            call,
            status,
            bytes: Cow::Borrowed(data),
        };
        let mut core = self.core()?;
        core.bridge.reply(worker as u8, event);
        Ok(core.out())
    }

    /// Inline mode: the timer JS armed for a `Timer` record went off; runs what is due.
    #[napi]
    pub fn tick(&self) -> Result<u32> {
        self.event(Event::Tick)
    }

    /// The peer sent FIN; `half_open` is the socket's allowHalfOpen.
    #[napi]
    pub fn end(&self, id: u32, half_open: bool) -> Result<u32> {
        self.event(Event::End { id, half_open })
    }

    #[napi]
    pub fn error(&self, id: u32) -> Result<u32> {
        self.event(Event::Error(id))
    }

    #[napi]
    pub fn drain(&self, id: u32, queued: u32) -> Result<u32> {
        self.event(Event::Drain {
            id,
            queued: queued as usize,
        })
    }

    #[napi]
    pub fn close(&self, id: u32) -> Result<u32> {
        self.event(Event::Close(id))
    }

    /// Output produced outside an event method (by open, or a start function's logs).
    #[napi]
    pub fn flush(&self) -> Result<u32> {
        Ok(self.core()?.out())
    }

    /// `bridge.listen`: binds `host:port` (one socket per worker, `SO_REUSEPORT`) and has the
    /// workers accept and serve it natively. Throws when the bridge has no worker threads or the
    /// address cannot be bound.
    #[napi]
    pub fn listen(
        &self,
        host: String,
        port: u32,
        backlog: i32,
        allow_half_open: bool,
    ) -> Result<NativeListener> {
        let options = ListenOptions {
            host,
            port: port as u16,
            backlog,
            allow_half_open,
        };
        let (addr, server) = self
            .core()?
            .bridge
            .listen(&options)
            .map_err(Error::from_reason)?;
        Ok(NativeListener { server, addr })
    }

    /// Whether `id` is an open connection a worker accepted or dialed natively (`bridge.send`).
    #[napi]
    pub fn is_native(&self, id: u32) -> Result<bool> {
        Ok(self.core()?.bridge.is_native(id))
    }

    /// Connections the guests dialed natively (workers that serve a listener dial themselves)
    /// that are open or still connecting: `bridge.connections` counts them, `bridge.close()`
    /// waits for them.
    #[napi]
    pub fn native_dialed(&self) -> Result<u32> {
        Ok(self.core()?.bridge.native_dialed() as u32)
    }

    /// `server.close()`: the workers stop accepting on `listener`; its connections go on.
    #[napi]
    pub fn unlisten(&self, listener: &NativeListener) -> Result<()> {
        self.core()?.bridge.unlisten(&listener.server);
        Ok(())
    }

    /// `bridge.close()`: every native connection is ended after its queued output.
    #[napi]
    pub fn end_native(&self) -> Result<()> {
        self.core()?.bridge.end_native();
        Ok(())
    }

    /// `bridge.reload`, first half: starts instances of `guest` beside the current ones (one per
    /// worker), as generation `generation`, with `config` replacing the configuration when
    /// given. Resolves to null once they started (the first worker to answer tells), or to why
    /// not; then `finishReload` switches or drops them.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn reload(
        &self,
        guest: &CompiledGuest,
        config: Option<Buffer>,
        generation: u32,
    ) -> Result<AsyncTask<ReloadTask>> {
        let reload = Reload {
            guest: guest.take().map_err(Error::from_reason)?,
            config: config.map(|c| Arc::from(c.as_ref())),
            generation,
        };
        let preparing = self.core()?.bridge.prepare_reload(reload);
        Ok(AsyncTask::new(ReloadTask {
            preparing: Some(preparing),
        }))
    }

    /// `bridge.reload`, second half: `commit` switches new connections to the instances
    /// `reload` started; false drops them.
    #[napi]
    pub fn finish_reload(&self, commit: bool) -> Result<u32> {
        let mut core = self.core()?;
        core.bridge.finish_reload(commit);
        Ok(core.out())
    }

    /// Stops the worker threads after their queued events; `join()` on the result waits for
    /// them. (A separate object, so the pending join never holds a borrow of the bridge.)
    #[napi]
    pub fn stop(&self) -> Result<StoppedWorkers> {
        Ok(StoppedWorkers {
            handles: self.core()?.bridge.stop(),
        })
    }

    #[napi]
    pub fn stats(&self) -> Result<NativeStats> {
        let core = self.core()?;
        let s = core.bridge.stats();
        Ok(NativeStats {
            accepted: s.accepted as f64,
            closed: s.closed as f64,
            bytes_in: s.bytes_in as f64,
            bytes_out: s.bytes_out as f64,
            events: s.events as f64,
            traps: s.traps as f64,
            restarts: s.restarts as f64,
            dialed: s.dialed as f64,
            logs_dropped: s.logs_dropped as f64,
            fuel_used: s.fuel_used as f64,
            fuel_max: s.fuel_max as f64,
            instances: core.bridge.instances() as u32,
        })
    }
}
