'use strict';
// The Bridge class: loads a guest, attaches sockets to it, and carries out what the guest asks
// for. Types: ../index.d.ts.

const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const native = require('./native');
const batch = require('./batch');
const { Conn } = require('./flow');
const { GuestError, loadError, readError } = require('./errors');
const { checkOptions, checkReloadOptions, checkListenOptions, compileOptions, describeSource } = require('./options');
const { noTimer: NO_TIMER, noId: NO_ID } = require('./constants');
const { SharedStore } = require('./shared');
const { bytesOf } = require('./bytes');
const { NativeServer } = require('./native-server');

/** A host function's result as bytes: a Uint8Array/Buffer, a string (UTF-8), nothing; else null. */
function replyBytes(value) {
  return value === undefined ? Buffer.alloc(0) : bytesOf(value);
}

/** A message for onMessage: a string as UTF-8, or bytes. */
function messageBytes(data) {
  const bytes = bytesOf(data);
  if (bytes === null) throw new TypeError('a message is a string or bytes (Uint8Array, Buffer, ArrayBuffer)');
  return bytes;
}

const INTERNAL = Symbol('wasm-socket-bridge internal');
// Inline output batches up to this size come back in the bridge's shared buffer (src/napi/bridge.rs);
// below Buffer.poolSize / 2, copying each write out of it lands in Node's Buffer pool.
const SHARED_OUTPUT_BYTES = 4096;
const CLOSE_GRACE_MS = 5000;
/** How often close() looks whether the last natively dialed connection has closed (as NativeServer). */
const NATIVE_CLOSE_POLL_MS = 20;
/** How often a process held open by natively dialed connections looks whether they closed. */
const DIAL_HOLD_POLL_MS = 100;

class Bridge extends EventEmitter {
  #native;
  /** The output buffer shared with the addon: inline batches that fit arrive in it. */
  #shared;
  #data;
  #conns = new Map();
  #closed = false;
  #closing = null;
  #onEmpty = null;
  /** Inline: the libuv timer armed for the guest's next timer. */
  #timer = null;
  /** Threads: a ref'd handle that keeps the event loop alive while connections are open. */
  #loopHold = null;
  /** Whether the guest exports onMessage (bridge.broadcast / send need it). */
  #hasOnMessage = false;
  #host;
  /** Loads of the guest that went through: 1, then one more per reload. */
  #generation = 1;
  /** The last reload asked for (each waits for the one before). */
  #reloading = Promise.resolve();
  /** Native I/O: the servers `listen` made. */
  #servers = new Set();
  /** Native I/O was started: workers may hold connections JS never saw (accepted or dialed). */
  #listened = false;
  /** Native I/O: the interval that keeps the process alive for open dialed connections. */
  #dialHold = null;

  /** Loads a guest; compilation runs off the JS thread. */
  static async load(source, options) {
    const opts = checkOptions(options);
    return Bridge.#create(await Bridge.#compile(source, opts), opts);
  }

