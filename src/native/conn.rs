//! One natively served connection: its socket, the output the kernel has not taken yet, and the
//! flags that say when it is read (the rules of js/flow.js: not while the guest paused it, nor
//! while its queued output is at `highWaterMark`, unless the guest dialed it).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::native::Server;

/// Most queued chunks one `writev` takes.
const WRITEV_SLICES: usize = 64;

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
    /// Read to `WouldBlock` (or EOF) next time, not just what the kernel counts: the poll
    /// reported the peer's FIN or an error (which FIONREAD does not count), or a dial was just
    /// established with whatever arrived meanwhile.
    pub hup: bool,
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
            hup: false,
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

    /// Bytes the kernel holds for reading (FIONREAD; the peer's FIN is not counted), or 0 when
    /// it cannot say (or there is no socket yet).
    pub fn available(&self) -> usize {
        let Some(stream) = &self.stream else { return 0 };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`; the fd is
        // this connection's open socket.
        let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r == 0 { n.max(0) as usize } else { 0 }
    }

    /// Writes queued output until the kernel stops taking it, up to `WRITEV_SLICES` chunks per
    /// system call (`writev`); then the FIN if one is asked for. A dial not established yet
    /// waits (`Blocked`).
    pub fn flush(&mut self) -> Flushed {
        if self.connecting() {
            return Flushed::Blocked;
        }
        let Some(stream) = self.stream.as_mut() else {
            return Flushed::Blocked;
        };
        while !self.out.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITEV_SLICES];
            let mut count = 0;
            for (i, chunk) in self.out.iter().take(WRITEV_SLICES).enumerate() {
                let from = if i == 0 { self.sent } else { 0 };
                slices[i] = IoSlice::new(&chunk[from..]);
                count += 1;
            }
            match stream.write_vectored(&slices[..count]) {
                // The kernel took nothing of a non-empty write: the socket is unusable.
                Ok(0) => return Flushed::Failed,
                Ok(n) => consume(&mut self.out, &mut self.sent, &mut self.queued, n),
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

/// Drops the first `n` bytes of queued output `out` (the kernel took them); `sent` bytes of its
/// first chunk were gone already.
fn consume(out: &mut VecDeque<Vec<u8>>, sent: &mut usize, queued: &mut usize, mut n: usize) {
    *queued -= n;
    while n > 0 {
        let Some(front) = out.front() else { return };
        let left = front.len() - *sent;
        if n < left {
            *sent += n;
            return;
        }
        n -= left;
        out.pop_front();
        *sent = 0;
    }
}
