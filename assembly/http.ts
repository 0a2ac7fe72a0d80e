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
// The parser reads RFC 9112 as strictly as Node's own HTTP server does (llhttp without its
// lenient flags), and a test compares the two on tens of thousands of generated requests
// (test/http-differential.test.js; docs/http-parser.md lists every rule and the few deliberate
// differences). It reads byte by byte, so it fails at the first byte the grammar cannot accept,
// without waiting for the rest of the line or the header section. In short:
// - every line (request line, field lines, the blank line, chunk-size lines and the CRLF after
//   chunk data) ends with CRLF: a bare LF, or a CR not followed by LF, is 400;
// - request line `METHOD SP+ target SP+ HTTP/1.x`: the method a token; the target in
//   origin-form ("/path?query"), asterisk-form ("*"), absolute-form ("http://host/path") or,
//   for CONNECT, authority-form ("host:port"), of visible ASCII; anything else is 400. A
//   request line without a version (HTTP/0.9) is 400; versions other than HTTP/1.0 and
//   HTTP/1.1 are 505. Empty lines (CR or LF bytes) before a request line are skipped;
// - field lines `name: value`: the name a token, the colon right after it; the value without
//   control characters but tab (bytes 0x80-0xFF are kept, decoded as Latin-1 as Node does),
//   trimmed of spaces and tabs. A line starting with a space or tab (obsolete line folding) is
//   400. The request line and the header fields together, ending blank line included, may take
//   at most maxHeaderBytes (431 beyond);
// - Content-Length is 1*DIGIT (trailing spaces allowed) up to 2^53 - 1; a second Content-Length
//   field, even with the same value, is 400. Transfer-Encoding must end with chunked (400), is
//   400 together with Content-Length or in an HTTP/1.0 request, and 501 when it names a coding
//   other than chunked;
// - chunked bodies: chunk-size is 1*HEXDIG up to 2^53 - 1, with no spaces; chunk extensions
//   are `*( ";" token [ "=" ( token / quoted-string ) ] )` with no spaces; trailer fields are
//   checked like header fields (a Content-Length or Transfer-Encoding among them is 400) and
//   discarded, but a Connection trailer listing close closes the connection after the request,
//   as in Node. A body over maxBodyBytes is 413, decided from Content-Length or a chunk size as
//   soon as it is known, before the body arrives;
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
const COLON: u8 = 0x3a;
const SEMICOLON: u8 = 0x3b;
const EQUALS: u8 = 0x3d;
const SLASH: u8 = 0x2f;
const STAR: u8 = 0x2a;
const AT: u8 = 0x40;
const QUESTION: u8 = 0x3f;
const DQUOTE: u8 = 0x22;
const BACKSLASH: u8 = 0x5c;

/** Longest chunk-size line of a chunked body (size and extensions), in bytes. */
const MAX_CHUNK_LINE: i32 = 4096;

/** Largest Content-Length or chunk size read: 2^53 - 1 (beyond, the number is refused with 400). */
const MAX_LENGTH: i64 = 0x1fffffffffffff;

// Parser states. Request line:
const S_START: i32 = 0; // before a request: empty lines (CR and LF bytes) are skipped
const S_METHOD: i32 = 1;
const S_BEFORE_TARGET: i32 = 2; // the spaces after the method
const S_SCHEME: i32 = 3; // absolute-form target: the scheme's letters
const S_SCHEME_SLASHES: i32 = 4; // absolute-form target: the "//" after "scheme:"
const S_AUTHORITY: i32 = 5; // absolute-form or authority-form target: host, port, userinfo
const S_PATH: i32 = 6; // path, query (and fragment) of the target
const S_BEFORE_VERSION: i32 = 7; // the spaces after the target
const S_VERSION: i32 = 8; // "HTTP/d.d"
const S_REQUEST_LINE_CR: i32 = 9; // after the version
const S_REQUEST_LINE_LF: i32 = 10;
// Header and trailer fields:
const S_FIELD_START: i32 = 11; // start of a field line, or of the blank line
const S_FIELD_NAME: i32 = 12;
const S_VALUE_OWS: i32 = 13; // spaces and tabs before the value
const S_VALUE: i32 = 14;
const S_FIELD_LF: i32 = 15; // after the CR of a field line
const S_SECTION_LF: i32 = 16; // after the CR of the blank line
// Chunk lines (the size line, and the CRLF after chunk data):
const S_CHUNK_SIZE_START: i32 = 17;
const S_CHUNK_SIZE: i32 = 18;
const S_EXT_NAME_START: i32 = 19;
const S_EXT_NAME: i32 = 20;
const S_EXT_VALUE_START: i32 = 21;
const S_EXT_VALUE: i32 = 22;
const S_EXT_QUOTED: i32 = 23;
const S_EXT_QUOTED_PAIR: i32 = 24; // after a backslash in a quoted extension value
const S_EXT_QUOTED_END: i32 = 25;
const S_CHUNK_SIZE_LF: i32 = 26;
const S_CHUNK_DATA_CR: i32 = 27;
const S_CHUNK_DATA_LF: i32 = 28;
// Bodies, read in blocks rather than byte by byte:
const S_BODY: i32 = 29; // a Content-Length body
const S_CHUNK_DATA: i32 = 30;
// Ends:
const S_CLOSED: i32 = 31; // a request without keep-alive was completed: no more requests
const S_FAILED: i32 = 32;

