'use strict';
// Benchmarks, side by side and interleaved (A B C, B C A, C A B, ...), each run against a fresh server
// process, with the Rust load generator (bench/loadgen) in its own process. Never part of npm test.
//
//   node bench/run.js [scenario ...] [--rounds 3] [--seconds 5] [--kinds a,b,...]
//                     [--conns 5000] [--settle 1] [--conns-per-client N]
//                     [--requests 100000] [--out bench/results] [--no-save]
//
// --kinds keeps only those servers (the first left is the baseline). --conns (alias
// --idle-connections) is idle's connection count, --settle the seconds it waits with all of them
// open before reading RSS. Idle runs its server and its clients under `ulimit -n` raised to what
// they hold (Node cannot call setrlimit; it only lifts its soft limit to the hard one at start),
// and splits the clients over processes of at most --conns-per-client connections (default: the
// ephemeral port range less 1,000, at most 20,000, within the hard limit), each bound to its own
// source address, 127.0.0.1, 127.0.0.2, ...: one address has only the port range's ports towards
// one server port. It stops with an explanation when the hard limit (`ulimit -Hn`) is below what
// the server needs (--conns + 256) and cannot be raised. 50,000 connections:
//   node bench/run.js idle --conns 50000 --kinds node-net,bridge-native-1,bridge-native --settle 3
//
// Scenarios (default: echo stream churn idle hash load):
//   echo    pingpong, 64-byte messages, 50 connections: msg/s, round-trip p50/p99
//   stream  64 KiB writes sent continuously on 1 and on 8 connections, every echoed byte checked
//           against a per-connection pseudo-random pattern: MiB/s of verified echo
//   churn   8 concurrent loops of connect, 32-byte echo, close: connections/s
//   idle    5,000 open idle connections (--conns): the server's RSS per connection above the idle
//           server (VmRSS from /proc/PID/status, after a warm-up of 500 connections opened and
//           closed, and --settle seconds with all of them open)
//   hash    the CPU-heavy hash guest under pingpong (64-byte lines, 17-byte answers, 50
//           connections): v8-wasm, bridge-inline, bridge-threads; ratios to v8-wasm
//   fuel    the hash scenario inline, without and with a fuelPerEvent budget (metering's cost)
//   load    Bridge.load time per guest: no cache, cold cacheDir, cache hit (bench/load-time.js)
//   hostcall  the cost of a Host.call round trip: the pingpong guest (50 connections, one 22-byte
//           line each at a time) answering each line directly (bridge-inline, bridge-threads)
//           or through an async host function (the -host kinds), inline and with threads: 2;
//           the client is bench/hostcall.js in its own process, not the Rust load generator;
//           ratios: via host function / direct, per mode
//   kv      (not in the default set) the kv guest, a Redis-protocol store, under redis-benchmark:
//           SET then GET, 50 connections, --requests each, 3-byte values, 10,000 random keys;
//           resp-js (bench/resp-server.js, plain JS), bridge-inline, bridge-threads and, where
//           redis-server is installed, Redis itself; ratios to resp-js. Needs redis-benchmark
//           (apt-get install redis-tools), not the Rust load generator.
// Servers: node-net (plain Node net echo), v8-wasm (the echo guest on Node's WebAssembly, as the
// AssemblyScript TCP server article does), bridge-inline, bridge-threads (threads: 2), and in echo
// and stream rust-echo (`wsb-loadgen echo-server`, thread per connection): the load generator's
// ceiling.
// Reports medians (min..max) over the rounds and each server's ratio to the scenario's baseline
// (node-net; v8-wasm for hash; bridge-inline for fuel; resp-js for kv; the direct answer of
// the same mode for hostcall; for idle, node-net's bytes per connection
// divided by the server's, so higher is better everywhere). Writes OUT/latest.json,
// OUT/latest.svg (a bar chart of the ratios) and OUT/latest.md (the table) unless --no-save.
const { execFile, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { renderChart } = require('./chart');
const { renderMarkdown } = require('./markdown');

const LOADGEN = path.join(__dirname, 'loadgen', 'target', 'release', 'wsb-loadgen');
const WASM_KINDS = ['node-net', 'v8-wasm', 'bridge-inline', 'bridge-threads', 'bridge-native-1', 'bridge-native'];
const REDIS_BENCHMARK = 'redis-benchmark';
const REDIS_SERVER = 'redis-server';
const LABELS = {
  'rust-echo': 'rust-echo (loadgen ceiling)',
  'resp-js': 'resp-js (plain JS)',
  redis: 'redis-server',
  'bridge-inline-host': 'bridge-inline via Host.call',
  'bridge-threads-host': 'bridge-threads via Host.call',
  'bridge-native': 'bridge-native (threads: 2)',
  'bridge-native-1': 'bridge-native (threads: 1)',
};
const label = (kind) => LABELS[kind] || kind;

// Each scenario has one or more tables (stream: 1 and 8 connections); a round runs every table's
// servers in turn (a table's own `kinds`, else the scenario's; the first is the baseline).
// metric: the loadgen's JSON field (or the idle measurement) the ratio is of.
const SCENARIOS = {
  echo: {
    tables: [{ id: 'echo', title: 'pingpong: 50 connections, 64-byte messages', args: { conns: 50, size: 64, reply: 64 } }],
    mode: 'pingpong',
    guest: 'echo',
    kinds: [...WASM_KINDS, 'rust-echo'],
    metric: 'msgsPerSec',
    unit: 'msg/s',
  },
  stream: {
    tables: [
      { id: 'stream-1', title: 'stream: 1 connection, 64 KiB writes, every byte verified', args: { conns: 1, write: 65536 } },
      { id: 'stream-8', title: 'stream: 8 connections, 64 KiB writes, every byte verified', args: { conns: 8, write: 65536 } },
    ],
    mode: 'stream',
    guest: 'echo',
    kinds: [...WASM_KINDS, 'rust-echo'],
    metric: 'mibPerSec',
    unit: 'MiB/s',
  },
  churn: {
    tables: [{ id: 'churn', title: 'churn: 8 concurrent loops of connect, 32-byte echo, close', args: { conns: 8, size: 32 } }],
    mode: 'churn',
    guest: 'echo',
    kinds: WASM_KINDS,
    metric: 'connsPerSec',
    unit: 'conns/s',
  },
  idle: {
    tables: [{ id: 'idle', title: 'idle: server RSS per open idle connection', args: {} }],
    mode: 'idle',
    guest: 'echo',
    kinds: WASM_KINDS,
    metric: 'bytesPerConn',
    unit: 'B/conn',
    lowerIsBetter: true,
  },
  hash: {
    tables: [{ id: 'hash', title: 'hash guest (CPU-heavy) under pingpong: 50 connections, 64-byte lines', args: { conns: 50, size: 64, reply: 17 } }],
    mode: 'pingpong',
    guest: 'hash',
    kinds: ['v8-wasm', 'bridge-inline', 'bridge-threads', 'bridge-native-1', 'bridge-native'],
    metric: 'msgsPerSec',
    unit: 'msg/s',
  },
  fuel: {
    tables: [{ id: 'fuel', title: 'hash guest inline, without and with fuelPerEvent', args: { conns: 50, size: 64, reply: 17 } }],
    mode: 'pingpong',
    guest: 'hash',
    kinds: ['bridge-inline', 'bridge-inline-fuel'],
    metric: 'msgsPerSec',
    unit: 'msg/s',
  },
  kv: {
    // One redis-benchmark run (SET, then GET of the keys it set) feeds both tables.
    tables: [
      { id: 'kv-set', title: 'kv: SET under redis-benchmark, 50 connections', metric: 'setPerSec', p50: 'setP50us', p99: 'setP99us' },
      { id: 'kv-get', title: 'kv: GET under redis-benchmark, 50 connections', metric: 'getPerSec', p50: 'getP50us', p99: 'getP99us' },
    ],
    args: { conns: 50, keys: 10000 },
    mode: 'resp',
    guest: 'kv',
    kinds: ['resp-js', 'bridge-inline', 'bridge-threads', 'redis'],
    unit: 'ops/s',
  },
  hostcall: {
    // Each table compares one mode with itself: answered directly (the baseline) and via Host.call.
    tables: [
      { id: 'hostcall-inline', title: 'Host.call round trip, inline: pingpong guest, 50 connections, answered directly vs via an async host function', kinds: ['bridge-inline', 'bridge-inline-host'] },
      { id: 'hostcall-threads', title: 'Host.call round trip, threads: 2: pingpong guest, 50 connections, answered directly vs via an async host function', kinds: ['bridge-threads', 'bridge-threads-host'] },
    ],
    args: { conns: 50 },
    mode: 'hostcall',
    guest: 'pingpong',
    kinds: ['bridge-inline', 'bridge-inline-host', 'bridge-threads', 'bridge-threads-host'],
    metric: 'msgsPerSec',
    unit: 'msg/s',
  },
};
const DEFAULT_SCENARIOS = ['echo', 'stream', 'churn', 'idle', 'hash', 'hostcall', 'load'];

/** Keeps only the servers of --kinds in the chosen scenarios; throws if a table is left empty. */
function keepKinds(opts) {
  const known = new Set();
  for (const name of opts.scenarios.filter((n) => n !== 'load')) {
    const sc = SCENARIOS[name];
    for (const table of sc.tables) {
      for (const k of kindsOf(sc, table)) known.add(k);
      if (table.kinds) table.kinds = table.kinds.filter((k) => opts.kinds.includes(k));
      if (kindsOf(sc, table).filter((k) => opts.kinds.includes(k)).length === 0) {
        throw new Error(`--kinds ${opts.kinds.join(',')} leaves no server in ${table.id} (its servers: ${kindsOf(sc, table).join(', ')})`);
      }
    }
    sc.kinds = sc.kinds.filter((k) => opts.kinds.includes(k));
  }
  const unknown = opts.kinds.filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`unknown server kind(s) for these scenarios: ${unknown.join(', ')}`);
}

