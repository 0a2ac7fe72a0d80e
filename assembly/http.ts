// HTTP/1.1 for guests: a request parser that accumulates a connection's bytes across onData
// calls and hands back whole requests, and a response writer.
//
//   const parsers = new Map<u32, HttpRequestParser>();
//   export function onConnection(id: u32): void { parsers.set(id, new HttpRequestParser()); }
//   export function onData(id: u32, data: ArrayBuffer): void {
//     if (!parsers.has(id)) return;                   // we already ended this connection
//     const p = parsers.get(id);
//     p.push(data);
//     while (p.next()) {                              // several requests may be pipelined
//       const req = p.request;
//       Socket.write(id, HttpResponse.forRequest(req).setBody("hello " + req.path).encode());
//       if (!req.keepAlive) { Socket.end(id); parsers.delete(id); return; }
//     }
//     if (p.failed) { Socket.write(id, p.errorResponse()); Socket.end(id); parsers.delete(id); }
//   }
//   export function onClose(id: u32): void { parsers.delete(id); }
//
// What the parser accepts (RFC 9112), and what it refuses with which status:
// - request line `METHOD SP target SP HTTP/x.y`: the method a token, the target visible ASCII
//   without spaces; anything else is 400. A major version other than 1 is 505. Empty lines
//   before a request line are skipped. Lines may end with "\r\n" or a bare "\n".
// - header fields `name: value`: the name a token (no space before the colon), the value
//   trimmed of spaces and tabs, with no control characters but tab. Obsolete line folding is 400.
//   Values are decoded as Latin-1 (one char per byte), as Node's http module does. The request
//   line and the headers together, ending blank line included, may take at most maxHeaderBytes
//   (431 beyond; 431 also for a request line that alone is longer).
// - bodies: Content-Length (every Content-Length field must hold the same decimal number, else
//   400), or Transfer-Encoding: chunked, which is supported: chunk extensions are ignored and
//   trailer fields are checked and discarded (the trailer section counts against
//   maxHeaderBytes). A body over maxBodyBytes is 413 (decided from Content-Length or a chunk size
//   as soon as it is known, before the body arrives). A transfer coding other than chunked is
//   501; chunked not last, Transfer-Encoding together with Content-Length, or Transfer-Encoding
//   in an HTTP/1.0 request are 400 (those are how request smuggling starts). A request with
//   neither has no body.
// - keep-alive: HTTP/1.1 keeps the connection unless a Connection field lists `close`; HTTP/1.0
//   closes it unless a Connection field lists `keep-alive` (and not `close`). After a request
//   that does not keep the connection, next() returns no further request: answer it and end.
// - after an error the parser stays failed (the stream's framing is lost): answer with
//   errorResponse() (it carries Connection: close) and end the connection.
import { ByteQueue } from "./framing";

const LF: u8 = 0x0a;
const CR: u8 = 0x0d;
const SP: u8 = 0x20;
const HT: u8 = 0x09;

/** Longest chunk-size line of a chunked body (size and extensions), in bytes. */
const MAX_CHUNK_LINE: i32 = 4096;

// Parser states.
const S_HEAD: i32 = 0; // reading the request line and header fields
const S_BODY: i32 = 1; // reading a Content-Length body
const S_CHUNK_SIZE: i32 = 2; // reading a chunk-size line
const S_CHUNK_DATA: i32 = 3; // reading chunk data
const S_CHUNK_END: i32 = 4; // reading the CRLF after chunk data
const S_TRAILERS: i32 = 5; // reading the trailer section after the last chunk
const S_CLOSED: i32 = 6; // a request without keep-alive was returned: no more requests
const S_FAILED: i32 = 7;

/** An HTTP field: the name as the peer sent it, and the value. */
export class HttpHeader {
  constructor(public name: string, public value: string) {}
}

