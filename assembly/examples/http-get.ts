// http-get: an HTTP client guest, after the WASI sockets client example ("Towards sockets and
// networking in WebAssembly and WASI"). It is itself a tiny line-based server: a
// client connects and sends one line `host:port/path` (e.g. `127.0.0.1:8000/file.txt`; a leading
// `http://` is accepted, the path defaults to `/`). The guest dials host:port with Socket.connect,
// which only succeeds for addresses the bridge's `allowConnect` lists, sends
//
//   GET /path HTTP/1.1\r\nHost: host:port\r\nConnection: close\r\n\r\n
//
// once connected, reads the response, and answers the client with the response body, byte for
// byte, then ends the connection. On failure the client gets one line instead, and the end:
//
//   error: bad request (expected host:port/path)     the line is not an address and path
//   error: request line too long                    more than 2048 bytes without a newline
//   error: not allowed (-1)                         Socket.connect refused the address
//   error: bad address (-2) / error: too many connections (-3)
//   error: upstream failed                          connection refused or reset, or the response
//                                                   ended early
//   error: upstream status N                        a final status other than 2xx
//   error: bad upstream response                    not HTTP/1.x, or malformed framing
//   error: upstream body too large                  over 1 MiB (MAX_BODY)
//
// A fetched body is logged as `fetched http://host:port/path: N bytes, status 200`.
//
// Responses: the body is delimited by Content-Length, by chunked transfer coding, or by the
// upstream closing the connection; 1xx interim responses are skipped, 204 and 304 have no body.
// At most MAX_HEAD bytes of head and MAX_BODY bytes of body are buffered per fetch.
//
// Many clients are served at once, each with its own state in the maps below. A client that
// disconnects while its fetch is in flight (onClose) has its upstream connection closed. On a
// server with allowHalfOpen a client's FIN after its line only means "that was my request" (as
// `nc -N` or a pipe sends it): the fetch goes on and the answer is still sent; a client that
// resets, or a FIN on a server without allowHalfOpen, closes the connection. The body goes back
// to the client in slices, pausing when Socket.write returns false until onDrain, so a large body
// never piles up in the host's output queue.
//
// Run it: `npx tsx examples/http-get-server.ts`, then the nc line it prints.
import { Socket, LineReader, ByteQueue } from "../index";

/** Longest request line accepted from a client, in bytes. */
const MAX_LINE: i32 = 2048;
/** Largest response head (status line and header fields) accepted from an upstream. */
const MAX_HEAD: i32 = 16384;
/** Largest response body fetched; a bigger one is answered with an error line. */
const MAX_BODY: i32 = 1 << 20;
/** Bytes handed to one Socket.write when sending a body back. */
const SLICE: i32 = 16384;

const LF: u8 = 0x0a;
const CR: u8 = 0x0d;

// ResponseReader phases.
const P_HEAD: i32 = 0; // status line and header fields
const P_LENGTH: i32 = 1; // a Content-Length body
const P_UNTIL_CLOSE: i32 = 2; // a body that ends when the upstream closes
const P_CHUNK_SIZE: i32 = 3; // a chunk-size line
const P_CHUNK_DATA: i32 = 4; // chunk data
const P_CHUNK_END: i32 = 5; // the CRLF after chunk data
const P_TRAILERS: i32 = 6; // trailer fields after the last chunk
const P_DONE: i32 = 7;
const P_FAILED: i32 = 8;

// Why a ResponseReader failed.
const F_NONE: i32 = 0;
const F_MALFORMED: i32 = 1; // not a well-formed HTTP/1.x response
const F_TOO_LARGE: i32 = 2; // the body is over MAX_BODY
const F_TRUNCATED: i32 = 3; // the upstream closed before the end of the response

/**
 * Reads one HTTP/1.x response from the bytes of a connection: push() what arrives, eof() when the
 * upstream has closed, then look at `done`, `failed` and `status`. The decoded body accumulates in
 * `body`.
 */