// Header fields that frame the message, recognised by name.
const F_OTHER: i32 = 0;
const F_CONTENT_LENGTH: i32 = 1;
const F_TRANSFER_ENCODING: i32 = 2;
const F_CONNECTION: i32 = 3;

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
 * push() parses what it can at once: bytes that break the grammar (see the top of this file)
 * set `failed` during the push that brings them, before the request line or the header section
 * is complete. Requests before the faulty one are still returned by next() first; `failed` is
 * only decided once they are taken.
 *
 * Memory per connection: at most maxHeaderBytes of header, and maxBodyBytes of body, are
 * buffered (plus the bytes of the latest push), since the limits are checked before the bytes
 * beyond them are kept. Field lines, chunk lines and chunk data are consumed as they complete.
 */
export class HttpRequestParser {
  /** Input not consumed yet; the line being read starts at its front. */
  private queue: ByteQueue = new ByteQueue();
  /** The chunked body decoded so far. */
  private chunks: ByteQueue = new ByteQueue();
  private state: i32 = S_START;
  /** Offset in the queue of the next byte to read (the bytes before it are the current line). */
  private pos: i32 = 0;
  /** Offset in the queue where the current token starts (method, target, field name). */
  private mark: i32 = 0;
  /** Bytes counted in this state: of "//" in S_SCHEME_SLASHES, of the version in S_VERSION. */
  private count: i32 = 0;
  /** Bytes of the current header section (request line included) or trailer section. */
  private sectionBytes: i32 = 0;
  /** Bytes of the current chunk line. */
  private lineBytes: i32 = 0;
  /** Whether the fields being read are trailer fields (after the last chunk). */
  private inTrailers: bool = false;

  // The field line being read: offsets in the queue, and what it frames.
  private nameEnd: i32 = 0;
  private valueStart: i32 = 0;
  /** End of the value without trailing spaces and tabs. */
  private valueEnd: i32 = 0;
  private field: i32 = F_OTHER;
  /** Whether trailing spaces ended the digits of a Content-Length value. */
  private lengthDigitsEnded: bool = false;
  /** Where the current coding of a Transfer-Encoding value starts, in the queue. */
  private codingStart: i32 = 0;

  // What the header fields said about the body so far.
  private hasLength: bool = false;
  private length: i64 = 0;
  private hasTransferEncoding: bool = false;
  /** Whether the latest Transfer-Encoding field ended with chunked. */
  private chunkedLast: bool = false;
  /** Whether a Transfer-Encoding field named a coding other than chunked. */
  private otherCoding: bool = false;
  /** Whether a Connection trailer field listed close. */
  private closeAfter: bool = false;

  /** Body bytes still to come: of a Content-Length body, or of the current chunk. */
  private remaining: i64 = 0;
  private pending: HttpRequest = new HttpRequest();
  /** A complete request that next() has not returned yet. */
  private completed: HttpRequest | null = null;
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

  /**
   * Adds received bytes: an ArrayBuffer, a Uint8Array or a string, and parses them as far as
   * it can (see `failed`). Ignored once failed or closed.
   */
  push<T>(data: T): void {
    if (this.state == S_FAILED || this.state == S_CLOSED) return;
    this.queue.push<T>(data);
    this.advance();
  }

