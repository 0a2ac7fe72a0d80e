//! http-get: the TCP client of "Towards sockets and networking in WebAssembly and WASI" (seed
//! 002) as a guest. The seed connects to 127.0.0.1:3333, sends
//! `GET /file.txt HTTP/1.1\r\n\r\n` and prints what comes back; here the host dials (only what
//! the bridge's `allowConnect` lists) and the answer goes to a client instead of stdout.
//!
//! A client connects and sends one line, `host:port/path` (`http://` accepted, the path defaults
//! to `/`). The guest dials host:port, sends `GET /path HTTP/1.1` with `Host` and
//! `Connection: close`, reads the response until the upstream closes (or Content-Length bytes of
//! body have come), answers the client with the body, logs
//! `fetched http://host:port/path: N bytes, status S`, and ends the connection. Failures answer
//! one line instead: `error: bad request`, `error: request line too long`,
//! `error: not allowed (-1)`, `error: bad address (-2)`, `error: too many connections (-3)`,
//! `error: upstream failed`, `error: upstream status S`, `error: bad upstream response`,
//! `error: upstream response too large`.
//!
//! The body goes back in 16 KiB slices: when `Socket::write` answers false (the client's queue is
//! full), the rest waits for `on_drain`, so a large body never piles up in the host.
use std::collections::HashMap;

use wasm_socket_bridge_guest::{export_guest, Guest, Refused, Socket};

const MAX_LINE: usize = 2048;
const MAX_RESPONSE: usize = (1 << 20) + 16 * 1024;
const SLICE: usize = 16 * 1024;

struct Fetch {
    client: u32,
    url: String,
    request: Vec<u8>,
    response: Vec<u8>,
    done: bool,
}

#[derive(Default)]
struct HttpGet {
    /// Request line bytes of clients still sending it.
    lines: HashMap<u32, Vec<u8>>,
    /// Fetches by upstream id.
    fetches: HashMap<u32, Fetch>,
    /// Upstream id of each client with a fetch in flight.
    upstream_of: HashMap<u32, u32>,
    /// Bodies being sent back, by client, and how much of each was written.
    sending: HashMap<u32, (Vec<u8>, usize)>,
}

fn fail(client: u32, message: &str) {
    Socket::write(client, format!("error: {message}\n").as_bytes());
    Socket::end(client);
}

/// `host:port/path` -> (host, port, path).
fn parse_target(line: &str) -> Option<(&str, u16, &str)> {
    let rest = line.strip_prefix("http://").unwrap_or(line);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    if host.is_empty() || path.contains(' ') {
        return None;
    }
    Some((host, port, path))
}

enum Body<'a> {
    Complete(u16, &'a [u8]),
    Incomplete,
    Bad,
}

/// The response's status and body once it is whole (`closed`: the upstream has closed).
fn response(buf: &[u8], closed: bool) -> Body<'_> {
    let end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => end,
        None if closed => return Body::Bad,
        None => return Body::Incomplete,
    };
    let head = match std::str::from_utf8(&buf[..end]) {
        Ok(h) => h,
        Err(_) => return Body::Bad,
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(s)) if v.starts_with("HTTP/1.") => match s.parse::<u16>() {
            Ok(s) => s,
            Err(_) => return Body::Bad,
        },
        _ => return Body::Bad,
    };
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let body = &buf[end + 4..];
    match length {
        Some(n) if body.len() >= n => Body::Complete(status, &body[..n]),
        Some(_) if closed => Body::Bad,
        Some(_) => Body::Incomplete,
        None if closed => Body::Complete(status, body),
        None => Body::Incomplete,
    }
}

impl HttpGet {
    fn start(&mut self, client: u32, line: &str) {
        let line = line.trim_end_matches('\r').trim();
        let (host, port, path) = match parse_target(line) {
            Some(t) => t,
            None => return fail(client, "bad request (expected host:port/path)"),
        };
        let upstream = match Socket::connect(host, port) {
            Ok(id) => id,
            Err(Refused::NotAllowedOrUnknown) => return fail(client, "not allowed (-1)"),
            Err(Refused::Malformed) => return fail(client, "bad address (-2)"),
            Err(Refused::Limit) => return fail(client, "too many connections (-3)"),
            Err(e) => return fail(client, &e.to_string()),
        };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
        self.upstream_of.insert(client, upstream);
        self.fetches.insert(
            upstream,
            Fetch {
                client,
                url: format!("http://{host}:{port}{path}"),
                request: request.into_bytes(),
                response: Vec::new(),
                done: false,
            },
        );
    }

