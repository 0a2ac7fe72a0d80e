//! The connection table of one guest instance: which ids the guest knows and what state each is
//! in, as far as the host's answers to the guest depend on it.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::bridge::event::Peer;
use crate::bridge::ids::IdHasher;

/// Host-side state of one connection.
#[derive(Debug, Default, Clone)]
pub struct Conn {
    /// Bytes the guest wrote that the socket has not sent yet, as the host counts them: JS
    /// reports the socket's queue at each event of this connection and when it drains, and each
    /// `Socket.write` adds to it. It can only over-count (bytes sent since the last report).
    pub queued: usize,
    /// The guest called `Socket.end`, or the peer's FIN ended a connection that is not
    /// half-open: further writes are refused.
    pub ending: bool,
    /// The guest called `Socket.close`, or the host destroyed the connection: only `onClose`
    /// is still delivered.
    pub closing: bool,
    /// A `Socket.write` returned false: `onDrain` is owed once the queue falls below the mark.
    pub want_drain: bool,
    /// The guest dialed it (`Socket.connect`); it was not accepted.
    pub outbound: bool,
    /// Its addresses; for a dialed connection, known once it is established.
    pub peer: Option<Box<Peer>>,
}

impl Conn {
    /// Whether `Socket.write`/`end` may still send on this connection.
    pub fn writable(&self) -> bool {
        !self.ending && !self.closing
    }
}

#[derive(Debug, Default)]
pub struct ConnTable {
    map: HashMap<u32, Conn, BuildHasherDefault<IdHasher>>,
    /// How many of them are outbound.
    outbound: usize,
}

impl ConnTable {
    /// An accepted connection, with its addresses.
    pub fn insert(&mut self, id: u32, peer: Peer) {
        self.put(
            id,
            Conn {
                peer: Some(Box::new(peer)),
                ..Conn::default()
            },
        );
    }

    /// A connection the guest dialed.
    pub fn insert_outbound(&mut self, id: u32) {
        self.put(
            id,
            Conn {
                outbound: true,
                ..Conn::default()
            },
        );
    }

    fn put(&mut self, id: u32, conn: Conn) {
        self.outbound += conn.outbound as usize;
        if let Some(old) = self.map.insert(id, conn) {
            self.outbound -= old.outbound as usize;
        }
    }

    /// Outbound connections open (or still connecting).
    pub fn outbound(&self) -> usize {
        self.outbound
    }

    /// Connections held, open or closing.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, id: u32) -> Option<&Conn> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Conn> {
        self.map.get_mut(&id)
    }

    pub fn remove(&mut self, id: u32) -> Option<Conn> {
        let conn = self.map.remove(&id)?;
        self.outbound -= conn.outbound as usize;
        Some(conn)
    }

    /// Removes every connection, returning their ids in ascending order.
    pub fn drain_ids(&mut self) -> Vec<u32> {
        self.outbound = 0;
        let mut ids: Vec<u32> = self.map.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_of_many_ids_finds_and_removes_each() {
        let mut t = ConnTable::default();
        for id in 1..=50_000u32 {
            t.insert(id, Peer::default());
        }
        for id in (1..=50_000u32).step_by(2) {
            assert!(t.remove(id).is_some());
        }
        for id in 1..=50_000u32 {
            assert_eq!(t.get(id).is_some(), id % 2 == 0, "id {id}");
        }
    }
}
