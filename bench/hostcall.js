'use strict';
// Host-call round trips: N connections ping-pong one line at a time for a few seconds against the
// pingpong guest (bench/guests/pingpong.ts), which answers each line either directly or through
// a trivial async host function (Host.call -> `async (data) => data` on the JS thread -> onReply).
// Inline and with threads: 2. Prints round trips per second and the ratio as a markdown table.
// A measurement, never an assertion. Run: node bench/hostcall.js [connections] [seconds]
const net = require('node:net');
const path = require('node:path');
const { Bridge, createServer } = require('..');

const CONNECTIONS = Number(process.argv[2] || 50);
const SECONDS = Number(process.argv[3] || 3);
const guest = path.join(__dirname, '..', 'build', 'guests', 'pingpong.wasm');
const LINE = 'ping 0123456789abcdef\n';

async function run(options, viaHost) {
  const bridge = await Bridge.load(guest, {
    ...options,
    config: viaHost ? 'host' : '',
    hostFunctions: { answer: async (data) => data },
  });
  bridge.on('error', (e) => console.error(`guest ${e.kind}: ${e.message}`));
  const server = createServer(bridge);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  let roundTrips = 0;
  let running = true;
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    })),
  );
  for (const s of sockets) {
    s.setNoDelay(true);
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      while (got >= LINE.length) {
        got -= LINE.length;
        roundTrips++;
        if (running) s.write(LINE);
      }
    });
  }
  // Warm up for half a second, then count.
  for (const s of sockets) s.write(LINE);
  await new Promise((r) => setTimeout(r, 500));
  const start = roundTrips;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const counted = roundTrips - start;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  await bridge.close();
  return counted / elapsed;
}

(async () => {
  console.log(`${CONNECTIONS} connections ping-ponging one ${LINE.length}-byte line each for ${SECONDS} s; round trips per second`);
  console.log('| mode | direct echo | via async host function | host call / direct |');
  console.log('| --- | ---: | ---: | ---: |');
  const modes = process.env.MODES ? JSON.parse(process.env.MODES) : [{ threads: 0 }, { threads: 2 }];
  for (const options of modes) {
    const direct = await run(options, false);
    const hosted = await run(options, true);
    const mode = options.threads ? `threads: ${options.threads}` : 'inline';
    const f = (x) => Math.round(x).toLocaleString('en-US');
    console.log(`| ${mode} | ${f(direct)} | ${f(hosted)} | ${(hosted / direct).toFixed(2)} |`);
  }
})();
