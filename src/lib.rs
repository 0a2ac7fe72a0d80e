//! wasm-socket-bridge: Node.js TCP connections served by WebAssembly guests hosted by wasmer.
//!
//! The folders follow the architecture (docs/architecture.md walks one event through them):
//! `napi/` is the only code that knows Node-API; `bridge/` routes events to executors and hands
//! out connection ids; `instance/` runs one guest instance (executor, host imports, guest memory,
//! outbox); `guest/` compiles, validates and caches modules; `abi/` is the contract between host
//! and guest; `policy/` holds limits and what a guest may dial. Only `instance/`, `guest/` and
//! `abi/` use wasmer.

// Everything is crate-private, so rustc reports dead code. Without the `napi` feature (Rust unit
// tests), what only the glue uses is dead by design.
#![cfg_attr(not(feature = "napi"), allow(dead_code))]

pub(crate) mod abi;
pub(crate) mod bridge;
pub(crate) mod guest;
pub(crate) mod instance;
pub(crate) mod native;
pub(crate) mod policy;

#[cfg(feature = "napi")]
mod napi;
