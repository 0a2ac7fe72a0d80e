//! Why a guest could not be loaded: each problem with a stable code (`ERR_GUEST_...`, shown to
//! JS as `error.code`) and a message that says what is wrong and what to do about it.

use std::fmt;

/// The stable code of a load problem. Codes never change meaning; new ones may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The bytes are empty.
    Empty,
    /// The bytes are not WebAssembly (no `\0asm` magic, not text).
    NotWasm,
    /// The compiler refused the module.
    InvalidWasm,
    /// A required export (or the memory) is missing.
    MissingExport,
    /// An export the host calls has the wrong signature or is not a function.
    ExportSignature,
    /// No allocator flavour could be detected.
    NoAllocator,
    /// The module imports something the host does not provide.
    UnknownImport,
    /// A provided import is imported with another signature, or is not a function.
    ImportSignature,
    /// The module's initial memory is larger than `maxMemoryBytes`.
    MemoryLimit,
    /// The module could not be instantiated, or its start function failed.
    StartFailed,
    /// The module cache or the host failed in a way that is not the module's fault.
    Host,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::Empty,
        Code::NotWasm,
        Code::InvalidWasm,
        Code::MissingExport,
        Code::ExportSignature,
        Code::NoAllocator,
        Code::UnknownImport,
        Code::ImportSignature,
        Code::MemoryLimit,
        Code::StartFailed,
        Code::Host,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Empty => "ERR_GUEST_EMPTY",
            Code::NotWasm => "ERR_GUEST_NOT_WASM",
            Code::InvalidWasm => "ERR_GUEST_INVALID_WASM",
            Code::MissingExport => "ERR_GUEST_MISSING_EXPORT",
            Code::ExportSignature => "ERR_GUEST_EXPORT_SIGNATURE",
            Code::NoAllocator => "ERR_GUEST_NO_ALLOCATOR",
            Code::UnknownImport => "ERR_GUEST_UNKNOWN_IMPORT",
            Code::ImportSignature => "ERR_GUEST_IMPORT_SIGNATURE",
            Code::MemoryLimit => "ERR_GUEST_MEMORY_LIMIT",
            Code::StartFailed => "ERR_GUEST_START_FAILED",
            Code::Host => "ERR_GUEST_HOST",
        }
    }
}

/// One thing wrong with a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
}

impl Problem {
    pub fn new(code: Code, message: impl Into<String>) -> Problem {
        Problem {
            code,
            message: message.into(),
        }
    }
}

/// Why a guest could not be loaded. Displays as `cannot load guest 'x.wasm': ...`, every problem
/// joined with `; `; its `code` is the first problem's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub name: String,
    pub problems: Vec<Problem>,
}

impl LoadError {
    pub fn new(name: &str, code: Code, message: impl Into<String>) -> LoadError {
        LoadError {
            name: name.to_string(),
            problems: vec![Problem::new(code, message)],
        }
    }

    pub fn code(&self) -> Code {
        self.problems.first().map_or(Code::Host, |p| p.code)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot load guest '{}': ", self.name)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}
