//! `fuelPerEvent`: the metering globals of an instance compiled with a fuel budget
//! (wasmer-middlewares' `Metering` adds them to the module), looked up once instead of by name on
//! every event.

use wasmer::{Global, Instance, RuntimeError, Store, Value};

use crate::instance::failure::{Failure, Kind};

pub struct Fuel {
    budget: u64,
    remaining: Global,
    exhausted: Global,
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
            remaining: global("wasmer_metering_remaining_points")?,
            exhausted: global("wasmer_metering_points_exhausted")?,
        })
    }

    /// Gives the next call a full budget.
    pub fn refill(&self, store: &mut Store) -> Result<(), RuntimeError> {
        self.remaining.set(store, Value::I64(self.budget as i64))?;
        self.exhausted.set(store, Value::I32(0))
    }

    /// Whether the last call stopped because the budget ran out (metering traps like
    /// `unreachable`; this flag is what tells them apart).
    pub fn ran_out(&self, store: &mut Store) -> bool {
        matches!(self.exhausted.get(store), Value::I32(v) if v > 0)
    }

    pub fn failure(&self) -> Failure {
        Failure::new(
            Kind::Fuel,
            format!(
                "the guest used up its budget of {} instructions for one event (fuelPerEvent)",
                self.budget
            ),
        )
    }
}
