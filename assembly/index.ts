// wasm-socket-bridge guest SDK for AssemblyScript.
//
//   import { Socket } from "wasm-socket-bridge/assembly";
//
// A guest exports onConnection(id), onData(id, data: ArrayBuffer) and onClose(id) (and, when it
// wants them, onError, onEnd, onDrain, onConnect, onTimer, onTimeout), and answers through
// Socket. Timer keeps time, Host reads the bridge's configuration. Build it with
//   asc guest.ts -o guest.wasm --exportRuntime --exportStart _initialize
// The host copies every buffer passed to Socket.write during the call: reuse it freely.

// @ts-ignore: decorator
@external("Socket", "write")
declare function socket_write(id: u32, ptr: usize, len: u32): bool;
// @ts-ignore: decorator
@external("Socket", "end")
declare function socket_end(id: u32): void;
// @ts-ignore: decorator
@external("Socket", "close")
declare function socket_close(id: u32): void;
// @ts-ignore: decorator
@external("Socket", "pause")
declare function socket_pause(id: u32): void;
// @ts-ignore: decorator
@external("Socket", "resume")
declare function socket_resume(id: u32): void;
// @ts-ignore: decorator
@external("Socket", "connect")
declare function socket_connect(hostPtr: usize, hostLen: u32, port: u32): i32;

// @ts-ignore: decorator
@external("Socket", "setTimeout")
declare function socket_set_timeout(id: u32, ms: u32): i32;
// @ts-ignore: decorator
@external("Socket", "remoteAddress")
declare function socket_remote_address(id: u32, ptr: usize, cap: u32): i32;
// @ts-ignore: decorator
@external("Socket", "localAddress")
declare function socket_local_address(id: u32, ptr: usize, cap: u32): i32;
// @ts-ignore: decorator
@external("Socket", "remotePort")
declare function socket_remote_port(id: u32): i32;
// @ts-ignore: decorator
@external("Socket", "localPort")
declare function socket_local_port(id: u32): i32;
// @ts-ignore: decorator
@external("Timer", "set")
declare function timer_set(ms: u32, repeat: i32, id: u32): i32;
// @ts-ignore: decorator
@external("Timer", "clear")
declare function timer_clear(timer: i32): void;
// @ts-ignore: decorator
@external("Host", "config")
declare function host_config(ptr: usize, cap: u32): i32;
// @ts-ignore: decorator
@external("Host", "call")
declare function host_call(namePtr: usize, nameLen: u32, dataPtr: usize, dataLen: u32, id: u32): i32;
// @ts-ignore: decorator
@external("Shared", "get")
declare function shared_get(kPtr: usize, kLen: u32, outPtr: usize, outCap: u32): i32;
// @ts-ignore: decorator
@external("Shared", "set")
declare function shared_set(kPtr: usize, kLen: u32, vPtr: usize, vLen: u32): i32;
// @ts-ignore: decorator
@external("Shared", "delete")
declare function shared_delete(kPtr: usize, kLen: u32): i32;
// @ts-ignore: decorator
@external("Shared", "add")
declare function shared_add(kPtr: usize, kLen: u32, delta: i64): i64;
// @ts-ignore: decorator
@external("Shared", "setIf")
declare function shared_set_if(kPtr: usize, kLen: u32, ePtr: usize, eLen: i32, vPtr: usize, vLen: i32): i32;
// @ts-ignore: decorator
@external("Shared", "keys")
declare function shared_keys(pPtr: usize, pLen: u32, outPtr: usize, outCap: u32): i32;

/** Socket.remoteAddress / localAddress: the host copies at most `cap` bytes, returns the length. */
function address(id: u32, local: bool): string {
  let buf = new ArrayBuffer(64);
  let len = copyAddress(id, local, buf);
  if (len > buf.byteLength) {
    buf = new ArrayBuffer(len);
    len = copyAddress(id, local, buf);
  }
  return len < 0 ? "" : String.UTF8.decode(buf.slice(0, min(len, buf.byteLength)));
}

