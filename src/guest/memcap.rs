//! The memory cap (`maxMemoryBytes`): engine tunables that keep every guest memory at or below a
//! number of wasm pages, and a watch that tells a guest which ran out of memory apart from one
//! that trapped for another reason.
//!
//! - A memory's declared maximum is lowered to the cap, so `memory.grow` past it returns -1 (the
//!   wasm answer for "no more memory"), and the host's own growth of guest memory fails the same.
//! - A module whose *initial* memory is larger than the cap cannot be served at all; `guest/mod.rs`
//!   refuses it at load with `check_initial` (the tunables would also refuse to instantiate it).
//! - Every memory is wrapped in a `Watched` memory that sets its instance's `GrowWatch` when a
//!   grow is refused. AssemblyScript's allocator traps (`unreachable`) right after a refused
//!   grow, so "a grow was refused during this event, then the guest failed" is reported as a
//!   `memory` failure rather than a bare trap.
//!
//! Memories are created inside `Instance::new`, on the thread that runs it; `watching` installs
//! the instance's watch in a thread-local for exactly that call, which is how the tunables (shared
//! by every store of the engine) hand each memory the right watch.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmer::sys::vm::{
    ExpectedValue, InternalStoreHandle, LinearMemory, MemoryError, MemoryStyle, StoreObjects,
    ThreadConditions, Trap, VMGlobal, VMGlobalDefinition, VMMemory, VMMemoryDefinition,
    VMSharedMemory, VMTable, VMTableDefinition, WaiterError,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryType, ModuleInfo, Pages, TableStyle, TableType, WASM_PAGE_SIZE};
use wasmer_types::LocalGlobalIndex;
use wasmer_types::entity::PrimaryMap;

use crate::guest::metering;

/// The default cap: 256 MiB.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 256 << 20;
/// Smallest cap: one wasm page.
pub const MIN_MEMORY_BYTES: u64 = WASM_PAGE_SIZE as u64;
/// The largest cap: a 32-bit guest cannot address more than 4 GiB anyway.
pub const MAX_MEMORY_BYTES: u64 = 1 << 32;
/// Most elements a guest table may hold (the host allocates 8 bytes per element). A table with no
/// declared maximum would otherwise grow as far as `table.grow` asks, and a refused allocation
/// aborts the process; past this `table.grow` returns -1. AssemblyScript's one table holds an
/// element per function used indirectly: a few hundred.
pub const MAX_TABLE_ELEMENTS: u32 = 100_000;

/// `table` with its maximum lowered to `MAX_TABLE_ELEMENTS`, or why it cannot be served.
pub fn cap_table(table: &TableType) -> Result<TableType, String> {
    if table.minimum > MAX_TABLE_ELEMENTS {
        return Err(format!(
            "its table starts at {} elements but a guest table may hold at most {MAX_TABLE_ELEMENTS} \
             - build the guest with fewer functions in its table",
            table.minimum
        ));
    }
    let mut capped = *table;
    capped.maximum = Some(
        table
            .maximum
            .map_or(MAX_TABLE_ELEMENTS, |m| m.min(MAX_TABLE_ELEMENTS)),
    );
    Ok(capped)
}

/// A memory cap in whole wasm pages (64 KiB each), at least one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryCap {
    pages: u32,
}

impl MemoryCap {
    /// The cap for `bytes`, rounded down to whole pages and clamped to 1 page ..= 4 GiB.
    pub fn from_bytes(bytes: u64) -> MemoryCap {
        let pages = (bytes.min(MAX_MEMORY_BYTES) / WASM_PAGE_SIZE as u64).max(1);
        MemoryCap {
            pages: pages as u32,
        }
    }

    pub fn pages(self) -> u32 {
        self.pages
    }

    pub fn bytes(self) -> u64 {
        self.pages as u64 * WASM_PAGE_SIZE as u64
    }

    /// `memory` with its maximum lowered to the cap, or why it cannot be served.
    pub fn apply(self, memory: &MemoryType) -> Result<MemoryType, MemoryError> {
        let cap = Pages(self.pages);
        if memory.minimum > cap {
            return Err(MemoryError::MinimumMemoryTooLarge {
                min_requested: memory.minimum,
                max_allowed: cap,
            });
        }
        let maximum = memory.maximum.map_or(cap, |m| m.min(cap));
        Ok(MemoryType::new(
            memory.minimum,
            Some(maximum),
            memory.shared,
        ))
    }

