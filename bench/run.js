'use strict';
// Benchmarks, side by side and interleaved (A B C A B C ...), each run against a fresh server
// process, with the Rust load generator in its own process. Never part of npm test.
//
//   node bench/run.js [scenario ...] [--rounds 3] [--seconds 5]
//
// Scenarios:
//   echo   pingpong, 64-byte messages, 50 connections: node-net, v8-wasm, bridge-inline, bridge-threads
//   hash   the CPU-heavy hash guest under pingpong (64-byte lines, 17-byte answers, 50 connections):
//          v8-wasm, bridge-inline, bridge-threads
//   fuel   the hash scenario inline, without and with a fuelPerEvent budget (metering's cost)
//   load   Bridge.load time per guest: no cache, cold cacheDir, cache hit (bench/load-time.js)
// Reports medians (min..max) of messages/s, round-trip p50/p99 and the server's event-loop delay
// p99, and the ratio of each server's messages/s to the scenario's baseline.
const { execFileSync, spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const SCENARIOS = {
  echo: { guest: 'echo', kinds: ['node-net', 'v8-wasm', 'bridge-inline', 'bridge-threads'], size: 64, reply: 64, conns: 50 },
  hash: { guest: 'hash', kinds: ['v8-wasm', 'bridge-inline', 'bridge-threads'], size: 64, reply: 17, conns: 50 },
  fuel: { guest: 'hash', kinds: ['bridge-inline', 'bridge-inline-fuel'], size: 64, reply: 17, conns: 50 },
};

function parseArgs(argv) {
  const opts = { rounds: 3, seconds: 5, scenarios: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') opts.rounds = Number(argv[++i]);
    else if (argv[i] === '--seconds') opts.seconds = Number(argv[++i]);
    else if (SCENARIOS[argv[i]] || argv[i] === 'load') opts.scenarios.push(argv[i]);
    else throw new Error(`unknown argument ${argv[i]}; scenarios: ${Object.keys(SCENARIOS).join(', ')}, load`);
  }
  if (opts.scenarios.length === 0) opts.scenarios = ['echo', 'hash', 'load'];
  return opts;
}

function startServer(kind, guest) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), kind, guest], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let port = null;
    child.stdout.on('data', (d) => {
      out += d;
      if (port === null && out.includes('\n')) {
        port = Number(out.split('\n')[0]);
        resolve({ child, port, report: () => out.split('\n')[1] });
      }
    });
    child.once('exit', (code) => {
      if (port === null) reject(new Error(`${kind} server exited with ${code}`));
    });
  });
}

async function stopServer(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
  return JSON.parse(server.report());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => (n >= 100 ? Math.round(n).toString() : n.toFixed(2));

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  execFileSync('cargo', ['build', '--release', '--quiet'], { cwd: path.join(__dirname, 'loadgen'), stdio: 'inherit' });
  const loadgen = path.join(__dirname, 'loadgen', 'target', 'release', 'wsb-loadgen');
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0].model}), node ${process.version}`);
  const all = {};
  for (const name of opts.scenarios) {
    if (name === 'load') {
      console.log(`load: Bridge.load in a fresh process, medians of ${Math.max(opts.rounds, 5)} rounds`);
      all.load = require('./load-time').main(Math.max(opts.rounds, 5));
      console.log('');
      continue;
    }
    const sc = SCENARIOS[name];
    const results = Object.fromEntries(sc.kinds.map((k) => [k, []]));
    for (let r = 0; r < opts.rounds; r++) {
      for (const kind of sc.kinds) {
        const server = await startServer(kind, sc.guest);
        const args = ['pingpong', server.port, sc.conns, sc.size, opts.seconds, sc.reply].map(String);
        const res = JSON.parse(String(execFileSync(loadgen, args)));
        const rep = await stopServer(server);
        res.loopDelayP99ms = rep.loopDelayP99ms;
        results[kind].push(res);
        console.log(
          `${name} round ${r + 1} ${kind.padEnd(15)} ${res.msgsPerSec} msg/s  p50 ${res.p50us} us  p99 ${res.p99us} us  loop p99 ${fmt(res.loopDelayP99ms)} ms`,
        );
      }
    }
    const base = median(results[sc.kinds[0]].map((x) => x.msgsPerSec));
    console.log(`\n${name}: ${sc.conns} connections, ${sc.size}-byte messages, ${opts.seconds} s x ${opts.rounds} rounds, medians; ratio to ${sc.kinds[0]}`);
    console.log(`${'server'.padEnd(15)} ${'msg/s'.padStart(8)} ${'(min..max)'.padStart(16)} ${'p50 us'.padStart(7)} ${'p99 us'.padStart(7)} ${'loop p99 ms'.padStart(11)} ${'ratio'.padStart(6)}`);
    all[name] = {};
    for (const kind of sc.kinds) {
      const xs = results[kind];
      const m = median(xs.map((x) => x.msgsPerSec));
      const row = {
        msgsPerSec: m,
        min: Math.min(...xs.map((x) => x.msgsPerSec)),
        max: Math.max(...xs.map((x) => x.msgsPerSec)),
        p50us: median(xs.map((x) => x.p50us)),
        p99us: median(xs.map((x) => x.p99us)),
        loopDelayP99ms: median(xs.map((x) => x.loopDelayP99ms)),
        ratio: m / base,
      };
      all[name][kind] = row;
      console.log(
        `${kind.padEnd(15)} ${String(m).padStart(8)} ${`(${row.min}..${row.max})`.padStart(16)} ${String(row.p50us).padStart(7)} ${String(row.p99us).padStart(7)} ${fmt(row.loopDelayP99ms).padStart(11)} ${row.ratio.toFixed(3).padStart(6)}`,
      );
    }
    console.log('');
  }
  return all;
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
