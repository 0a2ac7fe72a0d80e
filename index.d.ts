// Public types of wasm-socket-bridge (hand-written; the generated binding types stay internal).
import { EventEmitter } from 'node:events';
import type { Server, ServerOpts, Socket } from 'node:net';

/** What went wrong in a guest. */
export type GuestErrorKind = 'trap' | 'abort' | 'fuel' | 'memory' | 'host' | 'timeout';

/** Level of a guest's log line: console.log/info/warn/error/debug, or trace(). */
export type LogLevel = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'trace';

/**
 * The `code` of the Error that `Bridge.load`/`loadSync` reject with when the guest itself is the
 * problem (a file that cannot be read keeps the file system's code, such as 'ENOENT').
 */
export type LoadErrorCode =
  | 'ERR_GUEST_EMPTY'
  | 'ERR_GUEST_NOT_WASM'
  | 'ERR_GUEST_INVALID_WASM'
  | 'ERR_GUEST_MISSING_EXPORT'
  | 'ERR_GUEST_EXPORT_SIGNATURE'
  | 'ERR_GUEST_NO_ALLOCATOR'
  | 'ERR_GUEST_UNKNOWN_IMPORT'
  | 'ERR_GUEST_IMPORT_SIGNATURE'
  | 'ERR_GUEST_MEMORY_LIMIT'
  | 'ERR_GUEST_START_FAILED'
  | 'ERR_GUEST_HOST';

/**
 * A guest trapped, aborted, ran out of fuel or memory, or the host refused it. The instance that
 * failed is replaced and its connections are closed; the server keeps serving.
 */
export declare class GuestError extends Error {
  readonly name: 'GuestError';
  readonly kind: GuestErrorKind;
  /** The connection whose event was running, when there was one. */
  readonly connectionId: number | undefined;
  /** Which load of the bridge's guest failed: `bridge.generation` of the guest that ran (1 before any reload). */
  readonly generation: number;
}

/** Options of `bridge.listen`. */
export interface ListenOptions {
  /** Default 0: a free port (read it from `address()`). */
  port?: number;
  /** A name or an IP address. Default '127.0.0.1'. */
  host?: string;
  /** The listen backlog. Default 511, as Node's. */
  backlog?: number;
  /** Keep a connection half-open after the peer's FIN (the guest gets onEnd and may go on writing). Default false. */
  allowHalfOpen?: boolean;
}

/** Connections served natively on the bridge's worker threads (`bridge.listen`). */
export interface NativeServer {
  /** The address it listens on, as net.Server's address(). */
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number };
  /** Connections it accepted that are still open. */
  readonly connections: number;
  /** Stops accepting at once; resolves once the last connection it accepted has closed. */
  close(): Promise<void>;
}

/** Options of `bridge.reload`: only the configuration may change. */
export interface ReloadOptions {
  /**
   * Replaces the configuration (`Host.config`) for the new guest; null clears it; absent keeps
   * the current one. Old instances keep theirs.
   */
  config?: string | Uint8Array | ArrayBuffer | Record<string, unknown> | null;
}