/** A complete HTTP request, as HttpRequestParser.request returns it. */
export class HttpRequest {
  /** The method, as sent (methods are case-sensitive: "GET", "POST", ...). */
  method: string = "";
  /** The request target, as sent: "/path?query" usually. */
  target: string = "";
  /** "HTTP/1.1" or "HTTP/1.0" (any HTTP/1.x other than 1.0 is treated as 1.1). */
  version: string = "";
  /** The header fields in the order received (trailer fields of a chunked body not included). */
  headers: Array<HttpHeader> = new Array<HttpHeader>();
  /** The body, decoded from chunked if it was sent so; empty when the request had none. */
  body: ArrayBuffer = new ArrayBuffer(0);
  /** Whether the connection stays open after this request (see the keep-alive rules above). */
  keepAlive: bool = true;
  /** Whether the body came with Transfer-Encoding: chunked. */
  chunked: bool = false;
  /** Whether the client sent Expect: 100-continue (HTTP/1.1). */
  expectContinue: bool = false;

  /**
   * The value of the header field `name`, compared case-insensitively; several fields of that
   * name are joined with ", ". null when there is none.
   */
  header(name: string): string | null {
    let found: string | null = null;
    for (let i = 0; i < this.headers.length; i++) {
      const h = unchecked(this.headers[i]);
      if (equalsIgnoreCase(h.name, name)) {
        found = found === null ? h.value : found + ", " + h.value;
      }
    }
    return found;
  }

  /** Every value of the header field `name` (case-insensitive), one per field, in order. */
  headerValues(name: string): Array<string> {
    const out = new Array<string>();
    for (let i = 0; i < this.headers.length; i++) {
      const h = unchecked(this.headers[i]);
      if (equalsIgnoreCase(h.name, name)) out.push(h.value);
    }
    return out;
  }

  /** Whether a header field `name` (case-insensitive) was sent. */
  hasHeader(name: string): bool {
    for (let i = 0; i < this.headers.length; i++) {
      if (equalsIgnoreCase(unchecked(this.headers[i]).name, name)) return true;
    }
    return false;
  }

  /** The target up to its "?" (the whole target when it has none). */
  get path(): string {
    const q = this.target.indexOf("?");
    return q < 0 ? this.target : this.target.substring(0, q);
  }

  /** The target after its "?" ("" when it has none). */
  get query(): string {
    const q = this.target.indexOf("?");
    return q < 0 ? "" : this.target.substring(q + 1);
  }

  /** The body decoded from UTF-8. */
  get bodyText(): string {
    return String.UTF8.decode(this.body);
  }
}

/**
 * Parses the HTTP/1.x requests of one connection from its bytes, however they are split across
 * onData calls: a request is returned once its header and its whole body have arrived, and
 * pipelined requests (several in one buffer) come out one by one, in order.
 *
 *   parser.push(data);
 *   while (parser.next()) respond(parser.request);
 *   if (parser.failed) { Socket.write(id, parser.errorResponse()); Socket.end(id); }
 *
 * Memory per connection: at most maxHeaderBytes of header, and maxBodyBytes of body, are
 * buffered (plus the bytes of the latest push), since the limits are checked before the bytes
 * beyond them are kept.
 */
export class HttpRequestParser {
  private queue: ByteQueue = new ByteQueue();
  private chunks: ByteQueue = new ByteQueue();
  private state: i32 = S_HEAD;
  /** Bytes at the front of the queue already searched for "\n" in this section. */
  private scanned: i32 = 0;
  /** Where the line being scanned starts, in the queue. */
  private lineStart: i32 = 0;
  /** End of the request line in the queue (0: not seen yet). */
  private firstLineEnd: i32 = 0;
  /** Body bytes still to come: of a Content-Length body, or of the current chunk. */
  private remaining: i32 = 0;
  private pending: HttpRequest = new HttpRequest();
  private current: HttpRequest = new HttpRequest();
  /** 0: no 100 Continue due; 1: due, not taken yet; 2: taken. */
  private continueState: i32 = 0;
  private code: i32 = 0;
  private problem: string = "";

  /**
   * @param maxHeaderBytes most bytes of a request line plus header fields (and of a trailer
   *   section), default 16 KiB as Node's http module. More is refused with 431.
   * @param maxBodyBytes largest body accepted, default 1 MiB. More is refused with 413.
   */
  constructor(
    public readonly maxHeaderBytes: i32 = 16384,
    public readonly maxBodyBytes: i32 = 1 << 20,
  ) {}

