//! wasm-socket-bridge: Node.js TCP connections served by WebAssembly guests hosted by wasmer.
//!
//! This file is the napi glue only: it converts arguments and calls the core modules, which hold
//! no napi types (so `cargo test --no-default-features` tests them without Node).

pub mod abi;
pub mod bridge;
pub mod conn;
pub mod executor;
pub mod failure;
pub mod guest;
pub mod guestmem;
pub mod imports;
pub mod limits;
pub mod outbox;
pub mod pool;

#[cfg(feature = "napi")]
mod glue {
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use napi::bindgen_prelude::*;
    use napi::threadsafe_function::ThreadsafeFunctionCallMode;
    use napi_derive::napi;

    use crate::bridge::Bridge;
    use crate::guest::{self, Guest};
    use crate::limits::Limits;
    use crate::pool::Sink;

    /// A compiled, validated guest module (`compile` / `compileSync`).
    #[napi]
    pub struct CompiledGuest {
        inner: Arc<Guest>,
    }

    pub struct CompileTask {
        name: String,
        bytes: Buffer,
        fuel: Option<u64>,
    }

    impl Task for CompileTask {
        type Output = Arc<Guest>;
        type JsValue = CompiledGuest;

        fn compute(&mut self) -> Result<Self::Output> {
            guest::compile(&self.name, &self.bytes, self.fuel)
                .map(Arc::new)
                .map_err(|e| Error::from_reason(e.to_string()))
        }

        fn resolve(&mut self, _env: Env, inner: Self::Output) -> Result<Self::JsValue> {
            Ok(CompiledGuest { inner })
        }
    }

    /// Compiles and validates a guest on the libuv thread pool. `fuel`: instructions one event
    /// may run (metered), or null for no budget.
    #[napi(ts_return_type = "Promise<CompiledGuest>")]
    pub fn compile(name: String, bytes: Buffer, fuel: Option<f64>) -> AsyncTask<CompileTask> {
        AsyncTask::new(CompileTask {
            name,
            bytes,
            fuel: fuel.map(|f| f as u64),
        })
    }

    /// Compiles and validates a guest on the calling thread.
    #[napi]
    pub fn compile_sync(name: String, bytes: &[u8], fuel: Option<f64>) -> Result<CompiledGuest> {
        guest::compile(&name, bytes, fuel.map(|f| f as u64))
            .map(|g| CompiledGuest { inner: Arc::new(g) })
            .map_err(|e| Error::from_reason(e.to_string()))
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
        ) -> Result<Self> {
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
            Bridge::new(guest.inner.clone(), limits, threads as usize, sink)
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
                instances: self.inner.instances() as u32,
            }
        }
    }
}
