// pingpong: the guest of bench/hostcall.js. Each line a client sends is answered with the same
// line, either written back at once (no config) or, with config "host", through the host function
// "answer" (Host.call, answered in onReply): the difference is the cost of a host-call round trip.
import { Socket, Host, LineReader } from "../../assembly/index";

const viaHost = Host.configString() == "host";
const readers = new Map<u32, LineReader>();
const calls = new Map<i32, u32>();

export function onConnection(id: u32): void {
  readers.set(id, new LineReader(1024));
}

export function onData(id: u32, data: ArrayBuffer): void {
  const r = readers.get(id);
  r.push(data);
  while (r.next()) {
    if (!viaHost) {
      Socket.write(id, r.bytes);
      Socket.write(id, "\n");
      continue;
    }
    const call = Host.call("answer", r.bytes, id);
    if (call > 0) calls.set(call, id);
    else Socket.write(id, "refused " + call.toString() + "\n");
  }
}

export function onReply(call: i32, status: i32, data: ArrayBuffer): void {
  const id = calls.get(call);
  calls.delete(call);
  Socket.write(id, data);
  Socket.write(id, "\n");
}

export function onClose(id: u32): void {
  readers.delete(id);
}
