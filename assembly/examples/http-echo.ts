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
//
// Run it: `npx tsx examples/http-echo-server.ts`, then the curl line it prints.
import { Socket, HttpRequestParser, HttpRequest, HttpResponse, httpContinue } from "../index";

/** One parser per open connection; removed once the guest ends the connection. */
const parsers = new Map<u32, HttpRequestParser>();
/** Connections paused because a write filled their output queue, until onDrain. */
const waiting = new Set<u32>();

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
  parsers.set(id, new HttpRequestParser());
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
}
