//! What a bridge allows and bounds, free of wasmer: per-connection limits, the `allowConnect`
//! list, and the dialing decision for `Socket.connect`.

pub mod allow;
pub mod dial;
pub mod limits;
