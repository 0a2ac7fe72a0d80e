'use strict';
// Load time of guests: Bridge.load without a cache, into an empty cacheDir (compile + write),
// and from a filled one (cache hit: checksum + deserialize). Each measurement is a fresh child
// process (no warm caches in the addon), interleaved A B C A B C, medians over the rounds.
//
//   node bench/load-time.js [--rounds 5]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const GUESTS = ['echo', 'hash', 'http-echo', 'proxy'];
const MODES = ['no cache', 'cold cache', 'cache hit'];

/** One load in a fresh process; prints the milliseconds Bridge.load took. */
function once(guest, cacheDir) {
  const code = `
    const { Bridge } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const t0 = process.hrtime.bigint();
    Bridge.load(${JSON.stringify(guest)}, ${cacheDir ? JSON.stringify({ cacheDir }) : '{}'}).then(async (b) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      process.stdout.write(JSON.stringify({ ms, cache: b.cache && b.cache.status }));
      await b.close();
    });`;
  return JSON.parse(String(execFileSync(process.execPath, ['-e', code])));
}

function main(rounds) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const results = {};
  for (const name of GUESTS) {
    const file = path.join(__dirname, '..', 'build', 'guests', `${name}.wasm`);
    const size = fs.statSync(file).size;
    const times = Object.fromEntries(MODES.map((m) => [m, []]));
    for (let r = 0; r < rounds; r++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-bench-cache-'));
      try {
        times['no cache'].push(once(file, null).ms);
        const cold = once(file, dir);
        if (cold.cache !== 'miss') throw new Error(`expected a miss, got ${cold.cache}`);
        times['cold cache'].push(cold.ms);
        const hit = once(file, dir);
        if (hit.cache !== 'hit') throw new Error(`expected a hit, got ${hit.cache}`);
        times['cache hit'].push(hit.ms);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    results[name] = { bytes: size };
    for (const m of MODES) results[name][m] = median(times[m]);
    console.log(
      `${name.padEnd(10)} ${String(size).padStart(7)} B  ${MODES.map((m) => `${m} ${results[name][m].toFixed(1)} ms`).join('  ')}  hit/compile ${(results[name]['cache hit'] / results[name]['no cache']).toFixed(2)}`,
    );
  }
  return results;
}

module.exports = { main };
if (require.main === module) {
  const i = process.argv.indexOf('--rounds');
  main(i > 0 ? Number(process.argv[i + 1]) : 5);
}
