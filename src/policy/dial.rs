//! Outbound connections (`Socket.connect`): what an instance needs to decide whether it may
//! dial, and the id the new connection gets. The import itself is `Socket.connect` in
//! `instance/imports/socket.rs`. A `Connect` outbox record asks for the dial: JS dials it
//! (`js/bridge.js`), or, on a worker that serves a native listener, the worker itself
//! (`native/driver.rs`).

use std::sync::Arc;

use crate::bridge::ids::IdSource;
use crate::policy::allow::{self, Allowlist, BadAddress};

/// Most outbound connections one instance may have open (or opening) at once, so a guest that
/// dials in a loop cannot exhaust the process's file descriptors.
pub const MAX_OUTBOUND: usize = 1024;

/// `Socket.connect` return codes (negative: nothing was dialed).
pub mod code {
    /// The address is not in `allowConnect`.
    pub const NOT_ALLOWED: i32 = -1;
    /// The host or port is malformed.
    pub const BAD_ADDRESS: i32 = -2;
    /// The instance has `MAX_OUTBOUND` connections open, or the bridge ran out of ids.
    pub const LIMIT: i32 = -3;
}

/// Why a dial was refused: the code the guest gets and the log line the user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i32,
    pub message: String,
}

/// A permitted dial: the new connection's id and where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    pub id: u32,
    pub host: String,
    pub port: u16,
}

/// Per-instance dialing context.
#[derive(Clone, Debug)]
pub struct Dialer {
    allow: Arc<Allowlist>,
    ids: Arc<IdSource>,
    /// The worker whose executor owns the connections this instance dials (0 inline); JS routes
    /// the new connection's events there.
    pub worker: u8,
}

impl Default for Dialer {
    /// Dials nothing (an empty allowlist), with ids of its own: for instances made outside a
    /// bridge (tests).
    fn default() -> Dialer {
        Dialer::new(Arc::default(), Arc::default(), 0)
    }
}

impl Dialer {
    pub fn new(allow: Arc<Allowlist>, ids: Arc<IdSource>, worker: u8) -> Dialer {
        Dialer { allow, ids, worker }
    }

    /// The same allowlist and ids, for the instance on `worker`.
    pub fn for_worker(&self, worker: u8) -> Dialer {
        Dialer {
            worker,
            ..self.clone()
        }
    }

    /// Decides a `Socket.connect(host, port)` from a guest that has `open` outbound connections.
    pub fn dial(&self, host: &[u8], port: i32, open: usize) -> Result<Dial, Refusal> {
        let refuse = |code, message: String| {
            Err(Refusal {
                code,
                message: format!("Socket.connect: {message}"),
            })
        };
        let Ok(host) = std::str::from_utf8(host) else {
            return refuse(
                code::BAD_ADDRESS,
                "the host is not UTF-8 text; refused".into(),
            );
        };
        let port = match allow::check_address(host, port) {
            Ok(port) => port,
            Err(BadAddress(why)) => {
                let shown = allow::show(&host.escape_debug().to_string(), port as u32);
                return refuse(code::BAD_ADDRESS, format!("{shown}: {why}; refused"));
            }
        };
        let shown = allow::show(host, port);
        if !self.allow.permits(host, port) {
            return refuse(
                code::NOT_ALLOWED,
                format!(
                    "{shown} is not in allowConnect; refused (add \"{shown}\" or \"{}\" to \
                     allow it)",
                    allow::show(host, "*")
                ),
            );
        }
        if open >= MAX_OUTBOUND {
            return refuse(
                code::LIMIT,
                format!(
                    "{shown}: this instance already has {MAX_OUTBOUND} outbound connections open; refused"
                ),
            );
        }
        let Some(id) = self.ids.next() else {
            return refuse(
                code::LIMIT,
                format!("{shown}: the bridge has used all its connection ids; refused"),
            );
        };
        Ok(Dial {
            id,
            host: allow::unbracket(host).to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialer(entries: &[&str]) -> Dialer {
        Dialer::new(
            Arc::new(Allowlist::parse(entries).unwrap()),
            Arc::new(IdSource::default()),
            0,
        )
    }

    #[test]
    fn an_allowed_address_gets_a_fresh_id() {
        let d = dialer(&["127.0.0.1:*", "[::1]:80"]);
        let a = d.dial(b"127.0.0.1", 8080, 0).unwrap();
        assert_eq!((a.id, a.host.as_str(), a.port), (1, "127.0.0.1", 8080));
        assert_eq!(d.dial(b"127.0.0.1", 8081, 1).unwrap().id, 2);
        assert_eq!(d.dial(b"[::1]", 80, 0).unwrap().host, "::1");
    }

    #[test]
    fn a_refusal_names_the_address_and_how_to_allow_it() {
        let d = dialer(&[]);
        let r = d.dial(b"db.internal", 5432, 0).unwrap_err();
        assert_eq!(r.code, code::NOT_ALLOWED);
        assert!(
            r.message
                .contains("db.internal:5432 is not in allowConnect"),
            "{}",
            r.message
        );
        assert!(r.message.contains("\"db.internal:*\""), "{}", r.message);
    }

    #[test]
    fn malformed_addresses_are_bad_addresses() {
        let d = dialer(&["localhost:*"]);
        for (host, port) in [
            (&b"localhost"[..], 0),
            (b"localhost", 70000),
            (b"", 80),
            (b"\xff\xfe", 80),
            (b"a b", 80),
        ] {
            let r = d.dial(host, port, 0).unwrap_err();
            assert_eq!(r.code, code::BAD_ADDRESS, "{}", r.message);
        }
    }

    #[test]
    fn an_instance_cannot_hold_more_than_the_outbound_limit() {
        let d = dialer(&["localhost:*"]);
        assert!(d.dial(b"localhost", 80, MAX_OUTBOUND - 1).is_ok());
        assert_eq!(
            d.dial(b"localhost", 80, MAX_OUTBOUND).unwrap_err().code,
            code::LIMIT
        );
    }
}
