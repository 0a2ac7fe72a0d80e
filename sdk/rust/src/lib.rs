//! Write [wasm-socket-bridge](../../README.md) guests in Rust.
//!
//! A guest is a type implementing [`Guest`]; [`export_guest!`] exports it (the events the host
//! calls, and the raw flavour's `alloc` / `dealloc`), so no `extern "C"` is written by hand:
//!
//! ```ignore
//! use wasm_socket_bridge_guest::{export_guest, Guest, Socket};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Guest for Echo {
//!     fn on_data(&mut self, id: u32, data: &[u8]) {
//!         Socket::write(id, data);
//!     }
//! }
//!
//! export_guest!(Echo);
//! ```
//!
//! Build as a `cdylib` for WASI preview1: `cargo build --target wasm32-wasip1 --release`
//! (`wasm32-wasi` before Rust 1.78). `println!` / `eprintln!` become `'log'` / `'error'` lines;
//! `std::time` and randomness work; files, threads, sleeping and `std::net` do not (connections
//! are the host's: [`Socket`]). A panic prints its message as an error line and stops the guest
//! (a `trap` GuestError); `std::process::exit(n)` stops it as `abort` `proc_exit(n)`.
//!
//! No dependencies; everything here works with Rust 1.63.

use std::fmt;

mod sys {
    // link_name is the import name the host sees. Names such as `write` and `close` are also
    // libc's; checked with Rust 1.63 for wasm32-wasi: the built guests import Socket.write and
    // Socket.close (test/rust-guests.test.js), libc's functions are not linked in their place.
    #[link(wasm_import_module = "Socket")]
    extern "C" {
        #[link_name = "write"]
        pub fn socket_write(id: u32, ptr: *const u8, len: u32) -> i32;
        #[link_name = "end"]
        pub fn socket_end(id: u32);
        #[link_name = "close"]
        pub fn socket_close(id: u32);
        #[link_name = "pause"]
        pub fn socket_pause(id: u32);
        #[link_name = "resume"]
        pub fn socket_resume(id: u32);
        #[link_name = "connect"]
        pub fn socket_connect(host: *const u8, host_len: u32, port: u32) -> i32;
        #[link_name = "setTimeout"]
        pub fn socket_set_timeout(id: u32, ms: u32) -> i32;
        #[link_name = "remoteAddress"]
        pub fn socket_remote_address(id: u32, ptr: *mut u8, cap: u32) -> i32;
        #[link_name = "localAddress"]
        pub fn socket_local_address(id: u32, ptr: *mut u8, cap: u32) -> i32;
        #[link_name = "remotePort"]
        pub fn socket_remote_port(id: u32) -> i32;
        #[link_name = "localPort"]
        pub fn socket_local_port(id: u32) -> i32;
    }

    #[link(wasm_import_module = "Timer")]
    extern "C" {
        #[link_name = "set"]
        pub fn timer_set(ms: u32, repeat: i32, id: u32) -> i32;
        #[link_name = "clear"]
        pub fn timer_clear(timer: i32);
    }

    #[link(wasm_import_module = "Host")]
    extern "C" {
        #[link_name = "config"]
        pub fn host_config(ptr: *mut u8, cap: u32) -> i32;
        #[link_name = "call"]
        pub fn host_call(
            name: *const u8,
            name_len: u32,
            data: *const u8,
            data_len: u32,
            id: u32,
        ) -> i32;
    }

