//! A bridge: one loaded guest serving many connections. It hands out connection ids (never
//! reused while the bridge lives) and routes each connection's events to the executor that owns
//! it: one executor driven on the caller's thread (`threads: 0`), or a pool of worker threads.
//! Routing knows nothing of wasmer: it moves `Event`s and output batches.

pub mod event;
pub mod generations;
pub mod ids;
pub mod pool;
pub mod shared;
pub mod stats;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::guest::Guest;
use crate::instance::executor::{Executor, Setup};
use crate::instance::failure::{Failure, Kind};
use crate::native::{self, ListenOptions, Listener, Server};
use crate::policy::allow::Allowlist;
use crate::policy::dial::Dialer;
use crate::policy::limits::Limits;
use event::{Event, Peer};
use generations::{Generations, Reload};
use ids::IdSource;
use pool::{Pool, Ready, Sink};
use shared::Shared;
use stats::Stats;

/// What a bridge is made with, besides its guest.
pub struct Options {
    pub limits: Limits,
    /// 0: inline; N: N worker threads.
    pub threads: usize,
    /// Threaded mode: receives each worker's output batches.
    pub sink: Option<Sink>,
    /// What guests may dial with `Socket.connect`.
    pub allow: Allowlist,
    /// What `Host.config` gives.
    pub config: Arc<[u8]>,
    /// The store every instance shares (`Shared.*`).
    pub shared: Arc<Shared>,
    /// The names of the application's host functions (`Host.call`).
    pub host_functions: Arc<HashSet<String>>,
}

enum Mode {
    /// The executors, and a reload's instance started and waiting for `finish_reload`.
    Inline(Box<Generations>, Option<Box<Executor>>),
    Threaded(Pool),
    /// `stop` was called: the instances are gone (their memory with them, without waiting for
    /// Node's garbage collector to free the JS object); the final counters stay readable.
    Stopped(Stats),
}

/// How a reload's new instances are starting (`Bridge::prepare_reload`).
pub enum Preparing {
    /// Inline: started (or not) already.
    Done(Ready),
    /// Threaded: the first worker to answer tells (the module and configuration are the same
    /// on every worker; one that cannot start it anyway keeps its guest and says so).
    Waiting(Receiver<Ready>),
}

pub struct Bridge {
    mode: Mode,
    ids: Arc<IdSource>,
    high_water_mark: usize,
}

impl Bridge {
    /// `options.threads == 0`: inline; events run in the calling thread and output is read with
    /// `output`. Otherwise that many workers; output goes to `options.sink` (required then).
    pub fn new(guest: Arc<Guest>, options: Options) -> Result<Bridge, Failure> {
        let Options {
            limits,
            threads,
            sink,
            allow,
            config,
            shared,
            host_functions,
        } = options;
        let ids = Arc::new(IdSource::default());
        let setup = Setup {
            limits,
            dialer: Dialer::new(Arc::new(allow), ids.clone(), 0),
            config,
            shared,
            host_functions,
            generation: 1,
            instances: Arc::new(AtomicU32::new(0)),
        };
        let mode = match (threads, sink) {
            (0, _) => Mode::Inline(
                Box::new(Generations::new(Executor::new(guest, setup)?, true)),
                None,
            ),
            (n, Some(sink)) => Mode::Threaded(Pool::new(guest, setup, n, sink)?),
            (_, None) => {
                return Err(Failure::new(
                    Kind::Host,
                    "threaded mode needs an output sink",
                ));
            }
        };
        Ok(Bridge {
            mode,
            ids,
            high_water_mark: limits.high_water_mark,
        })
    }

    /// Registers a new connection and runs `onConnection`. `None` once all 2^32 - 1 ids of this
    /// bridge are used up: ids are never reused, so the connection must be refused.
    pub fn open(&mut self, peer: Peer) -> Option<u32> {
        let id = self.ids.next()?;
        self.event(Event::Open { id, peer });
        Some(id)
    }

    /// Runs `event` on the executor that owns its connection: here (inline), or on its worker.
    pub fn event(&mut self, event: Event<'_>) {
        match &mut self.mode {
            Mode::Inline(gens, _) => gens.handle(event),
            Mode::Threaded(pool) => pool.send(event.into_owned()),
            Mode::Stopped(_) => {}
        }
    }

    /// Native I/O: binds a listening socket per worker thread and has each worker accept and
    /// serve connections on it. Returns the address bound and the server's shared state.
    pub fn listen(&mut self, options: &ListenOptions) -> Result<(SocketAddr, Arc<Server>), String> {
        let Mode::Threaded(pool) = &mut self.mode else {
            return Err(
                "bridge.listen needs worker threads: load the bridge with `threads` >= 1".into(),
            );
        };
        let (sockets, addr) = native::bind(options, pool.workers())?;
        let server = Arc::new(Server::new(&sockets));
        let listeners = sockets
            .into_iter()
            .map(|socket| Listener {
                socket,
                server: server.clone(),
                allow_half_open: options.allow_half_open,
            })
            .collect();
        pool.listen(listeners, &self.ids, self.high_water_mark)?;
        Ok((addr, server))
    }