/** The servers of one table, the baseline first. */
const kindsOf = (sc, table) => table.kinds || sc.kinds;

function parseArgs(argv) {
  const opts = {
    rounds: 3,
    seconds: 5,
    idleConnections: 5000,
    settle: 1,
    connsPerClient: null,
    kinds: null,
    requests: 100000,
    out: path.join(__dirname, 'results'),
    save: true,
    scenarios: [],
  };
  const num = (i, name) => {
    const n = Number(argv[i]);
    if (!(n > 0)) throw new Error(`${name} needs a positive number, got ${argv[i]}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') opts.rounds = Math.round(num(++i, '--rounds'));
    else if (argv[i] === '--seconds') opts.seconds = num(++i, '--seconds');
    else if (argv[i] === '--idle-connections' || argv[i] === '--conns') opts.idleConnections = Math.round(num(++i, argv[i - 1]));
    else if (argv[i] === '--settle') opts.settle = num(++i, '--settle');
    else if (argv[i] === '--conns-per-client') opts.connsPerClient = Math.round(num(++i, '--conns-per-client'));
    else if (argv[i] === '--kinds') opts.kinds = String(argv[++i] || '').split(',').filter(Boolean);
    else if (argv[i] === '--requests') opts.requests = Math.round(num(++i, '--requests'));
    else if (argv[i] === '--out') opts.out = path.resolve(argv[++i]);
    else if (argv[i] === '--no-save') opts.save = false;
    else if (SCENARIOS[argv[i]] || argv[i] === 'load') opts.scenarios.push(argv[i]);
    else throw new Error(`unknown argument ${argv[i]}; scenarios: ${Object.keys(SCENARIOS).join(', ')}, load`);
  }
  if (opts.scenarios.length === 0) opts.scenarios = DEFAULT_SCENARIOS;
  return opts;
}

const live = new Set();

/** Whether `cmd` runs (is installed). */
function installed(cmd) {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A TCP port free on 127.0.0.1 right now (for servers that cannot take port 0, as redis-server). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; rejects after `ms`. */
async function accepting(port, ms = 10000) {
  const start = Date.now();
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > ms) throw new Error(`nothing accepts connections on port ${port}`);
    await sleep(50);
  }
}

/** Starts Redis itself on a free port, without persistence; resolves once it accepts connections. */
async function startRedis() {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  live.add(child);
  const exited = new Promise((_, reject) => child.once('exit', (code, signal) => reject(new Error(`redis-server exited with ${code ?? signal}`))));
  child.once('exit', () => live.delete(child));
  await Promise.race([accepting(port), exited]);
  exited.catch(() => {}); // its exit after SIGTERM is expected
  return { kind: 'redis', child, port, report: () => undefined };
}

// File descriptors the idle server needs besides its connections (listening sockets, epoll,
// eventfds, pipes, the guest file) and each idle client besides its connections.
const SERVER_FD_SLACK = 256;
const CLIENT_FD_SLACK = 64;

/** The soft and hard `ulimit -n` a child process starts with. */
function fdLimits() {
  const [soft, hard] = String(execFileSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'])).trim().split('\n');
  const n = (v) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(soft), hard: n(hard) };
}

/** Whether a child may run under `ulimit -n fds` (at or below the hard limit, or privileged). */
function canRaiseFds(fds) {
  try {
    execFileSync('bash', ['-c', `ulimit -n ${fds}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `cmd args` run under `ulimit -n fds` (soft and hard): Node cannot call setrlimit, so the
 * limit is set by a shell that then execs the command (same pid, for /proc/PID/status).
 */
function withFds(fds, cmd, args) {
  if (!fds) return [cmd, args];
  return ['bash', ['-c', `ulimit -n ${fds} && exec "$0" "$@"`, cmd, ...args]];
}

/** The ephemeral port range's size (the most connections from one source address to one port). */
function ephemeralPorts() {
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return hi - lo + 1;
  } catch {
    return 28232; // Linux's default range, 32768..60999
  }
}

/**
 * Checks that the idle scenario's processes can have the descriptors they hold; throws with what
 * to do when the hard limit is too low. Returns the most connections one client process opens.
 */
function checkIdleFds(opts) {
  const n = opts.idleConnections;
  const { hard } = fdLimits();
  if (!canRaiseFds(n + SERVER_FD_SLACK)) {
    throw new Error(
      `idle with ${n} connections needs ulimit -n ${n + SERVER_FD_SLACK} in the server process, but the hard limit here is ${hard} ` +
        `(ulimit -Hn) and this user cannot raise it. Raise it (as root: ulimit -Hn ${n + SERVER_FD_SLACK} in the shell that runs the ` +
        `bench; /etc/security/limits.conf nofile; systemd LimitNOFILE=; docker run --ulimit nofile=${n + SERVER_FD_SLACK}) or measure ` +
        `fewer: --conns ${Math.max(1, hard - SERVER_FD_SLACK)}.`,
    );
  }
  // Within the port range of one source address, and within the hard limit (unless privileged).
  let per = opts.connsPerClient || Math.min(20000, ephemeralPorts() - 1000);
  if (!opts.connsPerClient && !canRaiseFds(per + CLIENT_FD_SLACK)) per = hard - CLIENT_FD_SLACK;
  if (Math.ceil(n / per) > 254) throw new Error(`idle: ${n} connections at ${per} per client process need more than 254 source addresses`);
  return per;
}

/** Starts a server process (under `ulimit -n fds`, if given); resolves once it prints its port. */
function startServer(kind, guest, fds) {
  if (kind === 'redis') return startRedis();
  return new Promise((resolve, reject) => {
    const [cmd, args] = withFds(
      fds,
      ...(kind === 'rust-echo' ? [LOADGEN, ['echo-server', '0']] : [process.execPath, [path.join(__dirname, 'server.js'), kind, guest]]),
    );
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    live.add(child);
    let out = '';
    let port = null;
    child.stdout.on('data', (d) => {
      out += d;
      if (port === null && out.includes('\n')) {
        port = Number(out.split('\n')[0]);
        resolve({ kind, child, port, report: () => out.split('\n')[1] });
      }
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      if (port === null) reject(new Error(`${kind} server exited with ${code ?? signal}`));
    });
  });
}

/** Stops a server; resolves to its SIGTERM report (rust-echo has none) and its peak RSS. */
async function stopServer(server) {
  const peakRss = procStatus(server.child.pid, 'VmHWM');
  const exited = new Promise((r) => server.child.once('close', r));
  server.child.kill('SIGTERM');
  await exited;
  const line = server.report();
  return { ...(line ? JSON.parse(line) : {}), peakRss };
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM), or null where there is no /proc. */
function procStatus(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Runs the load generator. Resolves to its JSON line once `onLine` (if given) and the process
 * are done; rejects (a hard error: the harness exits non-zero) if it exits non-zero, e.g. on an
 * echo mismatch. `onLine(json, child)` is called with the first line, before the process exits.
 */
function loadgen(args, onLine, fds) {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = withFds(fds, LOADGEN, args.map(String));
    const child = spawn(cmd, argv, { stdio: [onLine ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
    live.add(child);
    let out = '';
    let first = null;
    let pending = Promise.resolve();
    child.stdout.on('data', (d) => {
      out += d;
      if (first === null && out.includes('\n')) {
        first = JSON.parse(out.split('\n')[0]);
        if (onLine) pending = Promise.resolve(onLine(first, child));
      }
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      pending.then(
        () => {
          if (code !== 0) reject(new Error(`wsb-loadgen ${args.join(' ')} failed (${code ?? signal}): ${out.trim()}`));
          else resolve(first);
        },
        (e) => reject(e),
      );
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '-' : Math.abs(n) >= 100 ? Math.round(n).toString() : n.toFixed(2));
const mib = (b) => (b === null || b === undefined ? null : b / 1048576);

/**
 * redis-benchmark against 127.0.0.1:`port`: `requests` SETs of random keys among `keys`, then as
 * many GETs, from `conns` connections. Resolves to ops/s and latency percentiles (us) of each.
 */
function redisBenchmark(port, conns, keys, requests) {
  const args = ['-h', '127.0.0.1', '-p', port, '-c', conns, '-n', requests, '-r', keys, '-t', 'set,get', '--csv'];
  return new Promise((resolve, reject) => {
    const child = execFile(REDIS_BENCHMARK, args.map(String), { timeout: 600000 }, (error, stdout, stderr) => {
      live.delete(child);
      if (error) {
        reject(new Error(`redis-benchmark ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        return;
      }
      // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
      const rows = {};
      for (const line of stdout.split('\n')) {
        const cells = line.split(',').map((c) => c.replace(/"/g, ''));
        if (cells.length >= 7 && cells[0] !== 'test') rows[cells[0]] = { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) };
      }
      if (!rows.SET || !rows.GET) {
        reject(new Error(`redis-benchmark printed no SET and GET figures:\n${stdout}${stderr}`));
        return;
      }
      const us = (ms) => Math.round(ms * 1000);
      resolve({
        setPerSec: rows.SET.rps,
        getPerSec: rows.GET.rps,
        setP50us: us(rows.SET.p50),
        setP99us: us(rows.SET.p99),
        getP50us: us(rows.GET.p50),
        getP99us: us(rows.GET.p99),
        requests,
      });
    });
    live.add(child);
  });
}

/**
 * bench/hostcall.js's client in its own process against 127.0.0.1:`port`: resolves to its JSON
 * (messages, msgsPerSec, p50us, p99us).
 */
function hostcallClient(port, conns, seconds) {
  const args = [path.join(__dirname, 'hostcall.js'), 'client', port, conns, seconds].map(String);
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { timeout: (seconds + 60) * 1000 }, (error, stdout, stderr) => {
      live.delete(child);
      if (error) reject(new Error(`node ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
    live.add(child);
  });
}

/** One measurement of one server; returns the loadgen's JSON plus server-side figures. */
async function measure(sc, table, kind, opts) {
  const server = await startServer(kind, sc.guest, sc.mode === 'idle' ? opts.idleConnections + SERVER_FD_SLACK : undefined);
  let res;
  try {
    const a = sc.args || table.args;
    if (sc.mode === 'resp') res = await redisBenchmark(server.port, a.conns, a.keys, opts.requests);
    else if (sc.mode === 'hostcall') res = await hostcallClient(server.port, a.conns, opts.seconds);
    else if (sc.mode === 'pingpong') res = await loadgen(['pingpong', server.port, a.conns, a.size, opts.seconds, a.reply]);
    else if (sc.mode === 'stream') res = await loadgen(['stream', server.port, a.conns, a.write, opts.seconds]);
    else if (sc.mode === 'churn') res = await loadgen(['churn', server.port, a.conns, a.size, opts.seconds]);
    else res = await measureIdle(server, opts);
  } catch (e) {
    server.child.kill('SIGKILL');
    throw e;
  }
  const rep = await stopServer(server);
  res.loopDelayP99ms = rep.loopDelayP99ms ?? null;
  res.serverPeakRss = rep.peakRss;
  return res;
}

/**
 * Idle memory: warm the server up (500 connections opened, echoed once, closed), read its RSS,
 * open `n` connections (each echoes one byte, then stays idle) from ceil(n / connsPerClient)
 * load generator processes, each under `ulimit -n` and bound to its own source address
 * (127.0.0.1, 127.0.0.2, ...), read its RSS again after `settle` seconds, close them.
 * Bytes per connection = (loaded - idle) / n.
 */
async function measureIdle(server, opts) {
  const n = opts.idleConnections;
  const pid = server.child.pid;
  if (procStatus(pid, 'VmRSS') === null) throw new Error('idle needs /proc/PID/status (Linux)');
  await loadgen(['idle', server.port, Math.min(500, n), 0]);
  await sleep(500);
  const idleRss = procStatus(pid, 'VmRSS');
  const clients = Math.ceil(n / opts.connsPerClient);
  const counts = Array.from({ length: clients }, (_, i) => Math.floor(n / clients) + (i < n % clients ? 1 : 0));
  let open = 0;
  const holders = [];
  let allOpen;
  const everyOneOpen = new Promise((r) => (allOpen = r));
  const runs = counts.map((count, i) =>
    loadgen(
      ['idle', server.port, count, 600, `127.0.0.${i + 1}`],
      async (line, child) => {
        holders.push(child);
        if (line.connections === count) open += count;
        if (holders.length === clients) allOpen();
        await everyOneOpen;
      },
      count + CLIENT_FD_SLACK,
    ),
  );
  // Measure once every client holds its connections, then let them all go (stdin's end).
  const measured = everyOneOpen.then(async () => {
    if (open !== n) return null;
    await sleep(opts.settle * 1000);
    const rss = procStatus(pid, 'VmRSS');
    return rss;
  });
  const loadedRss = await Promise.race([measured, Promise.all(runs).then(() => null)]);
  for (const child of holders) child.stdin.end();
  const res = await Promise.all(runs);
  const connections = res.reduce((a, r) => a + r.connections, 0);
  if (connections !== n) throw new Error(`idle: opened ${connections} of ${n} connections`);
  const openSeconds = Math.max(...res.map((r) => r.openSeconds));
  return { connections, openSeconds, clients, settle: opts.settle, idleRss, loadedRss, bytesPerConn: (loadedRss - idleRss) / n };
}

/** Medians, min, max and ratios of one table's results. */
function summarize(sc, table, results, opts) {
  const kinds = kindsOf(sc, table).filter((k) => results[k].length > 0);
  const base = kinds[0];
  const metric = table.metric || sc.metric;
  const rows = {};
  for (const kind of kinds) {
    const xs = results[kind];
    const vals = xs.map((x) => x[metric]);
    const pick = (f) => (xs.some((x) => x[f] !== null && x[f] !== undefined) ? median(xs.map((x) => x[f])) : null);
    rows[kind] = { label: label(kind), median: median(vals), min: Math.min(...vals), max: Math.max(...vals), ratio: null };
    if (hasLatency(sc)) Object.assign(rows[kind], { p50us: pick(table.p50 || 'p50us'), p99us: pick(table.p99 || 'p99us') });
    if (sc.mode === 'idle') Object.assign(rows[kind], { idleRss: pick('idleRss'), loadedRss: pick('loadedRss') });
    Object.assign(rows[kind], { loopDelayP99ms: pick('loopDelayP99ms'), serverPeakRss: pick('serverPeakRss'), runs: vals });
  }
  const b = rows[base].median;
  for (const kind of kinds) {
    const m = rows[kind].median;
    if (sc.mode === 'idle') rows[kind].overBaseline = m - b; // the target: <= 1 KiB more than node-net
    // Higher is better: value / baseline; for memory, baseline / value (undefined if <= 0).
    rows[kind].ratio = sc.lowerIsBetter ? (m > 0 && b > 0 ? b / m : null) : b > 0 ? m / b : null;
  }
  const out = {
    title: sc.mode === 'idle' ? `${table.title}, ${opts.idleConnections} connections` : table.title,
    unit: sc.unit,
    metric,
    baseline: base,
    ratio: sc.lowerIsBetter ? `${base} ${sc.unit} / server ${sc.unit} (higher: less memory)` : `server ${sc.unit} / ${base} ${sc.unit}`,
    rounds: opts.rounds,
    seconds: sc.mode === 'idle' || sc.mode === 'resp' ? null : opts.seconds,
    params: sc.mode === 'idle' ? { connections: opts.idleConnections, settleSeconds: opts.settle, connsPerClient: opts.connsPerClient } : sc.mode === 'resp' ? { ...sc.args, requests: opts.requests } : table.args || sc.args,
    rows,
  };
  if (rows['rust-echo'] && rows['node-net']) out.loadgenCeilingAboveNodeNet = rows['rust-echo'].median > rows['node-net'].median;
  return out;
}

/** Whether the scenario's tables have round-trip latency columns. */
function hasLatency(sc) {
  return sc.mode === 'pingpong' || sc.mode === 'hostcall' || sc.mode === 'churn' || sc.mode === 'resp';
}

function printTable(sc, t) {
  const w = Math.max(15, ...Object.values(t.rows).map((r) => r.label.length));
  const cols = [
    [t.unit, (r) => fmt(r.median), 10],
    ['(min..max)', (r) => `(${fmt(r.min)}..${fmt(r.max)})`, 20],
  ];
  if (hasLatency(sc)) cols.push(['p50 us', (r) => fmt(r.p50us), 7], ['p99 us', (r) => fmt(r.p99us), 7]);
  if (sc.mode === 'idle') {
    cols.push([`vs ${t.baseline}`, (r) => `${r.overBaseline >= 0 ? '+' : ''}${Math.round(r.overBaseline)}`, Math.max(11, t.baseline.length + 3)]);
    cols.push(['idle MiB', (r) => fmt(mib(r.idleRss)), 9], ['loaded MiB', (r) => fmt(mib(r.loadedRss)), 11]);
  }
  else cols.push(['peak RSS MiB', (r) => fmt(mib(r.serverPeakRss)), 12]);
  cols.push(['loop p99 ms', (r) => fmt(r.loopDelayP99ms), 11], ['ratio', (r) => (r.ratio === null ? 'n/a' : r.ratio.toFixed(3)), 6]);
  const when =
    sc.mode === 'resp' ? `${t.params.requests} requests x ${t.rounds} rounds` : t.seconds === null ? `${t.rounds} rounds` : `${t.seconds} s x ${t.rounds} rounds`;
  console.log(`\n${t.title}; ${when}, medians; ratio: ${t.ratio}`);
  console.log(`${'server'.padEnd(w)} ${cols.map(([h, , n]) => h.padStart(n)).join(' ')}`);
  for (const r of Object.values(t.rows)) console.log(`${r.label.padEnd(w)} ${cols.map(([, f, n]) => f(r).padStart(n)).join(' ')}`);
  if (t.loadgenCeilingAboveNodeNet === false) {
    console.log('WARNING: rust-echo is not faster than node-net here: the load generator may be the bottleneck');
  }
}

function roundLine(sc, table, kind, r, res) {
  const head = `${table.id} round ${r + 1} ${label(kind).padEnd(28)}`;
  const loop = `loop p99 ${fmt(res.loopDelayP99ms)} ms`;
  if (sc.mode === 'resp') {
    return `${head} SET ${fmt(res.setPerSec)} ops/s (p99 ${res.setP99us} us)  GET ${fmt(res.getPerSec)} ops/s (p99 ${res.getP99us} us)  ${loop}`;
  }
  if (sc.mode === 'pingpong' || sc.mode === 'hostcall') return `${head} ${fmt(res.msgsPerSec)} msg/s  p50 ${res.p50us} us  p99 ${res.p99us} us  ${loop}`;
  if (sc.mode === 'stream') return `${head} ${res.mibPerSec} MiB/s (${(res.bytes / 1048576).toFixed(0)} MiB verified)  peak RSS ${fmt(mib(res.serverPeakRss))} MiB  ${loop}`;
  if (sc.mode === 'churn') return `${head} ${res.connsPerSec} conns/s  p50 ${res.p50us} us  p99 ${res.p99us} us  ${loop}`;
  return `${head} ${Math.round(res.bytesPerConn)} B/conn  (RSS ${fmt(mib(res.idleRss))} -> ${fmt(mib(res.loadedRss))} MiB for ${res.connections} connections from ${res.clients} client process(es), opened in ${res.openSeconds} s)`;
}

function machine(opts) {
  let rustc;
  try {
    rustc = String(execFileSync('rustc', ['--version'])).trim();
  } catch {
    rustc = 'rustc not found';
  }
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0] ? cpus[0].model.trim() : 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    rustc,
    date: new Date().toISOString(),
    rounds: opts.rounds,
    seconds: opts.seconds,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.kinds) keepKinds(opts);
  if (opts.scenarios.includes('idle')) opts.connsPerClient = checkIdleFds(opts);
  // The Rust load generator, unless every scenario asked for does without it (load, kv, hostcall).
  if (opts.scenarios.some((n) => n !== 'load' && SCENARIOS[n].mode !== 'resp' && SCENARIOS[n].mode !== 'hostcall')) {
    execFileSync('cargo', ['build', '--release', '--quiet'], { cwd: path.join(__dirname, 'loadgen'), stdio: 'inherit' });
  }
  if (opts.scenarios.includes('kv')) {
    if (!installed(REDIS_BENCHMARK)) throw new Error('the kv scenario needs redis-benchmark: apt-get install redis-tools');
    if (!installed(REDIS_SERVER)) {
      console.log('kv: redis-server is not installed (apt-get install redis-server): measuring without it');
      SCENARIOS.kv.kinds = SCENARIOS.kv.kinds.filter((k) => k !== 'redis');
    }
  }
  const mach = machine(opts);
  console.log(`machine: ${mach.cores} cores (${mach.cpu}), ${mach.memoryGiB} GiB, ${mach.os}, node ${mach.node}, ${mach.rustc}`);
  const report = { machine: mach, command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(), scenarios: {} };
  for (const name of opts.scenarios) {
    if (name === 'load') {
      console.log(`\nload: Bridge.load in a fresh process, medians of ${Math.max(opts.rounds, 5)} rounds`);
      report.load = require('./load-time').main(Math.max(opts.rounds, 5));
      continue;
    }
    const sc = SCENARIOS[name];
    const results = sc.tables.map((table) => Object.fromEntries(kindsOf(sc, table).map((k) => [k, []])));
    for (let r = 0; r < opts.rounds; r++) {
      if (sc.mode === 'resp') {
        // One run per server measures every table (SET and GET).
        const order = sc.kinds.map((_, j) => sc.kinds[(j + r) % sc.kinds.length]);
        for (const kind of order) {
          const res = await measure(sc, sc.tables[0], kind, opts);
          sc.tables.forEach((_, i) => results[i][kind].push(res));
          console.log(roundLine(sc, { id: name }, kind, r, res));
        }
        continue;
      }
      for (const [i, table] of sc.tables.entries()) {
        // Rotate the order each round (A B C D, B C D A, ...): no server always runs right after
        // the same neighbour (its TIME_WAIT sockets, its page cache, a warming CPU).
        const kinds = kindsOf(sc, table);
        const order = kinds.map((_, j) => kinds[(j + r) % kinds.length]);
        for (const kind of order) {
          const res = await measure(sc, table, kind, opts);
          results[i][kind].push(res);
          console.log(roundLine(sc, table, kind, r, res));
        }
      }
    }
    for (const [i, table] of sc.tables.entries()) {
      const t = summarize(sc, table, results[i], opts);
      report.scenarios[table.id] = t;
      printTable(sc, t);
    }
    console.log('');
  }
  if (opts.save) {
    fs.mkdirSync(opts.out, { recursive: true });
    fs.writeFileSync(path.join(opts.out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(path.join(opts.out, 'latest.svg'), renderChart(report));
    fs.writeFileSync(path.join(opts.out, 'latest.md'), renderMarkdown(report));
    const rel = path.relative(process.cwd(), opts.out);
    console.log(`wrote ${path.join(rel.startsWith('..') ? opts.out : rel, 'latest.json')}, latest.svg and latest.md`);
  }
  return report;
}

main().catch((e) => {
  console.error(e.message);
  for (const child of live) child.kill('SIGKILL');
  process.exit(1);
});
