//! The guest ABI: which exports a guest must have, which allocator flavour it uses, and whether
//! its imports are ones the host provides.
//!
//! Both sides of the contract are tables: `exports::GUEST_EXPORTS` (what the host calls) and
//! `imports::HOST_IMPORTS` (what the guest may call). The checks here are pure logic over a
//! module's shape (its export and import signatures), so they are unit-tested without compiling
//! anything; `guest/mod.rs` builds the shape from a compiled `wasmer::Module`.

pub mod exports;
pub mod imports;

use std::collections::HashMap;
use std::fmt;

use wasmer::Type;

pub use exports::{Flavour, GUEST_EXPORTS, GuestExport, Hook, IMPORT_NEEDS, Need, Role};

use crate::guest::error::{Code, Problem};

/// A function signature as wasm sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sig {
    pub params: Vec<Type>,
    pub results: Vec<Type>,
}

impl Sig {
    pub fn new(params: &[Type], results: &[Type]) -> Sig {
        Sig {
            params: params.to_vec(),
            results: results.to_vec(),
        }
    }
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ts: &[Type]| {
            ts.iter()
                .map(|t| t.to_string().to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

/// What a module exports under one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Export {
    Func(Sig),
    Memory,
    Other,
}

/// What a module imports under one `module.name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub name: String,
    /// `None` when the import is not a function (memory, table, global, tag).
    pub sig: Option<Sig>,
}

/// A module's exports and imports, reduced to what ABI checks need.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    pub exports: HashMap<String, Export>,
    pub imports: Vec<Import>,
}

/// The result of checking a module against the export table: its flavour, and which optional
/// exports it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abi {
    pub flavour: Flavour,
    /// Indexed by `Hook as usize`: whether the guest exports that event.
    pub hooks: [bool; Hook::COUNT],
    /// `onTimer(timer, id)` is exported.
    pub on_timer: bool,
    /// `onMessage` is exported (in its flavour's signature).
    pub on_message: bool,
    /// `onReply` is exported (in its flavour's signature).
    pub on_reply: bool,
    /// `_initialize()` is exported.
    pub initialize: bool,
}

impl Abi {
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks[hook as usize]
    }

    /// Whether the guest exports `name` (a function of the export table).
    pub fn exports(&self, name: &str) -> bool {
        GUEST_EXPORTS
            .iter()
            .filter(|e| e.name == name && e.applies_to(self.flavour))
            .any(|e| match e.role {
                Role::Hook(h) => self.has(h),
                Role::Timer => self.on_timer,
                Role::Message => self.on_message,
                Role::Reply => self.on_reply,
                Role::Initialize => self.initialize,
                Role::Data | Role::Allocator => true,
            })
    }
}

const NO_ALLOCATOR: &str = "no usable allocator - export __new, __pin and __unpin \
    (AssemblyScript >= 0.18: build with --exportRuntime), __alloc, __retain and __release \
    (AssemblyScript < 0.18), or alloc(size) -> ptr and dealloc(ptr, size) (other languages)";

const COMMAND_MODULE: &str = "a WASI command module (exports _start, no _initialize) - a guest is \
    a library whose exports the host calls: build a reactor (C with zig cc or clang: \
    -mexec-model=reactor; Rust: crate-type = [\"cdylib\"]; TinyGo: -buildmode=c-shared)";

const ENTRY_HINT: &str = "export it from the guest's entry file";

/// Whether `shape` has export `e` with its signature: `Ok(true)` present, `Ok(false)` absent,
/// `Err` present but wrong.
fn find(shape: &Shape, e: &GuestExport) -> Result<bool, Problem> {
    let want = Sig::new(e.params, e.results);
    match shape.exports.get(e.name) {
        None => Ok(false),
        Some(Export::Func(sig)) if *sig == want => Ok(true),
        Some(Export::Func(sig)) => Err(Problem::new(
            Code::ExportSignature,
            format!(
                "export {} has signature {sig}, expected {want} for {}",
                e.name, e.human
            ),
        )),
        Some(_) => Err(Problem::new(
            Code::ExportSignature,
            format!("export {} is not a function, expected {}", e.name, e.human),
        )),
    }
}