    /// Whether `id` is an open connection a worker accepted or dialed natively.
    pub fn is_native(&self, id: u32) -> bool {
        matches!(&self.mode, Mode::Threaded(pool) if pool.is_native(id))
    }

    /// Connections the guests dialed natively that are open (or still connecting).
    pub fn native_dialed(&self) -> usize {
        match &self.mode {
            Mode::Threaded(pool) => pool.dialed(),
            _ => 0,
        }
    }

    /// Native I/O: `server` stops accepting (its connections go on).
    pub fn unlisten(&mut self, server: &Server) {
        server.close();
        if let Mode::Threaded(pool) = &mut self.mode {
            pool.unlisten();
        }
    }

    /// Native I/O, `bridge.close()`: every native connection is ended after its queued output.
    pub fn end_native(&mut self) {
        if let Mode::Threaded(pool) = &mut self.mode {
            pool.end_native();
        }
    }

    /// Starts instances of a new guest beside the current ones, without switching: events keep
    /// going to the current guest until `finish_reload`. Inline the instance starts here;
    /// worker threads each start one when they get to it.
    pub fn prepare_reload(&mut self, reload: Reload) -> Preparing {
        match &mut self.mode {
            Mode::Inline(gens, pending) => {
                let started = gens.start(&reload);
                let ready = started.as_ref().map(|_| ()).map_err(Failure::clone);
                *pending = started.ok().map(Box::new);
                Preparing::Done(ready)
            }
            Mode::Threaded(pool) => Preparing::Waiting(pool.prepare(&reload)),
            Mode::Stopped(_) => {
                Preparing::Done(Err(Failure::new(Kind::Host, "the bridge is closed")))
            }
        }
    }

    /// Switches to the instances `prepare_reload` started (`commit`), or drops them. After the
    /// switch new connections go to the new guest; open ones stay where they are until they close.
    pub fn finish_reload(&mut self, commit: bool) {
        match &mut self.mode {
            Mode::Inline(gens, pending) => {
                if let Some(exec) = pending.take().filter(|_| commit) {
                    gens.switch(*exec);
                }
            }
            Mode::Threaded(pool) => pool.finish(commit),
            Mode::Stopped(_) => {}
        }
    }

    /// The application's answer to a `Host.call` made on worker `worker` (0 inline).
    pub fn reply(&mut self, worker: u8, event: Event<'_>) {
        match &mut self.mode {
            Mode::Inline(gens, _) => gens.handle(event),
            Mode::Threaded(pool) => pool.send_to(worker as usize, event.into_owned()),
            Mode::Stopped(_) => {}
        }
    }

    /// JS is dialing connection `id`, which the guest on `worker` asked for (a `Connect`
    /// record): from now on its events go to that worker.
    pub fn adopt(&mut self, id: u32, worker: u8) {
        if let Mode::Threaded(pool) = &mut self.mode {
            pool.adopt(id, worker as usize);
        }
    }

    /// Inline mode: the output batch produced since the last `clear_output` (empty when there is
    /// none). Threaded mode delivers output to the sink instead: always empty.
    pub fn output(&self) -> &[u8] {
        match &self.mode {
            Mode::Inline(gens, _) => gens.output(),
            Mode::Threaded(_) | Mode::Stopped(_) => &[],
        }
    }

    /// Inline mode: takes the output batch, leaving an empty one (threaded: always empty).
    pub fn take_output(&mut self) -> Vec<u8> {
        match &mut self.mode {
            Mode::Inline(gens, _) => gens.take_output(),
            Mode::Threaded(_) | Mode::Stopped(_) => Vec::new(),
        }
    }

    /// Inline mode: empties the output batch once it was handed over.
    pub fn clear_output(&mut self) {
        if let Mode::Inline(gens, _) = &mut self.mode {
            gens.clear_output();
        }
    }

    pub fn stats(&self) -> Stats {
        match &self.mode {
            Mode::Inline(gens, _) => gens.stats(),
            Mode::Threaded(pool) => pool.stats(),
            Mode::Stopped(stats) => *stats,
        }
    }

    /// Guest instances running.
    pub fn instances(&self) -> usize {
        match &self.mode {
            Mode::Inline(gens, _) => gens.executors(),
            Mode::Threaded(pool) => pool.instances(),
            Mode::Stopped(_) => 0,
        }
    }

    /// Stops the worker threads once their queued events ran (their instances go with them),
    /// or drops the inline instances; returns the threads to join. Events after it are ignored.
    pub fn stop(&mut self) -> Vec<JoinHandle<()>> {
        match &mut self.mode {
            Mode::Threaded(pool) => pool.stop(),
            Mode::Inline(gens, _) => {
                self.mode = Mode::Stopped(gens.stats());
                Vec::new()
            }
            Mode::Stopped(_) => Vec::new(),
        }
    }
}
