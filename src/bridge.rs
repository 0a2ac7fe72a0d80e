//! A bridge: one loaded guest serving many connections. It hands out connection ids (never
//! reused while the bridge lives) and routes each connection's events to the executor that owns
//! the connection. Inline mode (`threads: 0`) has one executor, driven on the caller's thread.

use std::sync::Arc;

use crate::executor::{Executor, Stats};
use crate::failure::Failure;
use crate::guest::Guest;
use crate::limits::Limits;

pub struct Bridge {
    exec: Executor,
    next_id: u32,
}

impl Bridge {
    pub fn new(guest: Arc<Guest>, limits: Limits) -> Result<Bridge, Failure> {
        Ok(Bridge {
            exec: Executor::new(guest, limits)?,
            next_id: 1,
        })
    }

    /// Registers a new connection and runs `onConnection`. `None` once all 2^32 - 1 ids of this
    /// bridge are used up: ids are never reused, so the connection must be refused.
    pub fn open(&mut self) -> Option<u32> {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1)?;
        self.exec.open(id);
        Some(id)
    }

    pub fn data(&mut self, id: u32, data: &[u8], queued: usize) {
        self.exec.data(id, data, queued);
    }

    pub fn end(&mut self, id: u32, half_open: bool) {
        self.exec.end(id, half_open);
    }

    pub fn error(&mut self, id: u32) {
        self.exec.error(id);
    }

    pub fn drain(&mut self, id: u32, queued: usize) {
        self.exec.drain(id, queued);
    }

    pub fn close(&mut self, id: u32) {
        self.exec.close(id);
    }

    /// Hands the output batch produced since the last call to `f` (when there is one), then
    /// empties it.
    pub fn with_output<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let out = self.exec.output();
        if out.is_empty() {
            return None;
        }
        let r = f(out);
        self.exec.clear_output();
        Some(r)
    }

    pub fn connections(&self) -> usize {
        self.exec.connections()
    }

    pub fn stats(&self) -> Stats {
        self.exec.stats()
    }

    /// Guest instances running.
    pub fn instances(&self) -> u32 {
        1
    }
}
