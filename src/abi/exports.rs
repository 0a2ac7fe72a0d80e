//! The guest export table: every function the host may call in a guest, in one place.
//!
//! Each row says what the export is for, its wasm signature, whether a guest must have it, and
//! for which allocator flavour. `abi::detect` validates a module against this table (and words
//! its messages from it); the executor looks up its typed functions by the rows' names
//! (`instance/exports.rs`). Adding an event is: a row here, a variant of `Hook` (or a new role),
//! and its dispatch in the executor.
//!
//! Memory: every argument is a wasm `i32`. `id` is a `u32` connection id. Buffers the host hands
//! over are made by the guest's own allocator (see `Flavour`) and belong to the guest once the
//! call starts, except for the raw flavour, where the host frees the buffer with `dealloc` after
//! the call returns (the guest copies what it keeps).

use std::fmt;

use wasmer::Type;

const I32: Type = Type::I32;

/// How the host hands incoming bytes to the guest; detected from the allocator a module exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// AssemblyScript >= 0.18 (`--exportRuntime`): `__new(size, 1)` makes an `ArrayBuffer`,
    /// pinned with `__pin`/`__unpin` around `onData(id, buffer)`.
    AssemblyScript,
    /// AssemblyScript < 0.18: `__alloc(size, 0)` with `__retain`/`__release` around
    /// `onData(id, buffer)`.
    AssemblyScriptLegacy,
    /// Any other language: `alloc(size) -> ptr`, then `onData(id, ptr, len)`, then the host calls
    /// `dealloc(ptr, len)`; the guest copies what it wants to keep.
    Raw,
}

impl Flavour {
    /// Every flavour, in the order detection tries them.
    pub const ALL: [Flavour; 3] = [
        Flavour::AssemblyScript,
        Flavour::AssemblyScriptLegacy,
        Flavour::Raw,
    ];

    /// The export whose presence selects this flavour.
    pub fn marker(self) -> &'static str {
        match self {
            Flavour::AssemblyScript => AS_NEW.name,
            Flavour::AssemblyScriptLegacy => LEGACY_ALLOC.name,
            Flavour::Raw => RAW_ALLOC.name,
        }
    }

    /// What to tell the person building a guest whose allocator exports are incomplete.
    pub fn hint(self) -> &'static str {
        match self {
            Flavour::AssemblyScript => "build with --exportRuntime",
            Flavour::AssemblyScriptLegacy => {
                "the older AssemblyScript runtime exports __alloc, __retain and __release together"
            }
            Flavour::Raw => "a raw guest exports alloc and dealloc together",
        }
    }
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

/// The connection events delivered as `export(id: u32)`, without data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Connection,
    Close,
    Error,
    End,
    Drain,
    Connect,
    /// `onTimeout(id)`: `Socket.setTimeout`'s idle timeout.
    Timeout,
}

impl Hook {
    pub const COUNT: usize = 7;
}

/// What the host calls an export for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A connection event without data: `(id: u32)`.
    Hook(Hook),
    /// Incoming bytes (`onData`); its signature depends on the flavour.
    Data,
    /// `onTimer(timer, id)`.
    Timer,
    /// A message from the application (`onMessage`); its signature depends on the flavour.
    Message,
    /// The result of a `Host.call` (`onReply`); its signature depends on the flavour.
    Reply,
    /// `_initialize()`: run once after instantiation, before any event.
    Initialize,
    /// Part of a flavour's allocator protocol.
    Allocator,
}

/// Whether a guest must export it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// One function export the host may call.
#[derive(Debug)]
pub struct GuestExport {
    pub name: &'static str,
    /// How messages show it to the person building the guest.
    pub human: &'static str,
    pub params: &'static [Type],
    pub results: &'static [Type],
    pub role: Role,
    pub need: Need,
    /// The flavours it belongs to (an allocator's, or a signature that differs by flavour);
    /// empty: every flavour.
    pub flavours: &'static [Flavour],
}

impl GuestExport {
    /// Whether a guest of `flavour` is checked for this export.
    pub fn applies_to(&self, flavour: Flavour) -> bool {
        self.flavours.is_empty() || self.flavours.contains(&flavour)
    }
}

macro_rules! export {
    ($name:literal, $human:literal, [$($p:expr),*] -> [$($r:expr),*], $role:expr, $need:ident, [$($f:ident),*]) => {
        GuestExport {
            name: $name,
            human: $human,
            params: &[$($p),*],
            results: &[$($r),*],
            role: $role,
            need: Need::$need,
            flavours: &[$(Flavour::$f),*],
        }
    };
}

