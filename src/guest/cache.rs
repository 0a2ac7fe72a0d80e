//! The module cache (`cacheDir`): compiled guests stored on disk so the next load skips the
//! compiler.
//!
//! Loading a compiled artifact (`Module::deserialize`) maps its bytes as executable code without
//! checking them, so a file is only ever deserialized after it proved to be exactly what this
//! host wrote for exactly these settings:
//! - The file name is a digest of the *key*: the wasm bytes' SHA-256, the wasmer version, the
//!   compiler and its settings (the fuel budget: metering is baked into the code), the target
//!   triple and CPU features, wasmer's engine id, this crate's version and the file format.
//! - The file holds a header (magic, format, the key digest, the artifact length and its SHA-256)
//!   and the artifact. Anything that does not match (another key, a truncated or altered
//!   artifact, an unreadable file) is a miss: the guest is compiled again and the file rewritten.
//! - Files are written to a temporary name in the same folder and renamed into place, so a reader
//!   sees either no file or a whole one, even with several processes sharing the folder.
//!
//! The checksum guards against accidents (a crash mid-write, a full disk, bit rot, another
//! version's files), not against someone who can write to the folder on purpose: such a person
//! can run code as this process's user anyway. Keep `cacheDir` as private as the code it holds.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use wasmer::sys::NativeEngineExt;
use wasmer::{Engine, Module};

use crate::guest::{self, Guest, LoadError, Settings, metering};

/// The wasmer release this crate is built against (Cargo.toml pins it; a test checks Cargo.lock).
pub const WASMER_VERSION: &str = "7.4.2";
/// Bumped whenever the file layout or what goes into the key changes.
const FORMAT: u32 = 1;
const MAGIC: &[u8; 8] = b"WSBCACHE";
/// magic, format (u32 LE), key digest, artifact length (u64 LE), artifact SHA-256.
const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 32;
const EXTENSION: &str = "wsbmod";

/// How a load used the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The compiled module came from `file`.
    Hit { file: PathBuf },
    /// The guest was compiled. `reason`: why a file that was there could not be used.
    /// `warning`: why the new file could not be written (the load still succeeded).
    Miss {
        file: PathBuf,
        reason: Option<String>,
        warning: Option<String>,
    },
}

/// Loads a guest through the cache in `dir`: a verified cached artifact when there is one,
/// else a compile whose result is stored for next time. Only modules that pass every load-time
/// check are stored.
pub fn load(
    name: &str,
    bytes: &[u8],
    settings: &Settings,
    dir: &Path,
) -> Result<(Guest, Outcome), LoadError> {
    guest::check_bytes(name, bytes)?;
    let engine = guest::engine(settings);
    let key = key_digest(&key_text(bytes, settings, &engine));
    let file = dir.join(format!("{}.{EXTENSION}", hex(&key)));

    let reason = match read_artifact(&file, &key) {
        Ok(None) => None,
        Ok(Some(artifact)) => {
            // SAFETY: the artifact is byte-for-byte what `store` wrote after compiling these wasm
            // bytes with these settings on this target (the key digest and the SHA-256 checksum
            // both match), and wasmer checks its own version and CPU features on top.
            match unsafe { Module::deserialize(&engine, artifact) } {
                Ok(module) => {
                    let guest = guest::validate(name, engine, module, settings)?;
                    return Ok((guest, Outcome::Hit { file }));
                }
                Err(e) => Some(format!("wasmer could not load the cached module: {e}")),
            }
        }
        Err(reason) => Some(reason),
    };

    let guest = guest::compile_with(name, engine, bytes, settings)?;
    let warning = store(&guest.module, dir, &file, &key)
        .err()
        .map(|e| format!("cannot write the module cache file {}: {e}", file.display()));
    Ok((
        guest,
        Outcome::Miss {
            file,
            reason,
            warning,
        },
    ))
}

/// Everything the compiled code depends on, as text.
fn key_text(bytes: &[u8], settings: &Settings, engine: &Engine) -> String {
    // The target the engine compiles for (its triple and CPU features), not a second guess at it.
    let target = engine.target();
    format!(
        "wasm-socket-bridge module cache format {FORMAT}\n\
         crate {}\n\
         wasmer {WASMER_VERSION}\n\
         engine {}\n\
         compiler cranelift default settings\n\
         metering {}\n\
         target {}\n\
         cpu features {:?}\n\
         wasm sha256 {}\n",
        env!("CARGO_PKG_VERSION"),
        engine.deterministic_id(),
        if settings.metered() {
            format!(
                "wsb meter 2: {} points, 1 per operator, bulk 1 per {} bytes, {} per element, \
                 {} per page up to {} pages",
                settings.points_per_event(),
                metering::BYTES_PER_POINT,
                metering::POINTS_PER_ELEMENT,
                metering::POINTS_PER_PAGE,
                settings.memory.pages()
            )
        } else {
            "off".to_string()
        },
        target.triple(),
        target.cpu_features(),
        hex(&Sha256::digest(bytes)),
    )
}