function copyAddress(id: u32, local: bool, buf: ArrayBuffer): i32 {
  const ptr = changetype<usize>(buf);
  const cap = <u32>buf.byteLength;
  return local ? socket_local_address(id, ptr, cap) : socket_remote_address(id, ptr, cap);
}

export namespace Socket {
  /**
   * Sends `data` (an ArrayBuffer, a Uint8Array, or a string sent as UTF-8) on connection `id`.
   * Returns true while the connection's queued output is below the bridge's highWaterMark; false
   * once it is at or above it (the data is still sent; stop writing until onDrain), or when the
   * connection is unknown, ended or closed (nothing is sent).
   */
  export function write<T>(id: u32, data: T): bool {
    if (isString<T>()) {
      const bytes = String.UTF8.encode(changetype<string>(data));
      return socket_write(id, changetype<usize>(bytes), <u32>bytes.byteLength);
    } else if (data instanceof ArrayBuffer) {
      const buf = changetype<ArrayBuffer>(data);
      return socket_write(id, changetype<usize>(buf), <u32>buf.byteLength);
    } else if (data instanceof Uint8Array) {
      const arr = changetype<Uint8Array>(data);
      return socket_write(id, arr.dataStart, <u32>arr.byteLength);
    } else {
      ERROR("Socket.write takes an ArrayBuffer, a Uint8Array or a string");
      return false;
    }
  }

  /** Sends `len` bytes of guest memory starting at `ptr`. Same return value as write. */
  export function writeBytes(id: u32, ptr: usize, len: u32): bool {
    return socket_write(id, ptr, len);
  }

  /** Flushes queued output, then half-closes the connection (FIN). Later writes return false. */
  export function end(id: u32): void {
    socket_end(id);
  }

  /** Destroys the connection now, dropping queued output. onClose follows. */
  export function close(id: u32): void {
    socket_close(id);
  }

  /** Stops onData for the connection until resume. */
  export function pause(id: u32): void {
    socket_pause(id);
  }

  /** Restarts onData for the connection after pause. */
  export function resume(id: u32): void {
    socket_resume(id);
  }

  /** Socket.connect refused: the address is not in the bridge's allowConnect. */
  export const NOT_ALLOWED: i32 = -1;
  /** Socket.connect refused: the host or port is malformed. */
  export const BAD_ADDRESS: i32 = -2;
  /** Socket.connect refused: too many outbound connections open (1024 per instance). */
  export const LIMIT: i32 = -3;

  /**
   * Dials `host:port` (a name, an IPv4 or an IPv6 address) if the bridge's allowConnect permits
   * exactly that host and port. Returns the new connection's id at once; export
   * onConnect(id) to hear when it is established (onError then onClose if it fails). Writes
   * made before that are queued. Negative: nothing was dialed (NOT_ALLOWED, BAD_ADDRESS, LIMIT),
   * and the bridge logs why.
   */
  export function connect(host: string, port: u32): i32 {
    const bytes = String.UTF8.encode(host);
    return socket_connect(changetype<usize>(bytes), <u32>bytes.byteLength, port);
  }

  /** setTimeout / Timer.set refused: the connection is unknown to this instance (or closed). */
  export const UNKNOWN: i32 = -1;
  /** setTimeout / Timer.set refused: `ms` is over 2^31 - 1. */
  export const TOO_LONG: i32 = -2;

  /**
   * Node's `socket.setTimeout`: export onTimeout(id) is called after `ms` with no bytes read or
   * written on `id`; activity re-arms it; 0 turns it off. The connection is not closed for you
   * (call Socket.end or Socket.close in onTimeout). Returns 0, UNKNOWN or TOO_LONG. A guest that
   * calls it must export onTimeout(id: u32).
   */
  export function setTimeout(id: u32, ms: u32): i32 {
    return socket_set_timeout(id, ms);
  }

