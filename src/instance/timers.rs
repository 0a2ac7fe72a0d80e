//! The timers of one guest instance: `Timer.set` timers (per connection or per instance) and
//! `Socket.setTimeout` idle timeouts, in one deadline heap. The executor fires what is due
//! (`pop_due`) and tells its driver when to wake next (`next_deadline`): inline, JS arms one libuv
//! timer for it; on a worker thread, the worker waits on its queue until then.
//!
//! Cleared timers and re-armed timeouts leave stale heap entries behind; each entry carries a
//! sequence number checked against the live entry when it is popped, and the heap is rebuilt
//! when stale entries outnumber live ones.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use std::time::{Duration, Instant};

use crate::bridge::ids::IdHasher;

/// Most live `Timer.set` timers one instance may hold.
pub const MAX_TIMERS: usize = 10_000;
/// Longest delay a guest may ask for (Node's own limit for timers): 2^31 - 1 ms.
pub const MAX_MS: u32 = i32::MAX as u32;

/// `Timer.set` and `Socket.setTimeout` return codes (negative: nothing was set).
pub mod code {
    /// The connection is not one of this instance's open connections.
    pub const UNKNOWN: i32 = -1;
    /// `ms` is over `MAX_MS`.
    pub const TOO_LONG: i32 = -2;
    /// The instance already has `MAX_TIMERS` live timers.
    pub const LIMIT: i32 = -3;
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// What a heap entry wakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Timer(i32),
    Idle(u32),
}

#[derive(Debug)]
struct Timer {
    /// The connection it belongs to; 0 for an instance timer.
    conn: u32,
    /// `Some` for a repeating timer.
    period: Option<Duration>,
    seq: u64,
}

#[derive(Debug)]
struct Idle {
    timeout: Duration,
    last_activity: Instant,
    /// A heap entry with this sequence number is the live one; `None`: fired and not re-armed
    /// by activity since (Node's socket timeout fires once per idle period).
    armed: Option<u64>,
}

/// Something due now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// `onTimer(timer, conn)`.
    Timer { timer: i32, conn: u32 },
    /// `onTimeout(conn)`.
    Idle(u32),
}

#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    timers: Map<i32, Timer>,
    /// Live timer ids by connection, to drop them when it closes.
    by_conn: Map<u32, Vec<i32>>,
    idle: Map<u32, Idle>,
    next_id: i32,
    seq: u64,
}

