//! The outbox: everything a guest asks of the host during one or more events, encoded as one
//! byte batch that crosses to JS in a single call.
//!
//! Guests write, end, close, pause, log and fail while they run; none of that may call back into
//! JS from inside wasm. Each request is appended here as a record, and the whole batch is handed
//! to JS as one `Buffer` (without a copy) after the event returns. JS walks the records in order
//! (`js/batch.js`). Worker threads hand their batches over in the same encoding.
//!
//! Record layout, little endian, no padding:
//!
//! ```text
//! offset 0  u8   op      (Op)
//! offset 1  u8   sub     (log level, error kind, or the dialing worker of a Connect; else 0)
//! offset 2  u16  arg     (the port of a Connect; else 0)
//! offset 4  u32  id      (connection id; NO_ID when none)
//! offset 8  u32  len     (payload bytes that follow)
//! offset 12 [len] payload (written bytes, or UTF-8 text)
//! ```

use crate::instance::failure::Kind;

/// Size of a record header in bytes.
pub const HEADER: usize = 12;
/// Capacity an outbox keeps between batches; a larger one is released after use.
pub const KEEP_CAPACITY: usize = 1 << 20;
/// The `id` of a record that concerns no connection.
pub const NO_ID: u32 = u32::MAX;

/// What a record asks JS to do. JS reads the numbers from `constants()` (napi/constants.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Write the payload to the connection's socket.
    Write = 1,
    /// Flush queued output, then half-close (FIN).
    End = 2,
    /// Destroy the socket now, dropping queued output.
    Close = 3,
    /// Stop reading from the socket.
    Pause = 4,
    /// Start reading from the socket again.
    Resume = 5,
    /// A line of guest output; `sub` is the level, the payload is UTF-8.
    Log = 6,
    /// A guest failure; `sub` is the kind, the u16 at offset 2 the generation of the guest that
    /// failed (its low 16 bits), the payload the UTF-8 message.
    Error = 7,
    /// `Socket.write` just returned false on this connection: JS calls the bridge's `drain` once
    /// the socket's queue is below `highWaterMark` (at once, if it already is).
    WantDrain = 8,
    /// Threaded mode: the guest consumed `u32` payload bytes of this connection's input, so JS
    /// may read more from the socket.
    Ack = 9,
    /// The guest dialed a new connection with this id (`Socket.connect`): `sub` is the worker
    /// that owns it, the u16 at offset 2 the port, the payload the host (UTF-8).
    Connect = 10,
    /// Inline mode: the instance's next timer is due in `u32` payload milliseconds (`NO_TIMER`:
    /// none); JS arms one libuv timer for it and calls the bridge's `tick` then.
    Timer = 11,
    /// The guest called a host function (`Host.call`): `sub` is the worker, the id the connection
    /// it is for (0: none); the payload is the call handle (i32), the instance (u32), the name's
    /// length (u8), the name (UTF-8) and the data. JS answers with the bridge's `reply`.
    Call = 12,
}

/// The `Timer` record's "no timer pending".
pub const NO_TIMER: u32 = u32::MAX;

impl Op {
    /// Every op with the name JS knows it by (`constants().ops`, read by js/batch.js).
    pub const ALL: [(Op, &'static str); 12] = [
        (Op::Write, "WRITE"),
        (Op::End, "END"),
        (Op::Close, "CLOSE"),
        (Op::Pause, "PAUSE"),
        (Op::Resume, "RESUME"),
        (Op::Log, "LOG"),
        (Op::Error, "ERROR"),
        (Op::WantDrain, "WANT_DRAIN"),
        (Op::Ack, "ACK"),
        (Op::Connect, "CONNECT"),
        (Op::Timer, "TIMER"),
        (Op::Call, "CALL"),
    ];

    pub fn from_u8(v: u8) -> Option<Op> {
        Op::ALL.iter().map(|&(op, _)| op).find(|&op| op as u8 == v)
    }
}

/// An append-only batch of records.
#[derive(Default, Debug)]
pub struct Outbox {
    buf: Vec<u8>,
    /// Offset of the last record's header when it is a `Write`, so consecutive writes to one
    /// connection merge into a single record (one `socket.write` in JS instead of several).
    last_write: Option<usize>,
}

impl Outbox {
    /// The encoded batch so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Where the next record will start: a mark to measure from, or to `truncate` back to.
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Drops every record from `at` (an earlier `mark()`) on.
    pub fn truncate(&mut self, at: usize) {
        self.buf.truncate(at);
        self.last_write = None;
    }