/// Checks a module's exports against `GUEST_EXPORTS` and detects its allocator flavour. On
/// failure, returns every problem found, each phrased for the person building the guest.
pub fn detect(shape: &Shape) -> Result<Abi, Vec<Problem>> {
    let mut problems = Vec::new();
    let flavour = Flavour::ALL
        .into_iter()
        .find(|f| shape.exports.contains_key(f.marker()));
    if flavour.is_none() {
        problems.push(Problem::new(Code::NoAllocator, NO_ALLOCATOR));
    }
    let mut abi = Abi {
        flavour: flavour.unwrap_or(Flavour::AssemblyScript),
        hooks: [false; Hook::COUNT],
        on_timer: false,
        on_message: false,
        on_reply: false,
        initialize: false,
    };
    for e in GUEST_EXPORTS {
        let applies = match flavour {
            Some(f) => e.applies_to(f),
            // Without an allocator, still name the missing events (in their AssemblyScript form).
            None => e.role != Role::Allocator && e.applies_to(Flavour::AssemblyScript),
        };
        if !applies {
            continue;
        }
        let present = match find(shape, e) {
            Ok(present) => present,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        if !present && e.need == Need::Required {
            let hint = match (e.role, flavour) {
                (Role::Allocator, Some(f)) => f.hint(),
                _ => ENTRY_HINT,
            };
            problems.push(Problem::new(
                Code::MissingExport,
                format!("missing export {} - {hint}", e.human),
            ));
        }
        match e.role {
            Role::Hook(h) => abi.hooks[h as usize] = present,
            Role::Initialize => abi.initialize = present,
            Role::Timer => abi.on_timer = present,
            Role::Message => abi.on_message = present,
            Role::Reply => abi.on_reply = present,
            Role::Data | Role::Allocator => {}
        }
    }
    for (module, name, needed) in IMPORT_NEEDS {
        let imported = shape
            .imports
            .iter()
            .any(|i| i.module == *module && i.name == *name);
        let flavour = flavour.unwrap_or(Flavour::AssemblyScript);
        let Some(export) = GUEST_EXPORTS
            .iter()
            .find(|e| e.name == *needed && e.applies_to(flavour))
        else {
            continue;
        };
        if imported && !matches!(find(shape, export), Ok(true)) {
            problems.push(Problem::new(
                Code::MissingExport,
                format!(
                    "imports {module}.{name} but does not export {} - export it to receive \
                     what {module}.{name} asks for",
                    export.human
                ),
            ));
        }
    }
    if shape.exports.contains_key("_start") && !shape.exports.contains_key("_initialize") {
        problems.push(Problem::new(Code::MissingExport, COMMAND_MODULE));
    }
    if !matches!(shape.exports.get("memory"), Some(Export::Memory)) {
        problems.push(Problem::new(
            Code::MissingExport,
            "missing export memory - the guest must export its linear memory as \"memory\" \
             (AssemblyScript does by default; do not use --importMemory)",
        ));
    }
    if problems.is_empty() {
        Ok(abi)
    } else {
        Err(problems)
    }
}

/// Checks every import of a module against what the host provides (`module`, `name`,
/// signature). Returns one problem per mismatched import, after one naming all unknown ones.
pub fn check_imports(shape: &Shape, provided: &[(&str, &str, Sig)]) -> Result<(), Vec<Problem>> {
    let mut unknown = Vec::new();
    let mut problems = Vec::new();
    for imp in &shape.imports {
        let found = provided
            .iter()
            .find(|(m, n, _)| *m == imp.module && *n == imp.name);
        match (found, &imp.sig) {
            (None, _) => unknown.push(format!("{}.{}", imp.module, imp.name)),
            (Some(_), None) => problems.push(Problem::new(
                Code::ImportSignature,
                format!(
                    "import {}.{} is not a function; the host only provides functions",
                    imp.module, imp.name
                ),
            )),
            (Some((_, _, want)), Some(sig)) if sig != want => problems.push(Problem::new(
                Code::ImportSignature,
                format!(
                    "import {}.{} has signature {sig}, the host provides {want}",
                    imp.module, imp.name
                ),
            )),
            _ => {}
        }
    }
    if !unknown.is_empty() {
        let wasi = unknown.iter().any(|u| u.starts_with("wasi"));
        let mut msg = format!("imports the host does not provide: {}", unknown.join(", "));
        if wasi {
            msg.push_str(
                " - the host provides WASI preview1 (wasi_snapshot_preview1) only; build for \
                 wasm32-wasi / wasm32-wasip1, not another WASI version",
            );
        } else {
            msg.push_str(
                " - the host provides the Socket and env imports listed in docs/guest-abi.md",
            );
        }
        problems.insert(0, Problem::new(Code::UnknownImport, msg));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I32: Type = Type::I32;

    fn messages(problems: Vec<Problem>) -> Vec<String> {
        problems.into_iter().map(|p| p.message).collect()
    }

    fn f(params: &[Type], results: &[Type]) -> Export {
        Export::Func(Sig::new(params, results))
    }

    fn shape(entries: &[(&str, Export)]) -> Shape {
        Shape {
            exports: entries
                .iter()
                .map(|(n, e)| (n.to_string(), e.clone()))
                .collect(),
            imports: vec![],
        }
    }

    fn as_modern() -> Vec<(&'static str, Export)> {
        vec![
            ("memory", Export::Memory),
            ("__new", f(&[I32, I32], &[I32])),
            ("__pin", f(&[I32], &[I32])),
            ("__unpin", f(&[I32], &[])),
            ("onConnection", f(&[I32], &[])),
            ("onData", f(&[I32, I32], &[])),
            ("onClose", f(&[I32], &[])),
        ]
    }

    #[test]
    fn a_modern_assemblyscript_guest_is_detected() {
        let abi = detect(&shape(&as_modern())).unwrap();
        assert_eq!(abi.flavour, Flavour::AssemblyScript);
        assert!(abi.has(Hook::Connection) && abi.has(Hook::Close));
        assert!(!abi.has(Hook::Error) && !abi.has(Hook::End) && !abi.initialize);
    }

    #[test]
    fn optional_events_are_detected_when_present() {
        let mut e = as_modern();
        e.push(("onEnd", f(&[I32], &[])));
        e.push(("onError", f(&[I32], &[])));
        e.push(("_initialize", f(&[], &[])));
        let abi = detect(&shape(&e)).unwrap();
        assert!(abi.has(Hook::End) && abi.has(Hook::Error) && abi.initialize);
        assert!(!abi.has(Hook::Drain) && !abi.has(Hook::Connect));
    }

    #[test]
    fn a_legacy_assemblyscript_guest_is_detected() {
        let e = vec![
            ("memory", Export::Memory),
            ("__alloc", f(&[I32, I32], &[I32])),
            ("__retain", f(&[I32], &[I32])),
            ("__release", f(&[I32], &[])),
            ("onConnection", f(&[I32], &[])),
            ("onData", f(&[I32, I32], &[])),
            ("onClose", f(&[I32], &[])),
        ];
        assert_eq!(
            detect(&shape(&e)).unwrap().flavour,
            Flavour::AssemblyScriptLegacy
        );
    }

    #[test]
    fn a_raw_guest_is_detected_and_takes_data_as_pointer_and_length() {
        let mut e = vec![
            ("memory", Export::Memory),
            ("alloc", f(&[I32], &[I32])),
            ("dealloc", f(&[I32, I32], &[])),
            ("onConnection", f(&[I32], &[])),
            ("onData", f(&[I32, I32, I32], &[])),
            ("onClose", f(&[I32], &[])),
        ];
        assert_eq!(detect(&shape(&e)).unwrap().flavour, Flavour::Raw);
        e[4] = ("onData", f(&[I32, I32], &[]));
        let errs = messages(detect(&shape(&e)).unwrap_err());
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].contains("onData(id: u32, ptr: usize, len: u32)"),
            "{errs:?}"
        );
    }

    #[test]
    fn missing_exports_are_each_named_with_their_signature() {
        let e: Vec<_> = as_modern()
            .into_iter()
            .filter(|(n, _)| *n != "onData" && *n != "__pin")
            .collect();
        let errs = messages(detect(&shape(&e)).unwrap_err());
        let all = errs.join("; ");
        assert!(
            all.contains("missing export onData(id: u32, data: ArrayBuffer)"),
            "{all}"
        );
        assert!(
            all.contains("missing export __pin(ptr: usize) -> usize - build with --exportRuntime"),
            "{all}"
        );
    }

    #[test]
    fn a_guest_without_allocator_is_refused_with_every_option_listed() {
        let e: Vec<_> = as_modern()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("__"))
            .collect();
        let errs = messages(detect(&shape(&e)).unwrap_err());
        assert_eq!(errs, vec![NO_ALLOCATOR.to_string()]);
        assert!(errs[0].contains("--exportRuntime") && errs[0].contains("alloc(size)"));
    }

    #[test]
    fn wrong_signatures_and_a_missing_memory_are_reported() {
        let mut e = as_modern();
        e.retain(|(n, _)| *n != "memory");
        e.push(("onEnd", f(&[I32, I32], &[])));
        let errs = messages(detect(&shape(&e)).unwrap_err());
        let all = errs.join("; ");
        assert!(
            all.contains("export onEnd has signature (i32, i32) -> (), expected (i32) -> ()"),
            "{all}"
        );
        assert!(all.contains("missing export memory"), "{all}");
    }

    #[test]
    fn unknown_imports_are_all_named_and_wasi_is_called_out() {
        let provided = [("env", "abort", Sig::new(&[I32, I32, I32, I32], &[]))];
        let mut s = shape(&[]);
        s.imports = vec![
            Import {
                module: "env".into(),
                name: "abort".into(),
                sig: Some(Sig::new(&[I32, I32, I32, I32], &[])),
            },
            Import {
                module: "wasi_snapshot_preview1".into(),
                name: "fd_write".into(),
                sig: Some(Sig::new(&[I32, I32, I32, I32], &[I32])),
            },
            Import {
                module: "foo".into(),
                name: "bar".into(),
                sig: Some(Sig::new(&[], &[])),
            },
        ];
        let errs = messages(check_imports(&s, &provided).unwrap_err());
        assert!(
            errs[0].contains("wasi_snapshot_preview1.fd_write, foo.bar"),
            "{errs:?}"
        );
        assert!(errs[0].contains("WASI preview1"), "{errs:?}");
    }

    #[test]
    fn a_wasi_command_module_is_refused_with_how_to_build_a_reactor() {
        let mut e = as_modern();
        e.push(("_start", f(&[], &[])));
        let errs = messages(detect(&shape(&e)).unwrap_err());
        assert_eq!(errs, vec![COMMAND_MODULE.to_string()]);
        assert!(errs[0].contains("-mexec-model=reactor"), "{errs:?}");
        e.push(("_initialize", f(&[], &[])));
        assert!(detect(&shape(&e)).unwrap().initialize);
    }

    #[test]
    fn an_import_with_the_wrong_signature_is_refused() {
        let provided = [("env", "abort", Sig::new(&[I32, I32, I32, I32], &[]))];
        let mut s = shape(&[]);
        s.imports = vec![Import {
            module: "env".into(),
            name: "abort".into(),
            sig: Some(Sig::new(&[I32], &[])),
        }];
        let errs = messages(check_imports(&s, &provided).unwrap_err());
        assert_eq!(
            errs,
            vec![
                "import env.abort has signature (i32) -> (), the host provides (i32, i32, i32, i32) -> ()"
                    .to_string()
            ]
        );
    }

    #[test]
    fn each_problem_carries_a_stable_code() {
        let e: Vec<_> = as_modern()
            .into_iter()
            .filter(|(n, _)| *n != "onClose")
            .collect();
        let errs = detect(&shape(&e)).unwrap_err();
        assert_eq!(errs[0].code, Code::MissingExport);
        assert_eq!(errs[0].code.as_str(), "ERR_GUEST_MISSING_EXPORT");
        let none: Vec<_> = as_modern()
            .into_iter()
            .filter(|(n, _)| !n.starts_with("__"))
            .collect();
        assert_eq!(
            detect(&shape(&none)).unwrap_err()[0].code,
            Code::NoAllocator
        );
    }

    #[test]
    fn every_export_row_has_a_unique_name_per_flavour() {
        for flavour in Flavour::ALL {
            let mut names: Vec<_> = GUEST_EXPORTS
                .iter()
                .filter(|e| e.applies_to(flavour))
                .map(|e| e.name)
                .collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{flavour}");
        }
    }

    #[test]
    fn a_guest_importing_timers_without_on_timer_is_refused_naming_both() {
        let mut s = shape(&as_modern());
        s.imports = vec![Import {
            module: "Timer".into(),
            name: "set".into(),
            sig: Some(Sig::new(&[I32, I32, I32], &[I32])),
        }];
        let errs = messages(detect(&s).unwrap_err());
        assert_eq!(
            errs,
            vec![
                "imports Timer.set but does not export onTimer(timer: i32, id: u32) - export it \
                 to receive what Timer.set asks for"
                    .to_string()
            ]
        );
        s.exports.insert("onTimer".into(), f(&[I32, I32], &[]));
        assert!(detect(&s).unwrap().on_timer);
    }
}