    #[link(wasm_import_module = "Shared")]
    extern "C" {
        #[link_name = "get"]
        pub fn shared_get(key: *const u8, key_len: u32, out: *mut u8, cap: u32) -> i32;
        #[link_name = "set"]
        pub fn shared_set(key: *const u8, key_len: u32, value: *const u8, value_len: u32) -> i32;
        #[link_name = "delete"]
        pub fn shared_delete(key: *const u8, key_len: u32) -> i32;
        #[link_name = "add"]
        pub fn shared_add(key: *const u8, key_len: u32, delta: i64) -> i64;
        #[link_name = "setIf"]
        pub fn shared_set_if(
            key: *const u8,
            key_len: u32,
            expected: *const u8,
            expected_len: i32,
            value: *const u8,
            value_len: i32,
        ) -> i32;
        #[link_name = "keys"]
        pub fn shared_keys(prefix: *const u8, prefix_len: u32, out: *mut u8, cap: u32) -> i32;
    }
}

/// Why a host import refused: the negative code it returned, named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// -1: not allowed (`Socket.connect`), unknown connection (`Timer.set`, `setTimeout`) or
    /// unknown host function (`Host.call`).
    NotAllowedOrUnknown,
    /// -2: a malformed argument (address, name), a delay over 2^31 - 1 ms, or a key over 1 KiB.
    Malformed,
    /// -3: a per-instance or store limit was reached.
    Limit,
    /// Any other code.
    Other(i32),
}

impl Refused {
    fn from_code(code: i32) -> Refused {
        match code {
            -1 => Refused::NotAllowedOrUnknown,
            -2 => Refused::Malformed,
            -3 => Refused::Limit,
            c => Refused::Other(c),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NotAllowedOrUnknown => f.write_str("not allowed or unknown (-1)"),
            Refused::Malformed => f.write_str("malformed (-2)"),
            Refused::Limit => f.write_str("limit reached (-3)"),
            Refused::Other(c) => write!(f, "refused ({c})"),
        }
    }
}

fn len32(b: &[u8]) -> u32 {
    // Guest memory is 32-bit: no slice is longer.
    b.len() as u32
}

/// Copies what a `(ptr, cap) -> full length` import answers into a Vec, growing once if needed.
fn read_sized(mut f: impl FnMut(*mut u8, u32) -> i32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = f(buf.as_mut_ptr(), len32(&buf));
    if n < 0 {
        return None;
    }
    if n as usize > buf.len() {
        buf = vec![0u8; n as usize];
        let again = f(buf.as_mut_ptr(), len32(&buf));
        if again < 0 {
            return None;
        }
        buf.truncate(again as usize);
    } else {
        buf.truncate(n as usize);
    }
    Some(buf)
}

/// Connections, by the `u32` id the events carry.
pub struct Socket;