class ResponseReader {
  /** Received bytes not parsed yet. */
  private input: ByteQueue = new ByteQueue();
  /** The decoded body so far. */
  body: ByteQueue = new ByteQueue();
  phase: i32 = P_HEAD;
  failure: i32 = F_NONE;
  /** The final response's status; 0 until its head has been read. */
  status: i32 = 0;
  /** Where the search for the end of the head starts (the head's bytes before are scanned). */
  private scanned: i32 = 0;
  /** Body bytes still to come: of a Content-Length body, or of the current chunk. */
  private left: i64 = 0;

  get done(): bool {
    return this.phase == P_DONE;
  }

  get failed(): bool {
    return this.phase == P_FAILED;
  }

  push(data: ArrayBuffer): void {
    if (this.phase == P_DONE || this.phase == P_FAILED) return; // bytes after the response
    this.input.push(data);
    this.advance();
  }

  /** The upstream closed its side: a body delimited by the close is complete now. */
  eof(): void {
    if (this.phase == P_UNTIL_CLOSE) this.phase = P_DONE;
    else if (this.phase != P_DONE) this.fail(F_TRUNCATED);
  }

  private fail(why: i32): void {
    if (this.phase == P_FAILED) return;
    this.phase = P_FAILED;
    this.failure = why;
    this.input.clear();
    this.body.clear();
  }

  private advance(): void {
    const q = this.input;
    while (true) {
      const phase = this.phase;
      if (phase == P_HEAD) {
        if (!this.readHead()) return;
      } else if (phase == P_LENGTH || phase == P_CHUNK_DATA) {
        let n = <i64>q.length < this.left ? q.length : <i32>this.left;
        if (n == 0) return;
        this.body.pushBytes(q.dataStart, n);
        q.skip(n);
        this.left -= n;
        if (this.left == 0) this.phase = phase == P_LENGTH ? P_DONE : P_CHUNK_END;
      } else if (phase == P_UNTIL_CLOSE) {
        const n = q.length;
        if (n == 0) return;
        if (this.body.length + n > MAX_BODY) {
          this.fail(F_TOO_LARGE);
          return;
        }
        this.body.pushBytes(q.dataStart, n);
        q.skip(n);
      } else if (phase == P_CHUNK_SIZE) {
        const nl = q.indexOf(LF);
        if (nl < 0) {
          if (q.length > 1024) this.fail(F_MALFORMED);
          return;
        }
        const size = chunkSize(String.UTF8.decode(q.take(nl + 1)));
        if (size < 0) {
          this.fail(F_MALFORMED);
          return;
        }
        if (<i64>this.body.length + size > <i64>MAX_BODY) {
          this.fail(F_TOO_LARGE);
          return;
        }
        this.left = size;
        this.phase = size == 0 ? P_TRAILERS : P_CHUNK_DATA;
      } else if (phase == P_CHUNK_END) {
        if (q.length == 0) return;
        if (q.at(0) == LF) {
          q.skip(1);
        } else if (q.at(0) == CR) {
          if (q.length < 2) return;
          if (q.at(1) != LF) {
            this.fail(F_MALFORMED);
            return;
          }
          q.skip(2);
        } else {
          this.fail(F_MALFORMED);
          return;
        }
        this.phase = P_CHUNK_SIZE;
      } else if (phase == P_TRAILERS) {
        const nl = q.indexOf(LF);
        if (nl < 0) {
          if (q.length > MAX_HEAD) this.fail(F_MALFORMED);
          return;
        }
        const blank = nl == 0 || (nl == 1 && q.at(0) == CR);
        q.skip(nl + 1);
        if (blank) this.phase = P_DONE;
      } else {
        return; // done or failed
      }
    }
  }

