//! Fuel (`fuelPerEvent`, and the watchdog of `eventTimeoutMs`): a wasmer compiler middleware that
//! charges every operator one point and the bulk operators by the length they touch, so the time
//! one event can take grows with its budget alone, whatever the module does.
//!
//! Points are counted down in a mutable global the middleware adds (`FUEL_REMAINING`). As in
//! wasmer-middlewares' `Metering`, the cost of a straight run of operators is summed at compile
//! time and charged once, at the next operator that can branch or be branched to: a check that the
//! budget covers it (else the `FUEL_EXHAUSTED` flag is set and the guest traps), then a
//! subtraction. That is all the instrumentation plain code gets.
//!
//! A bulk operator's cost is only known when it runs: its length is the operand on top of the
//! stack. Before the operator the middleware saves that operand in a scratch global, puts it back,
//! and charges `BulkCost::points` of it the same way, so an operation the budget cannot pay for
//! traps *before* it touches a byte:
//!
//! | operator | charged per | points |
//! | --- | --- | --- |
//! | `memory.fill`, `memory.copy`, `memory.init` | byte | 1 per `BYTES_PER_POINT` bytes |
//! | `table.fill`, `table.copy`, `table.init`, `table.grow` | element | `POINTS_PER_ELEMENT` each |
//! | `memory.grow` | 64 KiB page | `POINTS_PER_PAGE` each, at most the memory cap's pages |
//!
//! (plus the 1 every operator costs). A grow is charged for the pages it asks for (up to the cap,
//! so a grow that can only fail costs no more than the largest that could succeed): the pages it
//! adds are zero-filled by the kernel on first touch, which plain stores do not pay for.
//!
//! The watchdog of `eventTimeoutMs` (instance/deadline.rs) stops a guest by setting
//! `FUEL_REMAINING` to 0 from another thread: the next check traps. Each instance's global is
//! found through the tunables (`guest/memcap.rs` calls `noted_fuel_global`), the one place wasmer
//! hands out where a global lives.
//!
//! One middleware value serves one module: its globals' indexes are kept from
//! `transform_module_info` for the functions compiled after it (`guest/mod.rs` makes a fresh
//! engine per module, as it must for the memory cap anyway). Unlike wasmer's `Metering`, a second
//! use is refused with an error, never a panic.

use std::cell::RefCell;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use wasmer::sys::vm::VMGlobalDefinition;
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::wasmparser::{BlockType, Operator};
use wasmer::{ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, Mutability, Type};
use wasmer_types::{GlobalIndex, ModuleInfo};

/// The export that holds an instance's remaining points (i64, counted down).
pub const FUEL_REMAINING: &str = "wsb_fuel_remaining";
/// The export set to 1 when the budget ran out (i32): tells a fuel trap from `unreachable`.
pub const FUEL_EXHAUSTED: &str = "wsb_fuel_exhausted";

/// The budget of a guest metered only for its deadline: more points than it can use.
pub const UNLIMITED: u64 = i64::MAX as u64;

/// Bytes of `memory.fill`, `memory.copy` or `memory.init` one point pays for.
pub const BYTES_PER_POINT: u64 = 4;
/// Points per element of `table.fill`, `table.copy`, `table.init` and `table.grow`.
pub const POINTS_PER_ELEMENT: u64 = 2;
/// Points per 64 KiB page of `memory.grow`.
pub const POINTS_PER_PAGE: u64 = 8192;

/// How a bulk operator's length operand becomes points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkCost {
    /// Bytes: `len / BYTES_PER_POINT`.
    Bytes,
    /// Table elements: `len * POINTS_PER_ELEMENT`.
    Elements,
    /// Memory pages, counted up to a cap: `min(len, cap) * POINTS_PER_PAGE`.
    Pages { cap: u32 },
}