  /** Adds received bytes: an ArrayBuffer, a Uint8Array or a string. Ignored once failed or closed. */
  push<T>(data: T): void {
    if (this.state != S_FAILED && this.state != S_CLOSED) this.queue.push<T>(data);
  }

  /** Adds `len` bytes of guest memory starting at `ptr`. Ignored once failed or closed. */
  pushBytes(ptr: usize, len: i32): void {
    if (this.state != S_FAILED && this.state != S_CLOSED) this.queue.pushBytes(ptr, len);
  }

  /**
   * Moves to the next complete request: true when one is ready in `request`; false when more
   * bytes are needed, when the parser failed (see `failed`), or after a request that does not
   * keep the connection (see `closed`). Call it in a loop after each push.
   */
  next(): bool {
    const q = this.queue;
    while (true) {
      const state = this.state;
      if (state == S_HEAD) {
        if (!this.readHead()) return false;
        if (this.state == S_HEAD) return this.complete(new ArrayBuffer(0));
      } else if (state == S_BODY) {
        if (q.length < this.remaining) return false;
        return this.complete(q.take(this.remaining));
      } else if (state == S_CHUNK_SIZE) {
        if (!this.readChunkSize()) return false;
      } else if (state == S_CHUNK_DATA) {
        const n = q.length < this.remaining ? q.length : this.remaining;
        if (n == 0) return false;
        this.chunks.pushBytes(q.dataStart, n);
        q.skip(n);
        this.remaining -= n;
        if (this.remaining == 0) this.state = S_CHUNK_END;
      } else if (state == S_CHUNK_END) {
        if (q.length == 0) return false;
        const b = q.at(0);
        if (b == LF) {
          q.skip(1);
        } else if (b == CR) {
          if (q.length < 2) return false;
          if (q.at(1) != LF) return this.fail(400, "chunk data not followed by CRLF");
          q.skip(2);
        } else {
          return this.fail(400, "chunk data longer than its chunk size");
        }
        this.state = S_CHUNK_SIZE;
      } else if (state == S_TRAILERS) {
        if (!this.readTrailers()) return false;
        return this.complete(this.chunks.take(this.chunks.length));
      } else {
        return false;
      }
    }
  }

  /**
   * True once per request whose client sent `Expect: 100-continue` and waits for the body: then
   * write httpContinue() so it sends the body. Call it after next() returned false. (Without it,
   * curl sends the body anyway after waiting about a second.)
   */
  takeContinue(): bool {
    if (this.continueState != 1) return false;
    if (this.state < S_BODY || this.state > S_TRAILERS) return false;
    this.continueState = 2;
    return true;
  }

  /** The request next() moved to. */
  get request(): HttpRequest {
    return this.current;
  }

  /** True once the input was not acceptable HTTP; see `status` and `error`. */
  get failed(): bool {
    return this.state == S_FAILED;
  }

  /** True after a request that does not keep the connection was returned: no more will come. */
  get closed(): bool {
    return this.state == S_CLOSED;
  }

  /** The status code to answer a failure with: 400, 413, 431, 501 or 505 (0 when not failed). */
  get status(): i32 {
    return this.code;
  }

  /** What was wrong with the input ("" when not failed). */
  get error(): string {
    return this.problem;
  }

  /** Bytes held: input not parsed yet, plus the chunked body decoded so far. */
  get buffered(): i32 {
    return this.queue.length + this.chunks.length;
  }

  /**
   * The response for a failure: `status` with its reason, Connection: close, and a short text
   * body saying what was wrong. Write it, then end the connection.
   */
  errorResponse(): ArrayBuffer {
    const status = this.code != 0 ? this.code : 400;
    return httpResponse(status, status.toString() + " " + httpStatusText(status) + ": " + this.problem + "\n", false);
  }

