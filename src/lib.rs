//! wasm-socket-bridge: Node.js TCP connections served by WebAssembly guests hosted by wasmer.
//!
//! This file is the napi glue only: it converts arguments and calls the core modules, which hold
//! no napi types (so `cargo test --no-default-features` tests them without Node).

pub mod abi;
pub mod allow;
pub mod bridge;
pub mod cache;
pub mod conn;
pub mod dial;
pub mod executor;
pub mod failure;
pub mod guest;
pub mod guestmem;
pub mod ids;
pub mod imports;
pub mod limits;
pub mod memcap;
pub mod outbox;
pub mod pool;

#[cfg(feature = "napi")]
mod glue {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use napi::bindgen_prelude::*;
    use napi::threadsafe_function::ThreadsafeFunctionCallMode;
    use napi_derive::napi;

    use crate::allow::Allowlist;
    use crate::bridge::Bridge;
    use crate::cache;
    use crate::guest::{self, Guest};
    use crate::limits::Limits;
    use crate::memcap::MemoryCap;
    use crate::pool::Sink;

    /// A compiled, validated guest module (`compile` / `compileSync`).
    #[napi]
    pub struct CompiledGuest {
        inner: Arc<Guest>,
        cache: Option<CacheInfo>,
    }

    /// How the module cache served a load (`bridge.cache` in JS).
    #[napi(object)]
    #[derive(Clone)]
    pub struct CacheInfo {
        /// `"hit"` or `"miss"`.
        pub status: String,
        pub file: String,
        /// Why a cached file was there but not used.
        pub reason: Option<String>,
        /// Why the compiled module could not be written to the cache.
        pub warning: Option<String>,
    }

    #[napi]
    impl CompiledGuest {
        /// How the module cache served this load; undefined without `cacheDir`.
        #[napi(getter)]
        pub fn cache(&self) -> Option<CacheInfo> {
            self.cache.clone()
        }
    }

    /// The bridge options that reach the compiler.
    #[napi(object)]
    pub struct CompileOptions {
        /// `fuelPerEvent`: instructions one event may run (metered); absent: no budget.
        pub fuel: Option<f64>,
        /// `maxMemoryBytes`: cap on each instance's linear memory; absent: 256 MiB.
        pub max_memory_bytes: Option<f64>,
        /// `cacheDir`: folder of the module cache; absent: no cache.
        pub cache_dir: Option<String>,
    }

    struct Load {
        name: String,
        settings: guest::Settings,
        cache_dir: Option<PathBuf>,
    }

    impl Load {
        fn new(name: String, options: CompileOptions) -> Load {
            let memory = options
                .max_memory_bytes
                .map_or_else(MemoryCap::default, |b| MemoryCap::from_bytes(b as u64));
            Load {
                name,
                settings: guest::Settings {
                    fuel: options.fuel.map(|f| f as u64),
                    memory,
                },
                cache_dir: options.cache_dir.map(PathBuf::from),
            }
        }

        fn run(&self, bytes: &[u8]) -> Result<CompiledGuest> {
            let loaded = match &self.cache_dir {
                None => guest::compile(&self.name, bytes, &self.settings).map(|g| (g, None)),
                Some(dir) => cache::load(&self.name, bytes, &self.settings, dir)
                    .map(|(g, outcome)| (g, Some(cache_info(outcome)))),
            };
            loaded
                .map(|(g, cache)| CompiledGuest {
                    inner: Arc::new(g),
                    cache,
                })
                .map_err(|e| Error::from_reason(e.to_string()))
        }
    }

    fn cache_info(outcome: cache::Outcome) -> CacheInfo {
        match outcome {
            cache::Outcome::Hit { file } => CacheInfo {
                status: "hit".to_string(),
                file: file.display().to_string(),
                reason: None,
                warning: None,
            },
            cache::Outcome::Miss {
                file,
                reason,
                warning,
            } => CacheInfo {
                status: "miss".to_string(),
                file: file.display().to_string(),
                reason,
                warning,
            },
        }
    }

    pub struct CompileTask {
        load: Load,
        bytes: Buffer,
    }

    impl Task for CompileTask {
        type Output = CompiledGuest;
        type JsValue = CompiledGuest;

        fn compute(&mut self) -> Result<Self::Output> {
            self.load.run(&self.bytes)
        }

        fn resolve(&mut self, _env: Env, compiled: Self::Output) -> Result<Self::JsValue> {
            Ok(compiled)
        }
    }

    /// Compiles and validates a guest (or loads it from the module cache) on the libuv thread
    /// pool.
    #[napi(ts_return_type = "Promise<CompiledGuest>")]
    pub fn compile(name: String, bytes: Buffer, options: CompileOptions) -> AsyncTask<CompileTask> {
        AsyncTask::new(CompileTask {
            load: Load::new(name, options),
            bytes,
        })
    }

    /// Compiles and validates a guest (or loads it from the module cache) on the calling thread.
    #[napi]
    pub fn compile_sync(
        name: String,
        bytes: &[u8],
        options: CompileOptions,
    ) -> Result<CompiledGuest> {
        Load::new(name, options).run(bytes)
    }

    fn invalid_arg(message: String) -> Error {
        Error::new(Status::InvalidArg, message)
    }

