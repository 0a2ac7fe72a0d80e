//! Guest loading: bytes in, a compiled and validated module out, or an error that says what is
//! wrong with the module and what to do about it.
//!
//! Compiling is the slow part and happens once per bridge, on any thread (`Module` and `Engine`
//! are `Send + Sync`); each executor instantiates its own copy from it.

use std::fmt;

use std::sync::Arc;

use wasmer::sys::{CompilerConfig, Cranelift};
use wasmer::{Engine, ExternType, Module};
use wasmer_middlewares::Metering;

use crate::abi::{self, Abi, Export, Import, Shape, Sig};
use crate::imports;

/// A compiled guest that passed every load-time check.
pub struct Guest {
    /// How errors name the guest: its file name, or `<bytes>`.
    pub name: String,
    pub engine: Engine,
    pub module: Module,
    pub abi: Abi,
    /// Instructions one event may run (`fuelPerEvent`); `None`: unmetered.
    pub fuel: Option<u64>,
}

/// Why a guest could not be loaded. Displays as `cannot load guest 'x.wasm': ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub name: String,
    pub problems: Vec<String>,
}

impl LoadError {
    pub fn new(name: &str, problem: impl Into<String>) -> LoadError {
        LoadError {
            name: name.to_string(),
            problems: vec![problem.into()],
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot load guest '{}': {}",
            self.name,
            self.problems.join("; ")
        )
    }
}

impl std::error::Error for LoadError {}

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Whether the bytes look like WebAssembly text, which wasmer compiles too (test fixtures).
fn looks_like_wat(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .map(|s| s.trim_start().starts_with('(') || s.trim_start().starts_with(";;"))
        .unwrap_or(false)
}

/// Compiles and validates a guest. `name` is used in error messages only. With `fuel`, every
/// instruction is metered (one point each) and an event may run at most `fuel` of them.
pub fn compile(name: &str, bytes: &[u8], fuel: Option<u64>) -> Result<Guest, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::new(
            name,
            "the file is empty - expected a WebAssembly module",
        ));
    }
    if !bytes.starts_with(WASM_MAGIC) && !looks_like_wat(bytes) {
        return Err(LoadError::new(
            name,
            "not a WebAssembly module (it does not start with the \\0asm magic bytes) - \
             pass the .wasm file asc wrote, not the source",
        ));
    }
    // A fresh engine per module, always: one Metering middleware can serve only one module
    // (compiling a second one with it panics inside wasmer and aborts the process).
    let mut compiler = Cranelift::default();
    if let Some(limit) = fuel {
        compiler.push_middleware(Arc::new(Metering::new(limit, |_| 1)));
    }
    let engine = Engine::from(compiler);
    let module = Module::new(&engine, bytes)
        .map_err(|e| LoadError::new(name, format!("invalid WebAssembly: {e}")))?;
    let shape = shape_of(&module);
    let mut problems = Vec::new();
    if let Err(p) = abi::check_imports(&shape, &imports::provided()) {
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
            fuel,
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
