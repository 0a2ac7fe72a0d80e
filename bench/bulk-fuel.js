'use strict';
// How long one event can hold its thread under fuelPerEvent, per bulk instruction, against a plain
// arithmetic loop given the same budget (the guests of test/bulk-guests.js, each looping until its
// fuel runs out). Prints milliseconds per event (median of --rounds) and the ratio to arith.
//
//   node bench/bulk-fuel.js [--rounds 3] [--mode inline|threads|native]
const { Bridge, createServer } = require('..');
const net = require('node:net');
const { bulkGuest, OPS, PAGES } = require('../test/bulk-guests');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', 3));
const MODE = opt('mode', 'inline');
const BUDGETS = [1e5, 1e6, 1e7];

function once(port) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const s = net.connect(port, '127.0.0.1', () => s.write('x'));
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
  });
}

async function measure(op, pages, budget) {
  const options = { fuelPerEvent: budget, maxMemoryBytes: PAGES * 65536, threads: MODE === 'inline' ? 0 : 1 };
  const bridge = await Bridge.load(Buffer.from(bulkGuest(op, pages)), options);
  bridge.on('error', () => {});
  let port;
  let server;
  if (MODE === 'native') {
    server = await bridge.listen({ port: 0 });
    port = server.address().port;
  } else {
    server = createServer(bridge);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  }
  const times = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await once(port));
  await bridge.close();
  await new Promise((r) => (MODE === 'native' ? Promise.resolve(server.close()).then(r) : server.close(r)));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main() {
  console.log(`mode ${MODE}, ${ROUNDS} rounds, ms per event until the fuel runs out (ratio to arith)`);
  console.log(['op', 'length', ...BUDGETS.map((b) => `fuel ${b.toExponential(0)}`)].join(' | '));
  const base = {};
  for (const b of BUDGETS) base[b] = await measure('arith', 1, b);
  for (const op of OPS) {
    for (const pages of op.startsWith('memory.') && op !== 'memory.grow' ? [1, PAGES] : [1]) {
      const cells = [];
      for (const b of BUDGETS) {
        const ms = op === 'arith' ? base[b] : await measure(op, pages, b);
        cells.push(`${ms.toFixed(2)} (${(ms / base[b]).toFixed(2)}x)`);
      }
      const length = op.startsWith('table.') ? 'whole table' : op === 'memory.grow' || op === 'arith' ? '-' : `${pages * 64} KiB`;
      console.log([op, length, ...cells].join(' | '));
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
