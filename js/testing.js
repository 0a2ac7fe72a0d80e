'use strict';
// wasm-socket-bridge/testing: serve a guest on 127.0.0.1:0 and talk to it over real sockets,
// from mocha, node:test or any runner. Types: ../testing.d.ts.
//
//   const { serveGuest } = require('wasm-socket-bridge/testing');
//   const g = await serveGuest('build/echo.wasm');
//   assert.equal((await g.exchange('hi\n', { until: '\n' })).toString(), 'hi\n');
//   assert.deepEqual(g.errors, []);
//   await g.close();
const net = require('node:net');
const { Bridge, createServer } = require('./index.js');

const DEFAULT_TIMEOUT = 5000;

/** Whether `buf` satisfies `until` (see Client.read). */
function reached(buf, until) {
  if (until === undefined || until === 'close') return false;
  if (typeof until === 'number') return buf.length >= until;
  if (typeof until === 'string') return buf.includes(until);
  if (until instanceof RegExp) return until.test(buf.toString());
  if (Buffer.isBuffer(until) || until instanceof Uint8Array) return buf.includes(Buffer.from(until));
  if (typeof until === 'function') return Boolean(until(buf));
  throw new TypeError('until must be a byte count, a string, bytes, a RegExp, a function or "close"');
}

/** One connection to the served guest. */
class Client {
  constructor(socket) {
    this.socket = socket;
    /** Bytes received and not yet returned by read(). */
    this.pending = Buffer.alloc(0);
    /** The server ended (FIN) or the socket closed. */
    this.ended = false;
    this.closed = false;
    this.error = null;
    this.wake = null;
    socket.on('data', (d) => {
      this.pending = Buffer.concat([this.pending, d]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  notify() {
    if (this.wake) this.wake();
  }

  /** Sends bytes (a string is sent as UTF-8). */
  send(data) {
    this.socket.write(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /**
   * Resolves with the bytes received once `until` is reached: a byte count, a string or bytes
   * the data must contain, a RegExp its text must match, a predicate over the bytes, or
   * 'close' (the default: until the server ends or closes the connection). Rejects after
   * `timeout` ms (default 5000) saying what came. The bytes returned are consumed.
   */
  read({ until = 'close', timeout = DEFAULT_TIMEOUT } = {}) {
    return new Promise((resolve, reject) => {
      const finish = (err) => {
        clearTimeout(timer);
        this.wake = null;
        if (err) return reject(err);
        let out = this.pending;
        if (typeof until === 'number') out = this.pending.subarray(0, until);
        this.pending = this.pending.subarray(out.length);
        resolve(out);
      };
      const check = () => {
        if (reached(this.pending, until)) return finish();
        if (this.ended || this.closed) {
          if (until === 'close') return finish();
          return finish(
            new Error(`the connection closed before ${describe(until)}; received ${this.pending.length} bytes: ${preview(this.pending)}`),
          );
        }
      };
      const timer = setTimeout(() => {
        finish(new Error(`no ${describe(until)} within ${timeout} ms; received ${this.pending.length} bytes: ${preview(this.pending)}`));
      }, timeout);
      this.wake = check;
      check();
    });
  }

  /** Sends `data`, then reads as `read(options)`. */
  exchange(data, options) {
    const reply = this.read(options);
    this.send(data);
    return reply;
  }

  /** Half-closes (FIN). */
  end() {
    this.socket.end();
  }

  /** Destroys the connection. */
  close() {
    this.socket.destroy();
  }
}

function describe(until) {
  if (until === 'close' || until === undefined) return 'close';
  if (typeof until === 'number') return `${until} bytes`;
  if (typeof until === 'function') return 'data satisfying the until predicate';
  return `${until instanceof RegExp ? until : JSON.stringify(String(until))}`;
}

function preview(buf) {
  const text = JSON.stringify(buf.subarray(0, 200).toString());
  return buf.length > 200 ? `${text}...` : text;
}

/**
 * Loads a guest (a path, URL or bytes, as Bridge.load), serves it with createServer on
 * 127.0.0.1:0, and records its 'log' lines and GuestErrors. `options` are Bridge.load's, plus
 * `server`: createServer's options (e.g. { allowHalfOpen: true }), and `native: true` to serve
 * it natively on the worker threads instead (`bridge.listen`; needs `threads` >= 1).
 */
async function serveGuest(source, options = {}) {
  const { server: serverOptions, native, ...bridgeOptions } = options;
  const bridge = await Bridge.load(source, bridgeOptions);
  const logs = [];
  const errors = [];
  const clients = new Set();
  bridge.on('log', (line, level) => logs.push({ line, level }));
  bridge.on('error', (e) => errors.push(e));
  let server;
  if (native) {
    const allowHalfOpen = Boolean(serverOptions && serverOptions.allowHalfOpen);
    server = await bridge.listen({ port: 0, host: '127.0.0.1', allowHalfOpen });
  } else {
    server = createServer(bridge, serverOptions || {});
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
  }
  const { port } = server.address();
  const waitFor = (what, test, timeout) =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = () => {
        const found = test();
        if (found !== undefined) return resolve(found);
        if (Date.now() - started > timeout) return reject(new Error(`no ${what} within ${timeout} ms`));
        setTimeout(poll, 5);
      };
      poll();
    });
  return {
    bridge,
    server,
    host: '127.0.0.1',
    port,
    logs,
    errors,
    /** Opens a connection to the guest. */
    async connect() {
      const socket = await new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
      const client = new Client(socket);
      clients.add(client);
      socket.on('close', () => clients.delete(client));
      return client;
    },
    /** Sends `data` on a fresh connection, reads as Client.read(options), then closes it. */
    async exchange(data, options) {
      const client = await this.connect();
      try {
        return await client.exchange(data, options);
      } finally {
        client.close();
      }
    },
    /** Resolves with the first log entry whose line matches (a string: equals; a RegExp: tests). */
    waitForLog(match, { timeout = DEFAULT_TIMEOUT } = {}) {
      const ok = (l) => (match instanceof RegExp ? match.test(l.line) : l.line === match);
      return waitFor(`log line ${match}`, () => logs.find(ok), timeout);
    },
    /** Resolves with the first GuestError recorded (waiting for one if needed). */
    waitForError({ timeout = DEFAULT_TIMEOUT } = {}) {
      return waitFor('GuestError', () => errors[0], timeout);
    },
    /** Closes every client, the server and the bridge. */
    async close() {
      for (const c of clients) c.close();
      const closed = native ? server.close() : new Promise((resolve) => server.close(resolve));
      await bridge.close();
      await closed;
    },
  };
}

module.exports = { serveGuest, Client };
