'use strict';
// How long bridge.reload takes, from the call to the switch: uncached (each reload compiles) and
// with cacheDir (a cache hit), inline and with threads: 2. Measures, asserts nothing.
//
//   node bench/reload.js [guest.wasm] [reloads per case, default 50]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Bridge } = require('..');

const guestFile = process.argv[2] ?? path.join(__dirname, '..', 'build', 'guests', 'kv.wasm');
const count = Number(process.argv[3] ?? 50);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(threads, cacheDir) {
  const bridge = await Bridge.load(guestFile, { threads, cacheDir });
  bridge.on('log', () => {});
  const times = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await bridge.reload(guestFile);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await bridge.close();
  return { median: median(times), min: Math.min(...times), max: Math.max(...times) };
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-reload-bench-'));
  console.log(`bridge.reload of ${path.basename(guestFile)} (${fs.statSync(guestFile).size} bytes), ${count} reloads per case, ms`);
  for (const threads of [0, 2]) {
    for (const cached of [false, true]) {
      const r = await measure(threads, cached ? dir : undefined);
      const fmt = (x) => x.toFixed(1);
      console.log(`threads ${threads}, ${cached ? 'cache hit' : 'uncached '}: median ${fmt(r.median)}  min ${fmt(r.min)}  max ${fmt(r.max)}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
})();