impl BulkCost {
    /// The cost of `op`'s length operand, if `op` is a bulk operator (its length is on top of the
    /// stack, as an i32: 64-bit memories and tables are not enabled in the engine).
    pub fn of(op: &Operator, page_cap: u32) -> Option<BulkCost> {
        match op {
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. } => Some(BulkCost::Bytes),
            Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::TableGrow { .. } => Some(BulkCost::Elements),
            Operator::MemoryGrow { .. } => Some(BulkCost::Pages { cap: page_cap }),
            _ => None,
        }
    }

    /// The points for a length, as the instrumentation computes them.
    #[cfg(test)]
    pub fn points(self, len: u32) -> u64 {
        match self {
            BulkCost::Bytes => len as u64 / BYTES_PER_POINT,
            BulkCost::Elements => len as u64 * POINTS_PER_ELEMENT,
            BulkCost::Pages { cap } => len.min(cap) as u64 * POINTS_PER_PAGE,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Globals {
    remaining: u32,
    exhausted: u32,
    /// Scratch: the bulk operator's length operand (i32).
    len: u32,
    /// Scratch: its cost in points (i64).
    cost: u32,
}

/// The module middleware: push one per compiled module (`CompilerConfig::push_middleware`).
pub struct Meter {
    initial: u64,
    page_cap: u32,
    globals: Mutex<Option<Globals>>,
}

impl Meter {
    /// Metering with `initial` points for the start function (each event gets a refill), for a
    /// module whose memories are capped at `page_cap` pages.
    pub fn new(initial: u64, page_cap: u32) -> Meter {
        Meter {
            initial,
            page_cap,
            globals: Mutex::new(None),
        }
    }

    fn globals(&self) -> Option<Globals> {
        *self.globals.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("initial", &self.initial)
            .field("page_cap", &self.page_cap)
            .finish()
    }
}

impl ModuleMiddleware for Meter {
    fn generate_function_middleware<'a>(
        &self,
        _: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        Box::new(FunctionMeter {
            globals: self.globals(),
            page_cap: self.page_cap,
            pending: 0,
        })
    }

    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let mut slot = self.globals.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(MiddlewareError::new(
                "fuel metering",
                "one metering middleware was asked to serve a second module",
            ));
        }
        if info.exports.contains_key(FUEL_REMAINING) || info.exports.contains_key(FUEL_EXHAUSTED) {
            return Err(MiddlewareError::new(
                "fuel metering",
                format!("the module already exports {FUEL_REMAINING} or {FUEL_EXHAUSTED}"),
            ));
        }
        let mut add = |ty: Type, init: GlobalInit| -> u32 {
            let index: GlobalIndex = info.globals.push(GlobalType::new(ty, Mutability::Var));
            info.global_initializers.push(init);
            index.as_u32()
        };
        let globals = Globals {
            remaining: add(Type::I64, GlobalInit::I64Const(self.initial as i64)),
            exhausted: add(Type::I32, GlobalInit::I32Const(0)),
            len: add(Type::I32, GlobalInit::I32Const(0)),
            cost: add(Type::I64, GlobalInit::I64Const(0)),
        };
        info.exports.insert(
            FUEL_REMAINING.to_string(),
            ExportIndex::Global(GlobalIndex::from_u32(globals.remaining)),
        );
        info.exports.insert(
            FUEL_EXHAUSTED.to_string(),
            ExportIndex::Global(GlobalIndex::from_u32(globals.exhausted)),
        );
        *slot = Some(globals);
        Ok(())
    }
}

/// The per-function half: sums straight-line costs and charges them at each branch point.
struct FunctionMeter {
    /// `None` only if wasmer skipped `transform_module_info`, which it never does; then `feed`
    /// refuses the function rather than compile it unmetered.
    globals: Option<Globals>,
    page_cap: u32,
    /// Points of the operators since the last charge.
    pending: u64,
}

impl fmt::Debug for FunctionMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionMeter")
            .field("pending", &self.pending)
            .finish()
    }
}