fn key_digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The artifact in `file` if it is whole and belongs to `key`; `Ok(None)` when there is no file;
/// `Err(why)` when there is one that cannot be used.
fn read_artifact(file: &Path, key: &[u8; 32]) -> Result<Option<Vec<u8>>, String> {
    let mut data = match fs::read(file) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the cached module: {e}")),
    };
    check_file(&data, key)?;
    // Drop the header in place: split_off would make a second buffer as large as the artifact.
    data.drain(..HEADER_LEN);
    Ok(Some(data))
}

/// Checks a cache file's header and checksum. Pure, so tests can feed it any bytes.
fn check_file(data: &[u8], key: &[u8; 32]) -> Result<(), String> {
    let Some((header, artifact)) = data.split_at_checked(HEADER_LEN) else {
        return Err(format!(
            "the cached module is truncated ({} bytes)",
            data.len()
        ));
    };
    if &header[..8] != MAGIC {
        return Err("the cached module is not a wasm-socket-bridge cache file".to_string());
    }
    if header[8..12] != FORMAT.to_le_bytes() {
        return Err("the cached module was written by another cache format".to_string());
    }
    if &header[12..44] != key {
        return Err("the cached module belongs to another key".to_string());
    }
    let len = u64::from_le_bytes(header[44..52].try_into().expect("8 bytes"));
    if len != artifact.len() as u64 {
        return Err(format!(
            "the cached module is truncated or extended ({} bytes where the header says {len})",
            artifact.len()
        ));
    }
    if header[52..84] != Sha256::digest(artifact)[..] {
        return Err("the cached module's checksum does not match: it was altered".to_string());
    }
    Ok(())
}

fn encode(artifact: &[u8], key: &[u8; 32]) -> Vec<u8> {
    let mut data = Vec::with_capacity(HEADER_LEN + artifact.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&FORMAT.to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(&(artifact.len() as u64).to_le_bytes());
    data.extend_from_slice(&Sha256::digest(artifact));
    data.extend_from_slice(artifact);
    data
}

/// Writes the module's artifact to `file` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over `file`.
fn store(module: &Module, dir: &Path, file: &Path, key: &[u8; 32]) -> Result<(), String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let artifact = module
        .serialize()
        .map_err(|e| format!("wasmer cannot serialize the module: {e}"))?;
    let data = encode(&artifact, key);
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(
        ".{}.{}.{}.{nanos}.tmp",
        file.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    ));
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&data).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, file));
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        e.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_file_written_for_a_key_reads_back_whole() {
        let data = encode(b"artifact bytes", &KEY);
        assert_eq!(check_file(&data, &KEY), Ok(()));
        assert_eq!(&data[HEADER_LEN..], b"artifact bytes");
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let data = encode(b"some artifact", &KEY);
        for len in 0..data.len() {
            assert!(
                check_file(&data[..len], &KEY).is_err(),
                "truncated to {len}"
            );
        }
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x40;
            assert!(check_file(&bad, &KEY).is_err(), "byte {i} flipped");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(check_file(&longer, &KEY).is_err());
    }

    #[test]
    fn a_file_for_another_key_is_refused() {
        let data = encode(b"artifact", &KEY);
        let err = check_file(&data, &[8; 32]).unwrap_err();
        assert!(err.contains("another key"), "{err}");
    }

    #[test]
    fn the_key_changes_with_the_wasm_bytes_and_the_fuel_budget() {
        let settings = Settings::default();
        let engine = guest::engine(&settings);
        let a = key_text(b"\0asm one", &settings, &engine);
        assert_ne!(a, key_text(b"\0asm two", &settings, &engine));
        let metered = Settings {
            fuel: Some(1000),
            ..Settings::default()
        };
        assert_ne!(
            a,
            key_text(b"\0asm one", &metered, &guest::engine(&metered))
        );
        assert!(
            a.contains(WASMER_VERSION) && a.contains("cpu features"),
            "{a}"
        );
    }

    #[test]
    fn the_named_wasmer_version_is_the_one_in_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let entry = format!("name = \"wasmer\"\nversion = \"{WASMER_VERSION}\"");
        assert!(lock.contains(&entry), "Cargo.lock has another wasmer");
    }
}