impl Socket {
    /// Copies `data` and sends it. `true` while the connection's queue is below
    /// `highWaterMark`; `false` when it is full (wait for [`Guest::on_drain`]) or the id is
    /// unknown, ended or closed.
    pub fn write(id: u32, data: &[u8]) -> bool {
        unsafe { sys::socket_write(id, data.as_ptr(), len32(data)) == 1 }
    }
    /// Flushes queued output, then half-closes (FIN).
    pub fn end(id: u32) {
        unsafe { sys::socket_end(id) }
    }
    /// Destroys the connection now.
    pub fn close(id: u32) {
        unsafe { sys::socket_close(id) }
    }
    /// Stops [`Guest::on_data`] for this connection until [`Socket::resume`].
    pub fn pause(id: u32) {
        unsafe { sys::socket_pause(id) }
    }
    pub fn resume(id: u32) {
        unsafe { sys::socket_resume(id) }
    }
    /// Dials `host:port` if the bridge's `allowConnect` permits: the new connection's id
    /// ([`Guest::on_connect`] follows), or why not.
    pub fn connect(host: &str, port: u16) -> Result<u32, Refused> {
        let r = unsafe { sys::socket_connect(host.as_ptr(), len32(host.as_bytes()), port as u32) };
        if r < 0 {
            Err(Refused::from_code(r))
        } else {
            Ok(r as u32)
        }
    }
    /// [`Guest::on_timeout`] after `ms` without traffic on `id`; 0 turns it off.
    pub fn set_timeout(id: u32, ms: u32) -> Result<(), Refused> {
        match unsafe { sys::socket_set_timeout(id, ms) } {
            0 => Ok(()),
            c => Err(Refused::from_code(c)),
        }
    }
    /// The peer's address as Node prints it (`127.0.0.1`, `::1`); `None` for an unknown id.
    pub fn remote_address(id: u32) -> Option<String> {
        read_sized(|p, cap| unsafe { sys::socket_remote_address(id, p, cap) })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    pub fn local_address(id: u32) -> Option<String> {
        read_sized(|p, cap| unsafe { sys::socket_local_address(id, p, cap) })
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    pub fn remote_port(id: u32) -> Option<u16> {
        let p = unsafe { sys::socket_remote_port(id) };
        (p >= 0).then(|| p as u16)
    }
    pub fn local_port(id: u32) -> Option<u16> {
        let p = unsafe { sys::socket_local_port(id) };
        (p >= 0).then(|| p as u16)
    }
}

/// Timers: [`Guest::on_timer`] is called when one is due.
pub struct Timer;

impl Timer {
    /// Calls `on_timer(timer, id)` after `ms` (every `ms` if `repeat`). `id` 0: an instance
    /// timer; else a connection of this instance, and the timer dies at its close.
    pub fn set(ms: u32, repeat: bool, id: u32) -> Result<i32, Refused> {
        match unsafe { sys::timer_set(ms, repeat as i32, id) } {
            t if t > 0 => Ok(t),
            c => Err(Refused::from_code(c)),
        }
    }
    /// Cancels a timer; unknown or fired ones are ignored.
    pub fn clear(timer: i32) {
        unsafe { sys::timer_clear(timer) }
    }
}

/// The application: its `config` option and its host functions.
pub struct Host;

impl Host {
    /// The bridge's `config` option (empty when there is none).
    pub fn config() -> Vec<u8> {
        read_sized(|p, cap| unsafe { sys::host_config(p, cap) }).unwrap_or_default()
    }
    /// Calls the application's host function `name` with a copy of `data`, for connection `id`
    /// (0: none). The result arrives later as [`Guest::on_reply`] with the returned handle.
    pub fn call(name: &str, data: &[u8], id: u32) -> Result<i32, Refused> {
        let r = unsafe {
            sys::host_call(
                name.as_ptr(),
                len32(name.as_bytes()),
                data.as_ptr(),
                len32(data),
                id,
            )
        };
        if r > 0 {
            Ok(r)
        } else {
            Err(Refused::from_code(r))
        }
    }
}

/// The bridge's shared store: one per bridge, shared by every instance and worker.
pub struct Shared;

impl Shared {
    /// The value of `key`, `None` when missing (or the key is over 1 KiB).
    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        read_sized(|p, cap| unsafe { sys::shared_get(key.as_ptr(), len32(key), p, cap) })
    }
    /// Stores a copy of `value` under `key`.
    pub fn set(key: &[u8], value: &[u8]) -> Result<(), Refused> {
        match unsafe { sys::shared_set(key.as_ptr(), len32(key), value.as_ptr(), len32(value)) } {
            0 => Ok(()),
            c => Err(Refused::from_code(c)),
        }
    }
    /// `true` when the key existed.
    pub fn delete(key: &[u8]) -> bool {
        unsafe { sys::shared_delete(key.as_ptr(), len32(key)) == 1 }
    }
    /// Atomically adds `delta` to the little-endian i64 under `key`: the new value, `None` when
    /// refused (key over 1 KiB, store full).
    pub fn add(key: &[u8], delta: i64) -> Option<i64> {
        match unsafe { sys::shared_add(key.as_ptr(), len32(key), delta) } {
            i64::MIN => None,
            v => Some(v),
        }
    }
    /// Compare-and-set, atomic under the store's lock: when the value of `key` is `expected`
    /// (`None`: the key is absent), stores `value` (`None`: deletes the key) and answers
    /// `Ok(true)`; `Ok(false)` when the value differed and nothing changed. A read-modify-write
    /// no other instance can interleave: get, compute, `set_if`, and again on `Ok(false)`.
    pub fn set_if(
        key: &[u8],
        expected: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<bool, Refused> {
        let (ep, el) = expected.map_or((std::ptr::null(), -1), |e| (e.as_ptr(), len32(e) as i32));
        let (vp, vl) = value.map_or((std::ptr::null(), -1), |v| (v.as_ptr(), len32(v) as i32));
        match unsafe { sys::shared_set_if(key.as_ptr(), len32(key), ep, el, vp, vl) } {
            1 => Ok(true),
            0 => Ok(false),
            c => Err(Refused::from_code(c)),
        }
    }
    /// The keys starting with `prefix`, sorted bytewise; `None` for a prefix over 1 KiB (or a
    /// listing that kept growing faster than it could be read, 8 times over).
    pub fn keys(prefix: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut cap = 4096usize;
        for _ in 0..8 {
            let mut buf = vec![0u8; cap];
            let n = unsafe {
                sys::shared_keys(
                    prefix.as_ptr(),
                    len32(prefix),
                    buf.as_mut_ptr(),
                    len32(&buf),
                )
            };
            if n < 0 {
                return None;
            }
            let n = n as usize;
            if n > cap {
                // Other instances may add keys meanwhile: ask again with room to spare.
                cap = n + n / 4;
                continue;
            }
            buf.truncate(n);
            let mut keys = Vec::new();
            let mut at = 0;
            while at + 4 <= buf.len() {
                let len =
                    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
                match buf.get(at + 4..at + 4 + len) {
                    Some(key) => keys.push(key.to_vec()),
                    None => break,
                }
                at += 4 + len;
            }
            return Some(keys);
        }
        None
    }
}

/// A guest: the events it handles. Only `on_data` is required; the others default to doing
/// nothing. Exported with [`export_guest!`]. Host imports never call back into the guest, so
/// `&mut self` is never aliased.
#[allow(unused_variables)]
pub trait Guest {
    /// A socket was attached: the first event of a connection.
    fn on_connection(&mut self, id: u32) {}
    /// Bytes arrived, in order. `data` lives for this call only: copy what you keep.
    fn on_data(&mut self, id: u32, data: &[u8]);
    /// The connection is gone: its last event, exactly once.
    fn on_close(&mut self, id: u32) {}
    /// The peer half-closed (FIN).
    fn on_end(&mut self, id: u32) {}
    /// The socket failed; `on_close` follows.
    fn on_error(&mut self, id: u32) {}
    /// Queued output fell below `highWaterMark` after a write returned false.
    fn on_drain(&mut self, id: u32) {}
    /// An outbound connection from [`Socket::connect`] is established.
    fn on_connect(&mut self, id: u32) {}
    /// A [`Timer`] is due; `id` is its connection, 0 for an instance timer.
    fn on_timer(&mut self, timer: i32, id: u32) {}
    /// `id` saw no traffic for its [`Socket::set_timeout`] period.
    fn on_timeout(&mut self, id: u32) {}
    /// A message from the application (`bridge.send` / `bridge.broadcast`, `id` 0).
    fn on_message(&mut self, id: u32, data: &[u8]) {}
    /// The result of [`Host::call`] `call`: `Ok(bytes)` returned, `Err(message)` it failed.
    fn on_reply(&mut self, call: i32, result: Result<&[u8], &str>) {}
}

/// The raw flavour's allocator: the host asks for a buffer, fills it, calls the event, frees it.
#[doc(hidden)]
pub mod __rt {
    use std::alloc::{alloc, dealloc, Layout};

    pub fn layout(size: u32) -> Layout {
        // Size 0 is allocated as 1 byte: the host may send an empty buffer.
        Layout::from_size_align((size as usize).max(1), 1).unwrap()
    }
    pub unsafe fn allocate(size: u32) -> *mut u8 {
        alloc(layout(size))
    }
    pub unsafe fn free(ptr: *mut u8, size: u32) {
        if !ptr.is_null() {
            dealloc(ptr, layout(size))
        }
    }
    pub unsafe fn bytes<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
        if len == 0 || ptr.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(ptr, len as usize)
        }
    }
}

