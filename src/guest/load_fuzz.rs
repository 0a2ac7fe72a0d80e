//! Guest loading never crashes the process, whatever the bytes: generated modules (wasm-smith,
//! from a seeded PRNG) and byte mutations of real guests each either load and serve a few events
//! under a fuel budget, or are refused with a message. None may panic, abort or hang.
//!
//! `WSB_FUZZ_CASES=N` sets the number of inputs of each kind (default 2,000); `WSB_FUZZ_SEED`
//! the seed. A long campaign, by hand:
//! `WSB_FUZZ_CASES=500000 cargo test --release --no-default-features --lib load_fuzz -- --nocapture`

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;

use crate::abi::exports::Flavour;
use crate::abi::imports::HOST_IMPORTS;
use crate::bridge::event::Event;
use crate::guest::memcap::MemoryCap;
use crate::guest::{self, Settings};
use crate::instance::executor::{Executor, Setup};
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

/// SplitMix64: a small, seeded, reproducible source of bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// What became of one input.
#[derive(Debug, Default)]
struct Tally {
    loaded: usize,
    refused: usize,
    start_failed: usize,
    slowest: Duration,
    /// Inputs that took longer than `MAX_PER_INPUT` (saved to the temp folder).
    too_slow: Vec<String>,
}

/// The most one input may take: compiling a generated module is milliseconds; anything near
/// this is a hang.
const MAX_PER_INPUT: Duration = Duration::from_secs(20);
/// An input slower than this is saved to the temp folder (`wsb-slow-*.wasm`).
const SLOW: Duration = Duration::from_secs(2);

fn settings() -> Settings {
    Settings {
        fuel: Some(200_000),
        deadline: None,
        memory: MemoryCap::from_bytes(16 << 20),
    }
}

fn setup() -> Setup {
    Setup {
        limits: Limits::new(65536),
        dialer: Dialer::default(),
        config: Arc::from(&b"{}"[..]),
        shared: Arc::new(crate::bridge::shared::Shared::new(1 << 20)),
        host_functions: Arc::new(["echo".to_string()].into_iter().collect()),
        generation: 1,
        instances: Arc::default(),
    }
}

/// Loads `bytes`; when they load, starts an instance and runs a connection's events on it.
fn exercise(what: &str, bytes: &[u8], tally: &mut Tally) {
    let started = Instant::now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        match guest::compile("fuzz.wasm", bytes, &settings()) {
            Err(e) => {
                assert!(!e.problems.is_empty() && !e.to_string().is_empty());
                if std::env::var("WSB_FUZZ_SHOW").is_ok() {
                    println!("{what}: {e}");
                }
                Some(false)
            }
            Ok(g) => match Executor::new(Arc::new(g), setup()) {
                Err(f) => {
                    assert!(!f.message.is_empty());
                    None
                }
                Ok(mut exec) => {
                    exec.handle(Event::Open {
                        id: 1,
                        peer: Default::default(),
                    });
                    exec.handle(Event::Data {
                        id: 1,
                        bytes: Cow::Borrowed(b"GET / HTTP/1.1\r\n\r\n"),
                        queued: 0,
                    });
                    exec.handle(Event::End {
                        id: 1,
                        half_open: false,
                    });
                    exec.handle(Event::Tick);
                    exec.handle(Event::Close(1));
                    exec.take_output();
                    Some(true)
                }
            },
        }
    }));
    let took = started.elapsed();
    if took > SLOW {
        // Keep the input for a look by hand.
        let file = std::env::temp_dir().join(format!("wsb-slow-{}.wasm", what.replace(' ', "-")));
        let _ = std::fs::write(&file, bytes);
        println!("{what}: took {took:?}; saved as {}", file.display());
    }
    match outcome {
        Ok(Some(true)) => tally.loaded += 1,
        Ok(Some(false)) => tally.refused += 1,
        Ok(None) => tally.start_failed += 1,
        Err(_) => panic!("{what}: loading panicked (input of {} bytes)", bytes.len()),
    }
    if took >= MAX_PER_INPUT {
        tally.too_slow.push(format!("{what}: {took:?}"));
    }
    tally.slowest = tally.slowest.max(took);
}

