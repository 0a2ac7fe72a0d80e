// auth-echo: an echo server that asks the application to check a token first. The first line of
// each connection is its token; the guest passes it to the host function "checkToken"
// (Host.call("checkToken", token, id)) and holds the connection's data until the answer arrives
// in onReply: when the function returned "ok" the guest answers "ok\n" and echoes everything from
// then on (the bytes that came after the token while the check was running included, in order);
// any other answer, or a function that threw, gets "denied\n" and the connection ends.
//
//   TOKEN=secret npx tsx examples/auth-echo-server.ts     # 127.0.0.1:7004
//   nc 127.0.0.1 7004                                     # type: secret, then anything
//
// While a check runs the connection is paused (Socket.pause), so a client that keeps sending
// cannot make the guest buffer without bound; what had already arrived is held in a queue.
// A token longer than MAX_TOKEN bytes is denied without asking.
import { Socket, Host, ByteQueue } from "../index";

const MAX_TOKEN: i32 = 256;

const WAITING: i32 = 0; // reading the token line
const CHECKING: i32 = 1; // checkToken called, no answer yet
const ECHOING: i32 = 2; // accepted
const DENIED: i32 = 3; // refused: the connection is ending, its data is dropped

class Conn {
  state: i32 = WAITING;
  /** Bytes received and not yet handled: the token line, then what followed it. */
  held: ByteQueue = new ByteQueue();
}

const conns = new Map<u32, Conn>();
/** Which connection each call in flight is for. */
const calls = new Map<i32, u32>();

function deny(id: u32, conn: Conn): void {
  conn.state = DENIED;
  conn.held.clear();
  Socket.write(id, "denied\n");
  Socket.end(id);
}

export function onConnection(id: u32): void {
  conns.set(id, new Conn());
}

export function onData(id: u32, data: ArrayBuffer): void {
  const conn = conns.get(id);
  if (conn.state == ECHOING) {
    Socket.write(id, data);
    return;
  }
  if (conn.state == DENIED) return;
  conn.held.push(data);
  if (conn.state == CHECKING) return;
  const q = conn.held;
  const nl = q.indexOf(0x0a);
  if (nl < 0) {
    if (q.length > MAX_TOKEN + 1) deny(id, conn);
    return;
  }
  let len = nl;
  if (len > 0 && q.at(len - 1) == 0x0d) len--;
  if (len > MAX_TOKEN) {
    deny(id, conn);
    return;
  }
  const token = q.copy(0, len);
  q.skip(nl + 1);
  const call = Host.call("checkToken", token, id);
  if (call < 0) {
    console.error("auth-echo: Host.call refused (" + call.toString() + ")");
    deny(id, conn);
    return;
  }
  calls.set(call, id);
  conn.state = CHECKING;
  Socket.pause(id);
}

export function onReply(call: i32, status: i32, data: ArrayBuffer): void {
  if (!calls.has(call)) return;
  const id = calls.get(call);
  calls.delete(call);
  if (!conns.has(id)) return; // the client left while its token was checked
  const conn = conns.get(id);
  if (status != 0 || String.UTF8.decode(data) != "ok") {
    deny(id, conn);
    return;
  }
  conn.state = ECHOING;
  Socket.write(id, "ok\n");
  const q = conn.held;
  if (q.length > 0) Socket.writeBytes(id, q.dataStart, <u32>q.length);
  q.clear();
  Socket.resume(id);
}

export function onClose(id: u32): void {
  conns.delete(id);
}
