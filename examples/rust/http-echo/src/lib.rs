//! http-echo: the non-blocking HTTP server of WasmEdge's networking chapter (seed 004) as a
//! guest. Its `handle_connection` reads a request until the body named by Content-Length has
//! arrived, prints `<peer> request: <method> <path>`, and answers the body with
//! `Connection: close`. Here the host does the polling: each `on_data` appends to the
//! connection's buffer and the request is answered once whole, however the bytes were split.
//!
//!     $ curl -d "name=WasmEdge" -X POST http://127.0.0.1:1234
//!     echo: name=WasmEdge
//!
//! Any method is answered `200` with `echo: ` and the body (empty for a GET). A head over 16 KiB
//! is answered 431, a body over 1 MiB 413, a malformed request 400; then the connection ends.
//! Answers go out in 16 KiB slices; when `Socket::write` answers false the rest waits for
//! `on_drain`, so a large answer never piles up in the host.
use std::collections::HashMap;

use wasm_socket_bridge_guest::{export_guest, Guest, Socket};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1 << 20;
const SLICE: usize = 16 * 1024;

#[derive(Default)]
struct HttpEcho {
    /// Bytes received so far, per connection still reading its request.
    pending: HashMap<u32, Vec<u8>>,
    /// Answers being sent, by connection, and how much of each was written.
    sending: HashMap<u32, (Vec<u8>, usize)>,
}

struct Request<'a> {
    method: &'a str,
    path: &'a str,
    content_length: usize,
    expect_continue: bool,
    body_at: usize,
}

enum Parse<'a> {
    Incomplete,
    Bad(u16, &'static str),
    Head(Request<'a>),
}

fn parse(buf: &[u8]) -> Parse<'_> {
    let end = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => end,
        None if buf.len() > MAX_HEAD => return Parse::Bad(431, "Request Header Fields Too Large"),
        None => return Parse::Incomplete,
    };
    let head = match std::str::from_utf8(&buf[..end]) {
        Ok(h) => h,
        Err(_) => return Parse::Bad(400, "Bad Request"),
    };
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (method, path, version) = (first.next(), first.next(), first.next());
    let (method, path) = match (method, path, version) {
        (Some(m), Some(p), Some(v)) if !m.is_empty() && v.starts_with("HTTP/1.") => (m, p),
        _ => return Parse::Bad(400, "Bad Request"),
    };
    let mut req = Request {
        method,
        path,
        content_length: 0,
        expect_continue: false,
        body_at: end + 4,
    };
    for line in lines {
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => return Parse::Bad(400, "Bad Request"),
        };
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<usize>() {
                Ok(n) if n <= MAX_BODY => req.content_length = n,
                Ok(_) => return Parse::Bad(413, "Payload Too Large"),
                Err(_) => return Parse::Bad(400, "Bad Request"),
            }
        } else if name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue")
        {
            req.expect_continue = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The seed's server reads Content-Length bodies only.
            return Parse::Bad(411, "Length Required");
        }
    }
    Parse::Head(req)
}

fn response(status: u16, reason: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

impl HttpEcho {
    fn respond(&mut self, id: u32, answer: Vec<u8>) {
        self.sending.insert(id, (answer, 0));
        self.pump(id);
    }

    /// Writes the next slices of `id`'s answer until its queue is full or the answer is sent.
    fn pump(&mut self, id: u32) {
        let (answer, at) = match self.sending.get_mut(&id) {
            Some(s) => s,
            None => return,
        };
        while *at < answer.len() {
            let end = (*at + SLICE).min(answer.len());
            let more = Socket::write(id, &answer[*at..end]);
            *at = end;
            if !more {
                return; // on_drain resumes
            }
        }
        self.sending.remove(&id);
        Socket::end(id);
    }
}

impl Guest for HttpEcho {
    fn on_connection(&mut self, id: u32) {
        self.pending.insert(id, Vec::new());
    }

    fn on_data(&mut self, id: u32, data: &[u8]) {
        let buf = match self.pending.get_mut(&id) {
            Some(buf) => buf,
            None => return, // answered already: the rest is ignored
        };
        let before = buf.len();
        buf.extend_from_slice(data);
        let answer = match parse(buf) {
            Parse::Incomplete => None,
            Parse::Bad(status, reason) => {
                eprintln!("{id}: {status} {reason}");
                Some(response(status, reason, format!("{reason}\n").as_bytes()))
            }
            Parse::Head(req) => {
                let have = buf.len() - req.body_at;
                if have < req.content_length {
                    if req.expect_continue && before < req.body_at {
                        Socket::write(id, b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    None
                } else {
                    let peer = match (Socket::remote_address(id), Socket::remote_port(id)) {
                        (Some(a), Some(p)) => format!("{a}:{p}"),
                        _ => "?".to_string(),
                    };
                    println!("{peer} request: {:?} {:?}", req.method, req.path);
                    let mut body = b"echo: ".to_vec();
                    body.extend_from_slice(&buf[req.body_at..req.body_at + req.content_length]);
                    Some(response(200, "OK", &body))
                }
            }
        };
        if let Some(answer) = answer {
            self.pending.remove(&id);
            self.respond(id, answer);
        }
    }

    fn on_drain(&mut self, id: u32) {
        self.pump(id);
    }

    fn on_close(&mut self, id: u32) {
        self.pending.remove(&id);
        self.sending.remove(&id);
    }
}

export_guest!(HttpEcho);
