//! The napi glue, the only code that knows Node-API: it converts arguments and calls the core
//! modules, which hold no napi types (so `cargo test --no-default-features` tests them without
//! Node). `compile.rs` loads guests, `bridge.rs` is the native half of a JS `Bridge`,
//! `fastcall.rs` its per-chunk `data` function, `constants.rs` what JS and Rust share.

mod bridge;
mod compile;
mod constants;
mod fastcall;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::policy::allow::Allowlist;

/// Checks `allowConnect` entries; throws a message naming the first bad one.
#[napi]
pub fn check_allow_connect(entries: Vec<String>) -> Result<()> {
    Allowlist::parse(&entries)
        .map(|_| ())
        .map_err(|message| Error::new(Status::InvalidArg, message))
}
