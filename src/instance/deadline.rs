//! `eventTimeoutMs`: a wall-clock deadline for each guest call (an event, the start function,
//! `_initialize`), enforced by one watchdog thread per process.
//!
//! Each executor that has a deadline owns a `Deadline`, a slot the watchdog can see. Around every
//! guest call the executor arms it (the moment the call must be over, and where the instance's
//! fuel lives) and disarms it after. When a call is still armed past its moment, the watchdog takes
//! the instance's remaining fuel away (guest/metering.rs, `FuelCell::exhaust`): the guest traps at
//! its next metering check, as if its budget had run out, and the executor, seeing that the
//! watchdog fired, reports a `timeout` instead of `fuel`. Until the call is disarmed the watchdog
//! repeats that every millisecond, which also covers a guest that was between reading and writing
//! its fuel global, and time spent in a host import (no host import blocks for long; the guest is
//! stopped at its first check after the import returns).
//!
//! Nothing is interrupted from outside: no signal, no unwinding through foreign frames. The trap is
//! an ordinary wasm trap on the guest's own thread, so it is as safe as running out of fuel.
//!
//! Cost per guest call with a deadline: a clock read, two uncontended lock/unlock pairs and an
//! atomic load; without one, nothing (no slot exists). The watchdog sleeps until the earliest armed
//! moment, and an arm wakes it only when the watchdog would otherwise sleep past the new moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::guest::metering::FuelCell;

/// How often the watchdog empties the fuel of a call that is past its moment and still running.
const REPEAT: Duration = Duration::from_millis(1);

#[derive(Default)]
struct State {
    /// When the armed call must be over; `None`: disarmed.
    until: Option<Instant>,
    /// The running instance's fuel, once known.
    cell: Option<FuelCell>,
    /// The watchdog stopped the armed call.
    fired: bool,
}

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The watchdog's registry of slots.
struct Watchdog {
    slots: Mutex<Vec<Weak<Slot>>>,
    wake: Condvar,
    /// When the watchdog will next look (nanoseconds since `epoch`); `u64::MAX`: not until woken.
    /// Set to `u64::MAX` before each scan, so an arm that races with a scan always wakes it.
    next: AtomicU64,
    epoch: Instant,
}

impl Watchdog {
    fn get() -> &'static Watchdog {
        static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
                slots: Mutex::new(Vec::new()),
                wake: Condvar::new(),
                next: AtomicU64::new(u64::MAX),
                epoch: Instant::now(),
            }));
            let spawned = std::thread::Builder::new()
                .name("wsb-deadline".into())
                .spawn(move || dog.run());
            if spawned.is_err() {
                // Without a watchdog no deadline fires; the calls still run and end normally.
                dog.next.store(0, Ordering::SeqCst);
            }
            dog
        })
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn run(&self) {
        let mut slots = lock(&self.slots);
        loop {
            self.next.store(u64::MAX, Ordering::SeqCst);
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            slots.retain(|weak| {
                let Some(slot) = weak.upgrade() else {
                    return false;
                };
                let mut state = lock(&slot.state);
                if let Some(until) = state.until {
                    let at = if now >= until {
                        state.fired = true;
                        if let Some(cell) = state.cell {
                            // SAFETY: the slot is armed, and the executor clears the cell (under
                            // this lock) before the instance it belongs to can be dropped.
                            unsafe { cell.exhaust() };
                        }
                        now + REPEAT
                    } else {
                        until
                    };
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                true
            });
            match next {
                None => {
                    slots = self.wake.wait(slots).unwrap_or_else(|e| e.into_inner());
                }
                Some(at) => {
                    self.next.store(self.nanos(at), Ordering::SeqCst);
                    let wait = at.saturating_duration_since(Instant::now());
                    slots = self
                        .wake
                        .wait_timeout(slots, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    /// Makes sure the watchdog looks at `until` or earlier.
    fn look_by(&self, until: Instant) {
        if self.nanos(until) < self.next.load(Ordering::SeqCst) {
            let _slots = lock(&self.slots);
            self.wake.notify_one();
        }
    }
}

/// One executor's deadline: how long each call may run, and the slot the watchdog watches.
pub struct Deadline {
    limit: Duration,
    slot: Arc<Slot>,
}

impl Deadline {
    pub fn new(limit: Duration) -> Deadline {
        let slot = Arc::new(Slot::default());
        let dog = Watchdog::get();
        lock(&dog.slots).push(Arc::downgrade(&slot));
        Deadline { limit, slot }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// A call starts: it must be over within the limit. `cell` is the running instance's fuel
    /// (`None` while the instance is being created: `set_cell` gives it once its globals exist).
    pub fn arm(&self, cell: Option<FuelCell>) {
        let until = Instant::now() + self.limit;
        {
            let mut state = lock(&self.slot.state);
            state.until = Some(until);
            state.cell = cell;
            state.fired = false;
        }
        Watchdog::get().look_by(until);
    }

    /// The call is over (or the instance is about to go away): the watchdog lets it be. Returns
    /// whether the watchdog stopped it.
    pub fn disarm(&self) -> bool {
        let mut state = lock(&self.slot.state);
        state.until = None;
        state.cell = None;
        std::mem::take(&mut state.fired)
    }

    /// A handle for the tunables' note (`guest::metering::noting_fuel_cell`), which must be
    /// `'static`.
    pub fn cell_setter(&self) -> impl Fn(FuelCell) + 'static {
        let slot = Arc::downgrade(&self.slot);
        move |cell| {
            if let Some(slot) = slot.upgrade() {
                lock(&slot.state).cell = Some(cell);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    fn cell(value: &AtomicI64) -> FuelCell {
        FuelCell::for_test(value)
    }

    #[test]
    fn a_call_past_its_deadline_loses_its_fuel_until_it_is_disarmed() {
        let fuel = AtomicI64::new(1_000_000);
        let d = Deadline::new(Duration::from_millis(20));
        d.arm(Some(cell(&fuel)));
        let start = Instant::now();
        // A "guest" that keeps refilling its fuel, as one between its load and store would.
        while fuel.load(Ordering::Relaxed) != 0 {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the watchdog never fired"
            );
            std::hint::spin_loop();
        }
        let fired_after = start.elapsed();
        assert!(fired_after >= Duration::from_millis(19), "{fired_after:?}");
        fuel.store(5, Ordering::Relaxed);
        let again = Instant::now();
        while fuel.load(Ordering::Relaxed) != 0 {
            assert!(
                again.elapsed() < Duration::from_secs(5),
                "the watchdog did not repeat"
            );
            std::hint::spin_loop();
        }
        assert!(d.disarm());
        // Disarmed: the fuel is left alone.
        fuel.store(7, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(fuel.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_call_that_ends_in_time_is_not_stopped() {
        let fuel = AtomicI64::new(100);
        let d = Deadline::new(Duration::from_millis(200));
        for _ in 0..1000 {
            d.arm(Some(cell(&fuel)));
            assert!(!d.disarm());
        }
        assert_eq!(fuel.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn many_deadlines_fire_independently() {
        let fuels: Vec<AtomicI64> = (0..4).map(|_| AtomicI64::new(1)).collect();
        let ds: Vec<Deadline> = (0..4)
            .map(|i| Deadline::new(Duration::from_millis(10 + 10 * i)))
            .collect();
        for (d, f) in ds.iter().zip(&fuels) {
            d.arm(Some(cell(f)));
        }
        std::thread::sleep(Duration::from_millis(100));
        for (d, f) in ds.iter().zip(&fuels) {
            assert_eq!(f.load(Ordering::Relaxed), 0);
            assert!(d.disarm());
        }
    }
}