    /// Empties the outbox, keeping its allocation for the next batch unless an unusually large
    /// batch made it grow past `KEEP_CAPACITY`.
    pub fn clear(&mut self) {
        self.last_write = None;
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    /// Takes the encoded batch, leaving the outbox empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.last_write = None;
        std::mem::take(&mut self.buf)
    }

    fn header(&mut self, op: Op, sub: u8, id: u32, len: usize) -> usize {
        let at = self.buf.len();
        self.buf.push(op as u8);
        self.buf.push(sub);
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        at
    }

    /// Appends `data` as a write to `id` (taken straight from guest memory by the caller),
    /// merged into the previous record when that is a write to the same connection.
    pub fn write(&mut self, id: u32, data: &[u8]) {
        // One allocation for header and bytes, not one per growth step: after a big batch was
        // handed to JS (`take`), the outbox starts from an empty buffer.
        self.buf.reserve(HEADER + data.len());
        let merge = self.last_write.filter(|&at| record_id(&self.buf, at) == id);
        let header_at = match merge {
            Some(at) => at,
            None => self.header(Op::Write, 0, id, 0),
        };
        self.buf.extend_from_slice(data);
        let total = (self.buf.len() - header_at - HEADER) as u32;
        self.buf[header_at + 8..header_at + 12].copy_from_slice(&total.to_le_bytes());
        self.last_write = Some(header_at);
    }

    /// Appends a record without payload (`End`, `Close`, `Pause`, `Resume`, `WantDrain`).
    pub fn command(&mut self, op: Op, id: u32) {
        self.header(op, 0, id, 0);
        self.last_write = None;
    }

    /// Appends a `Timer` record: the next timer is due in `ms` (`NO_TIMER`: none).
    pub fn timer(&mut self, ms: u32) {
        self.header(Op::Timer, 0, NO_ID, 4);
        self.buf.extend_from_slice(&ms.to_le_bytes());
        self.last_write = None;
    }

    /// Bytes a `Call` record of `name` and `data` takes.
    pub fn call_size(name: &str, data: &[u8]) -> usize {
        HEADER + 9 + name.len() + data.len()
    }

    /// Appends a `Call` of host function `name` with `data` (see `Op::Call`).
    pub fn call(&mut self, call: i32, instance: u32, worker: u8, id: u32, name: &str, data: &[u8]) {
        let len = 9 + name.len() + data.len();
        self.header(Op::Call, worker, id, len);
        self.buf.extend_from_slice(&call.to_le_bytes());
        self.buf.extend_from_slice(&instance.to_le_bytes());
        self.buf.push(name.len() as u8);
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(data);
        self.last_write = None;
    }

    /// Appends an `Ack` of `bytes` consumed on `id`.
    pub fn ack(&mut self, id: u32, bytes: u32) {
        self.header(Op::Ack, 0, id, 4);
        self.buf.extend_from_slice(&bytes.to_le_bytes());
        self.last_write = None;
    }

    /// Appends a `Connect` of new connection `id` to `host:port`, owned by `worker`.
    pub fn connect(&mut self, id: u32, worker: u8, port: u16, host: &str) {
        let at = self.header(Op::Connect, worker, id, host.len());
        self.buf[at + 2..at + 4].copy_from_slice(&port.to_le_bytes());
        self.buf.extend_from_slice(host.as_bytes());
        self.last_write = None;
    }

    /// Appends an `Error` record: a failure of `kind` of the guest loaded as `generation`, whose
    /// low 16 bits go in the u16 at offset 2 (JS widens them against `bridge.generation`).
    pub fn error(&mut self, kind: Kind, id: u32, generation: u32, text: &str) {
        let at = self.header(Op::Error, kind as u8, id, text.len());
        self.buf[at + 2..at + 4].copy_from_slice(&(generation as u16).to_le_bytes());
        self.buf.extend_from_slice(text.as_bytes());
        self.last_write = None;
    }

    /// Appends whole records encoded elsewhere (another outbox's batch).
    pub fn append(&mut self, records: &[u8]) {
        self.buf.extend_from_slice(records);
        self.last_write = None;
    }

    /// Appends a record whose payload is text (`Log`).
    pub fn text(&mut self, op: Op, sub: u8, id: u32, text: &str) {
        self.header(op, sub, id, text.len());
        self.buf.extend_from_slice(text.as_bytes());
        self.last_write = None;
    }
}

fn record_id(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at + 4], buf[at + 5], buf[at + 6], buf[at + 7]])
}

