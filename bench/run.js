'use strict';
// Benchmarks, side by side and interleaved (A B C, B C A, C A B, ...), each run against a fresh server
// process, with the Rust load generator (bench/loadgen) in its own process. Never part of npm test.
//
//   node bench/run.js [scenario ...] [--rounds 3] [--seconds 5] [--idle-connections 5000]
//                     [--out bench/results] [--no-save]
//
// Scenarios (default: echo stream churn idle hash load):
//   echo    pingpong, 64-byte messages, 50 connections: msg/s, round-trip p50/p99
//   stream  64 KiB writes sent continuously on 1 and on 8 connections, every echoed byte checked
//           against a per-connection pseudo-random pattern: MiB/s of verified echo
//   churn   8 concurrent loops of connect, 32-byte echo, close: connections/s
//   idle    5,000 open idle connections: the server's RSS per connection above the idle server
//           (VmRSS from /proc/PID/status, after a warm-up of 500 connections opened and closed)
//   hash    the CPU-heavy hash guest under pingpong (64-byte lines, 17-byte answers, 50
//           connections): v8-wasm, bridge-inline, bridge-threads; ratios to v8-wasm
//   fuel    the hash scenario inline, without and with a fuelPerEvent budget (metering's cost)
//   load    Bridge.load time per guest: no cache, cold cacheDir, cache hit (bench/load-time.js)
// Servers: node-net (plain Node net echo), v8-wasm (the echo guest on Node's WebAssembly, as the
// AssemblyScript TCP server article does), bridge-inline, bridge-threads (threads: 2), and in echo
// and stream rust-echo (`wsb-loadgen echo-server`, thread per connection): the load generator's
// ceiling.
// Reports medians (min..max) over the rounds and each server's ratio to the scenario's baseline
// (node-net; v8-wasm for hash; bridge-inline for fuel; for idle, node-net's bytes per connection
// divided by the server's, so higher is better everywhere). Writes OUT/latest.json,
// OUT/latest.svg (a bar chart of the ratios) and OUT/latest.md (the table) unless --no-save.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { renderChart } = require('./chart');
const { renderMarkdown } = require('./markdown');

const LOADGEN = path.join(__dirname, 'loadgen', 'target', 'release', 'wsb-loadgen');
const WASM_KINDS = ['node-net', 'v8-wasm', 'bridge-inline', 'bridge-threads'];
const LABELS = { 'rust-echo': 'rust-echo (loadgen ceiling)' };
const label = (kind) => LABELS[kind] || kind;

// Each scenario has one or more tables (stream: 1 and 8 connections); a round runs every table's
// servers in turn. metric: the loadgen's JSON field (or the idle measurement) the ratio is of.
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
    kinds: ['v8-wasm', 'bridge-inline', 'bridge-threads'],
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
};
const DEFAULT_SCENARIOS = ['echo', 'stream', 'churn', 'idle', 'hash', 'load'];

