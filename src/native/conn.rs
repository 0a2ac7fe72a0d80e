//! One natively served connection: its socket, the output the kernel has not taken yet, and the
//! flags that say when it is read (the rules of js/flow.js: not while the guest paused it, nor
//! while its queued output is at `highWaterMark`, unless the guest dialed it).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::native::Server;

/// Where a connection is in its life: dialed ones start resolving or connecting.
#[derive(Debug)]
pub enum Phase {
    /// Connected: accepted, or dialed and established.
    Open,
    /// Dialed by name: its addresses are being looked up on a resolver thread; no socket yet.
    Resolving,
    /// Dialed: a non-blocking connect is under way on the socket; `next` are the addresses to
    /// try, in order, if it fails.
    Connecting { next: VecDeque<SocketAddr> },
}

pub struct NativeConn {
    /// The socket; none while a dial's name resolves.
    pub stream: Option<TcpStream>,
    pub phase: Phase,
    /// What counts it while open: the server that accepted it, or the bridge's count of
    /// natively dialed connections.
    pub server: Arc<Server>,
    /// The guest dialed it (`Socket.connect`): reading is not held back by its own queued
    /// output (js/flow.js says why).
    pub dialed: bool,
    pub allow_half_open: bool,
    /// Output not yet taken by the kernel, oldest first; `sent` bytes of the first are gone.
    /// Writes made before a dial is established wait here.
    out: VecDeque<Vec<u8>>,
    sent: usize,
    /// Bytes in `out` (Node's `socket.writableLength`).
    pub queued: usize,
    /// `Socket.pause` is in force.
    pub guest_paused: bool,
    /// Queued output reached `highWaterMark`: reading waits until it falls below (accepted
    /// connections only).
    pub pressured: bool,
    /// The socket said readable and has not been read to `WouldBlock` since.
    pub readable: bool,
    /// The peer sent FIN.
    pub read_eof: bool,
    /// The guest (or the bridge closing) asked for FIN after the queued output.
    pub end_requested: bool,
    /// Our FIN is sent.
    pub write_shut: bool,
}

/// What a flush did.
pub enum Flushed {
    /// Everything queued went out (and the FIN, when one was asked for).
    Done,
    /// The kernel's buffer is full: wait for writable.
    Blocked,
    /// The socket failed.
    Failed,
}

impl NativeConn {
    /// A connection accepted on `server`'s listening socket.
    pub fn new(stream: TcpStream, server: Arc<Server>, allow_half_open: bool) -> NativeConn {
        NativeConn {
            stream: Some(stream),
            phase: Phase::Open,
            dialed: false,
            allow_half_open,
            ..NativeConn::dialing(server)
        }
    }

    /// A connection the guest dialed, before it has a socket (counted in `outbound`). Dialed
    /// connections are not half-open, as a `net.connect` socket is not.
    pub fn dialing(outbound: Arc<Server>) -> NativeConn {
        NativeConn {
            stream: None,
            phase: Phase::Resolving,
            server: outbound,
            dialed: true,
            allow_half_open: false,
            out: VecDeque::new(),
            sent: 0,
            queued: 0,
            guest_paused: false,
            pressured: false,
            readable: false,
            read_eof: false,
            end_requested: false,
            write_shut: false,
        }
    }

    /// A dial that is not established yet (resolving or connecting).
    pub fn connecting(&self) -> bool {
        !matches!(self.phase, Phase::Open)
    }

    /// Whether reading is held back for the queued output: accepted connections only.
    fn held_by_output(&self) -> bool {
        self.pressured && !self.dialed
    }

    /// Whether the socket is to be read now.
    pub fn wants_read(&self) -> bool {
        self.readable
            && !self.read_eof
            && !self.guest_paused
            && !self.held_by_output()
            && !self.connecting()
    }

    /// Sends `data` (what the kernel does not take at once is queued, copied; all of it while a
    /// dial is not established). Ignored once our side is ended.
    pub fn write(&mut self, data: &[u8]) -> Result<(), io::Error> {
        if self.write_shut || self.end_requested || data.is_empty() {
            return Ok(());
        }
        let mut from = 0;
        if self.out.is_empty()
            && !self.connecting()
            && let Some(stream) = self.stream.as_mut()
        {
            loop {
                match stream.write(&data[from..]) {
                    Ok(n) => {
                        from += n;
                        if from == data.len() {
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        self.out.push_back(data[from..].to_vec());
        self.queued += data.len() - from;
        Ok(())
    }

    /// Writes queued output until the kernel stops taking it; then the FIN if one is asked for.
    /// A dial not established yet waits (`Blocked`).
    pub fn flush(&mut self) -> Flushed {
        if self.connecting() {
            return Flushed::Blocked;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Flushed::Blocked;
        };
        while let Some(front) = self.out.front() {
            match stream.write(&front[self.sent..]) {
                Ok(n) => {
                    self.sent += n;
                    self.queued -= n;
                    if self.sent == front.len() {
                        self.out.pop_front();
                        self.sent = 0;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Flushed::Failed,
            }
        }
        if self.end_requested && !self.write_shut {
            self.write_shut = true;
            if let Err(e) = stream.shutdown(std::net::Shutdown::Write)
                && e.kind() != ErrorKind::NotConnected
            {
                return Flushed::Failed;
            }
        }
        Flushed::Done
    }

    /// Our FIN is out while reading is held back (paused, or at the mark): only the peer's FIN
    /// is looked for, without taking data (Node reads for EOF after `end()` too).
    pub fn wants_eof_check(&self) -> bool {
        self.readable
            && !self.read_eof
            && self.write_shut
            && (self.guest_paused || self.held_by_output())
    }

    /// Both directions are finished: the connection closes (Node's `'close'`).
    pub fn finished(&self) -> bool {
        self.read_eof && self.write_shut
    }
}
