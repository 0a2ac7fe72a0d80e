//! The exports of a running instance, looked up once by the names in the guest export table
//! (`abi::exports`), with the types the table gives them.

use wasmer::{FunctionEnv, Instance, Memory, RuntimeError, Store, TypedFunction};

use crate::abi::Abi;
use crate::abi::exports::{self as table, Flavour, GuestExport, Hook};
use crate::instance::failure::{Failure, Kind};
use crate::instance::fuel::Fuel;
use crate::instance::guestmem::{fill, write_from};
use crate::instance::imports::HostEnv;

/// An event export without data: `(id: u32)`.
type HookFn = TypedFunction<i32, ()>;

/// AssemblyScript class id of `ArrayBuffer` (>= 0.18), and in the older runtime.
const AS_ARRAYBUFFER_ID: i32 = 1;
const AS_LEGACY_ARRAYBUFFER_ID: i32 = 0;

/// The exports that take bytes (made by the guest's allocator), with their other arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bytes {
    /// `onData(id, ...)`: bytes read from the connection.
    Data(u32),
    /// `onMessage(id, ...)`: a message from the application.
    Message(u32),
    /// `onReply(call, status, ...)`: the result of a `Host.call`.
    Reply { call: i32, status: i32 },
}

/// A flavour's allocator protocol and the data exports whose signature depends on it.
pub enum Allocator {
    /// Both AssemblyScript runtimes: make an `ArrayBuffer` of class `class_id`, hold it across
    /// the call (`__pin`/`__unpin`, or `__retain`/`__release` before 0.18), pass its pointer.
    AssemblyScript {
        /// `__new` or `__alloc`, for messages.
        alloc_name: &'static str,
        class_id: i32,
        alloc: TypedFunction<(i32, i32), i32>,
        hold: TypedFunction<i32, i32>,
        release: TypedFunction<i32, ()>,
        on_data: TypedFunction<(i32, i32), ()>,
        on_message: Option<TypedFunction<(i32, i32), ()>>,
        on_reply: Option<TypedFunction<(i32, i32, i32), ()>>,
    },
    Raw {
        alloc: TypedFunction<i32, i32>,
        dealloc: TypedFunction<(i32, i32), ()>,
        on_data: TypedFunction<(i32, i32, i32), ()>,
        on_message: Option<TypedFunction<(i32, i32, i32), ()>>,
        on_reply: Option<TypedFunction<(i32, i32, i32, i32), ()>>,
    },
}

impl Allocator {
    /// Whether the guest exports what `to` calls (`onData` always; the others are optional).
    fn takes(&self, to: Bytes) -> bool {
        let (on_message, on_reply) = match self {
            Allocator::AssemblyScript {
                on_message,
                on_reply,
                ..
            } => (on_message.is_some(), on_reply.is_some()),
            Allocator::Raw {
                on_message,
                on_reply,
                ..
            } => (on_message.is_some(), on_reply.is_some()),
        };
        match to {
            Bytes::Data(_) => true,
            Bytes::Message(_) => on_message,
            Bytes::Reply { .. } => on_reply,
        }
    }
}

/// The instance's exports, looked up once instead of by name on every event.
pub struct Exports {
    pub memory: Memory,
    /// The metering globals, when compiled with metering (a fuel budget or a deadline).
    pub fuel: Option<Fuel>,
    /// Indexed by `Hook as usize`; `None` for an optional event the guest does not export.
    hooks: [Option<HookFn>; Hook::COUNT],
    pub initialize: Option<TypedFunction<(), ()>>,
    /// `onTimer(timer, id)`, when exported.
    pub on_timer: Option<TypedFunction<(i32, i32), ()>>,
    allocator: Allocator,
}

fn typed<Args, Rets>(
    instance: &Instance,
    store: &Store,
    e: &GuestExport,
) -> Result<TypedFunction<Args, Rets>, Failure>
where
    Args: wasmer::WasmTypeList,
    Rets: wasmer::WasmTypeList,
{
    instance
        .exports
        .get_typed_function(store, e.name)
        .map_err(|err| Failure::new(Kind::Host, format!("{}: {err}", e.name)))
}