/// Exports a [`Guest`]: `export_guest!(MyGuest)` (made with `Default`) or
/// `export_guest!(MyGuest, MyGuest::new(...))`. Defines the wasm exports `alloc`, `dealloc`,
/// `onConnection`, `onData`, `onClose`, `onEnd`, `onError`, `onDrain`, `onConnect`, `onTimer`,
/// `onTimeout`, `onMessage` and `onReply`. Use it once per guest crate.
#[macro_export]
macro_rules! export_guest {
    ($ty:ty) => {
        $crate::export_guest!($ty, <$ty as ::core::default::Default>::default());
    };
    ($ty:ty, $init:expr) => {
        const _: () = {
            static mut GUEST: ::core::option::Option<$ty> = ::core::option::Option::None;
            fn guest() -> &'static mut $ty {
                // One thread, and host imports never re-enter the guest: one borrow at a time.
                unsafe { GUEST.get_or_insert_with(|| $init) }
            }
            use $crate::Guest as _;
            #[export_name = "alloc"]
            pub unsafe extern "C" fn __wsb_alloc(size: u32) -> *mut u8 {
                $crate::__rt::allocate(size)
            }
            #[export_name = "dealloc"]
            pub unsafe extern "C" fn __wsb_dealloc(ptr: *mut u8, size: u32) {
                $crate::__rt::free(ptr, size)
            }
            #[export_name = "onConnection"]
            pub extern "C" fn __wsb_on_connection(id: u32) {
                guest().on_connection(id)
            }
            #[export_name = "onData"]
            pub unsafe extern "C" fn __wsb_on_data(id: u32, ptr: *const u8, len: u32) {
                guest().on_data(id, $crate::__rt::bytes(ptr, len))
            }
            #[export_name = "onClose"]
            pub extern "C" fn __wsb_on_close(id: u32) {
                guest().on_close(id)
            }
            #[export_name = "onEnd"]
            pub extern "C" fn __wsb_on_end(id: u32) {
                guest().on_end(id)
            }
            #[export_name = "onError"]
            pub extern "C" fn __wsb_on_error(id: u32) {
                guest().on_error(id)
            }
            #[export_name = "onDrain"]
            pub extern "C" fn __wsb_on_drain(id: u32) {
                guest().on_drain(id)
            }
            #[export_name = "onConnect"]
            pub extern "C" fn __wsb_on_connect(id: u32) {
                guest().on_connect(id)
            }
            #[export_name = "onTimer"]
            pub extern "C" fn __wsb_on_timer(timer: i32, id: u32) {
                guest().on_timer(timer, id)
            }
            #[export_name = "onTimeout"]
            pub extern "C" fn __wsb_on_timeout(id: u32) {
                guest().on_timeout(id)
            }
            #[export_name = "onMessage"]
            pub unsafe extern "C" fn __wsb_on_message(id: u32, ptr: *const u8, len: u32) {
                guest().on_message(id, $crate::__rt::bytes(ptr, len))
            }
            #[export_name = "onReply"]
            pub unsafe extern "C" fn __wsb_on_reply(
                call: i32,
                status: i32,
                ptr: *const u8,
                len: u32,
            ) {
                let data = $crate::__rt::bytes(ptr, len);
                if status == 0 {
                    guest().on_reply(call, ::core::result::Result::Ok(data))
                } else {
                    let message = ::std::string::String::from_utf8_lossy(data);
                    guest().on_reply(call, ::core::result::Result::Err(&message))
                }
            }
        };
    };
}
