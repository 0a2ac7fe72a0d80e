//! Connection events: what the host tells a guest instance, and the one type that carries it
//! from the socket side (JS, or a worker's queue) to the executor that runs it.

use std::borrow::Cow;

/// Where a connection goes: its addresses as Node prints them (`127.0.0.1`, `::1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub remote_address: String,
    pub remote_port: u16,
    pub local_address: String,
    pub local_port: u16,
}

/// One event for the instance that owns connection `id`. `Data` borrows its bytes inline (the
/// copy-free path: they go straight from the JS Buffer into guest memory) and owns them when it
/// crosses to a worker thread (`into_owned`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A socket was attached as `id`: `onConnection`.
    Open { id: u32, peer: Peer },
    /// Bytes arrived; `queued` is the socket's unsent output right now, as JS sees it: `onData`.
    Data {
        id: u32,
        bytes: Cow<'a, [u8]>,
        queued: usize,
    },
    /// The peer sent FIN; `half_open` is the socket's `allowHalfOpen`: `onEnd`.
    End { id: u32, half_open: bool },
    /// The socket failed: `onError` (then `Close`).
    Error(u32),
    /// The socket's queue fell to `queued` bytes: `onDrain` when one is owed.
    Drain { id: u32, queued: usize },
    /// An outbound connection the guest dialed is established: `onConnect`.
    Connected { id: u32, peer: Peer },
    /// The socket is gone: `onClose`, the last event of the connection.
    Close(u32),
    /// A message from the application: `onMessage(id, bytes)`, for connection `id`
    /// (`bridge.send`), or for the instance with `id` 0 (`bridge.broadcast`: every instance).
    Message { id: u32, bytes: Cow<'a, [u8]> },
    /// The application answered `Host.call` `call` of instance `instance`: `onReply(call, status,
    /// bytes)`, unless that instance is gone. It concerns no connection: it goes to the worker
    /// that made the call.
    Reply {
        instance: u32,
        call: i32,
        status: i32,
        bytes: Cow<'a, [u8]>,
    },
    /// Time passed: run the timers and timeouts that are due (`onTimer`, `onTimeout`). It
    /// concerns no connection; a worker thread makes its own.
    Tick,
}

impl Event<'_> {
    /// The connection the event is for (`None` for `Tick` and `Reply`).
    pub fn id(&self) -> Option<u32> {
        match *self {
            Event::Open { id, .. }
            | Event::Data { id, .. }
            | Event::End { id, .. }
            | Event::Error(id)
            | Event::Drain { id, .. }
            | Event::Connected { id, .. }
            | Event::Close(id)
            | Event::Message { id, .. } => Some(id),
            Event::Tick | Event::Reply { .. } => None,
        }
    }

    /// The same event owning its bytes, to cross to another thread.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Open { id, peer } => Event::Open { id, peer },
            Event::Data { id, bytes, queued } => Event::Data {
                id,
                bytes: Cow::Owned(bytes.into_owned()),
                queued,
            },
            Event::End { id, half_open } => Event::End { id, half_open },
            Event::Error(id) => Event::Error(id),
            Event::Drain { id, queued } => Event::Drain { id, queued },
            Event::Connected { id, peer } => Event::Connected { id, peer },
            Event::Close(id) => Event::Close(id),
            Event::Message { id, bytes } => Event::Message {
                id,
                bytes: Cow::Owned(bytes.into_owned()),
            },
            Event::Reply {
                instance,
                call,
                status,
                bytes,
            } => Event::Reply {
                instance,
                call,
                status,
                bytes: Cow::Owned(bytes.into_owned()),
            },
            Event::Tick => Event::Tick,
        }
    }
}