  /** Adds `len` bytes of guest memory starting at `ptr`, as push does. Ignored once failed or closed. */
  pushBytes(ptr: usize, len: i32): void {
    if (this.state == S_FAILED || this.state == S_CLOSED) return;
    this.queue.pushBytes(ptr, len);
    this.advance();
  }

  /**
   * Moves to the next complete request: true when one is ready in `request`; false when more
   * bytes are needed, when the parser failed (see `failed`), or after a request that does not
   * keep the connection (see `closed`). Call it in a loop after each push.
   */
  next(): bool {
    if (this.completed === null) this.advance();
    const req = this.completed;
    if (req === null) return false;
    this.current = req;
    this.completed = null;
    return true;
  }

  /**
   * True once per request whose client sent `Expect: 100-continue` and waits for the body: then
   * write httpContinue() so it sends the body. Call it after next() returned false. (Without it,
   * curl sends the body anyway after waiting about a second.)
   */
  takeContinue(): bool {
    if (this.continueState != 1 || !this.readingBody()) return false;
    this.continueState = 2;
    return true;
  }

  /** The request next() moved to. */
  get request(): HttpRequest {
    return this.current;
  }

  /**
   * True once the input was not acceptable HTTP; see `status` and `error`. Set by the push that
   * brought the first byte in error, unless next() still has requests to return before it.
   */
  get failed(): bool {
    return this.state == S_FAILED;
  }

  /** True after a request that does not keep the connection was returned: no more will come. */
  get closed(): bool {
    return this.state == S_CLOSED && this.completed === null;
  }

  /**
   * True between requests: every request received was returned by next(), and no byte of
   * another has arrived (empty lines aside). False in the middle of a request, and once failed
   * or closed.
   */
  get idle(): bool {
    return this.state == S_START && this.completed === null;
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
    this.state = S_START;
    this.pos = 0;
    this.pending = new HttpRequest();
    this.completed = null;
    this.current = new HttpRequest();
    this.forgetFraming();
    this.code = 0;
    this.problem = "";
  }

  // The state machine.

  /**
   * Parses buffered bytes until a request is complete (it waits in `completed` for next()),
   * more bytes are needed, or the input fails.
   */
  private advance(): void {
    while (this.completed === null) {
      const state = this.state;
      if (state == S_FAILED || state == S_CLOSED) return;
      const progressed = state == S_BODY ? this.readBody() : state == S_CHUNK_DATA ? this.readChunkData() : this.readBytes();
      if (!progressed) return;
    }
  }

  /**
   * Feeds buffered bytes one at a time to the grammar of lines. True when it stopped because
   * the state left the line grammar (a body, a complete request, a failure); false when it used
   * every buffered byte.
   */
  private readBytes(): bool {
    const q = this.queue;
    while (this.pos < q.length) {
      const c = load<u8>(q.dataStart + <usize>this.pos);
      this.pos++;
      if (!this.withinLimits()) return true;
      const state = this.state;
      if (state <= S_REQUEST_LINE_LF) this.requestLineByte(c);
      else if (state <= S_SECTION_LF) this.fieldByte(c);
      else this.chunkLineByte(c);
      if (this.state >= S_BODY || this.completed !== null) return true;
    }
    return false;
  }

  /** Counts the byte just read against maxHeaderBytes or MAX_CHUNK_LINE; false (failed) past them. */
  private withinLimits(): bool {
    const state = this.state;
    if (state == S_START) return true;
    if (state >= S_CHUNK_SIZE_START) {
      if (++this.lineBytes <= MAX_CHUNK_LINE) return true;
      return this.fail(400, "chunk size line longer than " + MAX_CHUNK_LINE.toString() + " bytes");
    }
    if (++this.sectionBytes <= this.maxHeaderBytes) return true;
    const what = this.inTrailers ? "trailer section" : state <= S_REQUEST_LINE_LF ? "request line" : "request header";
    return this.fail(431, what + " longer than " + this.maxHeaderBytes.toString() + " bytes");
  }