  /**
   * The peer's address as Node prints it (`127.0.0.1`, `::1`), from onConnection / onConnect
   * until onClose returns; "" for an unknown connection.
   */
  export function remoteAddress(id: u32): string {
    return address(id, false);
  }

  /** The peer's port; -1 for an unknown connection. */
  export function remotePort(id: u32): i32 {
    return socket_remote_port(id);
  }

  /** This side's address, as remoteAddress. */
  export function localAddress(id: u32): string {
    return address(id, true);
  }

  /** This side's port; -1 for an unknown connection. */
  export function localPort(id: u32): i32 {
    return socket_local_port(id);
  }
}

export namespace Timer {
  /** Timer.after / every refused: `id` is not a connection of this instance. */
  export const UNKNOWN: i32 = -1;
  /** Timer.after / every refused: `ms` is over 2^31 - 1. */
  export const TOO_LONG: i32 = -2;
  /** Timer.after / every refused: the instance has 10,000 live timers. */
  export const LIMIT: i32 = -3;

  /**
   * Calls export onTimer(timer, id) once, after `ms`. `id` 0 makes an instance timer; a
   * connection id makes a timer that dies with that connection (it never fires after its
   * onClose). Returns the timer (> 0), or UNKNOWN, TOO_LONG, LIMIT. A guest that uses timers
   * must export onTimer(timer: i32, id: u32).
   */
  export function after(ms: u32, id: u32 = 0): i32 {
    return timer_set(ms, 0, id);
  }

  /** As after, but every `ms` until cleared (or the connection closes). */
  export function every(ms: u32, id: u32 = 0): i32 {
    return timer_set(ms, 1, id);
  }

  /** Cancels a timer; unknown, cleared or fired one-shot timers are ignored. */
  export function clear(timer: i32): void {
    timer_clear(timer);
  }
}

export namespace Host {
  /** Host.call refused: no host function has that name. */
  export const UNKNOWN: i32 = -1;
  /** Host.call refused: the name is not 1-64 characters of A-Za-z0-9_.- */
  export const BAD_NAME: i32 = -2;
  /** Host.call refused: 1024 calls are in flight. */
  export const LIMIT: i32 = -3;

  /**
   * Calls the application's host function `name` (the bridge's hostFunctions) with `data` (an
   * ArrayBuffer, a Uint8Array, or a string as UTF-8). Returns a call handle (> 0) at once; the
   * result comes later as export onReply(call, status, data) (status 0: returned, 1: threw or
   * rejected, with the message). `id`: the connection it is for (given to JS as
   * ctx.connectionId), 0 for none. Negative: UNKNOWN, BAD_NAME, LIMIT. A guest that calls it
   * must export onReply(call: i32, status: i32, data: ArrayBuffer).
   */
  export function call<T>(name: string, data: T, id: u32 = 0): i32 {
    const n = String.UTF8.encode(name);
    if (isString<T>()) {
      const d = String.UTF8.encode(changetype<string>(data));
      return host_call(changetype<usize>(n), <u32>n.byteLength, changetype<usize>(d), <u32>d.byteLength, id);
    } else if (data instanceof ArrayBuffer) {
      const d = changetype<ArrayBuffer>(data);
      return host_call(changetype<usize>(n), <u32>n.byteLength, changetype<usize>(d), <u32>d.byteLength, id);
    } else if (data instanceof Uint8Array) {
      const d = changetype<Uint8Array>(data);
      return host_call(changetype<usize>(n), <u32>n.byteLength, d.dataStart, <u32>d.byteLength, id);
    } else {
      ERROR("Host.call takes an ArrayBuffer, a Uint8Array or a string");
      return BAD_NAME;
    }
  }