/// `onConnection(id)`: a socket was attached; always the connection's first event.
pub const ON_CONNECTION: GuestExport = export!("onConnection", "onConnection(id: u32)",
    [I32] -> [], Role::Hook(Hook::Connection), Required, []);
/// `onData(id, data: ArrayBuffer)` (AssemblyScript): bytes arrived, in order. The buffer was
/// made by the guest's allocator and belongs to the guest.
pub const ON_DATA_BUFFER: GuestExport = export!("onData", "onData(id: u32, data: ArrayBuffer)",
    [I32, I32] -> [], Role::Data, Required, [AssemblyScript, AssemblyScriptLegacy]);
/// `onData(id, ptr, len)` (raw): bytes arrived at `ptr`, made by `alloc(len)`; the host frees
/// them with `dealloc(ptr, len)` after the call.
pub const ON_DATA_RAW: GuestExport = export!("onData", "onData(id: u32, ptr: usize, len: u32)",
    [I32, I32, I32] -> [], Role::Data, Required, [Raw]);
/// `onClose(id)`: the connection is gone; always its last event, exactly once.
pub const ON_CLOSE: GuestExport = export!("onClose", "onClose(id: u32)",
    [I32] -> [], Role::Hook(Hook::Close), Required, []);
/// `onError(id)`: the socket failed (reset, EPIPE...); `onClose` follows.
pub const ON_ERROR: GuestExport = export!("onError", "onError(id: u32)",
    [I32] -> [], Role::Hook(Hook::Error), Optional, []);
/// `onEnd(id)`: the peer half-closed (FIN); no `onData` follows.
pub const ON_END: GuestExport = export!("onEnd", "onEnd(id: u32)",
    [I32] -> [], Role::Hook(Hook::End), Optional, []);
/// `onDrain(id)`: queued output fell below `highWaterMark` after a `Socket.write` returned false.
pub const ON_DRAIN: GuestExport = export!("onDrain", "onDrain(id: u32)",
    [I32] -> [], Role::Hook(Hook::Drain), Optional, []);
/// `onConnect(id)`: a connection the guest dialed (`Socket.connect`) is established; its first
/// event.
pub const ON_CONNECT: GuestExport = export!("onConnect", "onConnect(id: u32)",
    [I32] -> [], Role::Hook(Hook::Connect), Optional, []);
/// `onTimer(timer: i32, id: u32)`: a `Timer.set` timer is due; `id` is its connection (0 for an
/// instance timer). Never called for a connection after its `onClose`.
pub const ON_TIMER: GuestExport = export!("onTimer", "onTimer(timer: i32, id: u32)",
    [I32, I32] -> [], Role::Timer, Optional, []);
/// `onMessage(id, data: ArrayBuffer)` (AssemblyScript): a message from the application,
/// `bridge.send(id, data)` for connection `id`, or `bridge.broadcast(data)` with `id` 0. The buffer
/// is made by the guest's allocator and belongs to the guest, as `onData`'s.
pub const ON_MESSAGE_BUFFER: GuestExport = export!("onMessage", "onMessage(id: u32, data: ArrayBuffer)",
    [I32, I32] -> [], Role::Message, Optional, [AssemblyScript, AssemblyScriptLegacy]);
/// `onMessage(id, ptr, len)` (raw): as `onData`, freed with `dealloc(ptr, len)` after the call.
pub const ON_MESSAGE_RAW: GuestExport = export!("onMessage", "onMessage(id: u32, ptr: usize, len: u32)",
    [I32, I32, I32] -> [], Role::Message, Optional, [Raw]);
/// `onReply(call: i32, status: i32, data: ArrayBuffer)` (AssemblyScript): the result of the
/// `Host.call` that returned `call`, as an event of its own: status 0 returned (the bytes; empty
/// for nothing), 1 threw, rejected or returned another type (a UTF-8 message).
pub const ON_REPLY_BUFFER: GuestExport = export!("onReply", "onReply(call: i32, status: i32, data: ArrayBuffer)",
    [I32, I32, I32] -> [], Role::Reply, Optional, [AssemblyScript, AssemblyScriptLegacy]);