/// One decoded record (JS has its own decoder in js/batch.js; native I/O reads batches here).
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub op: Op,
    pub sub: u8,
    pub id: u32,
    pub payload: &'a [u8],
    /// The whole record, header included (to pass it on unchanged).
    pub raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// Where a `Connect` record dials: its host (the payload) and port (the u16 at offset 2).
    /// `None` for another op, or a host that is not UTF-8 (the dialer writes only UTF-8).
    pub fn connect_target(&self) -> Option<(&'a str, u16)> {
        if self.op != Op::Connect {
            return None;
        }
        let port = self.raw.get(2..4)?;
        let host = std::str::from_utf8(self.payload).ok()?;
        Some((host, u16::from_le_bytes([port[0], port[1]])))
    }
}

/// The records of a batch this crate encoded, in order; stops at the first malformed one.
pub fn records(mut buf: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < HEADER {
            return None;
        }
        let op = Op::from_u8(buf[0])?;
        let id = record_id(buf, 0);
        let len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
        let payload = buf.get(HEADER..HEADER + len)?;
        let record = Record {
            op,
            sub: buf[1],
            id,
            payload,
            raw: &buf[..HEADER + len],
        };
        buf = &buf[HEADER + len..];
        Some(record)
    })
}

/// Decodes a batch; `None` if it is malformed.
#[cfg(test)]
fn decode(buf: &[u8]) -> Option<Vec<Record<'_>>> {
    let recs: Vec<Record<'_>> = records(buf).collect();
    let used: usize = recs.iter().map(|r| r.raw.len()).sum();
    (used == buf.len()).then_some(recs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_writes_to_one_connection_merge_into_one_record() {
        let mut o = Outbox::default();
        o.write(7, b"ab");
        o.write(7, b"cd");
        o.write(8, b"x");
        o.write(7, b"e");
        let recs = decode(&o.buf).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].payload, b"abcd");
        assert_eq!(recs[0].id, 7);
        assert_eq!(recs[1].payload, b"x");
        assert_eq!(recs[2].payload, b"e");
    }

    #[test]
    fn a_command_between_writes_stops_merging_so_order_is_kept() {
        let mut o = Outbox::default();
        o.write(1, b"a");
        o.command(Op::End, 1);
        o.write(1, b"b");
        let recs = decode(&o.buf).unwrap();
        let ops: Vec<Op> = recs.iter().map(|r| r.op).collect();
        assert_eq!(ops, vec![Op::Write, Op::End, Op::Write]);
    }

    #[test]
    fn text_records_carry_sub_and_id() {
        let mut o = Outbox::default();
        o.text(Op::Log, 2, NO_ID, "boom at a.ts:1:2");
        let taken = o.take();
        assert!(o.bytes().is_empty());
        let recs = decode(&taken).unwrap();
        let r = &recs[0];
        assert_eq!((r.op, r.sub, r.id), (Op::Log, 2, NO_ID));
        assert_eq!(r.payload, b"boom at a.ts:1:2");
        assert_eq!(r.raw, &taken[..]);
    }

    #[test]
    fn truncated_batches_are_rejected() {
        let mut o = Outbox::default();
        o.write(1, b"hello");
        let b = o.take();
        assert!(decode(&b[..b.len() - 1]).is_none());
        assert!(decode(&b[..5]).is_none());
    }

    #[test]
    fn a_connect_record_carries_worker_port_and_host() {
        let mut o = Outbox::default();
        o.connect(42, 3, 8080, "127.0.0.1");
        let b = o.bytes();
        assert_eq!(b[0], Op::Connect as u8);
        assert_eq!(b[1], 3);
        assert_eq!(u16::from_le_bytes([b[2], b[3]]), 8080);
        let records = decode(b).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].id, records[0].payload), (42, &b"127.0.0.1"[..]));
    }

    #[test]
    fn a_connect_record_decodes_to_its_host_and_port_and_other_records_to_none() {
        let mut o = Outbox::default();
        o.connect(7, 1, 65535, "db.internal");
        o.connect(8, 1, 80, "::1");
        o.write(7, b"GET");
        let recs = decode(o.bytes()).unwrap();
        assert_eq!(recs[0].connect_target(), Some(("db.internal", 65535)));
        assert_eq!(recs[1].connect_target(), Some(("::1", 80)));
        assert_eq!(recs[2].connect_target(), None);
        // A host that is not UTF-8 is no target (the dialer never writes one).
        let mut raw = o.bytes()[..HEADER + 11].to_vec();
        raw[HEADER] = 0xff;
        let bad = decode(&raw).unwrap();
        assert_eq!(bad[0].connect_target(), None);
    }
}
