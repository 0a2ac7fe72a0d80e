'use strict';
// Shared helpers: start a bridge-backed server on 127.0.0.1:0, small TCP clients, local upstream
// servers for guests to dial, and scripts run in child processes.
const { execFile, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { Bridge, createServer } = require('..');

const root = path.join(__dirname, '..');
const guest = (name) => path.join(root, 'build', 'guests', `${name}.wasm`);
const fixture = (name) => path.join(__dirname, 'fixtures', name);

/** Loads `source` into a bridge, serves it on 127.0.0.1:0, and records its errors and logs. */
async function serve(source, options, serverOptions) {
  const bridge = await Bridge.load(source, options);
  const errors = [];
  const logs = [];
  bridge.on('error', (e) => errors.push(e));
  bridge.on('log', (line, level) => logs.push({ line, level }));
  const ids = [];
  const server = createServer(bridge, serverOptions || {}, (_socket, id) => ids.push(id));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    bridge,
    server,
    port,
    errors,
    logs,
    ids,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      await bridge.close();
      await closed;
    },
  };
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Reads from `socket` until `bytes` have arrived (then resolves with them), or until it closes
 * (then resolves with what came).
 */
function readBytes(socket, bytes) {
  if (bytes <= 0) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let got = 0;
    const done = () => {
      socket.off('data', onData);
      socket.off('close', done);
      socket.off('error', reject);
      resolve(Buffer.concat(chunks));
    };
    const onData = (d) => {
      chunks.push(d);
      got += d.length;
      if (got >= bytes) done();
    };
    socket.on('data', onData);
    socket.on('close', done);
    socket.on('error', reject);
  });
}

/** Collects everything until the socket closes; reports whether the server sent FIN ('end'). */
function readToClose(socket) {
  return new Promise((resolve) => {
    const chunks = [];
    let ended = false;
    let error = null;
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), ended, error }));
  });
}

/** One client: send `data`, then collect everything until the server closes the connection. */
async function sendUntilClosed(port, data) {
  const socket = await connect(port);
  const closed = readToClose(socket);
  socket.write(data);
  return closed;
}

/** One client: send `data`, read back `expect` bytes (default: as many as sent), then end. */
async function exchange(port, data, expect) {
  const socket = await connect(port);
  const reply = readBytes(socket, expect === undefined ? Buffer.byteLength(data) : expect);
  socket.write(data);
  const got = await reply;
  socket.end();
  return got;
}

/** Resolves after `ms` milliseconds. */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitFor(predicate, what, ms = 5000) {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() - start > ms) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * A plain Node TCP server on 127.0.0.1:0, standing in for an upstream service that guests dial
 * with Socket.connect: `onSocket(socket)` handles each connection. `close()` destroys the open
 * connections and stops listening.
 */