  /** The bridge's `config` option as bytes (an empty buffer when there is none). */
  export function config(): ArrayBuffer {
    const len = host_config(0, 0);
    const buf = new ArrayBuffer(len);
    if (len > 0) host_config(changetype<usize>(buf), <u32>len);
    return buf;
  }

  /** The bridge's `config` option as a UTF-8 string ("" when there is none). */
  export function configString(): string {
    return String.UTF8.decode(config());
  }
}

// Framing helpers (line reader, length-prefixed reader) and HTTP/1.1 (request parser, response
// writer): see framing.ts and http.ts.
export * from "./framing";
export * from "./http";

export namespace Shared {
  /** Shared.set refused: the key is longer than 1 KiB. */
  export const KEY_TOO_LONG: i32 = -2;
  /** Shared.set refused: keys plus values would pass the bridge's maxSharedBytes. */
  export const FULL: i32 = -3;
  /** Shared.add's answer when refused (too long a key, or full): -2^63. */
  export const ADD_REFUSED: i64 = i64.MIN_VALUE;

  // Keys are bytes: every function takes a string (sent as UTF-8), an ArrayBuffer or a Uint8Array.

  /** `key` as bytes. */
  // @ts-ignore: decorator
  @inline function keyBytes<K>(key: K): ArrayBuffer {
    if (isString<K>()) {
      return String.UTF8.encode(changetype<string>(key));
    } else if (key instanceof ArrayBuffer) {
      return changetype<ArrayBuffer>(key);
    } else if (key instanceof Uint8Array) {
      const k = changetype<Uint8Array>(key);
      return k.buffer.slice(k.byteOffset, k.byteOffset + k.byteLength);
    } else {
      ERROR("a Shared key is a string, an ArrayBuffer or a Uint8Array");
      return new ArrayBuffer(0);
    }
  }

  /**
   * The value of `key` in the bridge's shared store (one per bridge, shared by every instance
   * on every worker thread, kept across restarts), or null when missing.
   */
  export function get<K>(key: K): ArrayBuffer | null {
    const k = keyBytes(key);
    let buf = new ArrayBuffer(64);
    let len = shared_get(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(buf), 64);
    if (len < 0) return null;
    if (len > 64) {
      buf = new ArrayBuffer(len);
      len = shared_get(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(buf), <u32>len);
      if (len < 0) return null;
    }
    return buf.slice(0, min(len, buf.byteLength));
  }

  /** The value of `key` decoded as UTF-8, or null when missing. */
  export function getString<K>(key: K): string | null {
    const v = get(key);
    return v === null ? null : String.UTF8.decode(v);
  }

  /**
   * Stores `value` (an ArrayBuffer, a Uint8Array, or a string as UTF-8) under `key`. Returns 0,
   * KEY_TOO_LONG or FULL (nothing changes then).
   */
  export function set<K, T>(key: K, value: T): i32 {
    const k = keyBytes(key);
    if (isString<T>()) {
      const v = String.UTF8.encode(changetype<string>(value));
      return shared_set(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(v), <u32>v.byteLength);
    } else if (value instanceof ArrayBuffer) {
      const v = changetype<ArrayBuffer>(value);
      return shared_set(changetype<usize>(k), <u32>k.byteLength, changetype<usize>(v), <u32>v.byteLength);
    } else if (value instanceof Uint8Array) {
      const v = changetype<Uint8Array>(value);
      return shared_set(changetype<usize>(k), <u32>k.byteLength, v.dataStart, <u32>v.byteLength);
    } else {
      ERROR("Shared.set takes an ArrayBuffer, a Uint8Array or a string");
      return FULL;
    }
  }

  /** Removes `key`; whether it was there. */
  export function remove<K>(key: K): bool {
    const k = keyBytes(key);
    return shared_delete(changetype<usize>(k), <u32>k.byteLength) == 1;
  }