    /// Refuses a memory whose initial size is over the cap, with a message that says what to do.
    pub fn check_initial(self, memory: &MemoryType) -> Result<(), String> {
        self.apply(memory).map(|_| ()).map_err(|_| {
            format!(
                "its memory starts at {} but maxMemoryBytes is {} - raise maxMemoryBytes, or \
                 build the guest with a smaller initial memory (asc --initialMemory, fewer static \
                 data)",
                describe_bytes(memory.minimum.0 as u64 * WASM_PAGE_SIZE as u64),
                describe_bytes(self.bytes()),
            )
        })
    }
}

impl Default for MemoryCap {
    fn default() -> MemoryCap {
        MemoryCap::from_bytes(DEFAULT_MAX_MEMORY_BYTES)
    }
}

/// `268435456` -> `256 MiB`, `65536` -> `64 KiB`, other sizes in bytes.
pub fn describe_bytes(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// Set when one of an instance's memories refused to grow. Cheap to reset and read per event.
#[derive(Clone, Debug, Default)]
pub struct GrowWatch(Arc<AtomicBool>);

impl GrowWatch {
    pub fn refused(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    fn note(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<GrowWatch>> = const { RefCell::new(None) };
}

/// Runs `f` (an `Instance::new`) with `watch` receiving the refused grows of every memory it
/// creates.
pub fn watching<R>(watch: &GrowWatch, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(watch.clone())));
    let result = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    result
}

fn current_watch() -> GrowWatch {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_default()
}

/// Tunables that apply a `MemoryCap` to every memory and watch its growth; everything else is
/// wasmer's `BaseTunables`.
pub struct CappedTunables {
    base: BaseTunables,
    cap: MemoryCap,
}

impl CappedTunables {
    pub fn new(cap: MemoryCap) -> CappedTunables {
        CappedTunables {
            base: BaseTunables::default(),
            cap,
        }
    }
}

impl Tunables for CappedTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let inner = self.base.create_host_memory(&self.cap.apply(ty)?, style)?;
        Ok(Watched::wrap(inner, current_watch()))
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let ty = self.cap.apply(ty)?;
        // SAFETY: the caller's guarantee for `vm_definition_location` is passed on unchanged.
        let inner = unsafe {
            self.base
                .create_vm_memory(&ty, style, vm_definition_location)?
        };
        Ok(Watched::wrap(inner, current_watch()))
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(&cap_table(ty)?, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let ty = cap_table(ty)?;
        // SAFETY: the caller's guarantee for `vm_definition_location` is passed on unchanged.
        unsafe {
            self.base
                .create_vm_table(&ty, style, vm_definition_location)
        }
    }

    /// wasmer's globals, and where the fuel global of a metered module lives (the watchdog of
    /// `eventTimeoutMs` empties it: guest/metering.rs).
    fn create_globals(
        &self,
        context: &mut StoreObjects,
        module: &ModuleInfo,
        vm_definition_locations: &[NonNull<VMGlobalDefinition>],
    ) -> Result<
        PrimaryMap<LocalGlobalIndex, InternalStoreHandle<VMGlobal>>,
        wasmer_compiler::LinkError,
    > {
        let globals = self
            .base
            .create_globals(context, module, vm_definition_locations)?;
        metering::globals_created(module, vm_definition_locations);
        Ok(globals)
    }
}

/// A guest memory that reports refused grows to its instance's watch and otherwise behaves
/// exactly like the memory it wraps.
#[derive(Debug)]
struct Watched {
    inner: VMMemory,
    watch: GrowWatch,
}

impl Watched {
    fn wrap(inner: VMMemory, watch: GrowWatch) -> VMMemory {
        VMMemory(Box::new(Watched { inner, watch }))
    }

    fn noted<T>(&self, result: Result<T, MemoryError>) -> Result<T, MemoryError> {
        if result.is_err() {
            self.watch.note();
        }
        result
    }
}

