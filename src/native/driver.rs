//! A worker's native event loop: its listening sockets, the connections it accepted and those
//! its guests dialed, polled with `mio` beside its channel (a `Waker` interrupts the poll when
//! the JS thread sends something, or a resolver thread answers). Bytes read go to the executors
//! as `Data` events; the records the guests produce for these connections are carried out here
//! (`route`), dials included; the rest go to JS as before.
//!
//! A dial (a `Connect` record) becomes a connection at once, routed and counted, which queues
//! writes and an end until it is established: an IP address is connected to right away
//! (non-blocking), a name is looked up on a resolver thread first (`resolve.rs`). Its addresses
//! are tried one after another, in the resolver's order, until one connects (Node tries them
//! too, with `autoSelectFamily`). Established: `Connected` (`onConnect`); no address left, or
//! the name did not resolve: `Error` then `Close`, as a failed `net.connect`.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::bridge::event::{Event, Peer};
use crate::bridge::generations::Generations;
use crate::bridge::ids::{IdHasher, IdSource};
use crate::instance::outbox::{Op, records};
use crate::native::conn::{Flushed, NativeConn, Phase};
use crate::native::resolve::Resolver;
use crate::native::{Handoff, Listener, Peers, Routes, Server};

/// The waker's token; connections use their id, listeners `LISTENERS + index`.
pub const WAKER: Token = Token(usize::MAX);
const LISTENERS: usize = 1 << 33;
/// Largest read: what libuv reads at once too.
const READ_SIZE: usize = 64 * 1024;
/// Reads of one connection per turn of the loop, so one busy connection cannot starve others.
const READS_PER_TURN: usize = 16;
/// `bridge.close()`: a peer that has not closed its side within this is destroyed.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Out of file descriptors (or kernel memory): accepting is tried again after this.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Makes the poll a worker's native loop waits on, and the waker that interrupts it; created
/// on the JS thread (which keeps the waker) and sent to the worker.
pub fn poll_and_waker() -> std::io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}

pub struct Driver {
    poll: Poll,
    events: Events,
    listeners: Vec<Option<(TcpListener, Arc<Server>, bool)>>,
    conns: HashMap<u32, NativeConn, BuildHasherDefault<IdHasher>>,
    ids: Arc<IdSource>,
    /// Where `bridge.send` finds this worker's connections.
    routes: Arc<Routes>,
    /// This worker's index.
    worker: u8,
    high_water_mark: usize,
    buf: Vec<u8>,
    /// Events that follow from records just carried out (a `Close` after a destroy, ...).
    follow: VecDeque<Event<'static>>,
    /// Connections that may have more to read than their last turn took.
    ready: Vec<u32>,
    /// The ready list's other buffer (swapped with it each turn).
    spare: Vec<u32>,
    /// Records for JS.
    forward: Vec<u8>,
    /// `bridge.close()`: when the connections still open are destroyed. Set, nothing new is
    /// dialed.
    grace: Option<Instant>,
    /// Accepting stopped for want of file descriptors: when to try again (the poll is
    /// edge-triggered, so the connections waiting in the backlog would not be reported again).
    accept_retry: Option<Instant>,
    /// Hands an accepted connection to another worker.
    peers: Peers,
    /// Counts the connections this worker's guests dialed, over every worker (the bridge's).
    outbound: Arc<Server>,
    /// Interrupts this loop's poll: the resolver threads use it.
    waker: Arc<Waker>,
    /// Looks up the names guests dial; started at the first one.
    resolver: Option<Resolver>,
}

/// The addresses of a connection, as Node prints them.
fn peer_of(remote: SocketAddr, local: Option<SocketAddr>) -> Peer {
    Peer {
        remote_address: remote.ip().to_string(),
        remote_port: remote.port(),
        local_address: local.map(|a| a.ip().to_string()).unwrap_or_default(),
        local_port: local.map_or(0, |a| a.port()),
    }
}

impl Driver {
    /// The loop of worker `worker`, waiting on `poll` (which `waker` interrupts).
    pub fn new(
        (poll, waker): (Poll, Arc<Waker>),
        ids: Arc<IdSource>,
        routes: Arc<Routes>,
        outbound: Arc<Server>,
        worker: u8,
        high_water_mark: usize,
        peers: Peers,
    ) -> Driver {
        Driver {
            poll,
            events: Events::with_capacity(1024),
            listeners: Vec::new(),
            conns: HashMap::default(),
            ids,
            routes,
            worker,
            high_water_mark,
            buf: vec![0; READ_SIZE],
            follow: VecDeque::new(),
            ready: Vec::new(),
            spare: Vec::new(),
            forward: Vec::new(),
            grace: None,
            accept_retry: None,
            peers,
            outbound,
            waker,
            resolver: None,
        }
    }