  /** Reads a head once it is whole; false when more bytes are needed (or it failed). */
  private readHead(): bool {
    const q = this.input;
    // The head ends with an empty line ("\r\n" or "\n").
    let from = this.scanned;
    let end = -1;
    while (true) {
      const nl = q.indexOf(LF, from);
      if (nl < 0) break;
      if (nl == from || (nl == from + 1 && q.at(from) == CR)) {
        end = nl + 1;
        break;
      }
      from = nl + 1;
    }
    if (end < 0 || end > MAX_HEAD) {
      this.scanned = from;
      if (q.length > MAX_HEAD) this.fail(F_MALFORMED);
      return false;
    }
    this.scanned = 0;
    // Latin-1 would be exact, but a head is ASCII in practice; UTF-8 keeps it simple.
    const lines = String.UTF8.decode(q.take(end)).split("\n");
    const statusLine = trimCR(lines[0]);
    // "HTTP/1.x NNN reason"
    if (
      statusLine.length < 12 || !statusLine.startsWith("HTTP/1.") ||
      statusLine.charCodeAt(8) != 0x20 ||
      (statusLine.length > 12 && statusLine.charCodeAt(12) != 0x20)
    ) {
      this.fail(F_MALFORMED);
      return false;
    }
    const status = <i32>parseDigits(statusLine.substring(9, 12), 3);
    if (status < 100) {
      this.fail(F_MALFORMED);
      return false;
    }
    let length: i64 = -1;
    let chunked = false;
    let encoded = false;
    for (let i = 1; i < lines.length; i++) {
      const line = trimCR(lines[i]);
      if (line.length == 0) continue;
      const colon = line.indexOf(":");
      if (colon <= 0) {
        this.fail(F_MALFORMED);
        return false;
      }
      const name = line.substring(0, colon).toLowerCase();
      const value = line.substring(colon + 1).trim();
      if (name == "content-length") {
        const n = parseDigits(value, 18);
        if (n < 0 || (length >= 0 && n != length)) {
          this.fail(F_MALFORMED);
          return false;
        }
        length = n;
      } else if (name == "transfer-encoding") {
        encoded = true;
        // Only the last coding says how the body ends.
        const codings = value.toLowerCase().split(",");
        chunked = codings[codings.length - 1].trim() == "chunked";
      }
    }
    if (status < 200) {
      // An interim response (100 Continue, 103 Early Hints): the final one follows.
      return true;
    }
    this.status = status;
    if (status == 204 || status == 304) {
      this.phase = P_DONE;
    } else if (encoded) {
      // Transfer-Encoding overrides Content-Length; a coding other than chunked last means the
      // body runs until the close (RFC 9112, section 6.3).
      this.phase = chunked ? P_CHUNK_SIZE : P_UNTIL_CLOSE;
    } else if (length >= 0) {
      if (length > <i64>MAX_BODY) {
        this.fail(F_TOO_LARGE);
        return false;
      }
      this.left = length;
      this.phase = length == 0 ? P_DONE : P_LENGTH;
    } else {
      this.phase = P_UNTIL_CLOSE;
    }
    return true;
  }
}

function trimCR(line: string): string {
  return line.endsWith("\r") ? line.substring(0, line.length - 1) : line;
}

/** `text` as a decimal number of 1 to `maxDigits` digits, or -1. */
function parseDigits(text: string, maxDigits: i32): i64 {
  if (text.length == 0 || text.length > maxDigits) return -1;
  let n: i64 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + <i64>(c - 0x30);
  }
  return n;
}

/** The size of a chunk-size line (`1a;ext=x\r\n`), or -1 when it is not one. */
function chunkSize(line: string): i64 {
  let text = line.trim();
  const semi = text.indexOf(";");
  if (semi >= 0) text = text.substring(0, semi).trim();
  if (text.length == 0 || text.length > 8) return -1; // at most 4 GiB - 1, far above MAX_BODY
  let n: i64 = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let d: i32 = -1;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
    if (d < 0) return -1;
    n = n * 16 + <i64>d;
  }
  return n;
}