  /** Forgets everything buffered and any failure, as for a new connection. */
  reset(): void {
    this.queue.clear();
    this.chunks.clear();
    this.state = S_HEAD;
    this.scanned = 0;
    this.lineStart = 0;
    this.firstLineEnd = 0;
    this.remaining = 0;
    this.pending = new HttpRequest();
    this.current = new HttpRequest();
    this.continueState = 0;
    this.code = 0;
    this.problem = "";
  }

  private fail(code: i32, message: string): bool {
    this.state = S_FAILED;
    this.code = code;
    this.problem = message;
    this.queue.clear();
    this.chunks.clear();
    return false;
  }

  private complete(body: ArrayBuffer): bool {
    const req = this.pending;
    req.body = body;
    this.current = req;
    this.pending = new HttpRequest();
    this.continueState = 0;
    this.state = req.keepAlive ? S_HEAD : S_CLOSED;
    if (!req.keepAlive) this.queue.clear();
    return true;
  }

  /**
   * Reads the request line and header fields. False when more bytes are needed or on failure;
   * true once the header is parsed, with the state set to how the body comes (S_HEAD: no body).
   */
  private readHead(): bool {
    const q = this.queue;
    const max = this.maxHeaderBytes;
    if (this.firstLineEnd == 0 && this.scanned == 0) {
      // Skip empty lines before a request line (RFC 9112 2.2).
      while (q.length > 0) {
        const b = q.at(0);
        if (b == LF) {
          q.skip(1);
        } else if (b == CR) {
          if (q.length < 2) return false;
          if (q.at(1) != LF) break;
          q.skip(2);
        } else {
          break;
        }
      }
    }
    if (this.firstLineEnd == 0) {
      const i = q.indexOf(LF, this.scanned);
      if (i < 0) {
        this.scanned = q.length;
        return q.length > max ? this.tooLarge("request line") : false;
      }
      if (i + 1 > max) return this.tooLarge("request line");
      let end = i;
      if (end > this.lineStart && q.at(end - 1) == CR) end--;
      if (!this.parseRequestLine(q.dataStart, end)) return false;
      this.firstLineEnd = i + 1;
      this.lineStart = i + 1;
      this.scanned = i + 1;
    }
    const headerEnd = this.scanToBlankLine();
    if (headerEnd < 0) return q.length > max ? this.tooLarge("request header") : false;
    if (headerEnd > max) return this.tooLarge("request header");

    const req = this.pending;
    if (!parseFields(q.dataStart + <usize>this.firstLineEnd, this.lineStart - this.firstLineEnd, req.headers)) {
      return this.fail(400, "bad header field");
    }
    q.skip(headerEnd);
    this.scanned = 0;
    this.lineStart = 0;
    this.firstLineEnd = 0;
    return this.frameBody(req);
  }

  /** Decides keep-alive and how the body is framed, from the parsed header fields. */
  private frameBody(req: HttpRequest): bool {
    const http10 = req.version == "HTTP/1.0";
    const connection = req.header("connection");
    const close = connection !== null && hasToken(connection, "close");
    const keep = connection !== null && hasToken(connection, "keep-alive");
    req.keepAlive = http10 ? keep && !close : !close;
    const expect = req.header("expect");
    req.expectContinue = !http10 && expect !== null && equalsIgnoreCase(trim(expect), "100-continue");

    const te = req.header("transfer-encoding");
    const lengths = req.headerValues("content-length");
    if (te !== null) {
      if (lengths.length > 0) return this.fail(400, "both Transfer-Encoding and Content-Length");
      if (http10) return this.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      const codings = te.split(",");
      let count = 0;
      let chunkedAt = -1;
      let other = false;
      for (let i = 0; i < codings.length; i++) {
        const c = trim(codings[i]);
        if (c.length == 0) continue;
        if (equalsIgnoreCase(c, "chunked")) {
          if (chunkedAt >= 0) return this.fail(400, "chunked applied twice");
          chunkedAt = count;
        } else {
          other = true;
        }
        count++;
      }
      if (count == 0) return this.fail(400, "empty Transfer-Encoding");
      if (chunkedAt != count - 1) return this.fail(400, "Transfer-Encoding does not end with chunked");
      if (other) return this.fail(501, "transfer coding other than chunked");
      req.chunked = true;
      this.chunks.clear();
      this.state = S_CHUNK_SIZE;
      if (req.expectContinue) this.continueState = 1;
      return true;
    }
    if (lengths.length > 0) {
      let value: i64 = -1;
      for (let i = 0; i < lengths.length; i++) {
        const parts = lengths[i].split(",");
        for (let j = 0; j < parts.length; j++) {
          const v = parseDecimal(trim(parts[j]));
          if (v < 0) return this.fail(400, "bad Content-Length");
          if (value >= 0 && v != value) return this.fail(400, "conflicting Content-Length values");
          value = v;
        }
      }
      if (value > <i64>this.maxBodyBytes) {
        return this.fail(413, "body of " + value.toString() + " bytes, the limit is " + this.maxBodyBytes.toString());
      }
      if (value > 0) {
        this.remaining = <i32>value;
        this.state = S_BODY;
        if (req.expectContinue) this.continueState = 1;
      }
    }
    return true;
  }