function parseArgs(argv) {
  const opts = { rounds: 3, seconds: 5, idleConnections: 5000, out: path.join(__dirname, 'results'), save: true, scenarios: [] };
  const num = (i, name) => {
    const n = Number(argv[i]);
    if (!(n > 0)) throw new Error(`${name} needs a positive number, got ${argv[i]}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') opts.rounds = Math.round(num(++i, '--rounds'));
    else if (argv[i] === '--seconds') opts.seconds = num(++i, '--seconds');
    else if (argv[i] === '--idle-connections') opts.idleConnections = Math.round(num(++i, '--idle-connections'));
    else if (argv[i] === '--out') opts.out = path.resolve(argv[++i]);
    else if (argv[i] === '--no-save') opts.save = false;
    else if (SCENARIOS[argv[i]] || argv[i] === 'load') opts.scenarios.push(argv[i]);
    else throw new Error(`unknown argument ${argv[i]}; scenarios: ${Object.keys(SCENARIOS).join(', ')}, load`);
  }
  if (opts.scenarios.length === 0) opts.scenarios = DEFAULT_SCENARIOS;
  return opts;
}

const live = new Set();

/** Starts a server process; resolves once it prints its port. */
function startServer(kind, guest) {
  return new Promise((resolve, reject) => {
    const [cmd, args] =
      kind === 'rust-echo' ? [LOADGEN, ['echo-server', '0']] : [process.execPath, [path.join(__dirname, 'server.js'), kind, guest]];
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
function loadgen(args, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN, args.map(String), { stdio: [onLine ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
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

/** One measurement of one server; returns the loadgen's JSON plus server-side figures. */
async function measure(sc, table, kind, opts) {
  const server = await startServer(kind, sc.guest);
  let res;
  try {
    const a = table.args;
    if (sc.mode === 'pingpong') res = await loadgen(['pingpong', server.port, a.conns, a.size, opts.seconds, a.reply]);
    else if (sc.mode === 'stream') res = await loadgen(['stream', server.port, a.conns, a.write, opts.seconds]);
    else if (sc.mode === 'churn') res = await loadgen(['churn', server.port, a.conns, a.size, opts.seconds]);
    else res = await measureIdle(server, opts.idleConnections);
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
 * open `n` connections (each echoes one byte, then stays idle), read its RSS again after a
 * second, close them. Bytes per connection = (loaded - idle) / n.
 */
async function measureIdle(server, n) {
  const pid = server.child.pid;
  if (procStatus(pid, 'VmRSS') === null) throw new Error('idle needs /proc/PID/status (Linux)');
  await loadgen(['idle', server.port, Math.min(500, n), 0]);
  await sleep(500);
  const idleRss = procStatus(pid, 'VmRSS');
  let loadedRss = null;
  const res = await loadgen(['idle', server.port, n, 600], async (line, child) => {
    if (line.connections !== n) return;
    await sleep(1000);
    loadedRss = procStatus(pid, 'VmRSS');
    child.stdin.end();
  });
  if (res.connections !== n) throw new Error(`idle: opened ${res.connections} of ${n} connections`);
  return { ...res, idleRss, loadedRss, bytesPerConn: (loadedRss - idleRss) / n };
}

/** Medians, min, max and ratios of one table's results. */
function summarize(sc, table, results, opts) {
  const base = sc.kinds[0];
  const rows = {};
  for (const kind of sc.kinds) {
    const xs = results[kind];
    const vals = xs.map((x) => x[sc.metric]);
    const pick = (f) => (xs.some((x) => x[f] !== null && x[f] !== undefined) ? median(xs.map((x) => x[f])) : null);
    rows[kind] = { label: label(kind), median: median(vals), min: Math.min(...vals), max: Math.max(...vals), ratio: null };
    if (sc.mode === 'pingpong' || sc.mode === 'churn') Object.assign(rows[kind], { p50us: pick('p50us'), p99us: pick('p99us') });
    if (sc.mode === 'idle') Object.assign(rows[kind], { idleRss: pick('idleRss'), loadedRss: pick('loadedRss') });
    Object.assign(rows[kind], { loopDelayP99ms: pick('loopDelayP99ms'), serverPeakRss: pick('serverPeakRss'), runs: vals });
  }
  const b = rows[base].median;
  for (const kind of sc.kinds) {
    const m = rows[kind].median;
    if (sc.mode === 'idle') rows[kind].overBaseline = m - b; // the target: <= 1 KiB more than node-net
    // Higher is better: value / baseline; for memory, baseline / value (undefined if <= 0).
    rows[kind].ratio = sc.lowerIsBetter ? (m > 0 && b > 0 ? b / m : null) : b > 0 ? m / b : null;
  }
  const out = {
    title: sc.mode === 'idle' ? `${table.title}, ${opts.idleConnections} connections` : table.title,
    unit: sc.unit,
    metric: sc.metric,
    baseline: base,
    ratio: sc.lowerIsBetter ? `${base} ${sc.unit} / server ${sc.unit} (higher: less memory)` : `server ${sc.unit} / ${base} ${sc.unit}`,
    rounds: opts.rounds,
    seconds: sc.mode === 'idle' ? null : opts.seconds,
    params: sc.mode === 'idle' ? { connections: opts.idleConnections } : table.args,
    rows,
  };
  if (rows['rust-echo'] && rows['node-net']) out.loadgenCeilingAboveNodeNet = rows['rust-echo'].median > rows['node-net'].median;
  return out;
}

function printTable(sc, t) {
  const w = Math.max(15, ...Object.values(t.rows).map((r) => r.label.length));
  const cols = [
    [t.unit, (r) => fmt(r.median), 10],
    ['(min..max)', (r) => `(${fmt(r.min)}..${fmt(r.max)})`, 20],
  ];
  if (sc.mode === 'pingpong' || sc.mode === 'churn') cols.push(['p50 us', (r) => fmt(r.p50us), 7], ['p99 us', (r) => fmt(r.p99us), 7]);
  if (sc.mode === 'idle') {
    cols.push(['vs node-net', (r) => `${r.overBaseline >= 0 ? '+' : ''}${Math.round(r.overBaseline)}`, 11]);
    cols.push(['idle MiB', (r) => fmt(mib(r.idleRss)), 9], ['loaded MiB', (r) => fmt(mib(r.loadedRss)), 11]);
  }
  else cols.push(['peak RSS MiB', (r) => fmt(mib(r.serverPeakRss)), 12]);
  cols.push(['loop p99 ms', (r) => fmt(r.loopDelayP99ms), 11], ['ratio', (r) => (r.ratio === null ? 'n/a' : r.ratio.toFixed(3)), 6]);
  const when = t.seconds === null ? `${t.rounds} rounds` : `${t.seconds} s x ${t.rounds} rounds`;
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
  if (sc.mode === 'pingpong') return `${head} ${res.msgsPerSec} msg/s  p50 ${res.p50us} us  p99 ${res.p99us} us  ${loop}`;
  if (sc.mode === 'stream') return `${head} ${res.mibPerSec} MiB/s (${(res.bytes / 1048576).toFixed(0)} MiB verified)  peak RSS ${fmt(mib(res.serverPeakRss))} MiB  ${loop}`;
  if (sc.mode === 'churn') return `${head} ${res.connsPerSec} conns/s  p50 ${res.p50us} us  p99 ${res.p99us} us  ${loop}`;
  return `${head} ${Math.round(res.bytesPerConn)} B/conn  (RSS ${fmt(mib(res.idleRss))} -> ${fmt(mib(res.loadedRss))} MiB for ${res.connections} connections, opened in ${res.openSeconds} s)`;
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
  execFileSync('cargo', ['build', '--release', '--quiet'], { cwd: path.join(__dirname, 'loadgen'), stdio: 'inherit' });
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
    const results = sc.tables.map(() => Object.fromEntries(sc.kinds.map((k) => [k, []])));
    for (let r = 0; r < opts.rounds; r++) {
      for (const [i, table] of sc.tables.entries()) {
        // Rotate the order each round (A B C D, B C D A, ...): no server always runs right after
        // the same neighbour (its TIME_WAIT sockets, its page cache, a warming CPU).
        const order = sc.kinds.map((_, j) => sc.kinds[(j + r) % sc.kinds.length]);
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