impl LinearMemory for Watched {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let result = self.inner.grow(delta);
        self.noted(result)
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let result = self.inner.grow_at_least(min_size);
        self.noted(result)
    }

    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        let inner = LinearMemory::try_clone(&self.inner)?;
        Ok(Box::new(Watched {
            inner: VMMemory(inner),
            watch: self.watch.clone(),
        }))
    }

    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        // SAFETY: the caller's guarantee is passed on unchanged.
        unsafe { self.inner.initialize_with_data(start, data) }
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        let inner = LinearMemory::copy(&self.inner)?;
        Ok(Box::new(Watched {
            inner: VMMemory(inner),
            watch: GrowWatch::default(),
        }))
    }

    fn as_shared(&self) -> Result<VMSharedMemory, MemoryError> {
        self.inner.as_shared()
    }

    unsafe fn do_wait(
        &mut self,
        dst: u32,
        expected: ExpectedValue,
        timeout: Option<Duration>,
    ) -> Result<u32, WaiterError> {
        // SAFETY: the caller's guarantee is passed on unchanged.
        unsafe { self.inner.do_wait(dst, expected, timeout) }
    }

    fn do_notify(&mut self, dst: u32, count: u32) -> u32 {
        self.inner.do_notify(dst, count)
    }

    fn thread_conditions(&self) -> Option<&ThreadConditions> {
        self.inner.thread_conditions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_whole_pages_between_one_page_and_four_gib() {
        assert_eq!(MemoryCap::from_bytes(256 << 20).pages(), 4096);
        assert_eq!(MemoryCap::from_bytes(100_000).pages(), 1);
        assert_eq!(MemoryCap::from_bytes(0).pages(), 1);
        assert_eq!(MemoryCap::from_bytes(u64::MAX).pages(), 65536);
        assert_eq!(MemoryCap::default().bytes(), DEFAULT_MAX_MEMORY_BYTES);
    }

    #[test]
    fn tables_get_a_maximum_of_at_most_the_element_cap_and_a_larger_start_is_refused() {
        let funcref = wasmer::Type::FuncRef;
        let open = cap_table(&TableType::new(funcref, 1, None)).unwrap();
        assert_eq!(open.maximum, Some(MAX_TABLE_ELEMENTS));
        let big = cap_table(&TableType::new(funcref, 1, Some(u32::MAX))).unwrap();
        assert_eq!(big.maximum, Some(MAX_TABLE_ELEMENTS));
        let small = cap_table(&TableType::new(funcref, 1, Some(10))).unwrap();
        assert_eq!(small.maximum, Some(10));
        let err = cap_table(&TableType::new(funcref, MAX_TABLE_ELEMENTS + 1, None)).unwrap_err();
        assert!(err.contains("100001 elements"), "{err}");
    }

    #[test]
    fn the_cap_lowers_a_maximum_and_fills_in_a_missing_one() {
        let cap = MemoryCap::from_bytes(16 * 65536);
        let open = cap.apply(&MemoryType::new(1, None, false)).unwrap();
        assert_eq!(open.maximum, Some(Pages(16)));
        let big = cap.apply(&MemoryType::new(1, Some(65536), false)).unwrap();
        assert_eq!(big.maximum, Some(Pages(16)));
        let small = cap.apply(&MemoryType::new(1, Some(4), false)).unwrap();
        assert_eq!(small.maximum, Some(Pages(4)));
    }

    #[test]
    fn an_initial_memory_over_the_cap_is_refused_with_both_sizes() {
        let cap = MemoryCap::from_bytes(1 << 20);
        assert!(cap.apply(&MemoryType::new(17, None, false)).is_err());
        assert!(cap.check_initial(&MemoryType::new(16, None, false)).is_ok());
        let message = cap
            .check_initial(&MemoryType::new(32, None, false))
            .unwrap_err();
        assert!(message.contains("starts at 2 MiB"), "{message}");
        assert!(message.contains("maxMemoryBytes is 1 MiB"), "{message}");
    }

    #[test]
    fn a_watch_is_installed_only_for_the_call_it_wraps() {
        let watch = GrowWatch::default();
        watching(&watch, || current_watch().note());
        assert!(watch.refused());
        watch.reset();
        current_watch().note();
        assert!(!watch.refused());
    }
}