  /** Parses `METHOD SP target SP HTTP/x.y` into the pending request. */
  private parseRequestLine(ptr: usize, len: i32): bool {
    let sp1 = -1;
    let sp2 = -1;
    for (let i = 0; i < len; i++) {
      if (load<u8>(ptr + <usize>i) == SP) {
        if (sp1 < 0) sp1 = i;
        else if (sp2 < 0) sp2 = i;
        else return this.fail(400, "bad request line");
      }
    }
    if (sp2 < 0) return this.fail(400, "bad request line");
    if (sp1 == 0) return this.fail(400, "bad method");
    for (let i = 0; i < sp1; i++) {
      if (!isTchar(load<u8>(ptr + <usize>i))) return this.fail(400, "bad method");
    }
    if (sp2 == sp1 + 1) return this.fail(400, "bad request target");
    for (let i = sp1 + 1; i < sp2; i++) {
      const c = load<u8>(ptr + <usize>i);
      if (c < 0x21 || c > 0x7e) return this.fail(400, "bad request target");
    }
    const v = ptr + <usize>(sp2 + 1);
    if (
      len - sp2 - 1 != 8 ||
      load<u8>(v) != 0x48 || load<u8>(v, 1) != 0x54 || load<u8>(v, 2) != 0x54 ||
      load<u8>(v, 3) != 0x50 || load<u8>(v, 4) != 0x2f || !isDigit(load<u8>(v, 5)) ||
      load<u8>(v, 6) != 0x2e || !isDigit(load<u8>(v, 7))
    ) {
      return this.fail(400, "bad HTTP version");
    }
    if (load<u8>(v, 5) != 0x31) return this.fail(505, "only HTTP/1.x is supported");
    const req = this.pending;
    req.method = latin1(ptr, sp1);
    req.target = latin1(ptr + <usize>(sp1 + 1), sp2 - sp1 - 1);
    req.version = load<u8>(v, 7) == 0x30 ? "HTTP/1.0" : "HTTP/1.1";
    return true;
  }

  /** Reads one chunk-size line. False when more bytes are needed or on failure. */
  private readChunkSize(): bool {
    const q = this.queue;
    const nl = q.indexOf(LF, this.scanned);
    if (nl < 0) {
      this.scanned = q.length;
      if (q.length > MAX_CHUNK_LINE) return this.fail(400, "chunk size line too long");
      return false;
    }
    if (nl + 1 > MAX_CHUNK_LINE) return this.fail(400, "chunk size line too long");
    this.scanned = 0;
    let end = nl;
    if (end > 0 && q.at(end - 1) == CR) end--;
    const ptr = q.dataStart;
    let size: i64 = 0;
    let i = 0;
    while (i < end) {
      const d = hexValue(load<u8>(ptr + <usize>i));
      if (d < 0) break;
      if (size <= 0xffffffff) size = (size << 4) | d;
      i++;
    }
    if (i == 0) return this.fail(400, "bad chunk size");
    while (i < end && (load<u8>(ptr + <usize>i) == SP || load<u8>(ptr + <usize>i) == HT)) i++;
    if (i < end) {
      if (load<u8>(ptr + <usize>i) != 0x3b) return this.fail(400, "bad chunk size");
      for (; i < end; i++) {
        const c = load<u8>(ptr + <usize>i);
        if ((c < 0x20 && c != HT) || c == 0x7f) return this.fail(400, "bad chunk extension");
      }
    }
    const total = <i64>this.chunks.length + size;
    if (total > <i64>this.maxBodyBytes) {
      return this.fail(413, "chunked body over the limit of " + this.maxBodyBytes.toString() + " bytes");
    }
    q.skip(nl + 1);
    if (size == 0) {
      this.state = S_TRAILERS;
      this.lineStart = 0;
    } else {
      this.remaining = <i32>size;
      this.state = S_CHUNK_DATA;
    }
    return true;
  }

