//! Loading a guest from JS: `compile` (on the libuv pool) and `compileSync`. Neither throws for a
//! bad guest: both give back either the compiled guest or a `LoadFailure` with the problem's
//! stable code, which js/errors.js turns into the `Error` users see.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::abi::Abi;
use crate::guest::cache;
use crate::guest::memcap::MemoryCap;
use crate::guest::{self, Guest, LoadError};

/// A compiled, validated guest module (`compile` / `compileSync`), for one bridge or reload:
/// starting it takes the module out (`take`), so what Node's garbage collector keeps of this
/// object afterwards is only its name and export list, never a compiled module.
#[napi]
pub struct CompiledGuest {
    inner: RefCell<Option<Arc<Guest>>>,
    name: String,
    abi: Abi,
    cache: Option<CacheInfo>,
}

impl CompiledGuest {
    fn new(guest: Guest, cache: Option<CacheInfo>) -> CompiledGuest {
        CompiledGuest {
            name: guest.name.clone(),
            abi: guest.abi.clone(),
            inner: RefCell::new(Some(Arc::new(guest))),
            cache,
        }
    }

    /// The module, taken out to start a bridge or a reload with.
    pub(crate) fn take(&self) -> std::result::Result<Arc<Guest>, String> {
        self.inner.borrow_mut().take().ok_or_else(|| {
            format!(
                "the compiled guest '{}' was started already: compile it again",
                self.name
            )
        })
    }
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

    /// The guest's name (its file name, or what `load` was given).
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Whether the guest exports `name` (an export the host calls, such as `onMessage`).
    #[napi]
    pub fn has_export(&self, name: String) -> bool {
        self.abi.exports(&name)
    }
}

/// Why a guest could not be loaded: `code` is stable (`ERR_GUEST_...`), `message` says what is
/// wrong and what to do (`cannot load guest 'x.wasm': ...`).
#[napi(object)]
pub struct LoadFailure {
    pub code: String,
    pub message: String,
}

impl From<LoadError> for LoadFailure {
    fn from(e: LoadError) -> LoadFailure {
        LoadFailure {
            code: e.code().as_str().to_string(),
            message: e.to_string(),
        }
    }
}

/// The bridge options that reach the compiler.
#[napi(object)]
pub struct CompileOptions {
    /// `fuelPerEvent`: instructions one event may run (metered); absent: no budget.
    pub fuel: Option<f64>,
    /// `eventTimeoutMs`: longest wall-clock time of one guest call; absent: no deadline.
    pub event_timeout_ms: Option<f64>,
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
                deadline: options
                    .event_timeout_ms
                    .map(|ms| std::time::Duration::from_millis(ms as u64)),
                memory,
            },
            cache_dir: options.cache_dir.map(PathBuf::from),
        }
    }

    fn run(&self, bytes: &[u8]) -> std::result::Result<CompiledGuest, LoadError> {
        let (guest, cache) = match &self.cache_dir {
            None => (guest::compile(&self.name, bytes, &self.settings)?, None),
            Some(dir) => {
                let (g, outcome) = cache::load(&self.name, bytes, &self.settings, dir)?;
                (g, Some(cache_info(outcome)))
            }
        };
        release_compiler_memory();
        Ok(CompiledGuest::new(guest, cache))
    }
}

/// Hands the memory the compiler freed back to the system. Compiling runs on the libuv pool,
/// whose threads each get a malloc arena of their own; the compiler's short-lived allocations
/// would otherwise stay resident in each of them (measured: about +16 MiB over a series of hot
/// reloads, test/scripts/reload-memory.js).
fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the system; it touches no live data.
    unsafe {
        libc::malloc_trim(0);
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

type Loaded = Either<CompiledGuest, LoadFailure>;

fn loaded(result: std::result::Result<CompiledGuest, LoadError>) -> Loaded {
    match result {
        Ok(g) => Either::A(g),
        Err(e) => Either::B(e.into()),
    }
}

pub struct CompileTask {
    load: Load,
    bytes: Buffer,
}

impl Task for CompileTask {
    type Output = Loaded;
    type JsValue = Loaded;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(loaded(self.load.run(&self.bytes)))
    }

    fn resolve(&mut self, _env: Env, outcome: Self::Output) -> Result<Self::JsValue> {
        Ok(outcome)
    }
}

/// Compiles and validates a guest (or loads it from the module cache) on the libuv thread
/// pool.
#[napi(ts_return_type = "Promise<CompiledGuest | LoadFailure>")]
pub fn compile(name: String, bytes: Buffer, options: CompileOptions) -> AsyncTask<CompileTask> {
    AsyncTask::new(CompileTask {
        load: Load::new(name, options),
        bytes,
    })
}

/// Compiles and validates a guest (or loads it from the module cache) on the calling thread.
#[napi]
pub fn compile_sync(name: String, bytes: &[u8], options: CompileOptions) -> Loaded {
    loaded(Load::new(name, options).run(bytes))
}
