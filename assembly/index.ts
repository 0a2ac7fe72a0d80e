// wasm-socket-bridge guest SDK for AssemblyScript.
//
//   import { Socket } from "wasm-socket-bridge/assembly";
//
// A guest exports onConnection(id), onData(id, data: ArrayBuffer) and onClose(id) (and, when it
// wants them, onError, onEnd, onDrain), and answers through Socket. Build it with
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
}

// Framing helpers (line reader, length-prefixed reader) and HTTP/1.1 (request parser, response
// writer): see framing.ts and http.ts.
export * from "./framing";
export * from "./http";
