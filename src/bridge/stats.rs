//! Counters of a bridge, summed over its instances and worker threads.

use std::ops::AddAssign;

/// Counters of one instance, an executor (all the instances it has run), or a whole bridge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub accepted: u64,
    pub closed: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub events: u64,
    pub traps: u64,
    pub restarts: u64,
    /// Connections the guest dialed (`Socket.connect`).
    pub dialed: u64,
    /// Log lines dropped by the per-event log cap.
    pub logs_dropped: u64,
    /// Fuel points used by all metered calls (`fuelPerEvent` or `eventTimeoutMs`).
    pub fuel_used: u64,
    /// The most fuel points one call used: what `fuelPerEvent` must at least allow.
    pub fuel_max: u64,
}

impl Stats {
    /// One metered call used `points`.
    pub fn note_fuel(&mut self, points: u64) {
        self.fuel_used = self.fuel_used.saturating_add(points);
        self.fuel_max = self.fuel_max.max(points);
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        let Stats {
            accepted,
            closed,
            bytes_in,
            bytes_out,
            events,
            traps,
            restarts,
            dialed,
            logs_dropped,
            fuel_used,
            fuel_max,
        } = o;
        self.accepted += accepted;
        self.closed += closed;
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        self.events += events;
        self.traps += traps;
        self.restarts += restarts;
        self.dialed += dialed;
        self.logs_dropped += logs_dropped;
        self.fuel_used = self.fuel_used.saturating_add(fuel_used);
        self.fuel_max = self.fuel_max.max(fuel_max);
    }
}