  /** Reads and compiles a guest off the JS thread: a CompiledGuest, or what the compiler refused. */
  static async #compile(source, opts) {
    const { name, path, bytes } = describeSource(source);
    const wasm = bytes ?? (await fs.promises.readFile(path).catch((err) => Promise.reject(readError(path, err))));
    return native.compile(name, wasm, compileOptions(opts));
  }

  /** Loads a guest, compiling it on the calling thread. */
  static loadSync(source, options) {
    const opts = checkOptions(options);
    const { name, path, bytes } = describeSource(source);
    let wasm = bytes;
    if (wasm === undefined) {
      try {
        wasm = fs.readFileSync(path);
      } catch (err) {
        throw readError(path, err);
      }
    }
    return Bridge.#create(native.compileSync(name, wasm, compileOptions(opts)), opts);
  }

  /** Starts a compiled guest, or throws the load error the compiler gave instead. */
  static #create(compiled, opts) {
    if (!(compiled instanceof native.CompiledGuest)) throw loadError(compiled);
    let bridge = null;
    // Threaded mode: workers deliver batches through this callback, on the JS thread.
    const onOutput = opts.threads > 0 ? (out) => batch.apply(out, out.length, bridge.#conns, bridge.#host) : undefined;
    const shared = Buffer.allocUnsafeSlow(SHARED_OUTPUT_BYTES);
    const nb = new native.NativeBridge(compiled, {
      highWaterMark: opts.highWaterMark,
      maxEventOutputBytes: opts.maxEventOutputBytes,
      threads: opts.threads,
      allowConnect: opts.allowConnect,
      config: opts.config,
      maxSharedBytes: opts.maxSharedBytes,
      hostFunctions: Object.keys(opts.hostFunctions),
      out: shared,
      onOutput,
    });
    bridge = new Bridge(INTERNAL, nb, shared, opts);
    bridge.#hasOnMessage = compiled.hasExport('onMessage');
    // How the module cache served this load: { status: 'hit' | 'miss', file, reason?, warning? },
    // or null without cacheDir.
    Object.defineProperty(bridge, 'cache', { value: Object.freeze(compiled.cache ?? null), enumerable: true });
    // The bridge's shared store, the one its guests use through module Shared.
    Object.defineProperty(bridge, 'shared', { value: new SharedStore(nb, opts.maxSharedBytes), enumerable: true });
    return bridge;
  }

  constructor(token, nativeBridge, shared, options) {
    if (token !== INTERNAL) throw new TypeError('use Bridge.load() or Bridge.loadSync() to make a Bridge');
    super();
    this.#native = nativeBridge;
    // nb.data as a plain function: the per-message call, without a method call's overhead.
    this.#data = nativeBridge.dataFunction();
    this.#shared = shared;
    this.options = Object.freeze({ ...options });
    const hwm = options.highWaterMark;
    this.#host = {
      highWaterMark: hwm,
      // Threaded mode: 4 x highWaterMark (src/policy/limits.rs).
      inputWindow: nativeBridge.inputWindow,
      log: (line, level) => {
        if (this.listenerCount('log') > 0) this.emit('log', line, level);
        else if (level === 'warn' || level === 'error') console.error(line);
        else console.log(line);
      },
      error: (kind, message, id, generation16) => {
        // The record has the low 16 bits of the generation: the newest one with those bits.
        const generation = this.#generation - ((this.#generation - generation16) & 0xffff);
        const err = new GuestError(kind, message, id, generation);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else console.error(`wasm-socket-bridge: unhandled ${err.name} (${kind}): ${message}`);
      },
      connect: (id, worker, host, port) => this.#dial(id, worker, host, port),
      // Inline: the guest's next timer is due in `ms` (NO_TIMER: none). One libuv timer, unref'd:
      // guest timers never keep the process alive by themselves.
      arm: (ms) => this.#arm(ms),
      call: (worker, instance, call, id, name, data) => this.#hostCall(worker, instance, call, id, name, data),
      // The guest was told false but the socket is already below the mark: report the drain on
      // the next turn of the loop (never from inside a batch, which would reorder its records).
      wantDrain: (c) =>
        setImmediate(() => {
          if (this.#conns.get(c.id) === c && !c.pressured) this.#drain(c);
        }),
    };
    // Logs of the guest's start function, once the caller has had a chance to add listeners.
    setImmediate(() => this.#apply(this.#native.flush()));
  }

  /** Carries out the inline batch of `n` bytes an event method just returned (0: none). */
  #apply(n) {
    if (n === 0) return;
    if (n <= this.#shared.length) batch.apply(this.#shared, n, this.#conns, this.#host, true);
    else {
      const out = this.#native.take();
      if (out !== null) batch.apply(out, out.length, this.#conns, this.#host);
    }
  }

  /**
   * With worker threads, a connection can be waiting on its worker with no socket of its own
   * keeping the event loop alive (a socket that saw EOF stops reading until the guest's End
   * record comes back), and worker batches arrive through a thread-safe function that does not
   * hold the loop (so that workers never keep a process alive). Without this, a process could exit
   * mid-close. Holds the loop from the first open connection to the last close.
   */
  #holdLoop(on) {
    if (this.options.threads === 0) return;
    if (on && this.#loopHold === null) this.#loopHold = setInterval(() => {}, 1 << 30);
    if (!on && this.#loopHold !== null) {
      clearInterval(this.#loopHold);
      this.#loopHold = null;
    }
  }

  /**
   * The guest called host function `name` (Host.call): run it with `data` and `{ connectionId }`,
   * and hand its result back as onReply on the instance that asked. The answer always comes
   * later, never inside the batch that carried the call (a promise job), so the guest's own
   * output of that event goes out first. What the function throws or rejects with is the guest's
   * to hear (status 1), not a GuestError.
   */
  #hostCall(worker, instance, call, id, name, data) {
    const fn = this.options.hostFunctions[name];
    const ctx = { connectionId: id === 0 || id === NO_ID ? undefined : id };
    let result;
    try {
      result = fn(data, ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    Promise.resolve(result).then(
      (value) => {
        const bytes = replyBytes(value);
        if (bytes === null) {
          const type = value === null ? 'null' : typeof value;
          this.#reply(worker, instance, call, 1, `host function '${name}' returned ${type}; return a Buffer, Uint8Array, string or nothing`);
        } else this.#reply(worker, instance, call, 0, bytes);
      },
      (err) => this.#reply(worker, instance, call, 1, err instanceof Error ? err.message : String(err)),
    );
  }

  #reply(worker, instance, call, status, data) {
    if (this.#closed && this.#conns.size === 0) return;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.#apply(this.#native.reply(worker, instance, call, status, bytes));
  }

  /** Arms the one timer of an inline bridge for `ms` from now, or disarms it (NO_TIMER). */
  #arm(ms) {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (ms === NO_TIMER || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#apply(this.#native.tick());
    }, ms);
    this.#timer.unref();
  }

  /** A write made while at the mark was sent: if the queue is below the mark, read again and tell the guest. */
  #flushed(c) {
    const s = c.socket;
    if (!c.pressured || s.destroyed || s.writableLength >= this.#host.highWaterMark) return;
    c.pressured = false;
    c.release();
    this.#drain(c);
  }

  #drain(c) {
    this.#apply(this.#native.drain(c.id, c.socket.writableLength));
  }

  /** Hands a connected socket to the guest; returns its connection id. */
  attach(socket) {
    if (!(socket instanceof net.Socket)) throw new TypeError('bridge.attach takes a net.Socket (or tls.TLSSocket)');
    if (this.#closed) throw new Error('cannot attach a socket: this bridge is closed');
    if (socket.destroyed) throw new Error('cannot attach a socket that is already destroyed');
    const id = this.#native.open(socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localAddress ?? '', socket.localPort ?? 0);
    if (id === null || id === undefined) {
      socket.destroy();
      throw new Error('cannot attach a socket: this bridge has used all 2^32 - 1 connection ids; load a new Bridge');
    }
    this.#wire(socket, id);
    this.#apply(this.#native.flush());
    return id;
  }

  /**
   * The guest on `worker` called Socket.connect and got `id`: dial with Node. onConnect follows
   * once connected; a failed dial is onError then onClose, like any socket error. (A worker that
   * serves a native listener dials by itself: its Connect records never come here.)
   */
  #dial(id, worker, host, port) {
    const nb = this.#native;
    nb.adopt(id, worker);
    if (this.#closed) {
      // Closing: nothing new is dialed. The guest hears of it as a failed connection.
      setImmediate(() => {
        this.#apply(nb.error(id));
        this.#apply(nb.close(id));
      });
      return;
    }
    const socket = net.connect({ host, port });
    this.#wire(socket, id, true);
    socket.once('connect', () =>
      this.#apply(nb.connected(id, socket.remoteAddress ?? '', socket.remotePort ?? 0, socket.localAddress ?? '', socket.localPort ?? 0)),
    );
  }

  /** Routes a socket's events to the guest as connection `id`. */
  #wire(socket, id, dialed = false) {
    const nb = this.#native;
    const data = this.#data;
    const conns = this.#conns;
    const c = new Conn(id, socket, (conn) => this.#flushed(conn), dialed);
    conns.set(id, c);
    if (conns.size === 1) this.#holdLoop(true);
    if (this.options.threads > 0) {
      const window = this.#host.inputWindow;
      socket.on('data', (chunk) => {
        // Stop reading while the worker has a full window of this connection's input to go.
        c.inflight += chunk.length;
        if (c.inflight >= window && !c.backlogged) {
          c.backlogged = true;
          socket.pause();
        }
        data(id, chunk, socket.writableLength);
      });
    } else {
      socket.on('data', (chunk) => this.#apply(data(id, chunk, socket.writableLength)));
    }
    // Node must not end our side at the peer's FIN by itself: with worker threads, the guest's
    // answers to the last bytes arrive after it. The guest's End record closes our side instead,
    // after those answers (src/instance/executor.rs `end`), unless the socket was half-open already.
    const halfOpen = socket.allowHalfOpen;
    socket.allowHalfOpen = true;
    socket.on('end', () => this.#apply(nb.end(id, halfOpen)));
    socket.on('error', () => this.#apply(nb.error(id)));
    socket.on('close', () => {
      conns.delete(id);
      if (conns.size === 0) this.#holdLoop(false);
      this.#apply(nb.close(id));
      if (conns.size === 0 && this.#onEmpty !== null) this.#onEmpty();
    });
  }

  /** Every live instance gets onMessage(0, data): one per worker with threads. */
  broadcast(data) {
    this.#message(0, data);
  }

  /** The instance that owns connection `id` gets onMessage(id, data); false if `id` is not open. */
  send(id, data) {
    if (!Number.isInteger(id) || id < 1) throw new TypeError(`bridge.send takes a connection id (a whole number >= 1), got ${id}`);
    const bytes = this.#messageBytes(data);
    if (!this.#conns.has(id) && !(this.#listened && this.#native.isNative(id))) return false;
    this.#apply(this.#native.message(id, bytes));
    return true;
  }

  #message(id, data) {
    const bytes = this.#messageBytes(data);
    if (!this.#closed) this.#apply(this.#native.message(id, bytes));
  }

  /** The bytes of a message for onMessage, once it is known the guest can take one. */
  #messageBytes(data) {
    if (!this.#hasOnMessage) {
      throw new TypeError('this guest does not export onMessage(id, data): bridge.broadcast and bridge.send need it');
    }
    return messageBytes(data);
  }

  /**
   * Replaces the guest without dropping a connection: compiles `source` off the JS thread (with
   * the bridge's fuel, memory and cache options), starts it beside the current guest (on every
   * worker), then switches: connections attached from then on go to the new guest; open ones
   * stay on the instance that served them until they close. `options.config` replaces the
   * configuration for the new guest. Rejects with the load error, changing nothing, when the
   * new guest cannot be compiled or started. Calls made while one is running wait for it.
   */
  reload(source, options) {
    let reloadOptions;
    try {
      describeSource(source);
      reloadOptions = checkReloadOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.#reloading.then(() => this.#reload(source, reloadOptions));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(source, { config }) {
    if (this.#closed) throw new Error('cannot reload: this bridge is closed');
    const compiled = await Bridge.#compile(source, this.options);
    if (!(compiled instanceof native.CompiledGuest)) throw loadError(compiled);
    if (this.#closed) throw new Error('cannot reload: this bridge was closed while the new guest compiled');
    const next = this.#generation + 1;
    const hasOnMessage = compiled.hasExport('onMessage');
    const refused = await this.#native.reload(compiled, config, next);
    if (refused !== null || this.#closed) {
      this.#native.finishReload(false);
      if (refused === null) throw new Error('cannot reload: this bridge was closed while the new guest started');
      const err = new Error(`cannot load guest '${compiled.name}': ${refused}`);
      err.code = 'ERR_GUEST_START_FAILED';
      throw err;
    }
    this.#generation = next;
    this.#hasOnMessage = hasOnMessage;
    this.#apply(this.#native.finishReload(true));
  }

  /** Loads of the guest that went through: 1 after `load`, one more per successful reload. */
  get generation() {
    return this.#generation;
  }

  /**
   * Native I/O: accepts and serves connections on the worker threads, with no JS per message
   * (needs `threads` >= 1). Resolves with a NativeServer once listening.
   */
  async listen(options = {}) {
    const { host, port, backlog, allowHalfOpen } = checkListenOptions(options);
    if (this.#closed) throw new Error('cannot listen: this bridge is closed');
    if (this.options.threads === 0) {
      throw new Error('bridge.listen serves connections on the worker threads: load the bridge with threads >= 1 (for example { threads: 2 })');
    }
    const listener = this.#native.listen(host, port, backlog, allowHalfOpen);
    this.#listened = true;
    // A listening server keeps the process alive, as a net.Server does, until it is closed
    // and its last connection is gone.
    const hold = setInterval(() => {}, 1 << 30);
    const server = new NativeServer(
      listener,
      (l) => this.#native.unlisten(l),
      () => {
        clearInterval(hold);
        this.#servers.delete(server);
        this.#holdForDials();
      },
    );
    this.#servers.add(server);
    return server;
  }

  /**
   * With no server left, connections the workers dialed and that are still open keep the process
   * alive, as open Node sockets do, until the last one closes (or the bridge is closed).
   */
  #holdForDials() {
    if (this.#dialHold !== null || this.#servers.size > 0) return;
    const done = () => this.#closed || this.#servers.size > 0 || this.#native.nativeDialed() === 0;
    if (done()) return;
    this.#dialHold = setInterval(() => {
      if (!done()) return;
      clearInterval(this.#dialHold);
      this.#dialHold = null;
    }, DIAL_HOLD_POLL_MS);
  }

  /** Native connections open: accepted, over every server `listen` made, and dialed by the workers. */
  #nativeConnections() {
    if (!this.#listened) return 0;
    let n = this.#native.nativeDialed();
    for (const s of this.#servers) n += s.connections;
    return n;
  }

  /** Resolves once no natively dialed connection is open (the workers end them on close). */
  #nativeDialsClosed() {
    if (!this.#listened) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.#native.nativeDialed() === 0) resolve();
        else setTimeout(check, NATIVE_CLOSE_POLL_MS);
      };
      check();
    });
  }

  /** Connections attached (or natively accepted) and not yet closed. */
  get connections() {
    return this.#conns.size + this.#nativeConnections();
  }

  stats() {
    const s = this.#native.stats();
    return {
      connections: this.#conns.size + this.#nativeConnections(),
      accepted: s.accepted,
      closed: s.closed,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      events: s.events,
      traps: s.traps,
      restarts: s.restarts,
      dialed: s.dialed,
      logsDropped: s.logsDropped,
      fuelUsed: s.fuelUsed,
      fuelMax: s.fuelMax,
      instances: s.instances,
    };
  }

  /**
   * Ends every attached connection (queued output is flushed first), resolves once all are
   * closed and the worker threads have stopped. A peer that does not close its side within 5 s is
   * destroyed. Idempotent.
   */
  close() {
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#arm(NO_TIMER);
    const ended = new Promise((resolve) => {
      if (this.#conns.size === 0) {
        resolve();
        return;
      }
      this.#onEmpty = resolve;
      for (const { socket } of this.#conns.values()) {
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      }
    });
    // Native connections are ended by their workers (dials still connecting fail); each server
    // resolves once its last is gone.
    this.#native.endNative();
    const servers = [...this.#servers].map((s) => s.close());
    this.#closing = Promise.all([ended, ...servers, this.#nativeDialsClosed()])
      .then(() => this.#native.stop().join())
      // Let the workers' last batches (onClose output) arrive before resolving.
      .then(() => new Promise((resolve) => setImmediate(resolve)));
    return this.#closing;
  }
}

module.exports = { Bridge };