export interface BridgeOptions {
  /**
   * 0: the guest runs on the JS thread. N (1 to 256): N worker threads, one guest instance each;
   * a connection stays on one instance. Default 0.
   */
  threads?: number;
  /** Bytes of guest output queued on one connection before Socket.write returns false. Default 65536. */
  highWaterMark?: number;
  /**
   * Instructions one dispatched event may run; past it the guest is stopped with a GuestError of
   * kind 'fuel' and its instance replaced. Default: no budget.
   */
  fuelPerEvent?: number;
  /**
   * Longest wall-clock time one guest call (an event, the start function, `_initialize`) may
   * run, in milliseconds. A call still running then is stopped within a few milliseconds: a
   * GuestError of kind 'timeout', its instance replaced, the server still serving (inline, with
   * `threads` and natively). Guests are metered for it (as with `fuelPerEvent`). Default: none.
   */
  eventTimeoutMs?: number;
  /**
   * Outbound addresses a guest may dial with Socket.connect: "host:port", or "host:*" for any
   * port of that host ("[::1]:port" for IPv6). Hosts match as the guest spells them (ASCII case
   * ignored), never after resolving. Default: [] (nothing).
   */
  allowConnect?: readonly string[];
  /**
   * Cap on each guest instance's linear memory, in bytes (rounded down to 64 KiB pages; 65536 to
   * 4 GiB). `memory.grow` past it returns -1; a guest that fails after a refused grow is reported
   * as a GuestError of kind 'memory'; a module whose initial memory is larger is refused at load.
   * Default: 256 MiB.
   */
  maxMemoryBytes?: number;
  /**
   * Folder for compiled modules. A load with the same wasm bytes, settings, wasmer version and CPU
   * finds the compiled code there instead of compiling again; a damaged file is a miss that is
   * recompiled and rewritten. Keep it as private as the code it holds. Default: no cache.
   */
  cacheDir?: string | URL;
  /**
   * Most output one event (onData, onConnection, ...) may produce: written bytes, log lines and
   * dials, each with a 12-byte record header. Past it the guest is stopped with a GuestError of
   * kind 'host', that event's output is dropped, and the instance is replaced. 1 MiB to 1 GiB.
   * Default: 64 MiB.
   */
  maxEventOutputBytes?: number;
  /**
   * What the guest reads with Host.config: a string (as UTF-8), bytes, or a plain object (sent
   * as its JSON). Default: none (Host.config returns 0 bytes).
   */
  config?: string | Uint8Array | ArrayBuffer | Record<string, unknown>;
  /** Keys plus values the shared store (`bridge.shared`, module Shared) may hold. Default 64 MiB. */
  maxSharedBytes?: number;
  /**
   * Functions a guest may call with Host.call, by name (1-64 of A-Za-z0-9_.-). Each gets a copy
   * of the guest's data and the connection the call is for; what it returns (or resolves to) goes
   * back to the guest as onReply, status 0; what it throws or rejects with, status 1. Run on the
   * JS thread, after the guest's event: no JS runs inside a guest call.
   */
  hostFunctions?: Record<string, HostFunction>;
}

/** A host function: its result is a Buffer, Uint8Array, string or nothing, or a promise of one. */
export type HostFunction = (
  data: Buffer,
  ctx: { connectionId?: number },
) => Uint8Array | string | void | Promise<Uint8Array | string | void>;

/**
 * The bridge's shared store: one per bridge, read and written by every guest instance (on every
 * worker, across restarts) through module Shared. Keys: strings (UTF-8) or bytes, at most 1 KiB.
 */
export interface SharedStore {
  /** The value, or undefined when missing. */
  get(key: string | Uint8Array): Buffer | undefined;
  /** Stores a string (as UTF-8) or bytes; RangeError past maxSharedBytes. */
  set(key: string | Uint8Array, value: string | Uint8Array | ArrayBuffer): void;
  /** Whether it was there. */
  delete(key: string | Uint8Array): boolean;
  /** Adds to the little-endian i64 under the key (missing: 0), atomically; the new value. */
  add(key: string | Uint8Array, delta: number): number;
  /**
   * Compare-and-set, atomic with every guest: when the value is `expected` (undefined: the key
   * is absent), stores `value` (undefined: deletes the key) and answers true; otherwise false,
   * and nothing changes. RangeError past maxSharedBytes.
   */
  setIf(
    key: string | Uint8Array,
    expected: string | Uint8Array | ArrayBuffer | undefined,
    value: string | Uint8Array | ArrayBuffer | undefined,
  ): boolean;
  /** The keys starting with `prefix` (default ''), sorted bytewise, as UTF-8; O(keys in the store). */
  keys(prefix?: string | Uint8Array): string[];
}

/** How the module cache served a load (`bridge.cache`). */
export interface CacheInfo {
  /** 'hit': the compiled module came from the cache; 'miss': it was compiled (and stored). */
  status: 'hit' | 'miss';
  /** The cache file for this guest and these settings. */
  file: string;
  /** Why a cached file was there but could not be used (truncated, altered, another format). */
  reason?: string;
  /** Why the compiled module could not be written to the cache (the load still succeeded). */
  warning?: string;
}

export interface BridgeStats {
  /** Connections open: attached, accepted natively, and dialed by the guests (natively too). */
  connections: number;
  /** Connections attached since the bridge was loaded. */
  accepted: number;
  /** Connections closed since the bridge was loaded. */
  closed: number;
  /** Bytes delivered to the guest. */
  bytesIn: number;
  /** Bytes the guest wrote. */
  bytesOut: number;
  /** Guest exports called (onConnection, onData, ...). */
  events: number;
  /** Guest failures (trap, abort, ...). */
  traps: number;
  /** Guest instances replaced after a failure. */
  restarts: number;
  /** Outbound connections the guests dialed with Socket.connect (`closed` counts them too). */
  dialed: number;
  /**
   * Log lines dropped because one event logged more than 10,000 lines or 1 MiB (a
   * `log output truncated` warning marks the place).
   */
  logsDropped: number;
  /**
   * Fuel points used by all metered calls (with `fuelPerEvent` or `eventTimeoutMs`; 0 without).
   * Calls that ran out of fuel or past their deadline are not counted.
   */
  fuelUsed: number;
  /**
   * The most fuel points one call used: run a typical load, then set `fuelPerEvent` a good margin
   * above this (docs/security.md, "Sizing fuelPerEvent").
   */
  fuelMax: number;
  /** Guest instances running. */
  instances: number;
}