/** One client's fetch: where it goes, and the response so far. */
class Fetch {
  upstream: u32 = 0;
  /** False once the upstream connection has closed or we closed it. */
  upstreamOpen: bool = true;
  reader: ResponseReader = new ResponseReader();
  constructor(
    public client: u32,
    /** The host as the client wrote it (brackets kept for IPv6), for Host and logs. */
    public host: string,
    public port: u32,
    public path: string,
  ) {}

  get authority(): string {
    return this.host + ":" + this.port.toString();
  }

  get url(): string {
    return "http://" + this.authority + this.path;
  }
}

/** Clients still sending their request line. */
const lines = new Map<u32, LineReader>();
/** Fetches in flight, by client and by upstream connection id. */
const byClient = new Map<u32, Fetch>();
const byUpstream = new Map<u32, Fetch>();
/** Clients whose body is being written back: what is left to write. */
const sending = new Map<u32, ByteQueue>();

/** Answers `client` with one error line, then ends it. */
function refuse(client: u32, message: string): void {
  Socket.write(client, "error: " + message + "\n");
  Socket.end(client);
}

/** A `host:port/path` request line, split; null when it is not one. */
class Target {
  constructor(public host: string, public port: u32, public path: string) {}
}

function parseTarget(line: string): Target | null {
  let text = line.trim();
  if (text.length > 7 && text.substring(0, 7).toLowerCase() == "http://") text = text.substring(7);
  const slash = text.indexOf("/");
  const authority = slash < 0 ? text : text.substring(0, slash);
  const path = slash < 0 ? "/" : text.substring(slash);
  // The path goes into the request line: visible ASCII only, so nothing can be smuggled in.
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return null;
  }
  let host: string;
  let portText: string;
  if (authority.startsWith("[")) {
    // [IPv6]:port
    const close = authority.indexOf("]");
    if (close < 0 || close + 1 >= authority.length || authority.charCodeAt(close + 1) != 0x3a) {
      return null;
    }
    host = authority.substring(0, close + 1);
    portText = authority.substring(close + 2);
  } else {
    const colon = authority.indexOf(":");
    if (colon <= 0 || authority.indexOf(":", colon + 1) >= 0) return null;
    host = authority.substring(0, colon);
    portText = authority.substring(colon + 1);
  }
  const port = parseDigits(portText, 5);
  if (port < 1 || port > 65535 || host.length == 0) return null;
  return new Target(host, <u32>port, path);
}

/** Starts the fetch a client asked for with `line`. */
function start(client: u32, line: string): void {
  const target = parseTarget(line);
  if (target == null) {
    refuse(client, "bad request (expected host:port/path)");
    return;
  }
  const t = changetype<Target>(target);
  const up = Socket.connect(t.host, t.port);
  if (up < 0) {
    const code = up.toString();
    if (up == Socket.NOT_ALLOWED) refuse(client, "not allowed (" + code + ")");
    else if (up == Socket.BAD_ADDRESS) refuse(client, "bad address (" + code + ")");
    else if (up == Socket.LIMIT) refuse(client, "too many connections (" + code + ")");
    else refuse(client, "cannot connect (" + code + ")");
    return;
  }
  const fetch = new Fetch(client, t.host, t.port, t.path);
  fetch.upstream = <u32>up;
  byClient.set(client, fetch);
  byUpstream.set(fetch.upstream, fetch);
}

/** Forgets `fetch`; closes its upstream connection when it is still open. */
function drop(fetch: Fetch, graceful: bool): void {
  byClient.delete(fetch.client);
  byUpstream.delete(fetch.upstream);
  if (fetch.upstreamOpen) {
    fetch.upstreamOpen = false;
    if (graceful) Socket.end(fetch.upstream);
    else Socket.close(fetch.upstream);
  }
}

/** Ends `fetch` with an error line to its client. */
function failFetch(fetch: Fetch, message: string): void {
  console.warn("fetch " + fetch.url + ": " + message);
  drop(fetch, false);
  refuse(fetch.client, message);
}

