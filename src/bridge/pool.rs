//! Threaded mode: N worker threads, each owning one executor (its own `Store` and `Instance`,
//! built on that thread: a `Store` is not `Send`).
//!
//! The JS thread routes every event of a connection to the worker that owns it (chosen
//! least-loaded when the connection opens) over a crossbeam channel, so a connection's events run
//! in order on one thread. A worker runs every event waiting in its channel, then hands all the
//! output they produced to the `Sink` as one batch. After each `onData` it adds an `Ack` record
//! with the bytes consumed, so JS can bound what is in flight per connection.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

use crate::guest::Guest;
use crate::instance::conn::IdHasher;
use crate::instance::executor::{Executor, Stats};
use crate::instance::failure::{Failure, Kind};
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;

/// Receives each output batch (encoded as in `outbox.rs`), on a worker thread.
pub type Sink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// A worker hands its batch over once it is this large, even with events still waiting.
const FLUSH_AT: usize = 256 * 1024;
/// Stack of a worker thread: room for deep guest recursion before wasmer reports exhaustion.
const WORKER_STACK: usize = 8 << 20;

/// One connection event for a worker.
pub enum Event {
    Open(u32),
    /// Bytes, and the socket's queued output when they arrived.
    Data(u32, Vec<u8>, usize),
    End(u32, bool),
    Error(u32),
    Drain(u32, usize),
    /// An outbound connection the guest dialed is established.
    Connected(u32),
    Close(u32),
    Stop,
}

struct Worker {
    tx: Sender<Event>,
    stats: Arc<Mutex<Stats>>,
    /// Connections routed to this worker and not yet closed (JS-thread bookkeeping).
    load: usize,
}

pub struct Pool {
    workers: Vec<Worker>,
    handles: Vec<JoinHandle<()>>,
    /// Which worker owns each open connection.
    route: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
}

impl Pool {
    /// Starts `n` workers and waits until each has instantiated its guest.
    /// Worker `i` dials as worker `i` (its `Connect` records say so, for `adopt`).
    pub fn new(
        guest: Arc<Guest>,
        limits: Limits,
        n: usize,
        sink: Sink,
        dialer: Dialer,
    ) -> Result<Pool, Failure> {
        let mut workers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = unbounded();
            let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
            let stats = Arc::new(Mutex::new(Stats::default()));
            let (g, s, st) = (guest.clone(), sink.clone(), stats.clone());
            // MAX_THREADS (256, js/index.js) keeps every index within a u8.
            let d = dialer.for_worker(i as u8);
            let spawned = thread::Builder::new()
                .name(format!("wsb-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || match Executor::new(g, limits, d) {
                    Ok(exec) => {
                        let _ = ready_tx.send(Ok(()));
                        run(exec, rx, s, st);
                    }
                    Err(f) => {
                        let _ = ready_tx.send(Err(f));
                    }
                });
            let handle = spawned.map_err(|e| {
                Failure::new(Kind::Host, format!("cannot start worker thread: {e}"))
            })?;
            handles.push(handle);
            ready.push(ready_rx);
            workers.push(Worker { tx, stats, load: 0 });
        }
        let mut pool = Pool {
            workers,
            handles,
            route: HashMap::default(),
        };
        for r in ready {
            let outcome = r.recv().unwrap_or_else(|_| {
                Err(Failure::new(
                    Kind::Host,
                    "a worker thread stopped while starting",
                ))
            });
            if let Err(f) = outcome {
                pool.stop();
                return Err(f);
            }
        }
        Ok(pool)
    }

    pub fn instances(&self) -> usize {
        self.workers.len()
    }

    /// Binds connection `id` to the least-loaded worker and runs `onConnection` there.
    pub fn open(&mut self, id: u32) {
        let (i, w) = self
            .workers
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, w)| w.load)
            .expect("a pool has at least one worker");
        w.load += 1;
        self.route.insert(id, i);
        let _ = w.tx.send(Event::Open(id));
    }

    /// Routes connection `id`, which worker `worker`'s guest dialed, to that worker.
    pub fn adopt(&mut self, id: u32, worker: usize) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.load += 1;
            self.route.insert(id, worker);
        }
    }

    /// Sends an event to the worker that owns its connection; events for unknown ids are dropped.
    pub fn send(&mut self, id: u32, event: Event) {
        let closing = matches!(event, Event::Close(_));
        let owner = if closing {
            self.route.remove(&id)
        } else {
            self.route.get(&id).copied()
        };
        if let Some(i) = owner {
            let w = &mut self.workers[i];
            if closing {
                w.load -= 1;
            }
            let _ = w.tx.send(event);
        }
    }

    /// Counters summed over the workers, as of their last batch.
    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for w in &self.workers {
            let s = *w.stats.lock();
            total.accepted += s.accepted;
            total.closed += s.closed;
            total.bytes_in += s.bytes_in;
            total.bytes_out += s.bytes_out;
            total.events += s.events;
            total.traps += s.traps;
            total.restarts += s.restarts;
            total.dialed += s.dialed;
        }
        total
    }

    /// Asks every worker to stop after the events already sent, and returns their threads so
    /// the caller can join them where blocking is allowed.
    pub fn stop(&mut self) -> Vec<JoinHandle<()>> {
        for w in &self.workers {
            let _ = w.tx.send(Event::Stop);
        }
        std::mem::take(&mut self.handles)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Never join here (this may run on the JS thread): stopping is enough, the threads exit
        // once they have finished their current event.
        for w in &self.workers {
            let _ = w.tx.send(Event::Stop);
        }
    }
}

/// A worker's loop: run every waiting event, then hand the batch over.
fn run(mut exec: Executor, rx: Receiver<Event>, sink: Sink, stats: Arc<Mutex<Stats>>) {
    // Output of the start function (logs).
    flush(&mut exec, &sink, &stats);
    while let Ok(first) = rx.recv() {
        let mut event = Some(first);
        while let Some(ev) = event.take() {
            if !handle(&mut exec, ev) {
                flush(&mut exec, &sink, &stats);
                return;
            }
            if exec.output().len() < FLUSH_AT {
                event = rx.try_recv().ok();
            }
        }
        flush(&mut exec, &sink, &stats);
    }
}

/// Runs one event; false for `Stop`.
fn handle(exec: &mut Executor, event: Event) -> bool {
    match event {
        Event::Open(id) => exec.open(id),
        Event::Data(id, bytes, queued) => {
            exec.data(id, &bytes, queued);
            exec.ack(id, bytes.len());
        }
        Event::End(id, half_open) => exec.end(id, half_open),
        Event::Error(id) => exec.error(id),
        Event::Drain(id, queued) => exec.drain(id, queued),
        Event::Connected(id) => exec.connected(id),
        Event::Close(id) => exec.close(id),
        Event::Stop => return false,
    }
    true
}

fn flush(exec: &mut Executor, sink: &Sink, stats: &Mutex<Stats>) {
    *stats.lock() = exec.stats();
    if !exec.output().is_empty() {
        sink(exec.take_output());
    }
}