async function tcpUpstream(onSocket) {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** A plain Node echo server on 127.0.0.1:0, standing in for an upstream service. */
function upstreamEcho() {
  return tcpUpstream((s) => s.pipe(s));
}

const FILE = 'this is a file that will be served by an HTTP server to a WebAssembly module\n';
const SLOW_BODY = 'slow body\n';
const SLOW_MS = 600;
const BIG = crypto.randomBytes(300 * 1024);
const HUGE = 1024 * 1024 + 512 * 1024;

/**
 * A local HTTP server standing in for the WASI sockets article's file server: /file.txt, /slow
 * (answers after SLOW_MS), /big (300 KiB), /chunked, /huge (over the http-get guest's 1 MiB body
 * limit), 404 otherwise. It records every request and how many /slow requests are in flight at
 * once. httpUpstream.FILE, .SLOW_BODY and .BIG are the bodies it serves.
 */
async function httpUpstream() {
  const state = { requests: [], slowInFlight: 0, slowMaxInFlight: 0, slowDone: 0, aborted: 0 };
  const timers = new Set();
  const server = http.createServer((req, res) => {
    state.requests.push({ method: req.method, url: req.url, httpVersion: req.httpVersion, headers: req.headers });
    if (req.url === '/file.txt') {
      res.setHeader('Content-Type', 'text/plain');
      res.end(FILE);
    } else if (req.url === '/slow') {
      state.slowInFlight += 1;
      state.slowMaxInFlight = Math.max(state.slowMaxInFlight, state.slowInFlight);
      let finished = false;
      const timer = setTimeout(() => {
        timers.delete(timer);
        finished = true;
        state.slowInFlight -= 1;
        state.slowDone += 1;
        res.end(SLOW_BODY);
      }, SLOW_MS);
      timers.add(timer);
      res.on('close', () => {
        if (finished) return;
        // The guest hung up before the answer.
        clearTimeout(timer);
        timers.delete(timer);
        state.slowInFlight -= 1;
        state.aborted += 1;
      });
    } else if (req.url === '/big') {
      res.setHeader('Content-Length', BIG.length);
      res.end(BIG);
    } else if (req.url === '/chunked') {
      // Writes before end: Node sends Transfer-Encoding: chunked.
      res.write('one,');
      setImmediate(() => {
        res.write('two,');
        res.end('three\n');
      });
    } else if (req.url === '/huge') {
      res.setHeader('Content-Length', HUGE);
      res.end(Buffer.alloc(HUGE, 0x61));
    } else {
      res.statusCode = 404;
      res.end('not found\n');
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    state,
    close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}
httpUpstream.FILE = FILE;
httpUpstream.SLOW_BODY = SLOW_BODY;
httpUpstream.BIG = BIG;

/** Where the tests find curl (they skip where it is missing). */
const CURL = '/usr/bin/curl';

/** Runs curl with `args` (never blocking the event loop: inline guests run on it). */
function curl(args) {
  return new Promise((resolve, reject) => {
    execFile(CURL, ['-sS', '--max-time', '20', ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`curl ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const TSX = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/**
 * Runs `script` (a path from the repository root: a .ts example with tsx, anything else with
 * node) in a child process, with `env` added to this one's. `output()` is all it printed (stdout
 * and stderr); `exited` resolves with `{ code, signal, out }` once it is gone; `match(re)`
 * resolves with the first match of `re` in its output, or rejects with the output if it exits
 * first. It is SIGKILLed if still running after `killAfter` ms.
 */
function runScript(script, { args = [], env = {}, killAfter = 50000 } = {}) {
  const argv = script.endsWith('.ts') ? [TSX, script, ...args] : [script, ...args];
  const child = spawn(process.execPath, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const watchers = new Set();
  const collect = (d) => {
    out += d;
    for (const w of watchers) w();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfter);
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, out });
    }),
  );
  const match = (re) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(out);
        if (m) {
          watchers.delete(check);
          resolve(m);
        }
      };
      watchers.add(check);
      check();
      exited.then(() => reject(new Error(`${script} exited before printing ${re}:\n${out}`)));
    });
  return { child, exited, match, output: () => out };
}

module.exports = { CURL, curl, root, guest, fixture, serve, connect, readBytes, readToClose, sendUntilClosed, exchange, sleep, waitFor, tcpUpstream, upstreamEcho, httpUpstream, runScript };

/** Execution modes every behavioural suite runs in. */
const MODES = [
  { name: 'inline', options: { threads: 0 } },
  { name: 'threads: 2', options: { threads: 2 } },
];

/**
 * The hard cap on one connection's queued output at the default highWaterMark (src/policy/limits.rs):
 * 4 x 64 KiB; with worker threads plus the input window (4 x 64 KiB) and one 64 KiB read.
 */
function hardCap(options) {
  return options.threads > 0 ? 262144 + 262144 + 65536 : 262144;
}

/** Lines of the recorder guest's "events <id> <letters>" logs, by id. */
function recorded(logs) {
  const out = new Map();
  for (const { line } of logs) {
    const m = /^events (\d+) ([A-Z]+)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]);
  }
  return out;
}

/** A line client: `send(line)`, `next()` resolves with the next line the server sends. */
async function lineClient(port) {
  const socket = await connect(port);
  const lines = [];
  const waiters = [];
  let buf = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w.resolve({ line, at: Date.now() });
      else lines.push({ line, at: Date.now() });
    }
  });
  socket.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w.reject(new Error('the connection closed'));
  });
  return {
    socket,
    send: (line) => socket.write(`${line}\n`),
    next(ms = 5000) {
      if (lines.length) return Promise.resolve(lines.shift());
      if (closed) return Promise.reject(new Error('the connection closed'));
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no line within ${ms} ms`));
          }
        }, ms).unref();
      });
    },
    async ask(line) {
      this.send(line);
      return (await this.next()).line;
    },
    pending: () => lines.map((l) => l.line),
    close: () => socket.destroy(),
  };
}

module.exports.MODES = MODES;
module.exports.lineClient = lineClient;
module.exports.recorded = recorded;
module.exports.hardCap = hardCap;
