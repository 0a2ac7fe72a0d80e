'use strict';
// Reloads a guest N times (argv: guest path, N, threads, optional cacheDir), each time with one connection open on
// the old guest that closes after the switch, and prints the resident memory after the first
// reload and after the last (both after a full GC, once the old instances are gone) as JSON.
// test/reload.test.js bounds the growth; `WSB_VERBOSE=1` shows the figures.
const net = require('node:net');
const v8 = require('node:v8');
const vm = require('node:vm');
const { Bridge, createServer } = require('../..');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const [guestPath, countArg, threadsArg, cacheDir] = process.argv.slice(2);
const count = Number(countArg);
const threads = Number(threadsArg);

function ask(port, line) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${line}\n`));
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve({ socket, answer: buf.trim() });
    });
    socket.on('error', reject);
  });
}

async function settle(bridge) {
  const perThread = Math.max(threads, 1);
  for (let i = 0; bridge.connections > 0 || bridge.stats().instances !== perThread; i++) {
    if (i > 500) throw new Error(`old instances did not go: ${JSON.stringify(bridge.stats())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  return process.memoryUsage().rss;
}

(async () => {
  const bridge = await Bridge.load(guestPath, { threads, config: 'g0', cacheDir });
  bridge.on('log', () => {});
  const server = createServer(bridge);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  let first = 0;
  const started = Date.now();
  for (let g = 1; g <= count; g++) {
    const { socket, answer } = await ask(port, 'config');
    if (answer !== `config g${g - 1}`) throw new Error(`generation ${g}: got ${answer}`);
    await bridge.reload(guestPath, { config: `g${g}` });
    socket.destroy();
    if (g === 1) first = await settle(bridge);
  }
  const last = await settle(bridge);
  const seconds = (Date.now() - started) / 1000;
  server.close();
  await bridge.close();
  console.log(JSON.stringify({ reloads: count, threads, firstRss: first, lastRss: last, growthBytes: last - first, seconds }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