  /** The request line: `METHOD SP+ target SP+ HTTP/1.x CRLF`, after any empty lines. */
  private requestLineByte(c: u8): void {
    const state = this.state;
    if (state == S_START) {
      if (c == CR || c == LF) {
        this.consumeLine();
      } else {
        this.state = S_METHOD;
        this.mark = this.pos - 1;
        this.sectionBytes = 1;
        if (!isTchar(c)) this.fail(400, "bad method");
      }
    } else if (state == S_METHOD) {
      if (c == SP) {
        this.pending.method = this.token();
        this.state = S_BEFORE_TARGET;
      } else if (!isTchar(c)) {
        this.fail(400, "bad method");
      }
    } else if (state <= S_PATH) {
      this.targetByte(c);
    } else if (state == S_BEFORE_VERSION) {
      if (c != SP) {
        this.state = S_VERSION;
        this.count = 0;
        this.versionByte(c);
      }
    } else if (state == S_VERSION) {
      this.versionByte(c);
    } else if (state == S_REQUEST_LINE_CR) {
      if (c == CR) this.state = S_REQUEST_LINE_LF;
      else if (c == LF) this.fail(400, "request line ended by a bare LF");
      else this.fail(400, "bad HTTP version");
    } else if (c == LF) {
      this.consumeLine();
      this.state = S_FIELD_START;
    } else {
      this.fail(400, "CR not followed by LF");
    }
  }

  /**
   * The request target, in the forms llhttp accepts: origin-form and asterisk-form (a "/" or
   * "*", then visible ASCII), absolute-form (letters, "://", an authority of unreserved,
   * sub-delims, "%", ":", "[", "]" and "@" but not "@@", then a path or query of visible ASCII)
   * and, for CONNECT, authority-form.
   */
  private targetByte(c: u8): void {
    const state = this.state;
    if (state == S_BEFORE_TARGET) {
      if (c == SP) return;
      this.mark = this.pos - 1;
      if (this.pending.method == "CONNECT") {
        this.state = S_AUTHORITY;
        this.targetByte(c);
      } else if (c == SLASH || c == STAR) {
        this.state = S_PATH;
      } else if (isAlpha(c)) {
        this.state = S_SCHEME;
      } else {
        this.fail(400, "bad request target");
      }
    } else if (state == S_SCHEME) {
      if (c == COLON) {
        this.state = S_SCHEME_SLASHES;
        this.count = 0;
      } else if (!isAlpha(c)) {
        this.fail(400, "bad request target");
      }
    } else if (state == S_SCHEME_SLASHES) {
      if (c != SLASH) this.fail(400, "bad request target");
      else if (++this.count == 2) this.state = S_AUTHORITY;
    } else if (c == SP) {
      this.pending.target = this.token();
      this.state = S_BEFORE_VERSION;
    } else if (c == CR || c == LF) {
      this.fail(400, "request line without an HTTP version (HTTP/0.9 is not supported)");
    } else if (state == S_AUTHORITY) {
      if (c == SLASH || c == QUESTION) {
        this.state = S_PATH;
      } else if (c == AT) {
        if (load<u8>(this.queue.dataStart + <usize>(this.pos - 2)) == AT) this.fail(400, "bad request target");
      } else if (!isAuthorityChar(c)) {
        this.fail(400, "bad request target");
      }
    } else if (c < 0x21 || c > 0x7e) {
      this.fail(400, "bad request target");
    }
  }

  /** The HTTP version, "HTTP/" DIGIT "." DIGIT: 400 when malformed, 505 unless 1.0 or 1.1. */
  private versionByte(c: u8): void {
    const i = this.count++;
    let ok: bool;
    if (i < 5) ok = <u32>c == <u32>"HTTP/".charCodeAt(i);
    else if (i == 6) ok = c == 0x2e;
    else ok = isDigit(c);
    if (!ok) {
      this.fail(400, "bad HTTP version");
    } else if (i == 7) {
      const major = load<u8>(this.queue.dataStart + <usize>(this.pos - 3));
      if (major != 0x31 || c > 0x31) {
        this.fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
        return;
      }
      this.pending.version = c == 0x30 ? "HTTP/1.0" : "HTTP/1.1";
      this.state = S_REQUEST_LINE_CR;
    }
  }