  /**
   * Adds `delta` to the little-endian i64 under `key` (missing, or of another length: counts as
   * 0), atomically across every instance and worker; returns the new value, or ADD_REFUSED.
   */
  export function add<K>(key: K, delta: i64): i64 {
    const k = keyBytes(key);
    return shared_add(changetype<usize>(k), <u32>k.byteLength, delta);
  }

  /**
   * Compare-and-set, atomic across every instance and worker: when the value of `key` is
   * `expected` (null: the key is absent), stores `value` (null: deletes the key) and returns 1;
   * otherwise returns 0 and nothing changes. KEY_TOO_LONG, or FULL when storing would pass
   * maxSharedBytes (nothing changes). The way to a read-modify-write that no other instance can
   * interleave: read with get, compute, setIf(key, old, new), and start again on 0.
   */
  export function setIf<K>(key: K, expected: ArrayBuffer | null, value: ArrayBuffer | null): i32 {
    const k = keyBytes(key);
    const e = changetype<usize>(expected);
    const v = changetype<usize>(value);
    return shared_set_if(
      changetype<usize>(k), <u32>k.byteLength,
      e, e == 0 ? -1 : changetype<ArrayBuffer>(expected).byteLength,
      v, v == 0 ? -1 : changetype<ArrayBuffer>(value).byteLength,
    );
  }

  /** setIf with strings (UTF-8) for the expected value and the new one; null as in setIf. */
  export function setIfString<K>(key: K, expected: string | null, value: string | null): i32 {
    return setIf(
      key,
      expected === null ? null : String.UTF8.encode(changetype<string>(expected)),
      value === null ? null : String.UTF8.encode(changetype<string>(value)),
    );
  }

  /** setIf with Uint8Arrays for the expected value and the new one; null as in setIf. */
  export function setIfBytes<K>(key: K, expected: Uint8Array | null, value: Uint8Array | null): i32 {
    const k = keyBytes(key);
    const e = changetype<Uint8Array | null>(expected);
    const v = changetype<Uint8Array | null>(value);
    return shared_set_if(
      changetype<usize>(k), <u32>k.byteLength,
      e === null ? 0 : e.dataStart, e === null ? -1 : e.byteLength,
      v === null ? 0 : v.dataStart, v === null ? -1 : v.byteLength,
    );
  }

  /**
   * The keys that start with `prefix`, sorted bytewise, as bytes; an empty list for a prefix
   * over 1 KiB. Costs O(keys in the store) on the host, under the store's lock: list rarely.
   */
  export function keyBuffers<P>(prefix: P): Array<ArrayBuffer> {
    const p = keyBytes(prefix);
    let buf = new ArrayBuffer(1024);
    let len = shared_keys(changetype<usize>(p), <u32>p.byteLength, changetype<usize>(buf), <u32>buf.byteLength);
    // Keys may come and go between calls: grow and ask again a few times, then take what fits.
    for (let tries = 0; tries < 4 && len > buf.byteLength; tries++) {
      buf = new ArrayBuffer(len + (len >> 3));
      len = shared_keys(changetype<usize>(p), <u32>p.byteLength, changetype<usize>(buf), <u32>buf.byteLength);
    }
    const out = new Array<ArrayBuffer>();
    if (len < 0) return out;
    const end = min(len, buf.byteLength);
    const base = changetype<usize>(buf);
    let at = 0;
    while (at + 4 <= end) {
      const n = <i32>load<u32>(base + <usize>at);
      if (at + 4 + n > end) break;
      out.push(buf.slice(at + 4, at + 4 + n));
      at += 4 + n;
    }
    return out;
  }

  /** The keys that start with `prefix`, sorted bytewise, decoded as UTF-8 (see keyBuffers). */
  export function keys(prefix: string = ""): Array<string> {
    const list = keyBuffers(prefix);
    const out = new Array<string>(list.length);
    for (let i = 0; i < list.length; i++) out[i] = String.UTF8.decode(list[i]);
    return out;
  }
}
