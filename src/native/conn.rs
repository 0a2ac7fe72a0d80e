//! One natively served connection: its socket, the output the kernel has not taken yet, and the
//! flags that say when it is read (the rules of js/flow.js: not while the guest paused it, nor
//! while its queued output is at `highWaterMark`).

use std::collections::VecDeque;
use std::io::{self, ErrorKind, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::native::Server;

/// Most queued chunks one `writev` takes.
const WRITEV_SLICES: usize = 64;

pub struct NativeConn {
    pub stream: TcpStream,
    pub server: Arc<Server>,
    pub allow_half_open: bool,
    /// Output not yet taken by the kernel, oldest first; `sent` bytes of the first are gone.
    out: VecDeque<Vec<u8>>,
    sent: usize,
    /// Bytes in `out` (Node's `socket.writableLength`).
    pub queued: usize,
    /// `Socket.pause` is in force.
    pub guest_paused: bool,
    /// Queued output reached `highWaterMark`: reading waits until it falls below.
    pub pressured: bool,
    /// The socket said readable and has not been read to `WouldBlock` since.
    pub readable: bool,
    /// The poll reported the peer's FIN (or an error) and reading has not reached it yet.
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
    pub fn new(stream: TcpStream, server: Arc<Server>, allow_half_open: bool) -> NativeConn {
        NativeConn {
            stream,
            server,
            allow_half_open,
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

    /// Whether the socket is to be read now.
    pub fn wants_read(&self) -> bool {
        self.readable && !self.read_eof && !self.guest_paused && !self.pressured
    }

    /// Sends `data` (what the kernel does not take at once is queued, copied). Ignored once
    /// our side is ended.
    pub fn write(&mut self, data: &[u8]) -> Result<(), io::Error> {
        if self.write_shut || self.end_requested || data.is_empty() {
            return Ok(());
        }
        let mut from = 0;
        if self.out.is_empty() {
            loop {
                match self.stream.write(&data[from..]) {
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
    /// it cannot say.
    pub fn available(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, which points at `n`; the fd is
        // this connection's open socket.
        let r = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::FIONREAD, &mut n) };
        if r == 0 { n.max(0) as usize } else { 0 }
    }

    /// Writes queued output until the kernel stops taking it, up to `WRITEV_SLICES` chunks per
    /// system call (`writev`); then the FIN if one is asked for.
    pub fn flush(&mut self) -> Flushed {
        while !self.out.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITEV_SLICES];
            let mut count = 0;
            for (i, chunk) in self.out.iter().take(WRITEV_SLICES).enumerate() {
                let from = if i == 0 { self.sent } else { 0 };
                slices[i] = IoSlice::new(&chunk[from..]);
                count += 1;
            }
            match self.stream.write_vectored(&slices[..count]) {
                // The kernel took nothing of a non-empty write: the socket is unusable.
                Ok(0) => return Flushed::Failed,
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Flushed::Failed,
            }
        }
        if self.end_requested && !self.write_shut {
            self.write_shut = true;
            if let Err(e) = self.stream.shutdown(std::net::Shutdown::Write)
                && e.kind() != ErrorKind::NotConnected
            {
                return Flushed::Failed;
            }
        }
        Flushed::Done
    }

    /// Drops the first `n` bytes of the queued output (the kernel took them).
    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(front) = self.out.front() else {
                return;
            };
            let left = front.len() - self.sent;
            if n < left {
                self.sent += n;
                return;
            }
            n -= left;
            self.out.pop_front();
            self.sent = 0;
        }
    }

    /// Our FIN is out while reading is held back (paused, or at the mark): only the peer's FIN
    /// is looked for, without taking data (Node reads for EOF after `end()` too).
    pub fn wants_eof_check(&self) -> bool {
        self.readable && !self.read_eof && self.write_shut && (self.guest_paused || self.pressured)
    }

    /// Both directions are finished: the connection closes (Node's `'close'`).
    pub fn finished(&self) -> bool {
        self.read_eof && self.write_shut
    }
}