  /** Header and trailer field lines, `name ":" OWS value OWS CRLF`, and the blank line after them. */
  private fieldByte(c: u8): void {
    const state = this.state;
    if (state == S_FIELD_START) {
      if (c == CR) {
        this.state = S_SECTION_LF;
      } else if (c == SP || c == HT) {
        this.fail(400, "field line starting with whitespace (obsolete line folding)");
      } else if (c == LF) {
        this.fail(400, "field line ended by a bare LF");
      } else if (isTchar(c)) {
        this.mark = this.pos - 1;
        this.state = S_FIELD_NAME;
      } else {
        this.fail(400, "bad header field name");
      }
    } else if (state == S_FIELD_NAME) {
      if (c == COLON) {
        this.nameEnd = this.pos - 1;
        this.state = S_VALUE_OWS;
        this.fieldNamed();
      } else if (!isTchar(c)) {
        this.fail(400, "bad header field name");
      }
    } else if (state == S_VALUE_OWS) {
      if (c == SP || c == HT) return;
      this.valueStart = this.pos - 1;
      this.valueEnd = this.valueStart;
      if (c == CR) {
        this.state = S_FIELD_LF;
        if (this.field == F_CONTENT_LENGTH) this.fail(400, "bad Content-Length");
      } else {
        this.state = S_VALUE;
        if (this.valueStarts()) this.valueByte(c);
      }
    } else if (state == S_VALUE) {
      this.valueByte(c);
    } else if (c != LF) {
      this.fail(400, "CR not followed by LF");
    } else if (state == S_FIELD_LF) {
      this.fieldLineDone();
    } else {
      this.consumeLine();
      if (this.inTrailers) this.finish(this.chunks.take(this.chunks.length));
      else this.headerSectionDone();
    }
  }

  /** One byte of a field value (after its leading whitespace), or the CR that ends it. */
  private valueByte(c: u8): void {
    if (c == CR) {
      this.state = S_FIELD_LF;
      if (this.field == F_TRANSFER_ENCODING) this.codingEnds(true);
    } else if (c == LF) {
      this.fail(400, "field line ended by a bare LF");
    } else if (!isFieldByte(c)) {
      this.fail(400, "bad header field value");
    } else {
      if (c != SP && c != HT) this.valueEnd = this.pos;
      if (this.field == F_CONTENT_LENGTH) this.lengthByte(c);
      else if (this.field == F_TRANSFER_ENCODING && c == 0x2c) this.codingEnds(false);
    }
  }

  /**
   * At the colon of a field line: recognises the fields that frame the message, and refuses
   * Content-Length and Transfer-Encoding together (llhttp does it here, whichever comes second).
   */
  private fieldNamed(): void {
    const ptr = this.queue.dataStart + <usize>this.mark;
    const len = this.nameEnd - this.mark;
    this.field = F_OTHER;
    if (nameIs(ptr, len, "content-length")) {
      this.field = F_CONTENT_LENGTH;
      if (this.inTrailers) this.fail(400, "Content-Length in the trailer section");
      else if (this.hasTransferEncoding) this.fail(400, "both Transfer-Encoding and Content-Length");
    } else if (nameIs(ptr, len, "transfer-encoding")) {
      this.field = F_TRANSFER_ENCODING;
      if (this.hasLength) this.fail(400, "both Transfer-Encoding and Content-Length");
    } else if (nameIs(ptr, len, "connection")) {
      this.field = F_CONNECTION;
    }
  }

  /**
   * At the first byte of a non-empty field value: a second Content-Length, and a
   * Transfer-Encoding after one that ended with chunked (or among trailers, or in HTTP/1.0),
   * are refused. (An empty Transfer-Encoding value counts as none, as in llhttp.) False when failed.
   */
  private valueStarts(): bool {
    if (this.field == F_CONTENT_LENGTH) {
      if (this.hasLength) return this.fail(400, "more than one Content-Length");
      this.length = 0;
      this.lengthDigitsEnded = false;
    } else if (this.field == F_TRANSFER_ENCODING) {
      if (this.inTrailers) return this.fail(400, "Transfer-Encoding in the trailer section");
      if (this.chunkedLast) return this.fail(400, "Transfer-Encoding does not end with chunked");
      if (this.pending.version == "HTTP/1.0") return this.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      this.hasTransferEncoding = true;
      this.codingStart = this.pos - 1;
    }
    return true;
  }