  /**
   * Scans from `scanned` for the blank line that ends a header or trailer section, moving
   * `lineStart` past each complete line. Returns the offset just after the blank line, or -1 (with
   * `scanned` at the end of the queue) while it has not arrived.
   */
  private scanToBlankLine(): i32 {
    const q = this.queue;
    let i = q.indexOf(LF, this.scanned);
    while (i >= 0) {
      let end = i;
      if (end > this.lineStart && q.at(end - 1) == CR) end--;
      if (end == this.lineStart) return i + 1;
      this.lineStart = i + 1;
      i = q.indexOf(LF, i + 1);
    }
    this.scanned = q.length;
    return -1;
  }

  /** Fails with 431: `what` passed maxHeaderBytes. */
  private tooLarge(what: string): bool {
    return this.fail(431, what + " longer than " + this.maxHeaderBytes.toString() + " bytes");
  }

  /** Reads the trailer section up to its blank line. False when more bytes are needed or on failure. */
  private readTrailers(): bool {
    const q = this.queue;
    const max = this.maxHeaderBytes;
    const end = this.scanToBlankLine();
    if (end < 0) return q.length > max ? this.tooLarge("trailer section") : false;
    if (end > max) return this.tooLarge("trailer section");
    const discarded = new Array<HttpHeader>();
    if (!parseFields(q.dataStart, this.lineStart, discarded)) return this.fail(400, "bad trailer field");
    q.skip(end);
    this.scanned = 0;
    this.lineStart = 0;
    return true;
  }
}

/**
 * The interim response that tells a client sending Expect: 100-continue to go on with the body
 * (see HttpRequestParser.takeContinue): "HTTP/1.1 100 Continue\r\n\r\n".
 */
export function httpContinue(): string {
  return "HTTP/1.1 100 Continue\r\n\r\n";
}

/**
 * An HTTP/1.1 response to build and encode for Socket.write:
 *
 *   Socket.write(id, HttpResponse.forRequest(req).setHeader("Content-Type", "text/plain")
 *     .setBody("hello").encode());
 *
 * encode() writes `HTTP/1.1 <status> <reason>`, then `Content-Length` (always computed from the
 * body; a Content-Length or Transfer-Encoding header set here is not sent), then `Connection:
 * close` when keepAlive is false (a Connection header set here is then not sent), then the
 * headers set here in order, a blank line and the body. 1xx and 204 responses carry neither
 * Content-Length nor body; 304 and responses to HEAD carry Content-Length but no body.
 */
export class HttpResponse {
  /** The header fields to send, after Content-Length and Connection. */
  headers: Array<HttpHeader> = new Array<HttpHeader>();
  /** The body (sent as is). */
  body: ArrayBuffer = new ArrayBuffer(0);
  /** False to send Connection: close: the guest then ends the connection after writing. */
  keepAlive: bool = true;
  /** True to send Content-Length but no body (the answer to a HEAD request). */
  omitBody: bool = false;

  /**
   * @param status the status code
   * @param reason the reason phrase; "" picks the standard one (httpStatusText)
   */
  constructor(public status: i32 = 200, public reason: string = "") {}

