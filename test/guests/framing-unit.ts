// framing-unit: not a bridge guest but a test module that test/framing.test.js instantiates with
// Node's own WebAssembly, to drive the SDK's framing helpers (assembly/framing.ts) and HTTP
// parser (assembly/http.ts) with one input split in every possible way.
//
//   inputBuffer(len)   -> address of a buffer of `len` bytes: the JS side writes the input there
//   start(kind, a, b)  new reader: 0 LineReader(a), 1 LengthPrefixedReader.u16(a),
//                      2 LengthPrefixedReader.u32(a), 3 HttpRequestParser(a, b)
//   feed(off, len)     push input[off, off + len) as one onData would, then drain next()
//   finish()           -> JSON array of everything the reader returned, and its final state
//
// Bytes (lines, frames, bodies) are reported as hex, so any difference shows.
import {
  LineReader,
  LengthPrefixedReader,
  HttpRequestParser,
  HttpRequest,
  HttpResponse,
  httpContinue,
  httpResponse,
  lengthPrefixed,
  ByteQueue,
} from "../../assembly/index";

let input = new Uint8Array(0);
let kind = 0;
let lines = new LineReader();
let frames = new LengthPrefixedReader();
let http = new HttpRequestParser();
let out = new Array<string>();

const HEX = "0123456789abcdef";

function hex(buf: ArrayBuffer): string {
  const b = Uint8Array.wrap(buf);
  let s = "";
  for (let i = 0; i < b.length; i++) {
    s += HEX.charAt(b[i] >> 4) + HEX.charAt(b[i] & 15);
  }
  return s;
}

function json(s: string | null): string {
  if (s === null) return "null";
  const str = changetype<string>(s);
  let r = "\"";
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c == 0x22) r += "\\\"";
    else if (c == 0x5c) r += "\\\\";
    else if (c < 0x20) r += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
    else r += String.fromCharCode(c);
  }
  return r + "\"";
}

function request(req: HttpRequest): string {
  let h = "[";
  for (let i = 0; i < req.headers.length; i++) {
    if (i > 0) h += ",";
    h += "[" + json(req.headers[i].name) + "," + json(req.headers[i].value) + "]";
  }
  h += "]";
  return "{\"method\":" + json(req.method) + ",\"target\":" + json(req.target) +
    ",\"path\":" + json(req.path) + ",\"query\":" + json(req.query) +
    ",\"version\":" + json(req.version) + ",\"keepAlive\":" + req.keepAlive.toString() +
    ",\"chunked\":" + req.chunked.toString() + ",\"expectContinue\":" + req.expectContinue.toString() +
    ",\"headers\":" + h + ",\"host\":" + json(req.header("HOST")) +
    ",\"contentType\":" + json(req.header("content-TYPE")) +
    ",\"multi\":" + json(req.header("x-multi")) + ",\"hasHost\":" + req.hasHeader("Host").toString() +
    ",\"body\":" + json(hex(req.body)) + "}";
}

/** Address of an input buffer of at least `len` bytes. */
export function inputBuffer(len: i32): usize {
  if (input.length < len) input = new Uint8Array(len);
  return input.dataStart;
}

/** Starts over with a new reader of `k` (see the top of the file) and limits `a`, `b`. */
export function start(k: i32, a: i32, b: i32): void {
  kind = k;
  out = new Array<string>();
  if (k == 0) lines = new LineReader(a);
  else if (k == 1) frames = LengthPrefixedReader.u16(<u32>a);
  else if (k == 2) frames = LengthPrefixedReader.u32(<u32>a);
  else http = new HttpRequestParser(a, b);
}

/** Pushes input[off, off + len) and collects every message that became complete. */
export function feed(off: i32, len: i32): void {
  const chunk = input.subarray(off, off + len);
  if (kind == 0) {
    lines.push(chunk);
    while (lines.next()) out.push("{\"line\":" + json(hex(lines.bytes)) + "}");
  } else if (kind == 1 || kind == 2) {
    frames.push(chunk);
    while (frames.next()) out.push("{\"frame\":" + json(hex(frames.frame)) + "}");
  } else {
    http.push(chunk);
    while (http.next()) out.push(request(http.request));
  }
}

/** Everything collected since start, and the reader's final state, as a JSON array. */
export function finish(): string {
  if (kind == 0) {
    const buffered = lines.buffered;
    if (lines.finish()) out.push("{\"last\":" + json(hex(lines.bytes)) + "}");
    out.push("{\"failed\":" + lines.failed.toString() + ",\"error\":" + json(lines.error) +
      ",\"buffered\":" + buffered.toString() + "}");
  } else if (kind == 1 || kind == 2) {
    out.push("{\"failed\":" + frames.failed.toString() + ",\"error\":" + json(frames.error) +
      ",\"buffered\":" + frames.buffered.toString() + "}");
  } else {
    out.push("{\"failed\":" + http.failed.toString() + ",\"status\":" + http.status.toString() +
      ",\"error\":" + json(http.error) + ",\"closed\":" + http.closed.toString() +
      ",\"idle\":" + http.idle.toString() + ",\"buffered\":" + http.buffered.toString() + "}");
  }
  return "[" + out.join(",") + "]";
}