  /** One byte of a Content-Length value: 1*DIGIT, then only spaces. */
  private lengthByte(c: u8): void {
    if (c == SP) {
      this.lengthDigitsEnded = true;
    } else if (!isDigit(c) || this.lengthDigitsEnded) {
      this.fail(400, "bad Content-Length");
    } else {
      this.length = this.length * 10 + <i64>(c - 0x30);
      if (this.length > MAX_LENGTH) this.fail(400, "Content-Length out of range");
    }
  }

  /**
   * At the LF of a field line: records the field and what it frames. Trailer fields are not
   * kept, but a Connection trailer listing close still closes the connection after the request,
   * as in Node.
   */
  private fieldLineDone(): void {
    const base = this.queue.dataStart;
    if (this.field == F_CONTENT_LENGTH) this.hasLength = true;
    if (!this.inTrailers) {
      this.pending.headers.push(new HttpHeader(latin1(base + <usize>this.mark, this.nameEnd - this.mark), this.value()));
    } else if (this.field == F_CONNECTION && hasToken(this.value(), "close")) {
      this.closeAfter = true;
    }
    this.consumeLine();
    this.state = S_FIELD_START;
  }

  /**
   * At the comma or CR after a coding of a Transfer-Encoding value: chunked before another
   * coding is 400; notes whether the value ends with chunked, and any other coding. As llhttp,
   * "chunked" counts only when spaces alone follow it (not a tab).
   */
  private codingEnds(last: bool): void {
    const ptr = this.queue.dataStart;
    const end = this.pos - 1;
    let start = this.codingStart;
    this.codingStart = this.pos;
    while (start < end && (load<u8>(ptr + <usize>start) == SP || load<u8>(ptr + <usize>start) == HT)) start++;
    if (start == end) return;
    if (!isChunked(ptr + <usize>start, end - start)) {
      this.otherCoding = true;
      this.chunkedLast = false;
    } else if (last) {
      this.chunkedLast = true;
    } else {
      this.fail(400, "Transfer-Encoding does not end with chunked");
    }
  }

  /** At the end of the header section: keep-alive, Expect, and how the body is framed. */
  private headerSectionDone(): void {
    const req = this.pending;
    const http10 = req.version == "HTTP/1.0";
    const connection = req.header("connection");
    const close = connection !== null && hasToken(connection, "close");
    const keep = connection !== null && hasToken(connection, "keep-alive");
    req.keepAlive = http10 ? keep && !close : !close;
    const expect = req.header("expect");
    req.expectContinue = !http10 && expect !== null && equalsIgnoreCase(trim(expect), "100-continue");

    if (this.hasTransferEncoding) {
      if (!this.chunkedLast) {
        this.fail(400, "Transfer-Encoding does not end with chunked");
      } else if (this.otherCoding) {
        this.fail(501, "transfer coding other than chunked");
      } else {
        req.chunked = true;
        this.chunks.clear();
        this.startChunk();
        if (req.expectContinue) this.continueState = 1;
      }
    } else if (this.hasLength && this.length > <i64>this.maxBodyBytes) {
      this.fail(413, "body of " + this.length.toString() + " bytes, the limit is " + this.maxBodyBytes.toString());
    } else if (this.hasLength && this.length > 0) {
      this.remaining = this.length;
      this.state = S_BODY;
      if (req.expectContinue) this.continueState = 1;
    } else {
      this.finish(new ArrayBuffer(0));
    }
  }

  /** Chunk-size lines `1*HEXDIG *( ";" ext ) CRLF` and the CRLF after chunk data. */
  private chunkLineByte(c: u8): void {
    const state = this.state;
    if (state == S_CHUNK_SIZE_START) {
      if (hexValue(c) < 0) this.fail(400, "bad chunk size");
      else this.chunkSizeByte(c);
    } else if (state == S_CHUNK_SIZE) {
      if (hexValue(c) >= 0) this.chunkSizeByte(c);
      else if (c != SEMICOLON && c != CR) this.endOfChunkLine(c, "bad chunk size");
      else if (this.chunkFits()) this.state = c == CR ? S_CHUNK_SIZE_LF : S_EXT_NAME_START;
    } else if (state <= S_EXT_QUOTED_END) {
      this.extensionByte(c);
    } else if (state == S_CHUNK_SIZE_LF) {
      if (c == LF) this.chunkSizeLineDone();
      else this.fail(400, "CR not followed by LF");
    } else if (state == S_CHUNK_DATA_CR) {
      if (c == CR) this.state = S_CHUNK_DATA_LF;
      else if (c == LF) this.fail(400, "chunk data not followed by CRLF");
      else this.fail(400, "chunk data longer than its chunk size");
    } else if (c == LF) {
      this.startChunk();
    } else {
      this.fail(400, "chunk data not followed by CRLF");
    }
  }

