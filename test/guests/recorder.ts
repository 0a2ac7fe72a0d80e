// recorder: a test guest that records every event of every connection and, at onClose, logs
// "events <id> <letters>": C onConnection, D onData, E onEnd, R onError, W onDrain, X onClose.
// An event for a connection it does not know (after its onClose) is logged as "late <id> <letter>".
// It ends its side when the client ends (so half-open connections finish too), and echoes data,
// except for these commands (a chunk starting with them):
//   pause          Socket.pause(own id); logs "paused <id>"
//   resume <id>    Socket.resume(id) of another connection; logs "resumed <id>"
//   poke <id>      Socket.write(id, "poke") to another connection; logs "poke <id> <result>"
//   stream <n>     sends n bytes (byte i = i % 251) in 16 KiB writes, stopping whenever
//                  Socket.write returns false and going on at onDrain; logs "streamed <id>"
import { Socket } from "../../assembly/index";

const seqs = new Map<u32, string>();
const remaining = new Map<u32, u32>();
const sent = new Map<u32, u32>();

function rec(id: u32, c: string): void {
  if (c != "C" && !seqs.has(id)) {
    console.log("late " + id.toString() + " " + c);
    return;
  }
  seqs.set(id, (seqs.has(id) ? seqs.get(id) : "") + c);
}

function startsWith(b: Uint8Array, word: string): bool {
  const w = Uint8Array.wrap(String.UTF8.encode(word));
  if (b.length < w.length) return false;
  for (let i = 0; i < w.length; i++) if (b[i] != w[i]) return false;
  return true;
}

const CHUNK: u32 = 16384;
const buf = new Uint8Array(CHUNK);

function pump(id: u32): void {
  let left = remaining.get(id);
  let pos = sent.get(id);
  while (left > 0) {
    const n = left < CHUNK ? left : CHUNK;
    for (let i: u32 = 0; i < n; i++) buf[i] = <u8>((pos + i) % 251);
    const ok = Socket.write(id, buf.subarray(0, n));
    left -= n;
    pos += n;
    if (!ok) break;
  }
  remaining.set(id, left);
  sent.set(id, pos);
  if (left == 0) {
    remaining.delete(id);
    console.log("streamed " + id.toString());
  }
}

export function onConnection(id: u32): void {
  rec(id, "C");
}

export function onData(id: u32, data: ArrayBuffer): void {
  rec(id, "D");
  const b = Uint8Array.wrap(data);
  if (startsWith(b, "pause")) {
    Socket.pause(id);
    console.log("paused " + id.toString());
  } else if (startsWith(b, "resume ")) {
    const other = <u32>I32.parseInt(String.UTF8.decode(data.slice(7)));
    Socket.resume(other);
    console.log("resumed " + other.toString());
  } else if (startsWith(b, "poke ")) {
    const other = <u32>I32.parseInt(String.UTF8.decode(data.slice(5)));
    const ok = Socket.write(other, "poke");
    console.log("poke " + other.toString() + " " + ok.toString());
  } else if (startsWith(b, "stream ")) {
    remaining.set(id, <u32>I32.parseInt(String.UTF8.decode(data.slice(7))));
    sent.set(id, 0);
    pump(id);
  } else {
    Socket.write(id, data);
  }
}

export function onEnd(id: u32): void {
  rec(id, "E");
  // Finish a half-open connection too (without allowHalfOpen this is a no-op: already ended).
  Socket.end(id);
}

export function onError(id: u32): void {
  rec(id, "R");
}

export function onDrain(id: u32): void {
  rec(id, "W");
  if (remaining.has(id)) pump(id);
}

export function onClose(id: u32): void {
  rec(id, "X");
  console.log("events " + id.toString() + " " + seqs.get(id));
  seqs.delete(id);
  remaining.delete(id);
  sent.delete(id);
}
