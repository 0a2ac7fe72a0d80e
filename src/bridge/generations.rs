//! The guests one thread runs (the JS thread inline, or one worker): the current executor, which
//! new connections go to, and the executors a reload replaced, each serving the connections it
//! had at the switch (with their timers and host calls) until the last one closes, then dropped.
//!
//! Every executor has its own outbox; what a retiring one produces is moved into the current
//! one's right after each event, so the thread hands over one batch, in event order. The next
//! timer is the earliest of all of them.

use std::sync::Arc;
use std::time::Instant;

use crate::bridge::event::Event;
use crate::bridge::stats::Stats;
use crate::guest::Guest;
use crate::instance::executor::{Executor, Setup};
use crate::instance::failure::{Failure, Kind};
use crate::instance::outbox::NO_TIMER;

/// A new guest for every executor (`bridge.reload`).
#[derive(Clone)]
pub struct Reload {
    pub guest: Arc<Guest>,
    /// Replaces the configuration (`Host.config`) for the new guest; `None` keeps it.
    pub config: Option<Arc<[u8]>>,
    /// `bridge.generation` once it is in.
    pub generation: u32,
}

pub struct Generations {
    current: Executor,
    /// Replaced by a reload, still serving connections; usually empty.
    retiring: Vec<Executor>,
    /// Counters of the executors dropped so far.
    retired: Stats,
    /// Inline mode: append a `Timer` record whenever the next deadline changes, so JS can arm
    /// its one timer. A worker thread asks `next_deadline` instead.
    report_deadlines: bool,
    /// The deadline JS was last told about (inline mode); `None` before any.
    reported: Option<Option<Instant>>,
}

impl Generations {
    pub fn new(current: Executor, report_deadlines: bool) -> Generations {
        Generations {
            current,
            retiring: Vec::new(),
            retired: Stats::default(),
            report_deadlines,
            reported: None,
        }
    }

    /// Starts an instance of `reload`'s guest, with the current executor's setup (this
    /// thread's dialer, the shared store, ...) and the reload's configuration if it gives one.
    pub fn start(&self, reload: &Reload) -> Result<Executor, Failure> {
        let setup = self.current.setup();
        let setup = Setup {
            config: reload
                .config
                .clone()
                .unwrap_or_else(|| setup.config.clone()),
            generation: reload.generation,
            ..setup.clone()
        };
        Executor::new(reload.guest.clone(), setup)
    }

    /// Switches to `next`: connections opened from now on go to it; the executor it replaces
    /// keeps the connections it has until they close (dropped at once if it has none).
    pub fn switch(&mut self, mut next: Executor) {
        // What the old executor produced and has not handed over goes first, then the new
        // one's start-function output.
        let started = next.take_output();
        let mut old = std::mem::replace(&mut self.current, next);
        self.current.append_output(old.output());
        old.clear_output();
        self.current.append_output(&started);
        old.retire();
        self.keep_or_drop(old);
    }

    /// Reports a host failure that concerns no connection (an `Error` record).
    pub fn report(&mut self, message: &str) {
        self.current.report(Kind::Host, message);
    }

    /// Runs one event on the executor it concerns.
    pub fn handle(&mut self, event: Event<'_>) {
        if matches!(event, Event::Tick) {
            // Inline: JS's timer is spent; whatever is next must be reported again.
            self.reported = None;
        }
        if self.retiring.is_empty() {
            self.current.handle(event);
        } else {
            self.route(event);
        }
        if self.report_deadlines {
            self.report_deadline();
        }
    }

    /// Native I/O: `onData` for `id` with bytes `source` reads straight into guest memory, on
    /// the executor that owns `id` (`Executor::data_from`).
    pub fn data_from(
        &mut self,
        id: u32,
        len: usize,
        queued: usize,
        source: &mut dyn FnMut(&mut [u8]) -> usize,
    ) {
        match self.retiring.iter().position(|e| e.owns(id)) {
            Some(i) => {
                self.retiring[i].data_from(id, len, queued, source);
                self.after_retiring(i);
            }
            None => self.current.data_from(id, len, queued, source),
        }
        if self.report_deadlines {
            self.report_deadline();
        }
    }

    /// With retiring executors: connection events go to the executor that owns the connection
    /// (new ones to the current), a broadcast and a tick to every executor, an answer to the one
    /// whose instance made the call.
    fn route(&mut self, event: Event<'_>) {
        let owner = match &event {
            Event::Open { .. } => None,
            Event::Tick | Event::Message { id: 0, .. } => {
                for i in (0..self.retiring.len()).rev() {
                    self.run_retiring(i, event.clone());
                }
                self.current.handle(event);
                return;
            }
            Event::Reply { instance, .. } => {
                self.retiring.iter().position(|e| e.instance() == *instance)
            }
            other => match other.id() {
                Some(id) => self.retiring.iter().position(|e| e.owns(id)),
                None => None,
            },
        };
        match owner {
            Some(i) => self.run_retiring(i, event),
            None => self.current.handle(event),
        }
    }

    /// Runs `event` on retiring executor `i`, moves its output over, and drops it once its last
    /// connection is gone.
    fn run_retiring(&mut self, i: usize, event: Event<'_>) {
        self.retiring[i].handle(event);
        self.after_retiring(i);
    }

    /// Moves what retiring executor `i` produced over, and drops it once its last connection is
    /// gone.
    fn after_retiring(&mut self, i: usize) {
        let exec = &mut self.retiring[i];
        self.current.append_output(exec.output());
        exec.clear_output();
        if exec.connections() == 0 {
            let exec = self.retiring.swap_remove(i);
            self.retired += exec.stats();
        }
    }

    fn keep_or_drop(&mut self, exec: Executor) {
        if exec.connections() == 0 {
            self.retired += exec.stats();
        } else {
            self.retiring.push(exec);
        }
    }

    /// Inline mode: tells JS (a `Timer` record) when the next timer is due, if that changed.
    fn report_deadline(&mut self) {
        let next = self.next_deadline();
        if self.reported == Some(next) {
            return;
        }
        self.reported = Some(next);
        let ms = next.map_or(NO_TIMER, |at| {
            let wait = at.saturating_duration_since(Instant::now());
            // Rounded up: a timer that fires early only finds nothing due and waits again.
            (wait.as_micros().div_ceil(1000)).min(NO_TIMER as u128 - 1) as u32
        });
        self.current.timer(ms);
    }

    /// When the earliest timer or timeout of any executor may be due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let retiring = self.retiring.iter().filter_map(Executor::next_deadline);
        self.current
            .next_deadline()
            .into_iter()
            .chain(retiring)
            .min()
    }

    /// Counters of every executor this thread has run.
    pub fn stats(&self) -> Stats {
        let mut s = self.retired;
        s += self.current.stats();
        for e in &self.retiring {
            s += e.stats();
        }
        s
    }

    /// Executors alive: the current one and those still finishing their connections.
    pub fn executors(&self) -> usize {
        1 + self.retiring.len()
    }

    /// The output batch so far (all executors').
    pub fn output(&self) -> &[u8] {
        self.current.output()
    }

    pub fn take_output(&mut self) -> Vec<u8> {
        self.current.take_output()
    }

    pub fn clear_output(&mut self) {
        self.current.clear_output();
    }

    /// Records that the guest consumed `bytes` of `id`'s input (threaded mode's flow control).
    pub fn ack(&mut self, id: u32, bytes: usize) {
        self.current.ack(id, bytes);
    }
}