    /// Answers the client if the response of `upstream` is whole (or the upstream has closed).
    fn finish(&mut self, upstream: u32, closed: bool) {
        let f = match self.fetches.get_mut(&upstream) {
            Some(f) if !f.done => f,
            _ => return,
        };
        let client = f.client;
        match response(&f.response, closed) {
            Body::Incomplete => return,
            Body::Bad => fail(client, "bad upstream response"),
            Body::Complete(status, _) if !(200..300).contains(&status) => {
                fail(client, &format!("upstream status {status}"))
            }
            Body::Complete(status, body) => {
                println!("fetched {}: {} bytes, status {status}", f.url, body.len());
                self.sending.insert(client, (body.to_vec(), 0));
            }
        }
        f.done = true;
        self.upstream_of.remove(&client);
        Socket::close(upstream);
        self.pump(client);
    }

    /// Writes the next slices of `client`'s body until its queue is full or the body is sent.
    fn pump(&mut self, client: u32) {
        let (body, at) = match self.sending.get_mut(&client) {
            Some(s) => s,
            None => return,
        };
        while *at < body.len() {
            let end = (*at + SLICE).min(body.len());
            let more = Socket::write(client, &body[*at..end]);
            *at = end;
            if !more {
                return; // on_drain resumes
            }
        }
        self.sending.remove(&client);
        Socket::end(client);
    }
}

impl Guest for HttpGet {
    fn on_connection(&mut self, id: u32) {
        self.lines.insert(id, Vec::new());
    }

    fn on_data(&mut self, id: u32, data: &[u8]) {
        if let Some(f) = self.fetches.get_mut(&id) {
            f.response.extend_from_slice(data);
            if f.response.len() > MAX_RESPONSE {
                let client = f.client;
                f.done = true;
                self.upstream_of.remove(&client);
                fail(client, "upstream response too large");
                Socket::close(id);
                return;
            }
            return self.finish(id, false);
        }
        let line = match self.lines.get_mut(&id) {
            Some(l) => l,
            None => return, // the request line was taken already
        };
        line.extend_from_slice(data);
        if let Some(nl) = line.iter().position(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(&line[..nl]).into_owned();
            self.lines.remove(&id);
            self.start(id, &text);
        } else if line.len() > MAX_LINE {
            self.lines.remove(&id);
            fail(id, "request line too long");
        }
    }

    fn on_end(&mut self, id: u32) {
        if self.fetches.contains_key(&id) {
            return self.finish(id, true);
        }
        // A client's FIN after its line (as `nc -N` sends it) ends the request line.
        if let Some(line) = self.lines.remove(&id) {
            let text = String::from_utf8_lossy(&line).into_owned();
            self.start(id, &text);
        }
    }

    fn on_drain(&mut self, id: u32) {
        self.pump(id);
    }

    fn on_connect(&mut self, id: u32) {
        if let Some(f) = self.fetches.get(&id) {
            Socket::write(id, &f.request);
        }
    }

    fn on_close(&mut self, id: u32) {
        if self.fetches.contains_key(&id) {
            let pending = self.fetches.get(&id).map_or(false, |f| !f.done);
            if pending {
                // Closed (refused, reset) before a whole response.
                if let Some(f) = self.fetches.get_mut(&id) {
                    if f.response.is_empty() {
                        let client = f.client;
                        f.done = true;
                        self.upstream_of.remove(&client);
                        fail(client, "upstream failed");
                    }
                }
                self.finish(id, true);
            }
            self.fetches.remove(&id);
            return;
        }
        self.lines.remove(&id);
        self.sending.remove(&id);
        // A client gone while its fetch is in flight: hang up on the upstream too.
        if let Some(upstream) = self.upstream_of.remove(&id) {
            if let Some(f) = self.fetches.get_mut(&upstream) {
                f.done = true;
            }
            Socket::close(upstream);
        }
    }
}

export_guest!(HttpGet);
