//! wasm-socket-bridge: Node.js TCP connections served by WebAssembly guests hosted by wasmer.
//!
//! The folders follow the architecture (docs/architecture.md walks one event through them):
//! `napi/` is the only code that knows Node-API; `bridge/` routes events to executors and hands
//! out connection ids; `instance/` runs one guest instance (executor, host imports, guest memory,
//! outbox); `guest/` compiles, validates and caches modules; `abi/` is the contract between host
//! and guest; `policy/` holds limits and what a guest may dial. Only `instance/`, `guest/` and
//! `abi/` use wasmer.

pub mod abi;
pub mod bridge;
pub mod guest;
pub mod instance;
pub mod policy;

#[cfg(feature = "napi")]
mod napi;