    /// Checks `allowConnect` entries; throws a message naming the first bad one.
    #[napi]
    pub fn check_allow_connect(entries: Vec<String>) -> Result<()> {
        Allowlist::parse(&entries).map(|_| ()).map_err(invalid_arg)
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

    /// A bridge. Inline (`threads` 0): each event method returns the output batch the guest
    /// produced (src/outbox.rs), or null. Threaded: event methods return null and batches arrive
    /// through `onOutput`, called on the JS thread; it never keeps the process alive.
    #[napi]
    pub struct NativeBridge {
        inner: Bridge,
    }

    #[napi]
    impl NativeBridge {
        #[napi(constructor)]
        pub fn new(
            guest: &CompiledGuest,
            high_water_mark: u32,
            threads: u32,
            on_output: Option<Function<'_, Buffer, ()>>,
            allow_connect: Vec<String>,
        ) -> Result<Self> {
            let allow = Allowlist::parse(&allow_connect).map_err(invalid_arg)?;
            let sink: Option<Sink> = match on_output {
                Some(f) => {
                    let tsfn = f
                        .build_threadsafe_function::<Vec<u8>>()
                        .callee_handled::<false>()
                        .weak::<true>()
                        .build_callback(|ctx| Ok(Buffer::from(ctx.value)))?;
                    Some(Arc::new(move |batch: Vec<u8>| {
                        tsfn.call(batch, ThreadsafeFunctionCallMode::NonBlocking);
                    }))
                }
                None => None,
            };
            let limits = Limits::new(high_water_mark as usize);
            Bridge::new(guest.inner.clone(), limits, threads as usize, sink, allow)
                .map(|inner| NativeBridge { inner })
                .map_err(|f| {
                    Error::from_reason(format!(
                        "cannot load guest '{}': {}",
                        guest.inner.name, f.message
                    ))
                })
        }

        /// The guest's output as a JS-owned copy: the outbox keeps its allocation for the next
        /// event, and V8 accounts for the buffer like any other.
        fn out<'e>(&mut self, env: &'e Env) -> Result<Option<BufferSlice<'e>>> {
            self.inner
                .with_output(|bytes| BufferSlice::copy_from(env, bytes))
                .transpose()
        }

        /// JS is dialing `id`, which the guest on `worker` asked for: route its events there.
        #[napi]
        pub fn adopt(&mut self, id: u32, worker: u32) {
            self.inner.adopt(id, worker as u8);
        }

        /// The outbound connection `id` is established: onConnect.
        #[napi]
        pub fn connected<'e>(&mut self, env: &'e Env, id: u32) -> Result<Option<BufferSlice<'e>>> {
            self.inner.connected(id);
            self.out(env)
        }

        /// Registers a connection and runs onConnection; returns its id, or null when ids ran out.
        #[napi]
        pub fn open(&mut self) -> Option<u32> {
            self.inner.open()
        }

        #[napi]
        pub fn data<'e>(
            &mut self,
            env: &'e Env,
            id: u32,
            data: &[u8],
            queued: u32,
        ) -> Result<Option<BufferSlice<'e>>> {
            self.inner.data(id, data, queued as usize);
            self.out(env)
        }

        /// The peer sent FIN; `half_open` is the socket's allowHalfOpen.
        #[napi]
        pub fn end<'e>(
            &mut self,
            env: &'e Env,
            id: u32,
            half_open: bool,
        ) -> Result<Option<BufferSlice<'e>>> {
            self.inner.end(id, half_open);
            self.out(env)
        }

        #[napi]
        pub fn error<'e>(&mut self, env: &'e Env, id: u32) -> Result<Option<BufferSlice<'e>>> {
            self.inner.error(id);
            self.out(env)
        }

        #[napi]
        pub fn drain<'e>(
            &mut self,
            env: &'e Env,
            id: u32,
            queued: u32,
        ) -> Result<Option<BufferSlice<'e>>> {
            self.inner.drain(id, queued as usize);
            self.out(env)
        }

        #[napi]
        pub fn close<'e>(&mut self, env: &'e Env, id: u32) -> Result<Option<BufferSlice<'e>>> {
            self.inner.close(id);
            self.out(env)
        }

        /// Output produced outside an event method (by open, or a start function's logs).
        #[napi]
        pub fn flush<'e>(&mut self, env: &'e Env) -> Result<Option<BufferSlice<'e>>> {
            self.out(env)
        }

        /// Stops the worker threads after their queued events; `join()` on the result waits for
        /// them. (A separate object, so the pending join never holds a borrow of the bridge.)
        #[napi]
        pub fn stop(&mut self) -> StoppedWorkers {
            StoppedWorkers {
                handles: self.inner.stop(),
            }
        }

        #[napi]
        pub fn stats(&self) -> NativeStats {
            let s = self.inner.stats();
            NativeStats {
                accepted: s.accepted as f64,
                closed: s.closed as f64,
                bytes_in: s.bytes_in as f64,
                bytes_out: s.bytes_out as f64,
                events: s.events as f64,
                traps: s.traps as f64,
                restarts: s.restarts as f64,
                dialed: s.dialed as f64,
                instances: self.inner.instances() as u32,
            }
        }
    }
}
