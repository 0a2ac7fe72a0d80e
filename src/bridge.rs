//! A bridge: one loaded guest serving many connections. It hands out connection ids (never
//! reused while the bridge lives) and routes each connection's events to the executor that owns
//! the connection. Inline mode (`threads: 0`) has one executor, driven on the caller's thread.

use std::sync::Arc;

use crate::executor::{Executor, Stats};
use crate::failure::Failure;
use crate::guest::Guest;

pub struct Bridge {
    exec: Executor,
    next_id: u32,
}

impl Bridge {
    pub fn new(guest: Arc<Guest>, high_water_mark: usize) -> Result<Bridge, Failure> {
        Ok(Bridge {
            exec: Executor::new(guest, high_water_mark)?,
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

    pub fn end(&mut self, id: u32) {
        self.exec.end(id);
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

    /// The output batch produced since the last call, or `None` when there is none.
    pub fn take_output(&mut self) -> Option<Vec<u8>> {
        self.exec.has_output().then(|| self.exec.take_output())
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
