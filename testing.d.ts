// Types of wasm-socket-bridge/testing: serve a guest on 127.0.0.1:0 and talk to it in tests.
import type { Server, ServerOpts, Socket } from 'node:net';
import type { Bridge, BridgeOptions, GuestError, LogLevel, NativeServer } from './index';

/**
 * When a read is complete: a byte count, a string or bytes the data must contain, a RegExp its
 * text must match, a predicate over the bytes, or 'close' (the server ended or closed).
 */
export type Until = number | string | Uint8Array | RegExp | ((data: Buffer) => boolean) | 'close';

export interface ReadOptions {
  /** Default 'close'. */
  until?: Until;
  /** Milliseconds before the read rejects, saying what came; default 5000. */
  timeout?: number;
}

/** One connection to the served guest. */
export declare class Client {
  readonly socket: Socket;
  /** Bytes received and not returned by read() yet. */
  readonly pending: Buffer;
  /** The server sent FIN / the socket closed. */
  readonly ended: boolean;
  readonly closed: boolean;
  send(data: string | Uint8Array): void;
  /** Resolves with what arrived once `until` is reached (those bytes are consumed). */
  read(options?: ReadOptions): Promise<Buffer>;
  /** send(data), then read(options). */
  exchange(data: string | Uint8Array, options?: ReadOptions): Promise<Buffer>;
  /** Half-closes (FIN). */
  end(): void;
  close(): void;
}

export interface ServeGuestOptions extends BridgeOptions {
  /** createServer's options, e.g. { allowHalfOpen: true } (natively only allowHalfOpen counts). */
  server?: ServerOpts;
  /** Serve it natively on the worker threads (`bridge.listen`; needs `threads` >= 1). Default false. */
  native?: boolean;
}

export interface ServedGuest {
  readonly bridge: Bridge;
  /** The net.Server, or the NativeServer with `native`. */
  readonly server: Server | NativeServer;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Every 'log' line so far. */
  readonly logs: { line: string; level: LogLevel }[];
  /** Every GuestError so far. */
  readonly errors: GuestError[];
  connect(): Promise<Client>;
  /** Sends `data` on a fresh connection, reads as Client.read(options), then closes it. */
  exchange(data: string | Uint8Array, options?: ReadOptions): Promise<Buffer>;
  /** The first log entry whose line equals the string or matches the RegExp. */
  waitForLog(match: string | RegExp, options?: { timeout?: number }): Promise<{ line: string; level: LogLevel }>;
  /** The first GuestError (waiting for one). */
  waitForError(options?: { timeout?: number }): Promise<GuestError>;
  /** Closes every client, the server and the bridge. */
  close(): Promise<void>;
}

/** Loads a guest (as Bridge.load) and serves it with createServer on 127.0.0.1:0. */
export declare function serveGuest(source: string | URL | Uint8Array | ArrayBuffer, options?: ServeGuestOptions): Promise<ServedGuest>;
