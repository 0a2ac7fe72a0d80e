// http-echo: an HTTP/1.1 server guest, the HTTP echo server of WasmEdge's networking examples
// ("curl -d WasmEdge -X POST http://127.0.0.1:PORT" prints "echo:WasmEdge"), built on the SDK's
// HttpRequestParser.
//
// - POST and PUT answer 200 with `echo:` followed by the request body (Content-Length or chunked).
// - GET and HEAD answer 200 with a line saying what to do; other methods get 405.
// - Keep-alive and pipelining: a connection serves requests until one asks to close (or is
//   HTTP/1.0 without keep-alive); pipelined requests are answered in order.
// - A request split into any number of onData calls is answered once it is whole.
// - Bad input gets the parser's 400 / 413 / 431 / 501 / 505 response, then the connection ends.
// - Flow control: when Socket.write returns false (the client does not read its answers), the
//   guest pauses the connection and answers the requests still buffered at onDrain.
// - Idle connections: one that neither sends nor receives a byte for `idleTimeoutMs` (Socket.setTimeout,
//   then onTimeout) is ended, or closed if its client had stopped reading answers.
//
// Configuration (the bridge's `config` option, JSON; read with Host.configString()):
//   {"idleTimeoutMs": 5000, "logPeers": false}
// idleTimeoutMs: how long a connection may be idle (default 5000; 0: forever). logPeers: log
// `remoteAddress:remotePort METHOD target` for every request (default false).
//
// Run it: `npx tsx examples/http-echo-server.ts`, then the curl line it prints.
import { Socket, Host, HttpRequestParser, HttpRequest, HttpResponse, httpContinue } from "../index";

/** One parser per open connection; removed once the guest ends the connection. */
const parsers = new Map<u32, HttpRequestParser>();
/** Connections paused because a write filled their output queue, until onDrain. */
const waiting = new Set<u32>();
/** "address:port" of each connection's peer, when logPeers is on. */
const peers = new Map<u32, string>();

let configured = false;
let idleTimeoutMs: u32 = 5000;
let logPeers = false;

/**
 * The raw JSON value of `"name"` in a flat JSON object (a number, true, false), or "" when the
 * field is missing. Enough for this guest's two settings; not a JSON parser.
 */
function jsonField(json: string, name: string): string {
  const at = json.indexOf("\"" + name + "\"");
  if (at < 0) return "";
  let i = at + name.length + 2;
  while (i < json.length && json.charCodeAt(i) <= 0x20) i++;
  if (i >= json.length || json.charCodeAt(i) != 0x3a) return "";
  i++;
  while (i < json.length && json.charCodeAt(i) <= 0x20) i++;
  let j = i;
  while (j < json.length && json.charCodeAt(j) > 0x20 && json.charCodeAt(j) != 0x2c && json.charCodeAt(j) != 0x7d) j++;
  return json.substring(i, j);
}

/** Reads the bridge's config once, at the first connection. */
function configure(): void {
  if (configured) return;
  configured = true;
  const json = Host.configString();
  if (json.length == 0) return;
  const idle = jsonField(json, "idleTimeoutMs");
  if (idle.length > 0) {
    let ms: u64 = 0;
    let ok = idle.length <= 10;
    for (let i = 0; ok && i < idle.length; i++) {
      const c = idle.charCodeAt(i);
      ok = c >= 0x30 && c <= 0x39;
      ms = ms * 10 + <u64>(c - 0x30);
    }
    if (ok && ms <= 0x7fffffff) idleTimeoutMs = <u32>ms;
    else console.warn("http-echo: idleTimeoutMs must be 0 to 2147483647 ms, not " + idle + "; using 5000");
  }
  logPeers = jsonField(json, "logPeers") == "true";
}

/** "echo:" followed by `body`, byte for byte. */
function echoOf(body: ArrayBuffer): ArrayBuffer {
  const prefix = String.UTF8.encode("echo:");
  const out = new ArrayBuffer(prefix.byteLength + body.byteLength);
  memory.copy(changetype<usize>(out), changetype<usize>(prefix), <usize>prefix.byteLength);
  memory.copy(changetype<usize>(out) + <usize>prefix.byteLength, changetype<usize>(body), <usize>body.byteLength);
  return out;
}

function respond(req: HttpRequest): ArrayBuffer {
  const res = HttpResponse.forRequest(req).setHeader("Content-Type", "text/plain; charset=utf-8");
  if (req.method == "POST" || req.method == "PUT") {
    res.setBody(echoOf(req.body));
  } else if (req.method == "GET" || req.method == "HEAD") {
    res.setBody("http-echo: POST a body to " + req.path + " and it comes back as echo:<body>\n");
  } else {
    res.status = 405;
    res.setHeader("Allow", "GET, HEAD, POST, PUT");
    res.setBody("method not allowed\n");
  }
  return res.encode();
}

/** Answers the complete requests buffered for `id`, in order. */
function serve(id: u32): void {
  const parser = parsers.get(id);
  while (parser.next()) {
    const req = parser.request;
    if (logPeers && peers.has(id)) console.log(peers.get(id) + " " + req.method + " " + req.target);
    const ok = Socket.write(id, respond(req));
    if (!req.keepAlive) {
      Socket.end(id);
      parsers.delete(id);
      return;
    }
    if (!ok) {
      // The client is not reading: stop reading it too, and go on at onDrain.
      Socket.pause(id);
      waiting.add(id);
      return;
    }
  }
  if (parser.failed) {
    Socket.write(id, parser.errorResponse());
    Socket.end(id);
    parsers.delete(id);
    return;
  }
  if (parser.takeContinue()) Socket.write(id, httpContinue());
}

export function onConnection(id: u32): void {
  configure();
  parsers.set(id, new HttpRequestParser());
  if (idleTimeoutMs > 0) Socket.setTimeout(id, idleTimeoutMs);
  if (logPeers) peers.set(id, Socket.remoteAddress(id) + ":" + Socket.remotePort(id).toString());
}

/** No byte in or out for idleTimeoutMs: end the connection (close it if the client stopped reading). */
export function onTimeout(id: u32): void {
  if (waiting.has(id)) Socket.close(id);
  else Socket.end(id);
  parsers.delete(id);
}

export function onData(id: u32, data: ArrayBuffer): void {
  if (!parsers.has(id)) return; // already ended: the rest of the input is ignored
  parsers.get(id).push(data);
  if (!waiting.has(id)) serve(id);
}

export function onDrain(id: u32): void {
  if (!waiting.has(id)) return;
  waiting.delete(id);
  Socket.resume(id);
  if (parsers.has(id)) serve(id);
}

export function onClose(id: u32): void {
  parsers.delete(id);
  waiting.delete(id);
  peers.delete(id);
}