/** Looks at `fetch` after new input: answers its client once the outcome is known. */
function check(fetch: Fetch): void {
  const r = fetch.reader;
  if (r.failed) {
    if (r.failure == F_TOO_LARGE) {
      failFetch(fetch, "upstream body too large (limit " + MAX_BODY.toString() + " bytes)");
    } else if (r.failure == F_MALFORMED) {
      failFetch(fetch, "bad upstream response");
    } else {
      failFetch(fetch, "upstream failed");
    }
    return;
  }
  if (r.status != 0 && (r.status < 200 || r.status > 299)) {
    // No need for the body of a failed request.
    failFetch(fetch, "upstream status " + r.status.toString());
    return;
  }
  if (!r.done) return;
  const body = r.body;
  console.log(
    "fetched " + fetch.url + ": " + body.length.toString() + " bytes, status " + r.status.toString(),
  );
  drop(fetch, true);
  sending.set(fetch.client, body);
  pump(fetch.client);
}

/** Writes what is left of a client's body, until Socket.write says to wait for onDrain. */
function pump(client: u32): void {
  if (!sending.has(client)) return;
  const q = sending.get(client);
  while (q.length > 0) {
    const n = q.length < SLICE ? q.length : SLICE;
    const ok = Socket.writeBytes(client, q.dataStart, <u32>n);
    q.skip(n);
    if (!ok) return; // full (or gone: onClose cleans up)
  }
  sending.delete(client);
  Socket.end(client);
}

export function onConnection(id: u32): void {
  lines.set(id, new LineReader(MAX_LINE));
}

export function onConnect(id: u32): void {
  if (!byUpstream.has(id)) return;
  const fetch = byUpstream.get(id);
  Socket.write(
    id,
    "GET " + fetch.path + " HTTP/1.1\r\nHost: " + fetch.authority + "\r\nConnection: close\r\n\r\n",
  );
}

export function onData(id: u32, data: ArrayBuffer): void {
  if (byUpstream.has(id)) {
    const fetch = byUpstream.get(id);
    fetch.reader.push(data);
    check(fetch);
    return;
  }
  if (!lines.has(id)) return; // a client's bytes after its request line are ignored
  const reader = lines.get(id);
  reader.push(data);
  if (reader.next()) {
    lines.delete(id);
    start(id, reader.line);
  } else if (reader.failed) {
    lines.delete(id);
    refuse(id, "request line too long");
  }
}

export function onDrain(id: u32): void {
  pump(id);
}

export function onEnd(id: u32): void {
  if (byUpstream.has(id)) {
    const fetch = byUpstream.get(id);
    fetch.reader.eof();
    check(fetch);
    return;
  }
  if (lines.has(id)) {
    // The client half-closed (a server with allowHalfOpen can still answer): a last line
    // without "\n" is its request; no line at all, nothing to do.
    const reader = lines.get(id);
    lines.delete(id);
    if (reader.finish()) start(id, reader.line);
    else Socket.end(id);
  }
}

export function onError(id: u32): void {
  if (byUpstream.has(id)) {
    const fetch = byUpstream.get(id);
    fetch.upstreamOpen = false;
    failFetch(fetch, "upstream failed");
  }
}

export function onClose(id: u32): void {
  if (byUpstream.has(id)) {
    // Closed without onEnd or onError: treat it as the end of the stream.
    const fetch = byUpstream.get(id);
    fetch.upstreamOpen = false;
    fetch.reader.eof();
    check(fetch);
    return;
  }
  lines.delete(id);
  sending.delete(id);
  if (byClient.has(id)) {
    // The client left while its fetch was in flight: nobody wants the answer any more.
    const fetch = byClient.get(id);
    console.info("client left before " + fetch.url + " was fetched; upstream closed");
    drop(fetch, false);
  }
}