/// Operators where a straight run of code ends: branch sources and targets, calls (so a callee's
/// cost is never charged before the caller's), and the exception and tail-call forms.
fn ends_run(op: &Operator) -> bool {
    matches!(
        op,
        Operator::Loop { .. }
            | Operator::End
            | Operator::If { .. }
            | Operator::Else
            | Operator::Br { .. }
            | Operator::BrTable { .. }
            | Operator::BrIf { .. }
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::Return
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Rethrow { .. }
            | Operator::Delegate { .. }
            | Operator::Catch { .. }
            | Operator::CatchAll
            | Operator::TryTable { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
    )
}

impl FunctionMeter {
    /// `if remaining < cost { exhausted = 1; unreachable } remaining -= cost`, with `cost` pushed
    /// by `push_cost` (twice).
    fn charge<'a>(
        g: &Globals,
        state: &mut MiddlewareReaderState<'a>,
        push_cost: &dyn Fn(&mut MiddlewareReaderState<'a>),
    ) {
        state.push_operator(Operator::GlobalGet {
            global_index: g.remaining,
        });
        push_cost(state);
        state.extend(&[
            Operator::I64LtU,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: g.exhausted,
            },
            Operator::Unreachable,
            Operator::End,
            Operator::GlobalGet {
                global_index: g.remaining,
            },
        ]);
        push_cost(state);
        state.extend(&[
            Operator::I64Sub,
            Operator::GlobalSet {
                global_index: g.remaining,
            },
        ]);
    }

    /// Charges a bulk operator by the i32 length on top of the stack, leaving the stack as it was.
    fn charge_bulk<'a>(g: &Globals, cost: BulkCost, state: &mut MiddlewareReaderState<'a>) {
        state.extend(&[
            Operator::GlobalSet {
                global_index: g.len,
            },
            Operator::GlobalGet {
                global_index: g.len,
            },
        ]);
        // cost = points(len), computed once into the scratch global.
        match cost {
            BulkCost::Pages { cap } => {
                // min(len, cap) as unsigned: select(cap, len, len > cap).
                state.extend(&[
                    Operator::I32Const { value: cap as i32 },
                    Operator::GlobalGet {
                        global_index: g.len,
                    },
                    Operator::GlobalGet {
                        global_index: g.len,
                    },
                    Operator::I32Const { value: cap as i32 },
                    Operator::I32GtU,
                    Operator::Select,
                    Operator::I64ExtendI32U,
                    Operator::I64Const {
                        value: POINTS_PER_PAGE as i64,
                    },
                    Operator::I64Mul,
                ]);
            }
            BulkCost::Bytes => state.extend(&[
                Operator::GlobalGet {
                    global_index: g.len,
                },
                Operator::I64ExtendI32U,
                Operator::I64Const {
                    value: BYTES_PER_POINT.trailing_zeros() as i64,
                },
                Operator::I64ShrU,
            ]),
            BulkCost::Elements => {
                state.extend(&[
                    Operator::GlobalGet {
                        global_index: g.len,
                    },
                    Operator::I64ExtendI32U,
                ]);
                if POINTS_PER_ELEMENT != 1 {
                    state.extend(&[
                        Operator::I64Const {
                            value: POINTS_PER_ELEMENT as i64,
                        },
                        Operator::I64Mul,
                    ]);
                }
            }
        }
        state.push_operator(Operator::GlobalSet {
            global_index: g.cost,
        });
        let cost_global = g.cost;
        Self::charge(g, state, &move |s| {
            s.push_operator(Operator::GlobalGet {
                global_index: cost_global,
            })
        });
    }
}

impl<'a> FunctionMiddleware<'a> for FunctionMeter {
    fn feed(
        &mut self,
        operator: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        let Some(g) = self.globals else {
            return Err(MiddlewareError::new(
                "fuel metering",
                "a function was compiled before the module was prepared for metering",
            ));
        };
        // Counted before the charge, so an operator that ends a run pays in that run.
        self.pending += 1;
        let bulk = BulkCost::of(&operator, self.page_cap);
        if (bulk.is_some() || ends_run(&operator)) && self.pending > 0 {
            let points = self.pending as i64;
            Self::charge(&g, state, &move |s| {
                s.push_operator(Operator::I64Const { value: points })
            });
            self.pending = 0;
        }
        if let Some(cost) = bulk {
            Self::charge_bulk(&g, cost, state);
        }
        state.push_operator(operator);
        Ok(())
    }
}

/// Where one instance keeps its remaining points: the storage of its `FUEL_REMAINING` global,
/// which another thread may empty to stop the guest at its next check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuelCell(NonNull<AtomicI64>);

// SAFETY: a FuelCell is only a location. Whoever uses it from another thread must know the
// instance is alive (instance/deadline.rs holds its lock around every use, and the executor clears
// the cell under that lock before the instance can go away).
unsafe impl Send for FuelCell {}

impl FuelCell {
    #[cfg(test)]
    pub fn for_test(value: &AtomicI64) -> FuelCell {
        FuelCell(NonNull::from(value))
    }

