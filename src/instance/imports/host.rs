//! Module `Host`: what the application gives its guest. Registered in `abi/imports.rs`.

use wasmer::RuntimeError;

use crate::instance::failure::Kind;
use crate::instance::guestmem::write_from;
use crate::instance::imports::Ctx;

/// `Host.config(ptr: usize, cap: u32) -> i32`
///
/// Copies the bridge's `config` option (a string as UTF-8, bytes as given, an object as its
/// JSON) to guest memory at `ptr`: at most `cap` bytes, so `cap` 0 only asks for the length.
/// Returns the config's full length (0: none). The guest owns the buffer; a range outside guest
/// memory traps the guest.
pub(crate) fn config(mut ctx: Ctx, ptr: i32, cap: i32) -> Result<i32, RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let config = env.config.clone();
    let n = config.len().min(cap as u32 as usize);
    if n > 0 {
        let Some(memory) = env.memory.clone() else {
            return Ok(config.len() as i32);
        };
        if let Err(e) = write_from(&memory.view(&store), ptr as u32, &config[..n]) {
            return Err(env.fail(Kind::Trap, format!("Host.config: {e}")));
        }
    }
    Ok(config.len() as i32)
}
