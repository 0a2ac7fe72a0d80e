// byte-count: counts the bytes a client sends; when the client half-closes (FIN), it answers with
// the total as decimal text and ends the connection (half-open connections, as in the TCP server
// chapter of "Build Your Own Web Server From Scratch In Node.JS").
// Serve it with createServer(bridge, { allowHalfOpen: true }): otherwise Node ends our side as
// soon as the client's FIN arrives, and the answer's Socket.write returns false.
import { Socket } from "../index";

const counts = new Map<u32, u64>();

export function onConnection(id: u32): void {
  counts.set(id, 0);
}

export function onData(id: u32, data: ArrayBuffer): void {
  counts.set(id, counts.get(id) + <u64>data.byteLength);
}

export function onEnd(id: u32): void {
  Socket.write(id, counts.get(id).toString());
  Socket.end(id);
}

export function onClose(id: u32): void {
  counts.delete(id);
}
