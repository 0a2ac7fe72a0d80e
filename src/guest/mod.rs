//! Guest loading: bytes in, a compiled and validated module out, or an error that says what is
//! wrong with the module and what to do about it.
//!
//! Compiling is the slow part and happens once per bridge, on any thread (`Module` and `Engine`
//! are `Send + Sync`); each executor instantiates its own copy from it.

pub mod cache;
pub mod error;
#[cfg(test)]
mod load_fuzz;
pub mod memcap;
pub mod metering;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use wasmer::sys::{CompilerConfig, Cranelift, NativeEngineExt};
use wasmer::{Engine, ExternType, Module};

use crate::abi::{self, Abi, Export, Import, Shape, Sig};
use crate::guest::memcap::{CappedTunables, MemoryCap};
use crate::guest::metering::Meter;

pub use error::{Code, LoadError, Problem};

use crate::instance::failure::panic_message;

/// How a guest is compiled and limited: the bridge options that reach the compiler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// Points one event may use (`fuelPerEvent`, guest/metering.rs); `None`: no budget.
    pub fuel: Option<u64>,
    /// Longest wall-clock time one event may run (`eventTimeoutMs`); `None`: no deadline. A
    /// deadline needs metering (the watchdog stops a guest through its fuel), so a guest with a
    /// deadline and no budget is metered with an unlimited one.
    pub deadline: Option<Duration>,
    /// The cap on each instance's linear memory (`maxMemoryBytes`).
    pub memory: MemoryCap,
}

/// A compiled guest that passed every load-time check.
pub struct Guest {
    /// How errors name the guest: its file name, or `<bytes>`.
    pub name: String,
    pub engine: Engine,
    pub module: Module,
    pub abi: Abi,
    /// The fuel budget and memory cap it was compiled for, which each instance enforces.
    pub settings: Settings,
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Whether the bytes look like WebAssembly text, which wasmer compiles too (test fixtures).
fn looks_like_wat(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .map(|s| s.trim_start().starts_with('(') || s.trim_start().starts_with(";;"))
        .unwrap_or(false)
}

/// Compiles and validates a guest. `name` is used in error messages only. With a `fuel` setting,
/// every instruction is metered (one point each) and an event may run at most that many; every
/// instance's memory is capped at `settings.memory`. `guest/cache.rs` wraps this with a module cache.
pub fn compile(name: &str, bytes: &[u8], settings: &Settings) -> Result<Guest, LoadError> {
    check_bytes(name, bytes)?;
    compile_with(name, engine(settings), bytes, settings)
}

/// Compiles checked bytes with `engine` (made by `engine(settings)`) and validates the module:
/// the step `compile` and a module-cache miss share.
///
/// wasmer's compiler can panic on some modules it validated instead of returning an error
/// (7.4.2: a function type with an exception-handling reference type, found by the load fuzz
/// test). A panic must never unwind into Node, which aborts the process, so one is caught here
/// and the module refused like any other invalid one.
pub fn compile_with(
    name: &str,
    engine: Engine,
    bytes: &[u8],
    settings: &Settings,
) -> Result<Guest, LoadError> {
    let compiled = panic::catch_unwind(AssertUnwindSafe(|| {
        let module = Module::new(&engine, bytes).map_err(|e| {
            LoadError::new(name, Code::InvalidWasm, format!("invalid WebAssembly: {e}"))
        })?;
        validate(name, engine.clone(), module, settings)
    }));
    compiled.unwrap_or_else(|payload| {
        let why = panic_message(payload.as_ref());
        Err(LoadError::new(
            name,
            Code::InvalidWasm,
            format!("invalid WebAssembly: the compiler cannot handle this module ({why})"),
        ))
    })
}

/// Refuses bytes that cannot be a module before the compiler sees them.
pub fn check_bytes(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::new(
            name,
            Code::Empty,
            "the file is empty - expected a WebAssembly module",
        ));
    }
    if !bytes.starts_with(WASM_MAGIC) && !looks_like_wat(bytes) {
        return Err(LoadError::new(
            name,
            Code::NotWasm,
            "not a WebAssembly module (it does not start with the \\0asm magic bytes) - \
             pass the .wasm file asc wrote, not the source",
        ));
    }
    Ok(())
}

impl Settings {
    /// Whether the code is metered: with a budget, or a deadline to enforce through it.
    pub fn metered(&self) -> bool {
        self.fuel.is_some() || self.deadline.is_some()
    }

    /// The points each event starts with: the budget, or unlimited when only a deadline applies.
    pub fn points_per_event(&self) -> u64 {
        self.fuel.unwrap_or(metering::UNLIMITED)
    }
}

/// The engine a guest is compiled with (or deserialized into): Cranelift, metering when there
/// is a fuel budget or a deadline, and the memory cap. A fresh engine per module, always: one
/// metering middleware serves one module.
pub fn engine(settings: &Settings) -> Engine {
    let mut compiler = Cranelift::default();
    if settings.metered() {
        compiler.push_middleware(Arc::new(Meter::new(
            settings.points_per_event(),
            settings.memory.pages(),
        )));
    }
    let mut engine = Engine::from(compiler);
    engine.set_tunables(CappedTunables::new(settings.memory));
    engine
}

/// Checks a compiled module against the ABI, the host imports and the memory cap.
pub fn validate(
    name: &str,
    engine: Engine,
    module: Module,
    settings: &Settings,
) -> Result<Guest, LoadError> {
    let shape = shape_of(&module);
    let mut problems = Vec::new();
    for export in module.exports() {
        if let ExternType::Memory(ty) = export.ty()
            && let Err(p) = settings.memory.check_initial(ty)
        {
            // A memory exported under two names is one problem.
            let problem = Problem::new(Code::MemoryLimit, p);
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }
    if let Err(p) = abi::check_imports(&shape, &abi::imports::provided()) {
        problems.extend(p);
    }
    let abi = match abi::detect(&shape) {
        Ok(abi) => Some(abi),
        Err(p) => {
            problems.extend(p);
            None
        }
    };
    match abi {
        Some(abi) if problems.is_empty() => Ok(Guest {
            name: name.to_string(),
            engine,
            module,
            abi,
            settings: settings.clone(),
        }),
        _ => Err(LoadError {
            name: name.to_string(),
            problems,
        }),
    }
}

/// Reduces a compiled module to its export and import signatures.
pub fn shape_of(module: &Module) -> Shape {
    let sig = |ty: &ExternType| match ty {
        ExternType::Function(f) => Some(Sig::new(f.params(), f.results())),
        _ => None,
    };
    Shape {
        exports: module
            .exports()
            .map(|e| {
                let kind = match e.ty() {
                    ExternType::Memory(_) => Export::Memory,
                    ty => sig(ty).map(Export::Func).unwrap_or(Export::Other),
                };
                (e.name().to_string(), kind)
            })
            .collect(),
        imports: module
            .imports()
            .map(|i| Import {
                module: i.module().to_string(),
                name: i.name().to_string(),
                sig: sig(i.ty()),
            })
            .collect(),
    }
}
