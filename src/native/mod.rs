//! Native I/O (`bridge.listen`): connections accepted and served on the worker threads, with no
//! JS on the per-connection path. Each worker runs an event loop (`driver.rs`, over `mio`) on
//! the sockets it owns and its executors; what a guest asks for is carried out there (writes,
//! ends, pauses, and dials: `Socket.connect` is connected to by the worker, names looked up on
//! resolver threads, `resolve.rs`) instead of being sent to JS as records. Only logs, errors and
//! host calls reach the JS thread.
//!
//! Accepted connections are spread over the workers by the kernel: each worker has its own
//! listening socket on the same address (`SO_REUSEPORT`).

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
#[derive(Debug, Default)]
pub struct Routes(Mutex<HashMap<u32, u8, BuildHasherDefault<IdHasher>>>);

impl Routes {
    pub fn insert(&self, id: u32, worker: u8) {
        self.0.lock().insert(id, worker);
    }

    pub fn remove(&self, id: u32) {
        self.0.lock().remove(&id);
    }

    /// The worker serving native connection `id`, if it is open.
    pub fn get(&self, id: u32) -> Option<u8> {
        self.0.lock().get(&id).copied()
    }
}

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