/// An optional export, looked up when `present`.
fn maybe<Args, Rets>(
    present: bool,
    instance: &Instance,
    store: &Store,
    e: &GuestExport,
) -> Result<Option<TypedFunction<Args, Rets>>, Failure>
where
    Args: wasmer::WasmTypeList,
    Rets: wasmer::WasmTypeList,
{
    present.then(|| typed(instance, store, e)).transpose()
}

impl Exports {
    /// Looks up every export `abi` says the module has (validated at load, so a failure here is
    /// the host's).
    pub fn lookup(
        instance: &Instance,
        store: &Store,
        abi: &Abi,
        fuel: Option<u64>,
    ) -> Result<Exports, Failure> {
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(|e| Failure::new(Kind::Host, e.to_string()))?
            .clone();
        let mut hooks: [Option<HookFn>; Hook::COUNT] = Default::default();
        for e in table::GUEST_EXPORTS {
            if let table::Role::Hook(h) = e.role
                && abi.has(h)
            {
                hooks[h as usize] = Some(typed(instance, store, e)?);
            }
        }
        // Both AssemblyScript runtimes: the same protocol with their own names and class id.
        let assemblyscript = |rows: [&GuestExport; 3], class_id| -> Result<Allocator, Failure> {
            Ok(Allocator::AssemblyScript {
                alloc_name: rows[0].name,
                class_id,
                alloc: typed(instance, store, rows[0])?,
                hold: typed(instance, store, rows[1])?,
                release: typed(instance, store, rows[2])?,
                on_data: typed(instance, store, &table::ON_DATA_BUFFER)?,
                on_message: maybe(abi.on_message, instance, store, &table::ON_MESSAGE_BUFFER)?,
                on_reply: maybe(abi.on_reply, instance, store, &table::ON_REPLY_BUFFER)?,
            })
        };
        let allocator = match abi.flavour {
            Flavour::AssemblyScript => assemblyscript(
                [&table::AS_NEW, &table::AS_PIN, &table::AS_UNPIN],
                AS_ARRAYBUFFER_ID,
            )?,
            Flavour::AssemblyScriptLegacy => assemblyscript(
                [
                    &table::LEGACY_ALLOC,
                    &table::LEGACY_RETAIN,
                    &table::LEGACY_RELEASE,
                ],
                AS_LEGACY_ARRAYBUFFER_ID,
            )?,
            Flavour::Raw => Allocator::Raw {
                alloc: typed(instance, store, &table::RAW_ALLOC)?,
                dealloc: typed(instance, store, &table::RAW_DEALLOC)?,
                on_data: typed(instance, store, &table::ON_DATA_RAW)?,
                on_message: maybe(abi.on_message, instance, store, &table::ON_MESSAGE_RAW)?,
                on_reply: maybe(abi.on_reply, instance, store, &table::ON_REPLY_RAW)?,
            },
        };
        let initialize = maybe(abi.initialize, instance, store, &table::INITIALIZE)?;
        let on_timer = maybe(abi.on_timer, instance, store, &table::ON_TIMER)?;
        let fuel = fuel
            .map(|budget| Fuel::lookup(instance, budget))
            .transpose()?;
        Ok(Exports {
            memory,
            fuel,
            hooks,
            initialize,
            on_timer,
            allocator,
        })
    }

    /// The export for `hook`, if the guest has it (required ones always).
    pub fn hook(&self, hook: Hook) -> Option<&HookFn> {
        self.hooks[hook as usize].as_ref()
    }

    /// Copies `data` into a fresh guest buffer made by the guest's allocator and calls the export
    /// `to` names with it; nothing when the guest lacks that (optional) export.
    pub fn deliver(
        &self,
        store: &mut Store,
        env: &FunctionEnv<HostEnv>,
        to: Bytes,
        data: &[u8],
    ) -> Result<(), RuntimeError> {
        self.deliver_filled(store, env, to, data.len(), &mut |dst| {
            dst.copy_from_slice(data);
            data.len()
        })
        .map(drop)
    }