/** A guest module loaded and ready to serve connections. */
export declare class Bridge extends EventEmitter {
  /**
   * Loads a guest from a file path, a file: URL, or wasm bytes. Compilation runs off the JS
   * thread. Rejects with an Error whose message says what is wrong with the module.
   */
  static load(source: string | URL | Uint8Array | ArrayBuffer, options?: BridgeOptions): Promise<Bridge>;
  /** Like load, compiling on the calling thread. */
  static loadSync(source: string | URL | Uint8Array | ArrayBuffer, options?: BridgeOptions): Bridge;

  private constructor();

  readonly options: Readonly<Required<BridgeOptions>>;
  /** How the module cache served this load; null without `cacheDir`. */
  readonly cache: Readonly<CacheInfo> | null;
  /** The shared store its guests use through module Shared. */
  readonly shared: SharedStore;
  /**
   * Every live instance (one per worker with threads) gets onMessage(0, data). A string is sent
   * as UTF-8. Throws a TypeError when the guest does not export onMessage.
   */
  broadcast(data: string | Uint8Array | ArrayBuffer): void;
  /**
   * The instance that owns connection `id` gets onMessage(id, data), after the events of that
   * connection the application has already seen. False when `id` is not open.
   */
  send(id: number, data: string | Uint8Array | ArrayBuffer): boolean;

  /**
   * Replaces the guest without dropping a connection: compiles `source` off the JS thread (with
   * the bridge's fuelPerEvent, maxMemoryBytes and cacheDir), starts it beside the current guest
   * (on every worker), then switches. Connections attached after the switch go to the new guest;
   * open ones stay on the instance that served them, with their timers and host calls, until
   * they close. Rejects with the load error (`code` as `Bridge.load`'s) and changes nothing when
   * the new guest cannot be read, compiled or started. A call made while another runs waits for it.
   */
  reload(source: string | URL | Uint8Array | ArrayBuffer, options?: ReloadOptions): Promise<void>;
  /** Loads of the guest that went through: 1 after load, one more per successful reload. */
  readonly generation: number;
  /**
   * Accepts and serves connections on the worker threads, with no JS per message: the workers
   * read into the guests and write their output to the sockets themselves. Needs `threads` >= 1
   * (rejects otherwise). Same ABI, events, limits, errors, logs and stats as `attach`.
   */
  listen(options?: ListenOptions): Promise<NativeServer>;

  /** Hands a connected socket (TLS sockets included) to the guest; returns its connection id. */
  attach(socket: Socket): number;
  /** Connections open: attached, accepted natively, and dialed by the guests (natively too). */
  readonly connections: number;
  stats(): BridgeStats;
  /** Ends every connection (queued output flushed) and resolves once all are closed. */
  close(): Promise<void>;

  on(event: 'error', listener: (error: GuestError) => void): this;
  on(event: 'log', listener: (line: string, level: LogLevel) => void): this;
  once(event: 'error', listener: (error: GuestError) => void): this;
  once(event: 'log', listener: (line: string, level: LogLevel) => void): this;
  off(event: 'error', listener: (error: GuestError) => void): this;
  off(event: 'log', listener: (line: string, level: LogLevel) => void): this;
  addListener(event: 'error', listener: (error: GuestError) => void): this;
  addListener(event: 'log', listener: (line: string, level: LogLevel) => void): this;
  removeListener(event: 'error', listener: (error: GuestError) => void): this;
  removeListener(event: 'log', listener: (line: string, level: LogLevel) => void): this;
  emit(event: 'error', error: GuestError): boolean;
  emit(event: 'log', line: string, level: LogLevel): boolean;
}

/**
 * A net.Server whose accepted sockets are attached to `bridge`. Takes net.createServer's options;
 * `connectionListener`, if given, runs after each attach with the socket and its connection id.
 * A socket that cannot be attached (bridge closed) is destroyed and the server emits 'attachError'.
 */
export declare function createServer(
  bridge: Bridge,
  options?: ServerOpts,
  connectionListener?: (socket: Socket, id: number) => void,
): Server;
export declare function createServer(bridge: Bridge, connectionListener?: (socket: Socket, id: number) => void): Server;