/// A module that declares every host import, for wasm-smith to import from.
fn host_imports_module() -> Vec<u8> {
    let ty = |t: &[wasmer::Type]| {
        t.iter()
            .map(|t| t.to_string().to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let imports: String = HOST_IMPORTS
        .iter()
        .map(|i| {
            format!(
                "(import \"{}\" \"{}\" (func (param {}) (result {})))\n",
                i.module,
                i.name,
                ty(i.params),
                ty(i.results)
            )
        })
        .collect();
    wasmer::wat2wasm(format!("(module {imports})").as_bytes())
        .expect("the import list is valid text")
        .into_owned()
}

/// A module with exactly the exports a guest of `flavour` needs (bodies unreachable), for
/// wasm-smith to give random bodies to.
fn abi_exports_module(flavour: Flavour) -> Vec<u8> {
    let mut wat = String::from("(module (memory (export \"memory\") 1)\n");
    for e in crate::abi::GUEST_EXPORTS
        .iter()
        .filter(|e| e.applies_to(flavour))
    {
        let params = e.params.iter().map(|_| "i32").collect::<Vec<_>>().join(" ");
        let results = e
            .results
            .iter()
            .map(|_| "i32")
            .collect::<Vec<_>>()
            .join(" ");
        wat.push_str(&format!(
            "(func (export \"{}\") (param {params}) (result {results}) unreachable)\n",
            e.name
        ));
    }
    wat.push(')');
    wasmer::wat2wasm(wat.as_bytes())
        .expect("the export list is valid text")
        .into_owned()
}

/// What this wasmer compiles: generated modules stay within it, so most of them load and run.
fn supported(config: &mut wasm_smith::Config) {
    config.gc_enabled = false;
    config.memory64_enabled = false;
    config.threads_enabled = false;
    config.shared_everything_threads_enabled = false;
    config.exceptions_enabled = false;
    config.tail_call_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.relaxed_simd_enabled = false;
    config.custom_descriptors_enabled = false;
    config.compact_imports_enabled = false;
    config.extended_const_enabled = false;
    config.max_memory32_bytes = 32 << 20;
    config.max_funcs = 40;
    config.max_instructions = 400;
}

fn smith(rng: &mut Rng, config: wasm_smith::Config) -> Option<Vec<u8>> {
    let len = 512 + rng.below(8192);
    let seed = rng.bytes(len);
    let mut u = Unstructured::new(&seed);
    wasm_smith::Module::new(config, &mut u)
        .ok()
        .map(|m| m.to_bytes())
}

/// Real guests: the fixtures, and the built example guests when `npm run build:guests` ran.
fn real_guests() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (dir, ext) in [("test/fixtures", "wat"), ("build/guests", "wasm")] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
        {
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let bytes = match wasmer::wat2wasm(&bytes) {
                Ok(b) => b.into_owned(),
                Err(_) => continue,
            };
            out.push((p.display().to_string(), bytes));
        }
    }
    out
}

/// One random edit: flip, overwrite, insert or delete bytes, or truncate.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(rng.next() as u8);
    }
    let at = rng.below(bytes.len());
    match rng.below(6) {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = rng.next() as u8,
        2 => {
            let len = 1 + rng.below(8);
            let extra = rng.bytes(len);
            bytes.splice(at..at, extra);
        }
        3 => {
            let end = (at + 1 + rng.below(16)).min(bytes.len());
            bytes.drain(at..end);
        }
        4 => bytes.truncate(at.max(8)),
        // A LEB128 length or count blown up.
        _ => bytes
            .splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f])
            .for_each(drop),
    }
}