    /// Asks the guest's allocator for `len` bytes, lets `source` write them straight into guest
    /// memory (on the native path the kernel reads a socket into them: one copy fewer than
    /// `deliver`) and calls the export `to` names with the `n` bytes it reports; nothing when the
    /// guest lacks that (optional) export. `n == 0` of a non-empty buffer frees it and calls
    /// nothing; `n < len` hands over the first `n` (an AssemblyScript `ArrayBuffer` is shrunk in
    /// place by its header's size field, as `__renew` does; a raw buffer is freed with the length
    /// it was allocated with). Returns `n`; `source` is not called when the allocator fails (the
    /// guest trapped).
    pub fn deliver_filled(
        &self,
        store: &mut Store,
        env: &FunctionEnv<HostEnv>,
        to: Bytes,
        len: usize,
        source: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, RuntimeError> {
        if !self.allocator.takes(to) {
            return Ok(0);
        }
        let Ok(len32) = i32::try_from(len) else {
            let message = format!("a buffer of {len} bytes does not fit a 32-bit guest");
            return Err(env.as_mut(store).fail(Kind::Host, message));
        };
        let unusable = |store: &mut Store, allocator: &str, e| {
            let message =
                format!("the guest allocator {allocator} returned an unusable buffer: {e}");
            env.as_mut(store).fail(Kind::Trap, message)
        };
        let mut fill_in = |store: &mut Store, allocator: &str, ptr: i32| {
            fill(&self.memory.view(store), ptr as u32, len as u64, |dst| {
                source(dst).min(len)
            })
            .map_err(|e| unusable(store, allocator, e))
        };
        // Whether the export is called: a buffer the source wrote nothing into is not handed over.
        let handed = |n: usize| n > 0 || len == 0;
        match &self.allocator {
            Allocator::AssemblyScript {
                alloc_name,
                class_id,
                alloc,
                hold,
                release,
                on_data,
                on_message,
                on_reply,
            } => {
                let ptr = alloc.call(store, len32, *class_id)?;
                hold.call(store, ptr)?;
                let n = fill_in(store, alloc_name, ptr)?;
                if n > 0 && n < len {
                    // The object header's size field (`rtSize`) sits just before the data.
                    let header = (ptr as u32).wrapping_sub(4);
                    write_from(&self.memory.view(store), header, &(n as u32).to_le_bytes())
                        .map_err(|e| unusable(store, alloc_name, e))?;
                }
                if handed(n) {
                    match (to, on_message, on_reply) {
                        (Bytes::Data(id), _, _) => on_data.call(store, id as i32, ptr)?,
                        (Bytes::Message(id), Some(f), _) => f.call(store, id as i32, ptr)?,
                        (Bytes::Reply { call, status }, _, Some(f)) => {
                            f.call(store, call, status, ptr)?
                        }
                        _ => {}
                    }
                }
                release.call(store, ptr)?;
                Ok(n)
            }
            Allocator::Raw {
                alloc,
                dealloc,
                on_data,
                on_message,
                on_reply,
            } => {
                let ptr = alloc.call(store, len32)?;
                let n = fill_in(store, "alloc", ptr)?;
                if handed(n) {
                    let n32 = n as i32;
                    match (to, on_message, on_reply) {
                        (Bytes::Data(id), _, _) => on_data.call(store, id as i32, ptr, n32)?,
                        (Bytes::Message(id), Some(f), _) => f.call(store, id as i32, ptr, n32)?,
                        (Bytes::Reply { call, status }, _, Some(f)) => {
                            f.call(store, call, status, ptr, n32)?
                        }
                        _ => {}
                    }
                }
                dealloc.call(store, ptr, len32)?;
                Ok(n)
            }
        }
    }
}