  /**
   * A response for `req`: keepAlive as the request asks, Connection: keep-alive for an HTTP/1.0
   * client that asked for it, and no body when the method is HEAD.
   */
  static forRequest(req: HttpRequest, status: i32 = 200): HttpResponse {
    const res = new HttpResponse(status);
    res.keepAlive = req.keepAlive;
    if (req.keepAlive && req.version == "HTTP/1.0") res.setHeader("Connection", "keep-alive");
    res.omitBody = req.method == "HEAD";
    return res;
  }

  /**
   * Sets header `name` to `value`, replacing the fields of that name (case-insensitive). A
   * name that is not a token, or a value holding CR, LF or another control character but tab,
   * is not set: data copied into a header can never split the response.
   */
  setHeader(name: string, value: string): HttpResponse {
    if (!validField(name, value)) return this;
    for (let i = this.headers.length - 1; i >= 0; i--) {
      if (equalsIgnoreCase(this.headers[i].name, name)) this.headers.splice(i, 1);
    }
    this.headers.push(new HttpHeader(name, value));
    return this;
  }

  /** Adds a header field `name: value`, keeping any others of that name. Checked as setHeader. */
  addHeader(name: string, value: string): HttpResponse {
    if (validField(name, value)) this.headers.push(new HttpHeader(name, value));
    return this;
  }

  /** Sets the body: an ArrayBuffer (kept as is), a Uint8Array (copied) or a string (as UTF-8). */
  setBody<T>(data: T): HttpResponse {
    if (isString<T>()) {
      this.body = String.UTF8.encode(changetype<string>(data));
    } else if (data instanceof ArrayBuffer) {
      this.body = changetype<ArrayBuffer>(data);
    } else if (data instanceof Uint8Array) {
      this.body = changetype<Uint8Array>(data).slice().buffer;
    } else {
      ERROR("setBody takes an ArrayBuffer, a Uint8Array or a string");
    }
    return this;
  }

  /** Marks the response Connection: close (keepAlive = false). */
  close(): HttpResponse {
    this.keepAlive = false;
    return this;
  }

  /** The whole response as bytes, ready for Socket.write. */
  encode(): ArrayBuffer {
    const status = this.status;
    const noLength = status < 200 || status == 204;
    const noBody = noLength || status == 304 || this.omitBody;
    let head = "HTTP/1.1 " + status.toString() + " " +
      (this.reason.length > 0 ? this.reason : httpStatusText(status)) + "\r\n";
    if (!noLength) head += "Content-Length: " + this.body.byteLength.toString() + "\r\n";
    if (!this.keepAlive) head += "Connection: close\r\n";
    for (let i = 0; i < this.headers.length; i++) {
      const h = unchecked(this.headers[i]);
      if (equalsIgnoreCase(h.name, "content-length") || equalsIgnoreCase(h.name, "transfer-encoding")) continue;
      if (!this.keepAlive && equalsIgnoreCase(h.name, "connection")) continue;
      head += h.name + ": " + h.value + "\r\n";
    }
    head += "\r\n";
    const headLen = String.UTF8.byteLength(head);
    const bodyLen = noBody ? 0 : this.body.byteLength;
    const out = new ArrayBuffer(headLen + bodyLen);
    String.UTF8.encodeUnsafe(changetype<usize>(head), head.length, changetype<usize>(out));
    memory.copy(changetype<usize>(out) + <usize>headLen, changetype<usize>(this.body), <usize>bodyLen);
    return out;
  }
}

/**
 * A whole response in one call: `status`, Content-Length, Connection: close unless `keepAlive`,
 * a Content-Type (none when `contentType` is ""), and `body` (an ArrayBuffer, a Uint8Array or a
 * string sent as UTF-8). Ready for Socket.write.
 */
export function httpResponse<T>(
  status: i32,
  body: T,
  keepAlive: bool = true,
  contentType: string = "text/plain; charset=utf-8",
): ArrayBuffer {
  const res = new HttpResponse(status);
  res.keepAlive = keepAlive;
  if (contentType.length > 0) res.setHeader("Content-Type", contentType);
  res.setBody<T>(body);
  return res.encode();
}