fn cases() -> usize {
    std::env::var("WSB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn seed() -> u64 {
    std::env::var("WSB_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed)
}

#[test]
fn generated_modules_either_load_and_serve_or_are_refused() {
    let mut rng = Rng(seed());
    let imports = host_imports_module();
    let mut tally = Tally::default();
    let started = Instant::now();
    for i in 0..cases() {
        let mut config = wasm_smith::Config::default();
        match i % 4 {
            // Anything wasm-smith makes, every proposal included: most are refused.
            0 => {}
            // Within what wasmer compiles, importing what the host provides.
            1 => {
                supported(&mut config);
                config.available_imports = Some(imports.clone());
            }
            // Shaped like a guest of each flavour: these load and run their events.
            n => {
                supported(&mut config);
                config.available_imports = Some(imports.clone());
                let flavour = Flavour::ALL[(n + i / 4) % Flavour::ALL.len()];
                config.exports = Some(abi_exports_module(flavour));
            }
        }
        if let Some(bytes) = smith(&mut rng, config) {
            exercise(&format!("generated module {i}"), &bytes, &mut tally);
        }
    }
    println!(
        "{} generated modules in {:?}: {tally:?}",
        cases(),
        started.elapsed()
    );
    assert!(tally.too_slow.is_empty(), "inputs that hung: {tally:?}");
    assert!(tally.loaded > 0, "no generated guest loaded: {tally:?}");
    assert!(
        tally.refused > 0,
        "no generated module was refused: {tally:?}"
    );
}

#[test]
fn byte_mutations_of_real_guests_either_load_and_serve_or_are_refused() {
    let mut rng = Rng(seed() ^ 0xA5A5);
    let guests = real_guests();
    assert!(
        !guests.is_empty(),
        "no guests to mutate under test/fixtures"
    );
    let mut tally = Tally::default();
    let started = Instant::now();
    for i in 0..cases() {
        let (name, original) = &guests[rng.below(guests.len())];
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut bytes);
        }
        exercise(&format!("mutation {i} of {name}"), &bytes, &mut tally);
    }
    println!(
        "{} mutations of {} guests in {:?}: {tally:?}",
        cases(),
        guests.len(),
        started.elapsed()
    );
    assert!(tally.too_slow.is_empty(), "inputs that hung: {tally:?}");
    assert!(tally.refused > 0, "{tally:?}");
}

/// One saved input, phase by phase: `WSB_FUZZ_FILE=/tmp/wsb-slow-....wasm cargo test --release
/// --no-default-features --lib load_fuzz::one_file -- --ignored --nocapture`.
#[test]
#[ignore = "for inputs saved by a campaign"]
fn one_file() {
    let file = std::env::var("WSB_FUZZ_FILE").expect("WSB_FUZZ_FILE names the input");
    let bytes = std::fs::read(&file).expect("readable");
    let t = Instant::now();
    let loaded = guest::compile("fuzz.wasm", &bytes, &settings());
    println!("compile: {:?} ({})", t.elapsed(), loaded.is_ok());
    let Ok(g) = loaded else { return };
    let t = Instant::now();
    let exec = Executor::new(Arc::new(g), setup());
    println!("start: {:?} ({})", t.elapsed(), exec.is_ok());
    let Ok(mut exec) = exec else { return };
    let events = [
        Event::Open {
            id: 1,
            peer: Default::default(),
        },
        Event::Data {
            id: 1,
            bytes: Cow::Borrowed(b"x"),
            queued: 0,
        },
        Event::Tick,
        Event::Close(1),
    ];
    for e in events {
        let t = Instant::now();
        let what = format!("{e:?}");
        exec.handle(e);
        println!("{what}: {:?}", t.elapsed());
    }
}

/// Found by the first long campaign: wasmer 7.4.2's compiler panics (an `expect`) on a function
/// type with an exception-handling reference type instead of returning an error. Loading must
/// refuse it, not unwind into Node (which aborts the process).
#[test]
fn a_module_the_compiler_panics_on_is_refused_with_a_message() {
    for ty in ["nullexnref", "exnref"] {
        let wat = format!("(module (type (func (param {ty}))) (func (type 0)))");
        let bytes = wasmer::wat2wasm(wat.as_bytes()).expect("valid text");
        let err = guest::compile("exn.wasm", &bytes, &settings())
            .err()
            .unwrap_or_else(|| panic!("{ty}: a module with {ty} loaded"));
        assert!(
            err.to_string()
                .starts_with("cannot load guest 'exn.wasm': "),
            "{err}"
        );
    }
}