/** The bytes of a few fixed responses, as Latin-1 text, for exact comparison. */
export function sample(n: i32): string {
  let bytes: ArrayBuffer;
  if (n == 0) {
    bytes = httpResponse(200, "hi");
  } else if (n == 1) {
    bytes = new HttpResponse(404)
      .close()
      .setHeader("X-A", "1")
      .setHeader("x-a", "2")
      .addHeader("Set", "a")
      .addHeader("Set", "b")
      .setHeader("Content-Length", "99")
      .setHeader("Connection", "keep-alive")
      .setHeader("Bad Name", "x")
      .setHeader("X-Inject", "a\r\nSet: evil")
      .setBody("nope")
      .encode();
  } else if (n == 2) {
    const p = new HttpRequestParser();
    p.push("HEAD /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    p.next();
    bytes = HttpResponse.forRequest(p.request).setBody("twelve bytes").encode();
  } else if (n == 3) {
    bytes = new HttpResponse(204).setBody("ignored").encode();
  } else if (n == 4) {
    bytes = httpResponse(201, Uint8Array.wrap(String.UTF8.encode("é")), false, "");
  } else if (n == 5) {
    const p = new HttpRequestParser(64);
    p.push("GET /" + "a".repeat(100) + " HTTP/1.1\r\n\r\n");
    p.next();
    bytes = p.errorResponse();
  } else if (n == 6) {
    bytes = lengthPrefixed("abc");
  } else if (n == 7) {
    bytes = lengthPrefixed(String.UTF8.encode("abc"), 4);
  } else {
    bytes = String.UTF8.encode(httpContinue());
  }
  const b = Uint8Array.wrap(bytes);
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * Expect: 100-continue: takeContinue() is true once while the body is awaited, not before the
 * header is complete, and not again. Returns the sequence of observations.
 */
export function continueSequence(): string {
  const p = new HttpRequestParser();
  const seen = new Array<string>();
  p.push("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n");
  seen.push(p.next().toString() + ":" + p.takeContinue().toString());
  p.push("\r\n");
  seen.push(p.next().toString() + ":" + p.takeContinue().toString());
  seen.push(p.next().toString() + ":" + p.takeContinue().toString());
  p.push("ab");
  seen.push(p.next().toString() + ":" + p.takeContinue().toString());
  p.push("c");
  seen.push(p.next().toString() + ":" + p.takeContinue().toString() + ":" + p.request.bodyText);
  return seen.join(" ");
}

/**
 * ByteQueue under a steady stream: pushes `rounds` chunks of `chunk` bytes and consumes all but
 * `keep` bytes after each, checking every byte comes out in order. Returns the largest capacity
 * seen, or -1 on a mismatch.
 */
export function queueSteady(rounds: i32, chunk: i32, keep: i32): i32 {
  const q = new ByteQueue();
  const data = new Uint8Array(chunk);
  let written: u32 = 0;
  let read: u32 = 0;
  let maxCap = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < chunk; i++) data[i] = <u8>((written + <u32>i) % 251);
    q.push(data);
    written += <u32>chunk;
    while (q.length > keep) {
      if (q.at(0) != <u8>(read % 251)) return -1;
      q.skip(1);
      read++;
    }
    if (q.capacity > maxCap) maxCap = q.capacity;
  }
  const rest = Uint8Array.wrap(q.take(q.length));
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] != <u8>(read % 251)) return -1;
    read++;
  }
  return read == written ? maxCap : -1;
}

/** Calls the rest of the public API once (pushBytes, reset, line, bytes, ...); see the JS test. */
export function misc(): string {
  const r = new Array<string>();
  const lines = new LineReader(16);
  const utf8 = String.UTF8.encode("h\u00e9llo\r\nx");
  lines.pushBytes(changetype<usize>(utf8), utf8.byteLength);
  r.push(lines.next().toString() + ":" + lines.line + ":" + lines.bytes.byteLength.toString());
  lines.push("y".repeat(20));
  r.push(lines.next().toString() + ":" + lines.failed.toString() + ":" + lines.buffered.toString());
  lines.push("ignored once failed\n");
  r.push(lines.next().toString() + ":" + lines.buffered.toString());
  lines.reset();
  lines.push("again\n");
  r.push(lines.next().toString() + ":" + lines.line + ":" + lines.failed.toString() + ":" + lines.error);

  const frames = LengthPrefixedReader.u16();
  const framed = lengthPrefixed(Uint8Array.wrap(String.UTF8.encode("xyz")));
  frames.pushBytes(changetype<usize>(framed), framed.byteLength);
  r.push(frames.next().toString() + ":" + frames.bytes.length.toString() + ":" + String.UTF8.decode(frames.frame));
  frames.push(new Uint8Array(1));
  const held = frames.buffered;
  frames.reset();
  r.push(held.toString() + ":" + frames.buffered.toString());

  const p = new HttpRequestParser();
  p.push("BAD\r\n\r\n");
  r.push(p.next().toString() + ":" + p.failed.toString() + ":" + p.status.toString());
  p.reset();
  const raw = String.UTF8.encode("GET /r?a=b HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n");
  p.pushBytes(changetype<usize>(raw), raw.byteLength);
  r.push(p.next().toString() + ":" + p.request.method + ":" + p.closed.toString() + ":" + p.failed.toString());
  const values = p.request.headerValues("a");
  r.push(values.length.toString() + ":" + values.join("|") + ":" + p.request.hasHeader("b").toString() + ":" +
    (p.request.header("b") === null).toString());

  const q = new ByteQueue();
  q.push("abc");
  r.push(q.at(1).toString() + ":" + q.indexOf(0x63).toString() + ":" + q.indexOf(0x7a).toString() + ":" +
    String.UTF8.decode(q.copy(1, 2)) + ":" + q.length.toString());
  q.clear();
  r.push(q.length.toString() + ":" + q.capacity.toString());
  return r.join(" ");
}
