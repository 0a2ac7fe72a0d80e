//! Native I/O (`bridge.listen`): connections accepted and served on the worker threads, with no
//! JS on the per-connection path. Each worker runs an event loop (`driver.rs`, over `mio`) on
//! the sockets it owns and its executors; what a guest asks for is carried out there (writes,
//! ends, pauses, and dials: `Socket.connect` is connected to by the worker, names looked up on
//! resolver threads, `resolve.rs`) instead of being sent to JS as records. Only logs, errors and
//! host calls reach the JS thread.
//!
//! Accepted connections are spread over the workers by the kernel: each worker has its own
//! listening socket on the same address (`SO_REUSEPORT`), so most connections are served by the
//! worker that accepted them, with no hand-off. The kernel's spread is a hash of the addresses,
//! which can leave one worker with noticeably more connections than another; a worker that
//! accepts a connection while it serves more than the least loaded worker hands it to that
//! worker instead (`Routes::place`), so the counts never drift apart by more than 1.

pub mod conn;
pub mod driver;
pub mod resolve;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};

use crate::bridge::ids::IdHasher;

/// What `bridge.listen` was asked for.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub host: String,
    pub port: u16,
    pub backlog: i32,
    pub allow_half_open: bool,
}

/// One `bridge.listen`: shared by the JS thread (its `NativeServer`) and the workers serving it.
/// A bridge has one more, without sockets, that counts the connections its guests dialed
/// natively (`outbound`).
#[derive(Debug, Default)]
pub struct Server {
    /// Connections it accepted that are still open.
    pub open: AtomicUsize,
    /// `close()` was called: the workers stop accepting.
    pub closed: AtomicBool,
    /// Handles to the workers' listening sockets, so `close` refuses new connections at once,
    /// before the workers get to drop theirs.
    sockets: Mutex<Vec<TcpListener>>,
}

impl Server {
    /// A server listening on `sockets` (the JS thread keeps handles to them).
    pub fn new(sockets: &[TcpListener]) -> Server {
        Server {
            sockets: Mutex::new(sockets.iter().filter_map(|s| s.try_clone().ok()).collect()),
            ..Server::default()
        }
    }

    /// Stops accepting now: connection attempts are refused from here on (a listening socket
    /// shut down for reading refuses them on Linux); the workers then drop their sockets.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for socket in self.sockets.lock().drain(..) {
            let _ = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Read);
        }
    }

    /// Connections it accepted that are still open.
    pub fn connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// Which worker serves each open native connection: the JS thread asks it to route
/// `bridge.send(id)`, since no JS saw the connection arrive. Workers add and remove their own.
/// It also counts the accepted connections each worker serves, to place new ones.
#[derive(Debug, Default)]
pub struct Routes {
    map: Mutex<HashMap<u32, u8, BuildHasherDefault<IdHasher>>>,
    /// Per worker: accepted connections it serves (or has been handed and not yet taken), and
    /// whether it runs a native loop (only then can it be handed connections). One lock, so
    /// workers accepting at once place against the same counts.
    loads: Mutex<Vec<(usize, bool)>>,
}

impl Routes {
    /// Routes for `workers` worker threads.
    pub fn new(workers: usize) -> Routes {
        Routes {
            map: Mutex::default(),
            loads: Mutex::new(vec![(0, false); workers]),
        }
    }

    pub fn insert(&self, id: u32, worker: u8) {
        self.map.lock().insert(id, worker);
    }

    pub fn remove(&self, id: u32) {
        self.map.lock().remove(&id);
    }

    /// The worker serving native connection `id`, if it is open.
    pub fn get(&self, id: u32) -> Option<u8> {
        self.map.lock().get(&id).copied()
    }

    /// Worker `worker` can be handed connections from now on (its loop is started, or its
    /// `Listen` message sent).
    pub fn serve(&self, worker: u8) {
        if let Some((_, serving)) = self.loads.lock().get_mut(worker as usize) {
            *serving = true;
        }
    }

    /// Worker `me` accepted a connection: the worker to serve it, counted as its load. `me`
    /// unless `me` serves more connections than the least loaded worker (then that one).
    pub fn place(&self, me: u8) -> u8 {
        let mut loads = self.loads.lock();
        let mine = loads.get(me as usize).map_or(0, |l| l.0);
        let least = (0..loads.len())
            .filter(|&w| loads[w].1)
            .min_by_key(|&w| loads[w].0);
        let chosen = match least {
            Some(w) if loads[w].0 < mine => w as u8,
            _ => me,
        };
        if let Some(l) = loads.get_mut(chosen as usize) {
            l.0 += 1;
        }
        chosen
    }