impl Timers {
    fn push(&mut self, at: Instant, key: Key) -> u64 {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, key)));
        self.seq
    }

    /// `Timer.set`: a timer for `conn` (0: the instance) after `ms`, every `ms` if `repeat`.
    /// The caller checked that `conn` is open. Returns the timer id or `code::*`.
    pub fn set(&mut self, now: Instant, ms: u32, repeat: bool, conn: u32) -> i32 {
        if ms > MAX_MS {
            return code::TOO_LONG;
        }
        if self.timers.len() >= MAX_TIMERS {
            return code::LIMIT;
        }
        // Ids count up from 1 and skip ones still live after wrapping around.
        loop {
            self.next_id = if self.next_id == i32::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.timers.contains_key(&self.next_id) {
                break;
            }
        }
        let id = self.next_id;
        let delay = Duration::from_millis(ms as u64);
        // A repeating timer waits at least 1 ms between runs, as Node's setInterval does.
        let period = repeat.then(|| delay.max(Duration::from_millis(1)));
        let seq = self.push(now + delay, Key::Timer(id));
        self.timers.insert(id, Timer { conn, period, seq });
        if conn != 0 {
            self.by_conn.entry(conn).or_default().push(id);
        }
        self.compact();
        id
    }

    /// `Timer.clear`: unknown, cleared or fired one-shot timers are ignored.
    pub fn clear(&mut self, timer: i32) {
        if let Some(t) = self.timers.remove(&timer) {
            self.unlink(t.conn, timer);
        }
    }

    fn unlink(&mut self, conn: u32, timer: i32) {
        if conn == 0 {
            return;
        }
        if let Entry::Occupied(mut e) = self.by_conn.entry(conn) {
            e.get_mut().retain(|&t| t != timer);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// `Socket.setTimeout`: `onTimeout(conn)` after `ms` without activity; 0 turns it off.
    pub fn set_idle(&mut self, now: Instant, conn: u32, ms: u32) -> i32 {
        if ms > MAX_MS {
            return code::TOO_LONG;
        }
        if ms == 0 {
            self.idle.remove(&conn);
            return 0;
        }
        let timeout = Duration::from_millis(ms as u64);
        let seq = self.push(now + timeout, Key::Idle(conn));
        self.idle.insert(
            conn,
            Idle {
                timeout,
                last_activity: now,
                armed: Some(seq),
            },
        );
        self.compact();
        0
    }

    /// Bytes were read or written on `conn`: its idle timeout starts again.
    pub fn activity(&mut self, conn: u32) {
        let Some(idle) = self.idle.get_mut(&conn) else {
            return;
        };
        let now = Instant::now();
        idle.last_activity = now;
        if idle.armed.is_none() {
            let at = now + idle.timeout;
            let seq = self.push(at, Key::Idle(conn));
            if let Some(idle) = self.idle.get_mut(&conn) {
                idle.armed = Some(seq);
            }
        }
    }

    /// `conn` closed: its timers and timeout die with it.
    pub fn forget(&mut self, conn: u32) {
        self.idle.remove(&conn);
        for timer in self.by_conn.remove(&conn).unwrap_or_default() {
            self.timers.remove(&timer);
        }
    }

    /// The earliest time something may be due (it may turn out stale: then nothing fires).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next thing due at or before `now`, updating the table as if it fired (a one-shot
    /// timer is gone, a repeating one rescheduled, a timeout disarmed until activity).
    pub fn pop_due(&mut self, now: Instant) -> Option<Due> {
        while let Some(&Reverse((at, seq, key))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            match key {
                Key::Timer(id) => {
                    let Some(t) = self.timers.get(&id).filter(|t| t.seq == seq) else {
                        continue;
                    };
                    let conn = t.conn;
                    match t.period {
                        Some(p) => {
                            let seq = self.push(Instant::now() + p, Key::Timer(id));
                            if let Some(t) = self.timers.get_mut(&id) {
                                t.seq = seq;
                            }
                        }
                        None => {
                            self.timers.remove(&id);
                            self.unlink(conn, id);
                        }
                    }
                    return Some(Due::Timer { timer: id, conn });
                }
                Key::Idle(conn) => {
                    let Some(idle) = self.idle.get_mut(&conn).filter(|i| i.armed == Some(seq))
                    else {
                        continue;
                    };
                    let due = idle.last_activity + idle.timeout;
                    if due > now {
                        // Activity since it was armed: wait for the rest of the period.
                        let seq = self.push(due, Key::Idle(conn));
                        if let Some(idle) = self.idle.get_mut(&conn) {
                            idle.armed = Some(seq);
                        }
                        continue;
                    }
                    idle.armed = None;
                    return Some(Due::Idle(conn));
                }
            }
        }
        None
    }

    /// Live timers (`Timer.set`).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Rebuilds the heap from the live entries once stale ones outnumber them.
    fn compact(&mut self) {
        let live = self.timers.len() + self.idle.len();
        if self.heap.len() <= 2 * live + 1024 {
            return;
        }
        let mut live_seqs: HashMap<u64, ()> = HashMap::with_capacity(live);
        live_seqs.extend(self.timers.values().map(|t| (t.seq, ())));
        live_seqs.extend(self.idle.values().filter_map(|i| i.armed.map(|s| (s, ()))));
        let entries = std::mem::take(&mut self.heap).into_vec();
        self.heap = entries
            .into_iter()
            .filter(|Reverse((_, seq, _))| live_seqs.contains_key(seq))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_shot_timers_fire_once_in_deadline_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let a = t.set(t0, 30, false, 0);
        let b = t.set(t0, 10, false, 7);
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(t.pop_due(t0 + ms(5)), None);
        assert_eq!(
            t.pop_due(t0 + ms(40)),
            Some(Due::Timer { timer: b, conn: 7 })
        );
        assert_eq!(
            t.pop_due(t0 + ms(40)),
            Some(Due::Timer { timer: a, conn: 0 })
        );
        assert_eq!(t.pop_due(t0 + ms(1000)), None);
        assert!(t.is_empty());
    }

    #[test]
    fn a_repeating_timer_comes_back_until_cleared() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        let a = t.set(t0, 0, true, 0);
        let now = Instant::now();
        assert_eq!(t.pop_due(now), Some(Due::Timer { timer: a, conn: 0 }));
        assert_eq!(
            t.pop_due(now),
            None,
            "rescheduled at least 1 ms after it ran"
        );
        let later = now + ms(5);
        assert_eq!(t.len(), 1);
        t.clear(a);
        t.clear(a);
        assert_eq!(t.pop_due(later + ms(10)), None);
    }

    #[test]
    fn a_closed_connection_takes_its_timers_and_timeout_with_it() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set(t0, 1, false, 5);
        t.set(t0, 1, true, 5);
        let keep = t.set(t0, 1, false, 6);
        t.set_idle(t0, 5, 1);
        t.forget(5);
        assert_eq!(
            t.pop_due(t0 + ms(10)),
            Some(Due::Timer {
                timer: keep,
                conn: 6
            })
        );
        assert_eq!(t.pop_due(t0 + ms(10)), None);
    }

    #[test]
    fn limits_and_bad_delays_get_their_codes() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.set(t0, MAX_MS + 1, false, 0), code::TOO_LONG);
        assert_eq!(t.set_idle(t0, 1, u32::MAX), code::TOO_LONG);
        for _ in 0..MAX_TIMERS {
            assert!(t.set(t0, 1000, false, 0) > 0);
        }
        assert_eq!(t.set(t0, 1000, false, 0), code::LIMIT);
        assert!(t.heap.len() <= 2 * MAX_TIMERS + 1024);
    }

    #[test]
    fn an_idle_timeout_fires_once_per_quiet_period_and_activity_pushes_it_back() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.set_idle(t0, 3, 50), 0);
        assert_eq!(t.pop_due(t0 + ms(60)), Some(Due::Idle(3)));
        assert_eq!(t.pop_due(t0 + ms(500)), None, "not again without activity");
        t.activity(3);
        let deadline = t.next_deadline().expect("re-armed by activity");
        assert_eq!(t.pop_due(deadline - ms(1)), None);
        assert_eq!(t.pop_due(deadline), Some(Due::Idle(3)));
        assert_eq!(t.set_idle(t0, 3, 0), 0);
        t.activity(3);
        assert_eq!(t.pop_due(t0 + ms(10_000)), None, "0 turns it off");
    }

    #[test]
    fn cleared_timers_do_not_pile_up_in_the_heap() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        for _ in 0..100_000 {
            let id = t.set(t0, 1000, false, 1);
            t.clear(id);
        }
        assert!(t.heap.len() <= 1024 + 2, "{} heap entries", t.heap.len());
    }
}