  /** One hex digit of a chunk size. */
  private chunkSizeByte(c: u8): void {
    this.remaining = (this.remaining << 4) | hexValue(c);
    this.state = S_CHUNK_SIZE;
    if (this.remaining > MAX_LENGTH) this.fail(400, "chunk size out of range");
  }

  /** At the end of a chunk size: false (413) when the body would pass maxBodyBytes. */
  private chunkFits(): bool {
    if (<i64>this.chunks.length + this.remaining <= <i64>this.maxBodyBytes) return true;
    return this.fail(413, "chunked body over the limit of " + this.maxBodyBytes.toString() + " bytes");
  }

  /**
   * A chunk extension, `";" token [ "=" ( token / quoted-string ) ]`, with no whitespace
   * (llhttp refuses it too), or the CR that ends the chunk line.
   */
  private extensionByte(c: u8): void {
    const state = this.state;
    if (state == S_EXT_NAME_START || state == S_EXT_VALUE_START) {
      if (isTchar(c)) this.state = state == S_EXT_NAME_START ? S_EXT_NAME : S_EXT_VALUE;
      else if (c == DQUOTE && state == S_EXT_VALUE_START) this.state = S_EXT_QUOTED;
      else this.endOfChunkLine(c, "bad chunk extension");
    } else if (state == S_EXT_QUOTED) {
      if (c == DQUOTE) this.state = S_EXT_QUOTED_END;
      else if (c == BACKSLASH) this.state = S_EXT_QUOTED_PAIR;
      else if (c == CR) this.fail(400, "unterminated quoted string in a chunk extension");
      else if (!isQdtext(c)) this.endOfChunkLine(c, "bad chunk extension");
    } else if (state == S_EXT_QUOTED_PAIR) {
      if (isFieldByte(c)) this.state = S_EXT_QUOTED;
      else this.endOfChunkLine(c, "bad chunk extension");
    } else if (isTchar(c) && state != S_EXT_QUOTED_END) {
      return; // more of a name or a value
    } else if (c == EQUALS && state == S_EXT_NAME) {
      this.state = S_EXT_VALUE_START;
    } else if (c == SEMICOLON) {
      this.state = S_EXT_NAME_START;
    } else if (c == CR) {
      this.state = S_CHUNK_SIZE_LF;
    } else {
      this.endOfChunkLine(c, "bad chunk extension");
    }
  }

  /** Fails on byte `c` of a chunk line where it does not belong: `message`, or a bare LF's. */
  private endOfChunkLine(c: u8, message: string): void {
    this.fail(400, c == LF ? "chunk size line ended by a bare LF" : message);
  }

  /** At the LF of a chunk-size line: chunk data next, or the trailer section after the last chunk. */
  private chunkSizeLineDone(): void {
    this.consumeLine();
    if (this.remaining > 0) {
      this.state = S_CHUNK_DATA;
    } else {
      this.inTrailers = true;
      this.sectionBytes = 0;
      this.state = S_FIELD_START;
    }
  }

  /** Gets ready for the next chunk-size line. */
  private startChunk(): void {
    this.consumeLine();
    this.remaining = 0;
    this.lineBytes = 0;
    this.state = S_CHUNK_SIZE_START;
  }

  /** Takes a Content-Length body once all of it arrived. False while it has not. */
  private readBody(): bool {
    const q = this.queue;
    if (<i64>q.length < this.remaining) return false;
    this.finish(q.take(<i32>this.remaining));
    return true;
  }

  /** Moves the chunk data that arrived to the decoded body. False when none arrived. */
  private readChunkData(): bool {
    const q = this.queue;
    const n = <i64>q.length < this.remaining ? q.length : <i32>this.remaining;
    if (n == 0) return false;
    this.chunks.pushBytes(q.dataStart, n);
    q.skip(n);
    this.remaining -= <i64>n;
    if (this.remaining == 0) {
      this.lineBytes = 0;
      this.state = S_CHUNK_DATA_CR;
    }
    return true;
  }

