// chat: a line-based chat room. Every line a client sends goes to the application through the
// host function "publish" (Host.call("publish", line, id)); the application decides what to do
// with it and, in the server script examples/chat-server.ts, calls bridge.broadcast with the line
// and its sender. Every instance (one per worker thread with `threads`) hears each broadcast in
// onMessage(0, data) and writes it to all of its own clients, so every client sees every line, in
// the order the application broadcast them, whichever worker it landed on.
//
//   npx tsx examples/chat-server.ts      # 127.0.0.1:7003; then, in two terminals: nc 127.0.0.1 7003
//
// A line longer than MAX_LINE bytes ends that client's connection with an error line.
import { Socket, Host, LineReader } from "../index";

/** Longest line a client may send, in bytes (without its "\n"). */
const MAX_LINE: i32 = 1024;

/** The clients of this instance, each with its line reader. */
const readers = new Map<u32, LineReader>();

export function onConnection(id: u32): void {
  readers.set(id, new LineReader(MAX_LINE));
}

export function onData(id: u32, data: ArrayBuffer): void {
  const reader = readers.get(id);
  reader.push(data);
  while (reader.next()) {
    const call = Host.call("publish", reader.bytes, id);
    if (call < 0) Socket.write(id, "error: not published (" + call.toString() + ")\n");
  }
  if (reader.failed) {
    Socket.write(id, "error: " + reader.error + "\n");
    Socket.end(id);
  }
}

/** What "publish" returned: nothing to do, unless it failed. */
export function onReply(call: i32, status: i32, data: ArrayBuffer): void {
  if (status != 0) console.error("chat: publish failed: " + String.UTF8.decode(data));
}

/** A broadcast (id 0) is one chat line: it goes to every client of this instance. */
export function onMessage(id: u32, data: ArrayBuffer): void {
  if (id != 0) return;
  const ids = readers.keys();
  for (let i = 0; i < ids.length; i++) {
    Socket.write(ids[i], data);
    Socket.write(ids[i], "\n");
  }
}

export function onClose(id: u32): void {
  readers.delete(id);
}
