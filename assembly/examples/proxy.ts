// proxy: an HTTP CONNECT tunnel. A client sends `CONNECT host:port HTTP/1.1` and a blank line;
// the guest dials that upstream with Socket.connect, which only succeeds for addresses the
// bridge's `allowConnect` lists, answers `200 Connection Established` once it is up (or 403 /
// 502), and from then on pipes bytes both ways, unchanged.
//
// Backpressure both ways: when a write to one side returns false, the guest pauses the other
// side until onDrain, so a fast sender and a slow receiver never make the host buffer much.
//
// Try it: `npx tsx examples/proxy-server.ts`, then
//   curl -p -x http://127.0.0.1:8081 http://127.0.0.1:8080/   (tunnel to the echo example, ...)
import { Socket } from "../index";

const HEADER_LIMIT = 8192;

/** Each connection's partner: client <-> upstream, both ways. */
const peer = new Map<u32, u32>();
/** Clients whose CONNECT request is still arriving: the bytes so far. */
const pending = new Map<u32, string>();
/** Upstreams still connecting: their client. */
const connecting = new Map<u32, u32>();

export function onConnection(id: u32): void {
  pending.set(id, "");
}

function refuse(id: u32, status: string): void {
  Socket.write(id, "HTTP/1.1 " + status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  Socket.end(id);
  pending.delete(id);
}

/** Parses `CONNECT host:port HTTP/1.x` and dials; false when the request is not one. */
function dial(client: u32, request: string): void {
  const line = request.substring(0, request.indexOf("\r\n"));
  const parts = line.split(" ");
  if (parts.length != 3 || parts[0] != "CONNECT" || !parts[2].startsWith("HTTP/1.")) {
    refuse(client, "400 Bad Request");
    return;
  }
  const target = parts[1];
  const colon = target.lastIndexOf(":");
  if (colon <= 0) {
    refuse(client, "400 Bad Request");
    return;
  }
  let host = target.substring(0, colon);
  const port = <u32>I32.parseInt(target.substring(colon + 1));
  const upstream = Socket.connect(host, port);
  if (upstream == Socket.NOT_ALLOWED) {
    refuse(client, "403 Forbidden");
    return;
  }
  if (upstream < 0) {
    refuse(client, "400 Bad Request");
    return;
  }
  const up = <u32>upstream;
  pending.delete(client);
  peer.set(client, up);
  peer.set(up, client);
  connecting.set(up, client);
  // Hold the client's bytes until the tunnel is up.
  Socket.pause(client);
}

export function onConnect(up: u32): void {
  if (!connecting.has(up)) return;
  const client = connecting.get(up);
  connecting.delete(up);
  Socket.write(client, "HTTP/1.1 200 Connection Established\r\n\r\n");
  Socket.resume(client);
}

export function onData(id: u32, data: ArrayBuffer): void {
  if (pending.has(id)) {
    // Still reading the CONNECT request (it may arrive in pieces; bytes after it belong to the
    // tunnel).
    const text = pending.get(id) + String.UTF8.decode(data);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      if (text.length > HEADER_LIMIT) refuse(id, "431 Request Header Fields Too Large");
      else pending.set(id, text);
      return;
    }
    dial(id, text.substring(0, end + 4));
    const rest = text.substring(end + 4);
    if (rest.length > 0 && peer.has(id)) Socket.write(peer.get(id), rest);
    return;
  }
  if (!peer.has(id)) return;
  const other = peer.get(id);
  if (!Socket.write(other, data)) {
    // `other` is full: stop reading `id` until `other` drains.
    Socket.pause(id);
  }
}

export function onDrain(id: u32): void {
  if (peer.has(id)) Socket.resume(peer.get(id));
}

export function onEnd(id: u32): void {
  // Half-close travels through the tunnel.
  if (peer.has(id)) Socket.end(peer.get(id));
}

export function onError(id: u32): void {
  if (connecting.has(id)) {
    const client = connecting.get(id);
    connecting.delete(id);
    peer.delete(client);
    peer.delete(id);
    refuse(client, "502 Bad Gateway");
  }
}

export function onClose(id: u32): void {
  pending.delete(id);
  connecting.delete(id);
  if (peer.has(id)) {
    const other = peer.get(id);
    peer.delete(id);
    peer.delete(other);
    Socket.end(other);
  }
}
