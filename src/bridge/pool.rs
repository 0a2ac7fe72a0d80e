//! Threaded mode: N worker threads, each owning its executors (its own `Store`s and `Instance`s,
//! built on that thread: a `Store` is not `Send`): the current one, and after a reload those
//! still finishing their connections (`generations.rs`).
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

use crate::bridge::event::Event;
use crate::bridge::generations::{Generations, Reload};
use crate::bridge::ids::{IdHasher, IdSource};
use crate::bridge::stats::Stats;
use crate::guest::Guest;
use crate::instance::executor::{Executor, Setup};
use crate::instance::failure::{Failure, Kind};
use crate::native::driver::{self, Driver};
use crate::native::{Handoff, Listener, Peers, Routes, Server};

/// Receives each output batch (encoded as in `instance/outbox.rs`), on a worker thread.
pub type Sink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// A worker hands its batch over once it is this large, even with events still waiting.
const FLUSH_AT: usize = 256 * 1024;
/// Stack of a worker thread: room for deep guest recursion before wasmer reports exhaustion.
const WORKER_STACK: usize = 8 << 20;

/// Each worker's answer to a `Prepare`: its new instance started, or why not.
pub type Ready = Result<(), Failure>;

/// What a worker's channel carries.
enum Msg {
    Event(Event<'static>),
    /// Start an instance of a new guest and hold it, unused; answer on the sender.
    Prepare(Box<Reload>, Sender<Ready>),
    /// Switch to the instance prepared last: connections opened from now on go to it.
    Commit,
    /// Drop the instance prepared last: the reload was refused.
    Abort,
    /// Native I/O: accept and serve on this listening socket (the first time with the poll the
    /// worker's loop waits on from now on).
    Listen(Box<NativeListen>),
    /// Native I/O: serve a connection another worker accepted.
    Adopt(Box<Handoff>),
    /// Native I/O: stop accepting for the servers that were closed.
    Unlisten,
    /// Native I/O, `bridge.close()`: end every native connection.
    EndNative,
    /// Finish the events sent before, then exit.
    Stop,
}

/// What a worker needs to serve a listening socket natively.
pub struct NativeListen {
    /// The first time: the poll and its waker (which resolver threads wake it with too).
    poll: Option<(mio::Poll, Arc<mio::Waker>)>,
    listener: Listener,
    ids: Arc<IdSource>,
    routes: Arc<Routes>,
    /// Counts the connections the guests dialed natively.
    outbound: Arc<Server>,
    worker: u8,
    high_water_mark: usize,
    peers: Peers,
}

/// What a worker last reported: its counters and how many executors it runs.
#[derive(Default)]
struct Report {
    stats: Stats,
    executors: usize,
}

struct Worker {
    tx: Sender<Msg>,
    /// Native I/O: interrupts the worker's poll; every message is followed by a wake.
    waker: Option<Arc<mio::Waker>>,
    report: Arc<Mutex<Report>>,
    /// Connections routed to this worker and not yet closed (JS-thread bookkeeping).
    load: usize,
}

pub struct Pool {
    workers: Vec<Worker>,
    handles: Vec<JoinHandle<()>>,
    /// Which worker owns each open connection.
    route: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// Which worker serves each open native connection (the workers keep it).
    native: Arc<Routes>,
    /// Native I/O: how a worker hands a connection to another (made at the first `listen`).
    peers: Option<Peers>,
    /// Connections the guests dialed natively (workers that serve a listener dial themselves).
    outbound: Arc<Server>,
}

impl Pool {
    /// Starts `n` workers and waits until each has instantiated its guest.
    /// Worker `i` dials as worker `i` (its `Connect` records say so, for `adopt`).
    pub fn new(guest: Arc<Guest>, setup: Setup, n: usize, sink: Sink) -> Result<Pool, Failure> {
        let mut workers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut ready = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = unbounded();
            let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
            let report = Arc::new(Mutex::new(Report::default()));
            let (g, s, st) = (guest.clone(), sink.clone(), report.clone());
            // MAX_THREADS (policy/limits.rs) keeps every index within a u8.
            let setup = Setup {
                dialer: setup.dialer.for_worker(i as u8),
                ..setup.clone()
            };
            let spawned = thread::Builder::new()
                .name(format!("wsb-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || match Executor::new(g, setup) {
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
            workers.push(Worker {
                tx,
                waker: None,
                report,
                load: 0,
            });
        }
        let mut pool = Pool {
            workers,
            handles,
            route: HashMap::default(),
            native: Arc::new(Routes::new(n)),
            peers: None,
            outbound: Arc::default(),
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

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Instances running, over every worker (as of their last batch).
    pub fn instances(&self) -> usize {
        self.workers.iter().map(|w| w.report.lock().executors).sum()
    }

    /// Asks every worker to start an instance of `reload`'s guest and hold it; each answers on
    /// the returned channel. Events sent meanwhile still go to the current guest.
    pub fn prepare(&mut self, reload: &Reload) -> Receiver<Ready> {
        let (tx, rx) = unbounded();
        for w in &self.workers {
            w.deliver(Msg::Prepare(Box::new(reload.clone()), tx.clone()));
        }
        rx
    }

    /// Every worker switches to the instance it prepared (one that could not start one keeps
    /// its current guest and says so), or drops it.
    pub fn finish(&mut self, commit: bool) {
        for w in &self.workers {
            w.deliver(if commit { Msg::Commit } else { Msg::Abort });
        }
    }

    /// Routes connection `id`, which worker `worker`'s guest dialed, to that worker.
    pub fn adopt(&mut self, id: u32, worker: usize) {
        if let Some(w) = self.workers.get_mut(worker) {
            w.load += 1;
            self.route.insert(id, worker);
        }
    }

    /// Sends an event to the worker that owns its connection. `Open` binds the connection to the
    /// least-loaded worker, `Close` unbinds it; events for unknown ids are dropped.
    pub fn send(&mut self, event: Event<'static>) {
        // A worker makes its own ticks.
        let Some(id) = event.id() else { return };
        if let Event::Message { id: 0, bytes } = &event {
            // A broadcast: every worker's instance gets it.
            for w in &self.workers {
                let copy = Event::Message {
                    id: 0,
                    bytes: bytes.clone(),
                };
                w.deliver(Msg::Event(copy));
            }
            return;
        }
        let owner = match event {
            Event::Open { .. } => {
                let i = (0..self.workers.len())
                    .min_by_key(|&i| self.workers[i].load)
                    .unwrap_or(0);
                self.workers[i].load += 1;
                self.route.insert(id, i);
                Some(i)
            }
            Event::Close(_) => self
                .route
                .remove(&id)
                .inspect(|&i| self.workers[i].load -= 1),
            _ => self
                .route
                .get(&id)
                .copied()
                .or_else(|| self.native.get(id).map(usize::from)),
        };
        if let Some(w) = owner.and_then(|i| self.workers.get(i)) {
            w.deliver(Msg::Event(event));
        }
    }

    /// Sends an event to worker `worker` itself (an answer to one of its host calls).
    pub fn send_to(&mut self, worker: usize, event: Event<'static>) {
        if let Some(w) = self.workers.get(worker) {
            w.deliver(Msg::Event(event));
        }
    }

    /// Native I/O: worker `i` accepts on `listeners[i]` and serves what it accepts itself.
    pub fn listen(
        &mut self,
        listeners: Vec<Listener>,
        ids: &Arc<IdSource>,
        high_water_mark: usize,
    ) -> Result<(), String> {
        // Every worker's loop exists before any accepts, so each can hand connections to the
        // others from the start.
        let mut polls = Vec::with_capacity(self.workers.len());
        for w in &mut self.workers {
            polls.push(match &w.waker {
                Some(_) => None,
                None => {
                    let (poll, waker) = driver::poll_and_waker()
                        .map_err(|e| format!("cannot start a worker's event loop: {e}"))?;
                    w.waker = Some(waker.clone());
                    Some((poll, waker))
                }
            });
        }
        let peers = match &self.peers {
            Some(p) => p.clone(),
            None => {
                let targets: Vec<_> = self
                    .workers
                    .iter()
                    .map(|w| (w.tx.clone(), w.waker.clone()))
                    .collect();
                let peers: Peers = Arc::new(move |to: u8, handoff: Handoff| {
                    if let Some((tx, waker)) = targets.get(to as usize) {
                        let _ = tx.send(Msg::Adopt(Box::new(handoff)));
                        if let Some(waker) = waker {
                            let _ = waker.wake();
                        }
                    }
                });
                self.peers = Some(peers.clone());
                peers
            }
        };
        let sends = self.workers.iter().zip(listeners).zip(polls);
        for (i, ((w, listener), poll)) in sends.enumerate() {
            w.deliver(Msg::Listen(Box::new(NativeListen {
                poll,
                listener,
                ids: ids.clone(),
                routes: self.native.clone(),
                outbound: self.outbound.clone(),
                // MAX_THREADS keeps every index within a u8.
                worker: i as u8,
                high_water_mark,
                peers: peers.clone(),
            })));
        }
        // Only now may workers be handed connections: a hand-off sent from here on reaches each
        // worker after its `Listen`, which starts its loop.
        for i in 0..self.workers.len() {
            self.native.serve(i as u8);
        }
        Ok(())
    }

    /// Whether `id` is an open native connection (accepted or dialed by a worker).
    pub fn is_native(&self, id: u32) -> bool {
        self.native.get(id).is_some()
    }

    /// Connections the guests dialed natively that are open (or still connecting).
    pub fn dialed(&self) -> usize {
        self.outbound.connections()
    }

    /// Native I/O: the workers stop accepting for the servers that were closed.
    pub fn unlisten(&mut self) {
        for w in self.workers.iter().filter(|w| w.waker.is_some()) {
            w.deliver(Msg::Unlisten);
        }
    }

    /// Native I/O, `bridge.close()`: every native connection is ended (FIN after its output).
    pub fn end_native(&mut self) {
        for w in self.workers.iter().filter(|w| w.waker.is_some()) {
            w.deliver(Msg::EndNative);
        }
    }

    /// Counters summed over the workers, as of their last batch.
    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for w in &self.workers {
            total += w.report.lock().stats;
        }
        total
    }

    /// Asks every worker to stop after the events already sent, and returns their threads so
    /// the caller can join them where blocking is allowed.
    pub fn stop(&mut self) -> Vec<JoinHandle<()>> {
        for w in &self.workers {
            w.deliver(Msg::Stop);
        }
        std::mem::take(&mut self.handles)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Never join here (this may run on the JS thread): stopping is enough, the threads exit
        // once they have finished their current event.
        for w in &self.workers {
            w.deliver(Msg::Stop);
        }
    }
}

impl Worker {
    fn deliver(&self, msg: Msg) {
        let _ = self.tx.send(msg);
        if let Some(waker) = &self.waker {
            let _ = waker.wake();
        }
    }
}

/// A worker's loop: wait for events (on its channel, or natively on its sockets too) until the
/// next timer is due, run every waiting event and every due timer, then hand the batch over.
fn run(exec: Executor, rx: Receiver<Msg>, sink: Sink, report: Arc<Mutex<Report>>) {
    let mut w = WorkerState {
        gens: Generations::new(exec, false),
        pending: None,
        driver: None,
    };
    // Output of the start function (logs).
    w.flush(&sink, &report);
    loop {
        let deadline = w.gens.next_deadline();
        let mut next = match &mut w.driver {
            None => match deadline {
                Some(at) => match rx.recv_deadline(at) {
                    Ok(msg) => Some(msg),
                    Err(e) if e.is_disconnected() => return,
                    Err(_) => None,
                },
                None => match rx.recv() {
                    Ok(msg) => Some(msg),
                    Err(_) => return,
                },
            },
            // Messages first: a reload's switch, sent before a client connected, must be in
            // before that connection is accepted.
            Some(d) => {
                d.wait(deadline);
                rx.try_recv().ok()
            }
        };
        while let Some(msg) = next.take() {
            if !w.on_message(msg) {
                w.flush(&sink, &report);
                return;
            }
            if w.gens.output().len() < FLUSH_AT {
                next = rx.try_recv().ok();
            }
        }
        if let Some(d) = &mut w.driver {
            d.serve(&mut w.gens);
        }
        w.gens.handle(Event::Tick);
        w.flush(&sink, &report);
    }
}

/// What a worker thread holds.
struct WorkerState {
    gens: Generations,
    /// An instance of a reload's guest (its generation), started and waiting for the switch.
    pending: Option<(u32, Result<Executor, Failure>)>,
    /// Native I/O, once the worker serves a listening socket.
    driver: Option<Driver>,
}

impl WorkerState {
    /// Carries out one message; false for `Stop`.
    fn on_message(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Event(event) => {
                let consumed = match &event {
                    Event::Data { id, bytes, .. } => Some((*id, bytes.len())),
                    _ => None,
                };
                self.gens.handle(event);
                if let Some((id, n)) = consumed {
                    self.gens.ack(id, n);
                }
            }
            Msg::Prepare(reload, ready) => {
                let started = self.gens.start(&reload);
                let _ = ready.send(started.as_ref().map(|_| ()).map_err(Failure::clone));
                self.pending = Some((reload.generation, started));
            }
            Msg::Commit => match self.pending.take() {
                Some((_, Ok(exec))) => self.gens.switch(exec),
                // Another worker started it, this one could not: it keeps its guest.
                Some((generation, Err(f))) => self.gens.report(&format!(
                    "this worker thread could not start generation {generation} of the \
                     guest and goes on serving new connections with the one before: {}",
                    f.message
                )),
                None => {}
            },
            Msg::Abort => self.pending = None,
            Msg::Listen(listen) => {
                let NativeListen {
                    poll,
                    listener,
                    ids,
                    routes,
                    outbound,
                    worker,
                    high_water_mark,
                    peers,
                } = *listen;
                if let Some(poll) = poll {
                    self.driver = Some(Driver::new(
                        poll,
                        ids,
                        routes,
                        outbound,
                        worker,
                        high_water_mark,
                        peers,
                    ));
                }
                if let Some(d) = &mut self.driver
                    && let Err(e) = d.listen(listener)
                {
                    self.gens
                        .report(&format!("a worker thread cannot accept connections: {e}"));
                }
            }
            Msg::Adopt(handoff) => {
                // Only sent to workers whose loop runs (`Routes::serve`).
                if let Some(d) = &mut self.driver {
                    d.adopt(*handoff, &mut self.gens);
                }
            }
            Msg::Unlisten => {
                if let Some(d) = &mut self.driver {
                    d.unlisten();
                }
            }
            Msg::EndNative => {
                if let Some(d) = &mut self.driver {
                    d.end_all(&mut self.gens);
                }
            }
            Msg::Stop => return false,
        }
        true
    }

    /// Hands the batch over: natively served connections' records are carried out here first.
    fn flush(&mut self, sink: &Sink, report: &Mutex<Report>) {
        let out = match &mut self.driver {
            Some(d) => {
                d.settle(&mut self.gens);
                d.take_forward()
            }
            None => self.gens.take_output(),
        };
        *report.lock() = Report {
            stats: self.gens.stats(),
            executors: self.gens.executors(),
        };
        if !out.is_empty() {
            sink(out);
        }
    }
}