    /// The points left, read as the guest's code reads them.
    pub fn get(self) -> i64 {
        // SAFETY: see `exhaust`.
        unsafe { self.0.as_ref() }.load(Ordering::Relaxed)
    }

    /// Takes every remaining point away, so the guest's next check traps as out of fuel.
    ///
    /// # Safety
    /// The instance that owns the cell must be alive. The guest may be running on another
    /// thread: the store is an aligned 8-byte write, which the guest's own plain loads and stores
    /// of the global see whole on every target wasmer compiles for here (x86-64, aarch64). A
    /// guest that was just between its load and its store of the global writes its own value
    /// back; the caller repeats the call until the guest has stopped.
    pub unsafe fn exhaust(self) {
        // SAFETY: the caller's guarantee; the location is a `VMGlobalDefinition`, whose value
        // (a `RawValue` union) starts at offset 0 and is 16-byte aligned.
        unsafe { self.0.as_ref() }.store(0, Ordering::Relaxed);
    }
}

type Note = Box<dyn Fn(FuelCell)>;

thread_local! {
    static NOTE: RefCell<Option<Note>> = const { RefCell::new(None) };
}

/// Runs `f` (an `Instance::new`) with `note` told where the instance's fuel lives as soon as its
/// globals exist, before its start function runs.
pub fn noting_fuel_cell<R>(note: impl Fn(FuelCell) + 'static, f: impl FnOnce() -> R) -> R {
    let previous = NOTE.with(|n| n.replace(Some(Box::new(note))));
    let result = f();
    NOTE.with(|n| *n.borrow_mut() = previous);
    result
}

/// Called by the tunables (guest/memcap.rs) when an instance's globals have been created, with
/// their storage: hands the `FUEL_REMAINING` one to the `noting_fuel_cell` caller, if any.
pub fn globals_created(module: &ModuleInfo, locations: &[NonNull<VMGlobalDefinition>]) {
    let Some(ExportIndex::Global(index)) = module.exports.get(FUEL_REMAINING) else {
        return;
    };
    let Some(local) = module.local_global_index(*index) else {
        return;
    };
    let Some(location) = locations.get(local.as_u32() as usize) else {
        return;
    };
    let cell = FuelCell(location.cast::<AtomicI64>());
    NOTE.with(|n| {
        if let Some(note) = n.borrow().as_ref() {
            note(cell);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_operators_are_charged_by_their_length() {
        assert_eq!(BulkCost::Bytes.points(0), 0);
        assert_eq!(BulkCost::Bytes.points(3), 0);
        assert_eq!(BulkCost::Bytes.points(1 << 20), (1 << 20) / BYTES_PER_POINT);
        assert_eq!(
            BulkCost::Bytes.points(u32::MAX),
            u32::MAX as u64 / BYTES_PER_POINT
        );
        assert_eq!(BulkCost::Elements.points(1000), 1000 * POINTS_PER_ELEMENT);
        let pages = BulkCost::Pages { cap: 4096 };
        assert_eq!(pages.points(2), 2 * POINTS_PER_PAGE);
        // A grow past the cap (it can only fail) costs what the largest possible grow costs.
        assert_eq!(pages.points(u32::MAX), 4096 * POINTS_PER_PAGE);
    }

    #[test]
    fn the_byte_cost_is_a_power_of_two() {
        // The instrumentation divides with a shift.
        assert!(BYTES_PER_POINT.is_power_of_two());
    }

    #[test]
    fn every_bulk_operator_is_recognised() {
        let ops = [
            Operator::MemoryFill { mem: 0 },
            Operator::MemoryCopy {
                dst_mem: 0,
                src_mem: 0,
            },
            Operator::MemoryInit {
                data_index: 0,
                mem: 0,
            },
            Operator::TableFill { table: 0 },
            Operator::TableCopy {
                dst_table: 0,
                src_table: 0,
            },
            Operator::TableInit {
                elem_index: 0,
                table: 0,
            },
            Operator::TableGrow { table: 0 },
            Operator::MemoryGrow { mem: 0 },
        ];
        for op in &ops {
            assert!(BulkCost::of(op, 16).is_some(), "{op:?}");
        }
        assert_eq!(BulkCost::of(&Operator::I32Add, 16), None);
    }
}