/** The standard reason phrase of an HTTP status code ("" for codes it does not know). */
export function httpStatusText(status: i32): string {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

// Helpers.

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: u8): i64 {
  if (c >= 0x30 && c <= 0x39) return <i64>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i64>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i64>(c - 0x41 + 10);
  return -1;
}

/** tchar of RFC 9110: the characters of methods and field names. */
function isTchar(c: u32): bool {
  if ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) return true;
  switch (c) {
    case 0x21: case 0x23: case 0x24: case 0x25: case 0x26: case 0x27: case 0x2a: case 0x2b:
    case 0x2d: case 0x2e: case 0x5e: case 0x5f: case 0x60: case 0x7c: case 0x7e:
      return true;
  }
  return false;
}

function lowerAscii(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

/** ASCII case-insensitive string equality. */
function equalsIgnoreCase(a: string, b: string): bool {
  const n = a.length;
  if (n != b.length) return false;
  for (let i = 0; i < n; i++) {
    if (lowerAscii(<u32>a.charCodeAt(i)) != lowerAscii(<u32>b.charCodeAt(i))) return false;
  }
  return true;
}

/** `s` without leading and trailing spaces and tabs. */
function trim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) == 0x20 || s.charCodeAt(a) == 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) == 0x20 || s.charCodeAt(b - 1) == 0x09)) b--;
  return a == 0 && b == s.length ? s : s.substring(a, b);
}

/** Whether the comma-separated list `list` holds `token` (case-insensitive). */
function hasToken(list: string, token: string): bool {
  const parts = list.split(",");
  for (let i = 0; i < parts.length; i++) if (equalsIgnoreCase(trim(parts[i]), token)) return true;
  return false;
}

/** A non-negative decimal number, or -1 when `s` is not one. Saturates far above any body limit. */
function parseDecimal(s: string): i64 {
  if (s.length == 0) return -1;
  let v: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    if (v < 0x100000000000) v = v * 10 + <i64>(c - 0x30);
  }
  return v;
}

/** `len` bytes at `ptr` as a string of one char per byte (Latin-1). */
function latin1(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  const s = __new(<usize>len << 1, idof<String>());
  for (let i = 0; i < len; i++) store<u16>(s + (<usize>i << 1), <u16>load<u8>(ptr + <usize>i));
  return changetype<string>(s);
}

/**
 * Parses the field lines in `len` bytes at `ptr` (each ending with "\n" or "\r\n") into `out`.
 * False when one is malformed.
 */
function parseFields(ptr: usize, len: i32, out: Array<HttpHeader>): bool {
  let pos = 0;
  while (pos < len) {
    let nl = pos;
    while (nl < len && load<u8>(ptr + <usize>nl) != LF) nl++;
    let end = nl;
    if (end > pos && load<u8>(ptr + <usize>(end - 1)) == CR) end--;
    const first = load<u8>(ptr + <usize>pos);
    if (first == SP || first == HT) return false; // obsolete line folding
    let colon = pos;
    while (colon < end && load<u8>(ptr + <usize>colon) != 0x3a) {
      if (!isTchar(load<u8>(ptr + <usize>colon))) return false;
      colon++;
    }
    if (colon == pos || colon == end) return false;
    let a = colon + 1;
    let b = end;
    while (a < b && (load<u8>(ptr + <usize>a) == SP || load<u8>(ptr + <usize>a) == HT)) a++;
    while (b > a && (load<u8>(ptr + <usize>(b - 1)) == SP || load<u8>(ptr + <usize>(b - 1)) == HT)) b--;
    for (let i = a; i < b; i++) {
      const c = load<u8>(ptr + <usize>i);
      if ((c < 0x20 && c != HT) || c == 0x7f) return false;
    }
    out.push(new HttpHeader(latin1(ptr + <usize>pos, colon - pos), latin1(ptr + <usize>a, b - a)));
    pos = nl + 1;
  }
  return true;
}

/** Whether a response field may be sent: a token name, a value without control characters but tab. */
function validField(name: string, value: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) if (!isTchar(<u32>name.charCodeAt(i))) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c != 0x09) || c == 0x7f) return false;
  }
  return true;
}
