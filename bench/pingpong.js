'use strict';
// Pingpong side by side: plain Node net echo vs the bridge's echo guest, interleaved
// (A B A B ...), each round against a fresh server process. Prints medians and the ratio.
//   node bench/pingpong.js [rounds=3] [seconds=5] [connections=50] [size=64]
const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const [rounds = 3, seconds = 5, conns = 50, size = 64] = process.argv.slice(2).map(Number);
const kinds = ['node-net', 'bridge-inline'];

execFileSync('cargo', ['build', '--release', '--quiet'], { cwd: path.join(__dirname, 'loadgen'), stdio: 'inherit' });
const loadgen = path.join(__dirname, 'loadgen', 'target', 'release', 'wsb-loadgen');

function startServer(kind) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), kind], { cwd: root });
    child.stdout.once('data', (d) => resolve({ child, port: Number(String(d).trim()) }));
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const results = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const { child, port } = await startServer(kind);
      const out = execFileSync(loadgen, ['pingpong', String(port), String(conns), String(size), String(seconds)]);
      child.kill('SIGTERM');
      const res = JSON.parse(String(out));
      results[kind].push(res);
      console.log(`round ${r + 1} ${kind.padEnd(14)} ${res.msgsPerSec} msg/s  p50 ${res.p50us} us  p99 ${res.p99us} us`);
    }
  }
  console.log(`\npingpong, ${conns} connections, ${size}-byte messages, ${seconds} s x ${rounds} rounds (medians)`);
  const base = median(results['node-net'].map((x) => x.msgsPerSec));
  for (const kind of kinds) {
    const m = median(results[kind].map((x) => x.msgsPerSec));
    const p50 = median(results[kind].map((x) => x.p50us));
    const p99 = median(results[kind].map((x) => x.p99us));
    const lo = Math.min(...results[kind].map((x) => x.msgsPerSec));
    const hi = Math.max(...results[kind].map((x) => x.msgsPerSec));
    console.log(`${kind.padEnd(14)} ${m} msg/s (min ${lo}, max ${hi})  p50 ${p50} us  p99 ${p99} us  ratio ${(m / base).toFixed(3)}`);
  }
})();
