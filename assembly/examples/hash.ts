// hash: a CPU-heavy guest, to show what worker threads buy. For every line a client sends, it
// answers the line's digest as 16 hex digits and a newline: FNV-1a over the line, iterated
// `rounds` times (default 20000), so each line costs real CPU. A line `rounds=N` sets N for that
// connection and is answered with "ok". Lines end with \n; a trailing \r is kept in the digest.
//
//   printf 'hello\n' | nc 127.0.0.1 PORT      # -> 16 hex digits
import { Socket } from "../index";

const NEWLINE: u8 = 0x0a;
const DEFAULT_ROUNDS: u32 = 20000;
const HEX = "0123456789abcdef";

/** Bytes of a line not yet ended, per connection. */
const partial = new Map<u32, Array<u8>>();
const rounds = new Map<u32, u32>();

export function digest(line: Array<u8>, n: u32): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let r: u32 = 0; r < n; r++) {
    for (let i = 0; i < line.length; i++) {
      h ^= <u64>unchecked(line[i]);
      h *= 0x100000001b3;
    }
    h ^= <u64>r;
  }
  return h;
}

function hex(h: u64): string {
  let s = "";
  for (let i = 15; i >= 0; i--) s += HEX.charAt(<i32>((h >> (<u64>i * 4)) & 0xf));
  return s;
}

function startsWithRounds(line: Array<u8>): bool {
  const prefix = "rounds=";
  if (line.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] != <u8>prefix.charCodeAt(i)) return false;
  return true;
}

function answer(id: u32, line: Array<u8>): void {
  if (startsWithRounds(line)) {
    let n: u32 = 0;
    for (let i = 7; i < line.length; i++) n = n * 10 + <u32>(line[i] - 0x30);
    rounds.set(id, n);
    Socket.write(id, "ok\n");
    return;
  }
  Socket.write(id, hex(digest(line, rounds.get(id))) + "\n");
}

export function onConnection(id: u32): void {
  partial.set(id, new Array<u8>());
  rounds.set(id, DEFAULT_ROUNDS);
}

export function onData(id: u32, data: ArrayBuffer): void {
  const bytes = Uint8Array.wrap(data);
  let line = partial.get(id);
  for (let i = 0; i < bytes.length; i++) {
    const b = unchecked(bytes[i]);
    if (b == NEWLINE) {
      answer(id, line);
      line = new Array<u8>();
    } else {
      line.push(b);
    }
  }
  partial.set(id, line);
}

export function onClose(id: u32): void {
  partial.delete(id);
  rounds.delete(id);
}