    /// A connection `place` gave `worker` is gone.
    pub fn leave(&self, worker: u8) {
        if let Some(l) = self.loads.lock().get_mut(worker as usize) {
            l.0 = l.0.saturating_sub(1);
        }
    }
}

/// A connection one worker accepted and hands to another (`Routes::place`).
pub struct Handoff {
    pub stream: mio::net::TcpStream,
    pub remote: SocketAddr,
    pub server: Arc<Server>,
    pub allow_half_open: bool,
}

/// Gives a hand-off to worker `worker` (its channel, then a wake).
pub type Peers = Arc<dyn Fn(u8, Handoff) + Send + Sync>;

/// A listening socket of one worker for one server.
pub struct Listener {
    pub socket: TcpListener,
    pub server: Arc<Server>,
    pub allow_half_open: bool,
}

/// Binds `workers` listening sockets to the address `options` names (one per worker, sharing
/// the port with `SO_REUSEPORT`), non-blocking. The address comes back with the port the first
/// socket got (for port 0).
pub fn bind(
    options: &ListenOptions,
    workers: usize,
) -> Result<(Vec<TcpListener>, SocketAddr), String> {
    let what = format!("{}:{}", options.host, options.port);
    let addr = (options.host.as_str(), options.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {what}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {what}: no address"))?;
    if addr.port() != 0 {
        // SO_REUSEPORT would let these sockets join another listener of this user on the port
        // (another bridge, say) and share its connections; a port in use is refused instead, as
        // net.Server refuses it.
        drop(TcpListener::bind(addr).map_err(|e| format!("cannot listen on {what}: {e}"))?);
    }
    let mut sockets = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers.max(1) {
        let socket = listen_on(bound, options.backlog)
            .map_err(|e| format!("cannot listen on {what}: {e}"))?;
        bound = socket
            .local_addr()
            .map_err(|e| format!("cannot listen on {what}: {e}"))?;
        sockets.push(socket);
    }
    Ok((sockets, bound))
}

fn listen_on(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_to_the_least_loaded_worker_unless_its_acceptor_is_one() {
        let routes = Routes::new(3);
        // Only serving workers are handed connections.
        assert_eq!(routes.place(0), 0);
        assert_eq!(routes.place(0), 0);
        for w in 0..3 {
            routes.serve(w);
        }
        // 2, 0, 0: worker 0 hands over until it is among the least loaded.
        assert_eq!(routes.place(0), 1);
        assert_eq!(routes.place(0), 2);
        assert_eq!(routes.place(0), 1);
        assert_eq!(routes.place(0), 2);
        // 2, 2, 2: a tie keeps it where it was accepted.
        assert_eq!(routes.place(1), 1);
        assert_eq!(routes.place(2), 2);
        assert_eq!(routes.place(2), 0);
        // Leaving never underflows.
        for _ in 0..10 {
            routes.leave(1);
        }
        assert_eq!(routes.place(0), 1);
    }

    #[test]
    fn binds_one_socket_per_worker_on_one_port() {
        let options = ListenOptions {
            host: "127.0.0.1".into(),
            port: 0,
            backlog: 16,
            allow_half_open: false,
        };
        let (sockets, addr) = bind(&options, 3).unwrap();
        assert_eq!(sockets.len(), 3);
        assert_ne!(addr.port(), 0);
        for s in &sockets {
            assert_eq!(s.local_addr().unwrap(), addr);
        }
    }

    #[test]
    fn a_port_in_use_is_refused_even_by_another_reuseport_listener() {
        let options = ListenOptions {
            host: "127.0.0.1".into(),
            port: 0,
            backlog: 16,
            allow_half_open: false,
        };
        let (_first, addr) = bind(&options, 2).unwrap();
        let again = ListenOptions {
            port: addr.port(),
            ..options
        };
        let err = bind(&again, 2).unwrap_err();
        assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
    }

    #[test]
    fn a_name_that_does_not_resolve_is_an_error_that_says_so() {
        let options = ListenOptions {
            host: "no-such-host.invalid".into(),
            port: 0,
            backlog: 16,
            allow_half_open: false,
        };
        let err = bind(&options, 1).unwrap_err();
        assert!(
            err.starts_with("cannot resolve no-such-host.invalid:0"),
            "{err}"
        );
    }
}
