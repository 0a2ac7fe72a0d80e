//! The per-message call, `data(id, bytes, queued)`, as a raw Node-API function (napi glue).
//!
//! A `#[napi]` class method pays for napi-rs's bookkeeping on every call: unwrapping `this`,
//! checking its type tag, and registering and releasing a borrow scope (with allocations), about
//! 400 ns per call measured here, more than running a small guest event. This function is bound
//! to one bridge when it is made (`NativeBridge.dataFunction()`): the bridge travels as the
//! function's data pointer, so a call is `napi_get_cb_info`, two numbers, one buffer view and the
//! event itself. It returns what the bridge's event methods return (the output batch's length, see
//! `bridge::Core::out`), and throws a TypeError for bad arguments.
//!
//! Ownership: the function holds one `Rc` of the bridge's core, boxed as its data pointer; a
//! finalizer on the function drops it when V8 collects the function. Calls run on the JS thread
//! only (Node-API never calls a function elsewhere), which is what makes `Rc` and `RefCell`
//! sound here. Host code never unwinds into Node: a panic becomes a thrown error.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CStr, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::bridge::event::Event;
use crate::napi::bridge::{BUSY, Core};

type Shared = Rc<RefCell<Core>>;

/// Makes the `data` function bound to `core`.
pub(crate) fn data_function<'e>(env: &'e Env, core: Shared) -> Result<Unknown<'e>> {
    let raw_env = env.raw();
    let data = Box::into_raw(Box::new(core)).cast::<c_void>();
    let name = c"data";
    let mut function = ptr::null_mut();
    // SAFETY: plain Node-API calls on the JS thread with valid out-pointers. `data` stays valid
    // until the finalizer added below frees it; on failure it is freed here instead.
    unsafe {
        let status = sys::napi_create_function(
            raw_env,
            name.as_ptr(),
            name.to_bytes().len() as isize,
            Some(call_data),
            data,
            &mut function,
        );
        if status != sys::Status::napi_ok {
            drop(Box::from_raw(data.cast::<Shared>()));
            return Err(Error::from_reason(
                "cannot create the bridge's data function",
            ));
        }
        let status = sys::napi_add_finalizer(
            raw_env,
            function,
            data,
            Some(release),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        if status != sys::Status::napi_ok {
            drop(Box::from_raw(data.cast::<Shared>()));
            return Err(Error::from_reason(
                "cannot create the bridge's data function",
            ));
        }
        Ok(Unknown::from_raw_unchecked(raw_env, function))
    }
}

/// Finalizer of the function: drops its handle of the core.
unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the box made in `data_function`, freed only here, once.
    drop(unsafe { Box::from_raw(data.cast::<Shared>()) });
}

/// Throws a JS `TypeError` (or `Error`) with `message`; returns the `undefined` result.
unsafe fn throw(env: sys::napi_env, type_error: bool, message: &CStr) -> sys::napi_value {
    // SAFETY: valid env and NUL-terminated strings; a failure to throw leaves nothing to do.
    unsafe {
        if type_error {
            sys::napi_throw_type_error(env, ptr::null(), message.as_ptr());
        } else {
            sys::napi_throw_error(env, ptr::null(), message.as_ptr());
        }
    }
    ptr::null_mut()
}

/// `data(id: number, bytes: Uint8Array, queued: number): number`.
unsafe extern "C" fn call_data(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 3usize;
    let mut argv = [ptr::null_mut(); 3];
    let mut data = ptr::null_mut::<c_void>();
    let mut id = 0u32;
    let mut bytes = ptr::null_mut::<c_void>();
    let mut len = 0usize;
    let mut queued = 0u32;
    // SAFETY: Node-API calls with valid out-pointers; `argv` has room for `argc` values (Node
    // fills missing arguments with undefined, which the conversions below reject).
    let ok = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        ) == sys::Status::napi_ok
            && sys::napi_get_value_uint32(env, argv[0], &mut id) == sys::Status::napi_ok
            && sys::napi_get_buffer_info(env, argv[1], &mut bytes, &mut len) == sys::Status::napi_ok
            && sys::napi_get_value_uint32(env, argv[2], &mut queued) == sys::Status::napi_ok
    };
    if !ok || data.is_null() {
        // SAFETY: see `throw`.
        return unsafe {
            throw(
                env,
                true,
                c"data(id, bytes, queued) takes a number, a Buffer and a number",
            )
        };
    }
    // SAFETY: `data` is the live box of `data_function` (the finalizer runs only once the
    // function is unreachable, so never during a call); `bytes` points at `len` bytes of a
    // Buffer that JS keeps alive for the duration of this synchronous call.
    let core = unsafe { &*data.cast::<Shared>() };
    let input: &[u8] = if len == 0 || bytes.is_null() {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), len) }
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        Core::event(
            core,
            Event::Data {
                id,
                bytes: Cow::Borrowed(input),
                queued: queued as usize,
            },
        )
    }));
    let n = match outcome {
        Ok(Some(n)) => n,
        // SAFETY: see `throw`.
        Ok(None) => return unsafe { throw(env, false, BUSY) },
        Err(_) => {
            return unsafe {
                throw(
                    env,
                    false,
                    c"wasm-socket-bridge: internal error while delivering data",
                )
            };
        }
    };
    let mut result = ptr::null_mut();
    // SAFETY: valid env and out-pointer.
    unsafe { sys::napi_create_uint32(env, n, &mut result) };
    result
}