/// `onReply(call, status, ptr, len)` (raw): as `onData`, freed with `dealloc(ptr, len)` after.
pub const ON_REPLY_RAW: GuestExport = export!("onReply", "onReply(call: i32, status: i32, ptr: usize, len: u32)",
    [I32, I32, I32, I32] -> [], Role::Reply, Optional, [Raw]);
/// `onTimeout(id)`: connection `id` saw no bytes read or written for the `Socket.setTimeout`
/// period. The connection stays open; the guest decides.
pub const ON_TIMEOUT: GuestExport = export!("onTimeout", "onTimeout(id: u32)",
    [I32] -> [], Role::Hook(Hook::Timeout), Optional, []);
/// `_initialize()`: the module's start code (AssemblyScript `--exportStart _initialize`, a WASI
/// reactor), run once its memory is reachable.
pub const INITIALIZE: GuestExport = export!("_initialize", "_initialize()",
    [] -> [], Role::Initialize, Optional, []);
/// `__new(size, classId) -> ptr`: AssemblyScript's allocator; the host asks for an `ArrayBuffer`
/// (class id 1) of the chunk's size.
pub const AS_NEW: GuestExport = export!("__new", "__new(size: usize, id: u32) -> usize",
    [I32, I32] -> [I32], Role::Allocator, Required, [AssemblyScript]);
/// `__pin(ptr) -> ptr`: keeps the buffer alive across the guest's garbage collections.
pub const AS_PIN: GuestExport = export!("__pin", "__pin(ptr: usize) -> usize",
    [I32] -> [I32], Role::Allocator, Required, [AssemblyScript]);
/// `__unpin(ptr)`: releases the pin once `onData` returned.
pub const AS_UNPIN: GuestExport = export!("__unpin", "__unpin(ptr: usize)",
    [I32] -> [], Role::Allocator, Required, [AssemblyScript]);
/// `__alloc(size, classId) -> ptr`: the older AssemblyScript allocator (class id 0).
pub const LEGACY_ALLOC: GuestExport = export!("__alloc", "__alloc(size: usize, id: u32) -> usize",
    [I32, I32] -> [I32], Role::Allocator, Required, [AssemblyScriptLegacy]);
/// `__retain(ptr) -> ptr`: takes a reference for the call.
pub const LEGACY_RETAIN: GuestExport = export!("__retain", "__retain(ptr: usize) -> usize",
    [I32] -> [I32], Role::Allocator, Required, [AssemblyScriptLegacy]);
/// `__release(ptr)`: drops the reference once `onData` returned.
pub const LEGACY_RELEASE: GuestExport = export!("__release", "__release(ptr: usize)",
    [I32] -> [], Role::Allocator, Required, [AssemblyScriptLegacy]);
/// `alloc(size) -> ptr`: a raw guest's allocator.
pub const RAW_ALLOC: GuestExport = export!("alloc", "alloc(size: u32) -> ptr",
    [I32] -> [I32], Role::Allocator, Required, [Raw]);
/// `dealloc(ptr, size)`: frees what `alloc` returned, after the call that used it.
pub const RAW_DEALLOC: GuestExport = export!("dealloc", "dealloc(ptr: usize, size: u32)",
    [I32, I32] -> [], Role::Allocator, Required, [Raw]);

/// Every function export the host may call, in the order problems are reported (allocator first).
/// A module must also export its memory as `memory`.
pub static GUEST_EXPORTS: &[GuestExport] = &[
    AS_NEW,
    AS_PIN,
    AS_UNPIN,
    LEGACY_ALLOC,
    LEGACY_RETAIN,
    LEGACY_RELEASE,
    RAW_ALLOC,
    RAW_DEALLOC,
    ON_CONNECTION,
    ON_DATA_BUFFER,
    ON_DATA_RAW,
    ON_CLOSE,
    ON_ERROR,
    ON_END,
    ON_DRAIN,
    ON_CONNECT,
    ON_TIMER,
    ON_TIMEOUT,
    ON_MESSAGE_BUFFER,
    ON_MESSAGE_RAW,
    ON_REPLY_BUFFER,
    ON_REPLY_RAW,
    INITIALIZE,
];

/// Imports that only make sense with an export to deliver their result: a guest importing the
/// first without exporting the second is refused at load, naming both.
/// The export is named; its signature is the row of that name for the guest's flavour.
pub static IMPORT_NEEDS: &[(&str, &str, &str)] = &[
    ("Timer", "set", "onTimer"),
    ("Socket", "setTimeout", "onTimeout"),
    ("Host", "call", "onReply"),
];
