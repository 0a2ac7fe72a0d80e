//! `fuelPerEvent`: the metering globals of an instance compiled with metering (guest/metering.rs
//! adds them to the module), looked up once instead of by name on every event.

use wasmer::{Global, Instance, RuntimeError, Store, Value};

use crate::guest::metering::{FUEL_EXHAUSTED, FUEL_REMAINING, FuelCell, UNLIMITED};
use crate::instance::failure::{Failure, Kind};

pub struct Fuel {
    /// Points each call starts with (`UNLIMITED` when only `eventTimeoutMs` needs metering).
    budget: u64,
    remaining: Global,
    exhausted: Global,
    /// Where `remaining` lives, for the watchdog of `eventTimeoutMs`.
    cell: Option<FuelCell>,
}

impl Fuel {
    pub fn lookup(instance: &Instance, budget: u64) -> Result<Fuel, Failure> {
        let global = |name: &str| {
            instance.exports.get_global(name).cloned().map_err(|e| {
                Failure::new(Kind::Host, format!("fuel metering is missing {name}: {e}"))
            })
        };
        Ok(Fuel {
            budget,
            remaining: global(FUEL_REMAINING)?,
            exhausted: global(FUEL_EXHAUSTED)?,
            cell: None,
        })
    }

    /// Gives the fuel its location (noted while the instance was created), after checking that it
    /// is this instance's `remaining` global: the watchdog writes there from another thread, so a
    /// wrong location is refused rather than trusted.
    pub fn locate(&mut self, store: &mut Store, cell: FuelCell) -> Result<(), Failure> {
        let wrong = || {
            Failure::new(
                Kind::Host,
                "cannot find the guest's fuel for eventTimeoutMs",
            )
        };
        for probe in [0x5a5a_0001_i64, 0x0123_4567_89ab] {
            self.remaining
                .set(store, Value::I64(probe))
                .map_err(|_| wrong())?;
            if cell.get() != probe {
                return Err(wrong());
            }
        }
        self.cell = Some(cell);
        Ok(())
    }

    pub fn cell(&self) -> Option<FuelCell> {
        self.cell
    }

    /// Gives the next call a full budget.
    pub fn refill(&self, store: &mut Store) -> Result<(), RuntimeError> {
        self.remaining.set(store, Value::I64(self.budget as i64))?;
        self.exhausted.set(store, Value::I32(0))
    }

    /// Points the last call used (0 after one that ran out).
    pub fn used(&self, store: &mut Store) -> u64 {
        match self.remaining.get(store) {
            Value::I64(left) => self.budget.saturating_sub(left.max(0) as u64),
            _ => 0,
        }
    }

    /// Whether the last call stopped because the budget ran out (metering traps like
    /// `unreachable`; this flag is what tells them apart).
    pub fn ran_out(&self, store: &mut Store) -> bool {
        matches!(self.exhausted.get(store), Value::I32(v) if v > 0)
    }

    pub fn failure(&self) -> Failure {
        if self.budget == UNLIMITED {
            return Failure::new(Kind::Host, "the guest's fuel ran out without a budget");
        }
        Failure::new(
            Kind::Fuel,
            format!(
                "the guest used up its budget of {} points for one event (fuelPerEvent: one per \
                 instruction, bulk memory and table operations by their length) - raise \
                 fuelPerEvent if the work is legitimate (stats().fuelMax shows the most one event \
                 used)",
                self.budget
            ),
        )
    }
}