    /// Starts accepting on `listener`.
    pub fn listen(&mut self, listener: Listener) -> std::io::Result<()> {
        let mut socket = TcpListener::from_std(listener.socket);
        let token = Token(LISTENERS + self.listeners.len());
        self.poll
            .registry()
            .register(&mut socket, token, Interest::READABLE)?;
        self.listeners
            .push(Some((socket, listener.server, listener.allow_half_open)));
        Ok(())
    }

    /// Stops accepting for every server whose `close()` was called (their listening sockets
    /// close); their connections go on.
    pub fn unlisten(&mut self) {
        for slot in &mut self.listeners {
            let closed = slot
                .as_ref()
                .is_some_and(|(_, s, _)| s.closed.load(Ordering::Acquire));
            if closed && let Some((mut socket, _, _)) = slot.take() {
                let _ = self.poll.registry().deregister(&mut socket);
            }
        }
    }

    /// `bridge.close()`: stop accepting, end every connection after its queued output (FIN),
    /// and destroy those still open after the grace period. Dials not established yet fail
    /// (`Error`, `Close`), and later ones are refused the same way: nothing new is dialed.
    pub fn end_all(&mut self, gens: &mut Generations) {
        for slot in &mut self.listeners {
            if let Some((mut socket, server, _)) = slot.take() {
                server.close();
                let _ = self.poll.registry().deregister(&mut socket);
            }
        }
        self.grace = Some(Instant::now() + CLOSE_GRACE);
        let ids: Vec<u32> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            if c.connecting() {
                self.fail(id);
                continue;
            }
            c.end_requested = true;
            self.flush(id);
        }
        self.settle(gens);
    }

    /// Waits for socket events, the waker, or `deadline` (the executors' next timer).
    pub fn wait(&mut self, deadline: Option<Instant>) {
        let deadline = [deadline, self.grace, self.accept_retry]
            .into_iter()
            .flatten()
            .min();
        let timeout = if self.ready.is_empty() {
            deadline.map(|at| at.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        if let Err(e) = self.poll.poll(&mut self.events, timeout)
            && e.kind() != ErrorKind::Interrupted
        {
            // Nothing to do but try again; a broken poll would spin, so pause briefly.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Serves what the last `wait` reported: accepts, reads, writes.
    pub fn serve(&mut self, gens: &mut Generations) {
        // The events are taken out while they are served (the methods below borrow all of
        // self) and put back after, so neither they nor the ready list are allocated per turn.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        // Answers of the resolver threads (their wake-ups may have been merged into one).
        self.resolved();
        for e in events.iter() {
            match e.token() {
                WAKER => {}
                Token(t) if t >= LISTENERS => self.accept(t - LISTENERS, gens),
                Token(t) => {
                    let id = t as u32;
                    if self.conns.get(&id).is_some_and(NativeConn::connecting) {
                        let failed = e.is_error() || e.is_write_closed();
                        self.check_connect(id, failed, gens);
                        continue;
                    }
                    if e.is_writable() || e.is_write_closed() {
                        self.flush(id);
                    }
                    let hup = e.is_read_closed() || e.is_error();
                    if (hup || e.is_readable())
                        && let Some(c) = self.conns.get_mut(&id)
                    {
                        c.readable = true;
                        c.hup |= hup;
                        self.ready.push(id);
                    }
                }
            }
        }
        self.events = events;
        let mut ready = std::mem::replace(&mut self.ready, std::mem::take(&mut self.spare));
        for &id in &ready {
            self.read(id, gens);
        }
        ready.clear();
        self.spare = ready;
        if self.accept_retry.is_some_and(|at| Instant::now() >= at) {
            self.accept_retry = None;
            for index in 0..self.listeners.len() {
                self.accept(index, gens);
            }
        }
        if self.grace.is_some_and(|at| Instant::now() >= at) {
            let ids: Vec<u32> = self.conns.keys().copied().collect();
            for id in ids {
                self.destroy(id);
            }
        }
        self.settle(gens);
    }

    fn accept(&mut self, index: usize, gens: &mut Generations) {
        loop {
            let Some(Some((socket, server, half_open))) = self.listeners.get(index) else {
                return;
            };
            let (stream, remote) = match socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // Interrupted, or a connection reset while it waited: take the next.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                // Out of file descriptors or kernel memory: the waiting connections stay in
                // the backlog until a retry finds room.
                Err(_) => {
                    self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            };
            let handoff = Handoff {
                stream,
                remote,
                server: server.clone(),
                allow_half_open: *half_open,
            };
            let to = self.routes.place(self.worker);
            if to == self.worker {
                self.adopt(handoff, gens);
            } else {
                (self.peers)(to, handoff);
            }
        }
    }

    /// Serves a connection this worker accepted, or another handed over (`Routes::place`
    /// counted it here): registers it, gives it an id and runs `onConnection`.
    pub fn adopt(&mut self, handoff: Handoff, gens: &mut Generations) {
        let Handoff {
            mut stream,
            remote,
            server,
            allow_half_open,
        } = handoff;
        // `bridge.close()` is under way, or the ids are used up: refuse (the socket closes
        // when dropped).
        let Some(id) = self.grace.is_none().then(|| self.ids.next()).flatten() else {
            self.routes.leave(self.worker);
            return;
        };
        let local = stream.local_addr().ok();
        let _ = stream.set_nodelay(true);
        let registered = self.poll.registry().register(
            &mut stream,
            Token(id as usize),
            Interest::READABLE | Interest::WRITABLE,
        );
        if registered.is_err() {
            self.routes.leave(self.worker);
            return;
        }
        server.open.fetch_add(1, Ordering::AcqRel);
        self.routes.insert(id, self.worker);
        self.conns
            .insert(id, NativeConn::new(stream, server, allow_half_open));
        gens.handle(Event::Open {
            id,
            peer: peer_of(remote, local),
        });
        self.settle(gens);
    }

    /// Reads what connection `id` has, as long as it may be read, a few chunks per turn.
    ///
    /// The kernel reads straight into a buffer the guest's allocator made, sized by what the
    /// kernel holds (FIONREAD). A read that takes all of it ends the turn without the extra
    /// read that would say `WouldBlock`: the poll is edge-triggered and Linux reports every
    /// arrival after it, so nothing is missed; a FIN the poll already reported (`hup`) is read
    /// at once. When the kernel counts nothing (a FIN, an error, or nothing at all), or the
    /// guest does not take the bytes, a plain read into the worker's buffer tells which.
    fn read(&mut self, id: u32, gens: &mut Generations) {
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            if !c.wants_read() {
                if c.wants_eof_check() {
                    self.check_eof(id, gens);
                }
                return;
            }
            let available = c.available();
            if available > 0 {
                let want = available.min(READ_SIZE);
                let mut outcome = None;
                let Some(stream) = c.stream.as_ref() else {
                    return;
                };
                gens.data_from(id, want, c.queued, &mut |dst| {
                    let r = (&*stream).read(dst);
                    let n = *r.as_ref().unwrap_or(&0);
                    outcome = Some(r);
                    n
                });
                match outcome {
                    // The guest did not take them: read them the plain way below.
                    None => {}
                    Some(Ok(0)) => {
                        self.peer_ended(id, gens);
                        return;
                    }
                    Some(Ok(n)) => {
                        self.settle(gens);
                        let drained = n == available;
                        match self.conns.get_mut(&id) {
                            Some(c) if drained && !c.hup => {
                                c.readable = false;
                                return;
                            }
                            Some(_) => continue,
                            None => return,
                        }
                    }
                    Some(Err(e)) => {
                        if !self.read_failed(id, e, gens) {
                            return;
                        }
                        continue;
                    }
                }
            }
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            match stream.read(&mut self.buf) {
                Ok(0) => {
                    self.peer_ended(id, gens);
                    return;
                }
                Ok(n) => {
                    let queued = c.queued;
                    gens.handle(Event::Data {
                        id,
                        bytes: std::borrow::Cow::Borrowed(&self.buf[..n]),
                        queued,
                    });
                    self.settle(gens);
                }
                Err(e) => {
                    if !self.read_failed(id, e, gens) {
                        return;
                    }
                }
            }
        }
        // More may be waiting: come back next turn, after the others.
        if self.conns.get(&id).is_some_and(NativeConn::wants_read) {
            self.ready.push(id);
        }
    }

    /// A read of `id` failed with `e`; whether to read again (only after an interruption).
    fn read_failed(&mut self, id: u32, e: std::io::Error, gens: &mut Generations) -> bool {
        match e.kind() {
            ErrorKind::Interrupted => true,
            ErrorKind::WouldBlock => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.readable = false;
                    c.hup = false;
                }
                false
            }
            _ => {
                self.fail(id);
                self.settle(gens);
                false
            }
        }
    }

    /// The peer sent FIN: `onEnd`, and the close when our side is done too.
    fn peer_ended(&mut self, id: u32, gens: &mut Generations) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.read_eof = true;
        let (half_open, finished) = (c.allow_half_open, c.finished());
        gens.handle(Event::End { id, half_open });
        if finished {
            self.destroy(id);
        }
        self.settle(gens);
    }

    /// Our side is ended and reading is held back: a peer FIN still finishes the connection.
    fn check_eof(&mut self, id: u32, gens: &mut Generations) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(stream) = c.stream.as_ref() else {
            return;
        };
        let mut byte = [0u8; 1];
        match stream.peek(&mut byte) {
            Ok(0) => self.peer_ended(id, gens),
            // Data is waiting: it stays there until reading resumes.
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => c.readable = false,
            Err(_) => {
                self.fail(id);
                self.settle(gens);
            }
        }
    }

    /// Writes what connection `id` has queued; carries out what follows from it (a drain, the
    /// FIN, the close).
    fn flush(&mut self, id: u32) {
        let hwm = self.high_water_mark;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.flush() {
            Flushed::Blocked => {}
            Flushed::Failed => self.fail(id),
            Flushed::Done => {
                if c.pressured && c.queued < hwm {
                    c.pressured = false;
                    let queued = c.queued;
                    if c.wants_read() {
                        self.ready.push(id);
                    }
                    self.follow.push_back(Event::Drain { id, queued });
                }
                if c.finished() {
                    self.destroy(id);
                } else if c.wants_eof_check() {
                    self.ready.push(id);
                }
            }
        }
    }

    /// The socket failed: `onError`, then the close.
    fn fail(&mut self, id: u32) {
        self.follow.push_back(Event::Error(id));
        self.destroy(id);
    }

    /// Closes connection `id` now (queued output is dropped): `onClose` follows.
    fn destroy(&mut self, id: u32) {
        if let Some(mut c) = self.conns.remove(&id) {
            if let Some(stream) = c.stream.as_mut() {
                let _ = self.poll.registry().deregister(stream);
            }
            if matches!(c.phase, Phase::Resolving)
                && let Some(r) = &mut self.resolver
            {
                r.cancel(id);
            }
            c.server.open.fetch_sub(1, Ordering::AcqRel);
            self.routes.remove(id);
            if !c.dialed {
                // Accepted connections count in the placement of new ones; dialed ones do not.
                self.routes.leave(self.worker);
            }
            self.follow.push_back(Event::Close(id));
        }
    }

    /// Carries out the executors' output, and runs the events that follow from it, until there
    /// is nothing left; records that are not for a native connection are kept for JS.
    pub fn settle(&mut self, gens: &mut Generations) {
        loop {
            // Read in place and cleared, so the outbox keeps its allocation across events.
            if !gens.output().is_empty() {
                self.route(gens.output());
                gens.clear_output();
            }
            match self.follow.pop_front() {
                Some(event) => gens.handle(event),
                None if gens.output().is_empty() => return,
                None => {}
            }
        }
    }

    fn route(&mut self, batch: &[u8]) {
        let hwm = self.high_water_mark;
        for r in records(batch) {
            let id = r.id;
            if r.op == Op::Connect {
                self.dial(id, r.connect_target());
                continue;
            }
            let Some(c) = self.conns.get_mut(&id) else {
                self.forward.extend_from_slice(r.raw);
                continue;
            };
            match r.op {
                Op::Write => {
                    if c.write(r.payload).is_err() {
                        self.fail(id);
                        continue;
                    }
                    if c.queued >= hwm {
                        c.pressured = true;
                    }
                }
                Op::End => {
                    c.end_requested = true;
                    self.flush(id);
                }
                Op::Close => self.destroy(id),
                Op::Pause => c.guest_paused = true,
                Op::Resume => {
                    c.guest_paused = false;
                    if c.wants_read() {
                        self.ready.push(id);
                    }
                }
                Op::WantDrain => {
                    if !c.pressured {
                        let queued = c.queued;
                        self.follow.push_back(Event::Drain { id, queued });
                    }
                }
                // Flow control of the JS path: natively, reading is paced by the loop itself.
                Op::Ack => {}
                _ => self.forward.extend_from_slice(r.raw),
            }
        }
    }

    /// A guest dialed `target` as connection `id` (a `Connect` record): the connection exists
    /// from now on, routed and counted, and is connected to (an address) or looked up (a name).
    /// While the bridge closes, or when the record cannot be read, the dial fails at once.
    fn dial(&mut self, id: u32, target: Option<(&str, u16)>) {
        let Some((host, port)) = target.filter(|_| self.grace.is_none()) else {
            self.follow.push_back(Event::Error(id));
            self.follow.push_back(Event::Close(id));
            return;
        };
        self.outbound.open.fetch_add(1, Ordering::AcqRel);
        self.routes.insert(id, self.worker);
        self.conns
            .insert(id, NativeConn::dialing(self.outbound.clone()));
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.connect_next(id, VecDeque::from([SocketAddr::new(ip, port)]));
            return;
        }
        let waker = self.waker.clone();
        let worker = self.worker;
        let resolver = self.resolver.get_or_insert_with(|| {
            Resolver::new(
                worker,
                Arc::new(move || {
                    let _ = waker.wake();
                }),
            )
        });
        if resolver.lookup(id, host, port).is_err() {
            self.fail(id);
        }
    }

    /// Answers from the resolver threads: each dial still waiting connects to its addresses,
    /// or fails when the name did not resolve.
    fn resolved(&mut self) {
        while let Some(answer) = self.resolver.as_mut().and_then(Resolver::next) {
            let id = answer.id;
            if !self
                .conns
                .get(&id)
                .is_some_and(|c| matches!(c.phase, Phase::Resolving))
            {
                continue;
            }
            match answer.addrs {
                Ok(addrs) => self.connect_next(id, addrs.into()),
                Err(_) => self.fail(id),
            }
        }
    }

    /// Starts a non-blocking connect of dial `id` to the first of `addrs` that takes one; the
    /// rest wait in case it fails. None left: the dial fails.
    fn connect_next(&mut self, id: u32, mut addrs: VecDeque<SocketAddr>) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if let Some(mut old) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut old);
        }
        while let Some(addr) = addrs.pop_front() {
            let Ok(mut stream) = TcpStream::connect(addr) else {
                continue;
            };
            let registered = self.poll.registry().register(
                &mut stream,
                Token(id as usize),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_ok() {
                c.stream = Some(stream);
                c.phase = Phase::Connecting { next: addrs };
                return;
            }
        }
        self.fail(id);
    }

    /// The socket of dial `id`, connecting, reported an event: established (`Connected`, then
    /// what was queued goes out), failed (the next address, or `Error` and `Close`), or not yet
    /// (`failed`: the event said the socket failed even if it gives no error).
    fn check_connect(&mut self, id: u32, failed: bool, gens: &mut Generations) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(stream) = c.stream.as_ref() else {
            return;
        };
        let outcome = match stream.take_error() {
            Ok(None) => match stream.peer_addr() {
                Ok(remote) => Some(remote),
                Err(e) if e.kind() == ErrorKind::NotConnected && !failed => return,
                Err(_) => None,
            },
            Ok(Some(_)) | Err(_) => None,
        };
        let Some(remote) = outcome else {
            let next = match &mut c.phase {
                Phase::Connecting { next } => std::mem::take(next),
                _ => VecDeque::new(),
            };
            self.connect_next(id, next);
            return;
        };
        let _ = stream.set_nodelay(true);
        let peer = peer_of(remote, stream.local_addr().ok());
        c.phase = Phase::Open;
        // Whatever arrived with the connect (a FIN too) is read this turn, to WouldBlock.
        c.readable = true;
        c.hup = true;
        self.ready.push(id);
        gens.handle(Event::Connected { id, peer });
        self.settle(gens);
        // Writes and an end queued before, and those onConnect made, go out now.
        self.flush(id);
    }

    /// Records for JS gathered since the last call.
    pub fn take_forward(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.forward)
    }
}
