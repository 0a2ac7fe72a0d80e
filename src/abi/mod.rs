//! Guest ABI v1: which exports a guest must have and which allocator flavour it uses.
//!
//! Pure logic over a module's shape (its export and import signatures), so it is unit-tested
//! without compiling anything. `guest.rs` builds the shape from a compiled `wasmer::Module`.

use std::collections::HashMap;
use std::fmt;

use wasmer::Type;

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

/// How the host hands incoming bytes to the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// AssemblyScript >= 0.18 (`--exportRuntime`): `__new(size, 1)` makes an `ArrayBuffer`,
    /// pinned with `__pin`/`__unpin` around `onData(id, buffer)`.
    AssemblyScript,
    /// AssemblyScript < 0.18 (as in "A TCP Server Example in AssemblyScript"): `__alloc(size, 0)`
    /// with `__retain`/`__release` around `onData(id, buffer)`.
    AssemblyScriptLegacy,
    /// Any other language: `alloc(size) -> ptr`, then `onData(id, ptr, len)`, then the host calls
    /// `dealloc(ptr, len)`; the guest copies what it wants to keep.
    Raw,
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavour::AssemblyScript => "AssemblyScript >= 0.18 (__new/__pin/__unpin)",
            Flavour::AssemblyScriptLegacy => "AssemblyScript < 0.18 (__alloc/__retain/__release)",
            Flavour::Raw => "raw (alloc/dealloc, onData(id, ptr, len))",
        })
    }
}

/// The optional event exports a guest may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Optional {
    pub on_error: bool,
    pub on_end: bool,
    pub on_drain: bool,
    pub on_connect: bool,
    /// `_initialize()`: a start function the host calls once memory is reachable
    /// (AssemblyScript `--exportStart _initialize`, or a WASI reactor).
    pub initialize: bool,
}

/// The result of checking a module against ABI v1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abi {
    pub flavour: Flavour,
    pub optional: Optional,
}

const I32: Type = Type::I32;

/// Name, human form and signature of each export the host may call.
struct Expected {
    name: &'static str,
    human: &'static str,
    params: &'static [Type],
    results: &'static [Type],
}

const ON_CONNECTION: Expected = Expected {
    name: "onConnection",
    human: "onConnection(id: u32)",
    params: &[I32],
    results: &[],
};
const ON_DATA_AS: Expected = Expected {
    name: "onData",
    human: "onData(id: u32, data: ArrayBuffer)",
    params: &[I32, I32],
    results: &[],
};
const ON_DATA_RAW: Expected = Expected {
    name: "onData",
    human: "onData(id: u32, ptr: usize, len: u32)",
    params: &[I32, I32, I32],
    results: &[],
};
const ON_CLOSE: Expected = Expected {
    name: "onClose",
    human: "onClose(id: u32)",
    params: &[I32],
    results: &[],
};
const OPTIONAL_EVENTS: [&str; 4] = ["onError", "onEnd", "onDrain", "onConnect"];

const AS_ALLOCATOR: [Expected; 3] = [
    Expected {
        name: "__new",
        human: "__new(size: usize, id: u32) -> usize",
        params: &[I32, I32],
        results: &[I32],
    },
    Expected {
        name: "__pin",
        human: "__pin(ptr: usize) -> usize",
        params: &[I32],
        results: &[I32],
    },
    Expected {
        name: "__unpin",
        human: "__unpin(ptr: usize)",
        params: &[I32],
        results: &[],
    },
];
const AS_LEGACY_ALLOCATOR: [Expected; 3] = [
    Expected {
        name: "__alloc",
        human: "__alloc(size: usize, id: u32) -> usize",
        params: &[I32, I32],
        results: &[I32],
    },
    Expected {
        name: "__retain",
        human: "__retain(ptr: usize) -> usize",
        params: &[I32],
        results: &[I32],
    },
    Expected {
        name: "__release",
        human: "__release(ptr: usize)",
        params: &[I32],
        results: &[],
    },
];
const RAW_ALLOCATOR: [Expected; 2] = [
    Expected {
        name: "alloc",
        human: "alloc(size: u32) -> ptr",
        params: &[I32],
        results: &[I32],
    },
    Expected {
        name: "dealloc",
        human: "dealloc(ptr: usize, size: u32)",
        params: &[I32, I32],
        results: &[],
    },
];

const NO_ALLOCATOR: &str = "no usable allocator - export __new, __pin and __unpin \
    (AssemblyScript >= 0.18: build with --exportRuntime), __alloc, __retain and __release \
    (AssemblyScript < 0.18), or alloc(size) -> ptr and dealloc(ptr, size) (other languages)";

fn check(shape: &Shape, e: &Expected, hint: &str, problems: &mut Vec<String>) {
    let want = Sig::new(e.params, e.results);
    match shape.exports.get(e.name) {
        None => problems.push(format!("missing export {} - {hint}", e.human)),
        Some(Export::Func(sig)) if *sig == want => {}
        Some(Export::Func(sig)) => problems.push(format!(
            "export {} has signature {sig}, expected {want} for {}",
            e.name, e.human
        )),
        Some(_) => problems.push(format!(
            "export {} is not a function, expected {}",
            e.name, e.human
        )),
    }
}