  /** Completes the pending request with `body`: it waits for next() in `completed`. */
  private finish(body: ArrayBuffer): void {
    const req = this.pending;
    req.body = body;
    if (this.closeAfter) req.keepAlive = false;
    this.completed = req;
    this.pending = new HttpRequest();
    this.forgetFraming();
    this.state = req.keepAlive ? S_START : S_CLOSED;
    if (!req.keepAlive) this.queue.clear();
  }

  /** Clears what the fields of the previous request said. */
  private forgetFraming(): void {
    this.inTrailers = false;
    this.hasLength = false;
    this.length = 0;
    this.hasTransferEncoding = false;
    this.chunkedLast = false;
    this.otherCoding = false;
    this.closeAfter = false;
    this.remaining = 0;
    this.continueState = 0;
  }

  /** Whether the header section is done and the body is being read. */
  private readingBody(): bool {
    const state = this.state;
    if (state == S_FAILED || state == S_CLOSED) return false;
    return this.inTrailers || (state >= S_CHUNK_SIZE_START && state <= S_CHUNK_DATA);
  }

  /** The value of the field line being read, trimmed, as a Latin-1 string. */
  private value(): string {
    return latin1(this.queue.dataStart + <usize>this.valueStart, this.valueEnd - this.valueStart);
  }

  /** The token from `mark` up to the byte just read, as a Latin-1 string. */
  private token(): string {
    return latin1(this.queue.dataStart + <usize>this.mark, this.pos - 1 - this.mark);
  }

  /** Drops the bytes read so far (a whole line, or a byte skipped): the next line starts at 0. */
  private consumeLine(): void {
    this.queue.skip(this.pos);
    this.pos = 0;
  }

  /** Fails with `code` and `message`; returns false. */
  private fail(code: i32, message: string): bool {
    this.state = S_FAILED;
    this.code = code;
    this.problem = message;
    this.queue.clear();
    this.chunks.clear();
    this.pos = 0;
    return false;
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

function isAlpha(c: u8): bool {
  return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
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

/**
 * A byte of the authority of a target, "@" aside: unreserved, sub-delims, "%", ":", "[" and "]"
 * (RFC 3986; llhttp's set).
 */
function isAuthorityChar(c: u8): bool {
  if (isDigit(c) || isAlpha(c)) return true;
  switch (c) {
    case 0x2d: case 0x2e: case 0x5f: case 0x7e: // - . _ ~
    case 0x21: case 0x24: case 0x26: case 0x27: case 0x28: case 0x29: case 0x2a: case 0x2b: // ! $ & ' ( ) * +
    case 0x2c: case 0x3b: case 0x3d: // , ; =
    case 0x25: case 0x3a: case 0x5b: case 0x5d: // % : [ ]
      return true;
  }
  return false;
}

/** A byte allowed in a field value: HTAB, SP, visible ASCII and obs-text (0x80-0xFF). */
function isFieldByte(c: u8): bool {
  return c == HT || (c >= 0x20 && c != 0x7f);
}

/** qdtext of RFC 9110: a byte of a quoted string other than DQUOTE and backslash. */
function isQdtext(c: u8): bool {
  return isFieldByte(c) && c != DQUOTE && c != BACKSLASH;
}

function lowerAscii(c: u32): u32 {
  return c - 0x41 < 26 ? c | 0x20 : c;
}

/** Whether the `len` bytes at `ptr` spell `lower` (lowercase ASCII), ignoring case. */
function nameIs(ptr: usize, len: i32, lower: string): bool {
  if (len != lower.length) return false;
  for (let i = 0; i < len; i++) {
    if (lowerAscii(<u32>load<u8>(ptr + <usize>i)) != <u32>lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the `len` bytes at `ptr` are "chunked" (any case) followed by nothing but spaces. */
function isChunked(ptr: usize, len: i32): bool {
  if (len < 7 || !nameIs(ptr, 7, "chunked")) return false;
  for (let i = 7; i < len; i++) if (load<u8>(ptr + <usize>i) != SP) return false;
  return true;
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

/** `len` bytes at `ptr` as a string of one char per byte (Latin-1). */
function latin1(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  const s = __new(<usize>len << 1, idof<String>());
  for (let i = 0; i < len; i++) store<u16>(s + (<usize>i << 1), <u16>load<u8>(ptr + <usize>i));
  return changetype<string>(s);
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