/// Checks a module's exports against ABI v1 and detects its allocator flavour. On failure,
/// returns every problem found, each phrased for the person building the guest.
pub fn detect(shape: &Shape) -> Result<Abi, Vec<String>> {
    let mut problems = Vec::new();
    let has = |name: &str| shape.exports.contains_key(name);

    let flavour = if has("__new") {
        Some(Flavour::AssemblyScript)
    } else if has("__alloc") {
        Some(Flavour::AssemblyScriptLegacy)
    } else if has("alloc") {
        Some(Flavour::Raw)
    } else {
        None
    };
    match flavour {
        Some(Flavour::AssemblyScript) => {
            let hint = "build with --exportRuntime";
            AS_ALLOCATOR
                .iter()
                .for_each(|e| check(shape, e, hint, &mut problems));
        }
        Some(Flavour::AssemblyScriptLegacy) => {
            let hint =
                "the older AssemblyScript runtime exports __alloc, __retain and __release together";
            AS_LEGACY_ALLOCATOR
                .iter()
                .for_each(|e| check(shape, e, hint, &mut problems));
        }
        Some(Flavour::Raw) => {
            let hint = "a raw guest exports alloc and dealloc together";
            RAW_ALLOCATOR
                .iter()
                .for_each(|e| check(shape, e, hint, &mut problems));
        }
        None => problems.push(NO_ALLOCATOR.to_string()),
    }

    let entry_hint = "export it from the guest's entry file";
    check(shape, &ON_CONNECTION, entry_hint, &mut problems);
    let on_data = if flavour == Some(Flavour::Raw) {
        &ON_DATA_RAW
    } else {
        &ON_DATA_AS
    };
    check(shape, on_data, entry_hint, &mut problems);
    check(shape, &ON_CLOSE, entry_hint, &mut problems);

    let event_sig = Sig::new(&[I32], &[]);
    let mut present = |name: &str, want: &Sig, human: &str| match shape.exports.get(name) {
        None => false,
        Some(Export::Func(sig)) if sig == want => true,
        Some(Export::Func(sig)) => {
            problems.push(format!(
                "export {name} has signature {sig}, expected {want} for {human}"
            ));
            false
        }
        Some(_) => {
            problems.push(format!("export {name} is not a function, expected {human}"));
            false
        }
    };
    let [on_error, on_end, on_drain, on_connect] =
        OPTIONAL_EVENTS.map(|name| present(name, &event_sig, &format!("{name}(id: u32)")));
    let initialize = present("_initialize", &Sig::new(&[], &[]), "_initialize()");

    match shape.exports.get("memory") {
        Some(Export::Memory) => {}
        _ => problems.push(
            "missing export memory - the guest must export its linear memory as \"memory\" \
             (AssemblyScript does by default; do not use --importMemory)"
                .to_string(),
        ),
    }

    match flavour {
        Some(flavour) if problems.is_empty() => Ok(Abi {
            flavour,
            optional: Optional {
                on_error,
                on_end,
                on_drain,
                on_connect,
                initialize,
            },
        }),
        _ => Err(problems),
    }
}

/// Checks every import of a module against what the host provides (`module`, `name`,
/// signature). Returns one problem per unknown or mismatched import, or a single summary.
pub fn check_imports(shape: &Shape, provided: &[(&str, &str, Sig)]) -> Result<(), Vec<String>> {
    let mut unknown = Vec::new();
    let mut problems = Vec::new();
    for imp in &shape.imports {
        let found = provided
            .iter()
            .find(|(m, n, _)| *m == imp.module && *n == imp.name);
        match (found, &imp.sig) {
            (None, _) => unknown.push(format!("{}.{}", imp.module, imp.name)),
            (Some(_), None) => problems.push(format!(
                "import {}.{} is not a function; the host only provides functions",
                imp.module, imp.name
            )),
            (Some((_, _, want)), Some(sig)) if sig != want => problems.push(format!(
                "import {}.{} has signature {sig}, the host provides {want}",
                imp.module, imp.name
            )),
            _ => {}
        }
    }
    if !unknown.is_empty() {
        let wasi = unknown.iter().any(|u| u.starts_with("wasi"));
        let mut msg = format!("imports the host does not provide: {}", unknown.join(", "));
        if wasi {
            msg.push_str(" - WASI is not available to guests (no files, clocks or environment); build without WASI");
        } else {
            msg.push_str(" - the host provides the Socket and env imports listed in the README");
        }
        problems.insert(0, msg);
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
        assert_eq!(abi.optional, Optional::default());
    }

    #[test]
    fn optional_events_are_detected_when_present() {
        let mut e = as_modern();
        e.push(("onEnd", f(&[I32], &[])));
        e.push(("onError", f(&[I32], &[])));
        e.push(("_initialize", f(&[], &[])));
        let abi = detect(&shape(&e)).unwrap();
        assert!(abi.optional.on_end && abi.optional.on_error && abi.optional.initialize);
        assert!(!abi.optional.on_drain && !abi.optional.on_connect);
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
        let errs = detect(&shape(&e)).unwrap_err();
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
        let errs = detect(&shape(&e)).unwrap_err();
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
        let errs = detect(&shape(&e)).unwrap_err();
        assert_eq!(errs, vec![NO_ALLOCATOR.to_string()]);
        assert!(errs[0].contains("--exportRuntime") && errs[0].contains("alloc(size)"));
    }

    #[test]
    fn wrong_signatures_and_a_missing_memory_are_reported() {
        let mut e = as_modern();
        e.retain(|(n, _)| *n != "memory");
        e.push(("onEnd", f(&[I32, I32], &[])));
        let errs = detect(&shape(&e)).unwrap_err();
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
        let errs = check_imports(&s, &provided).unwrap_err();
        assert!(
            errs[0].contains("wasi_snapshot_preview1.fd_write, foo.bar"),
            "{errs:?}"
        );
        assert!(errs[0].contains("WASI is not available"), "{errs:?}");
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
        let errs = check_imports(&s, &provided).unwrap_err();
        assert_eq!(
            errs,
            vec![
                "import env.abort has signature (i32) -> (), the host provides (i32, i32, i32, i32) -> ()"
                    .to_string()
            ]
        );
    }
}
