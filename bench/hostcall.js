'use strict';
// Host-call round trips: N connections ping-pong one line at a time for a few seconds against the
// pingpong guest (bench/guests/pingpong.ts), which answers each line either directly or through
// a trivial async host function (Host.call -> `async (data) => data` on the JS thread -> onReply).
// A measurement, never an assertion.
//
//   npm run bench -- hostcall            the "hostcall" scenario of bench/run.js: each server in its
//                                        own process (bench/server.js), this file as the client
//   node bench/hostcall.js [connections] [seconds]
//                                        standalone: server and client in this process, inline and
//                                        with threads: 2; prints round trips per second and the ratio
//   node bench/hostcall.js client PORT CONNECTIONS SECONDS
//                                        the client alone, against a server on 127.0.0.1:PORT; prints
//                                        one JSON line: messages, msgsPerSec, p50us, p99us
const net = require('node:net');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const guest = path.join(__dirname, '..', 'build', 'guests', 'pingpong.wasm');
const LINE = 'ping 0123456789abcdef\n';

/** The pingpong guest's bridge options: answered directly, or through the host function. */
function bridgeOptions(viaHost) {
  return { config: viaHost ? 'host' : '', hostFunctions: { answer: async (data) => data } };
}

/**
 * `connections` sockets to 127.0.0.1:`port`, each sending LINE and waiting for it to come back,
 * over and over: half a second of warm-up, then `seconds` counted. Resolves to the round trips
 * counted, their rate, and the median and 99th percentile round-trip time (us).
 */
async function pingpong(port, connections, seconds) {
  let counting = false;
  let running = true;
  const latencies = [];
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    })),
  );
  for (const s of sockets) {
    s.setNoDelay(true);
    let got = 0;
    let sent = 0;
    s.on('data', (d) => {
      got += d.length;
      while (got >= LINE.length) {
        got -= LINE.length;
        const now = performance.now();
        if (counting) latencies.push(now - sent);
        if (running) {
          sent = now;
          s.write(LINE);
        }
      }
    });
    s.on('error', () => {}); // the server going away at the end is not the client's failure
    sent = performance.now();
    s.write(LINE);
  }
  await new Promise((r) => setTimeout(r, 500));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  running = false;
  for (const s of sockets) s.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] * 1000) : null);
  return { messages: latencies.length, msgsPerSec: latencies.length / elapsed, p50us: pct(0.5), p99us: pct(0.99) };
}

/** Standalone: a bridge in this process, then the client against it. */
async function runInProcess(options, viaHost, connections, seconds) {
  const { Bridge, createServer } = require('..');
  const bridge = await Bridge.load(guest, { ...options, ...bridgeOptions(viaHost) });
  bridge.on('error', (e) => console.error(`guest ${e.kind}: ${e.message}`));
  const server = createServer(bridge);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const res = await pingpong(server.address().port, connections, seconds);
  await new Promise((r) => server.close(r));
  await bridge.close();
  return res.msgsPerSec;
}

async function standalone(connections, seconds) {
  console.log(`${connections} connections ping-ponging one ${LINE.length}-byte line each for ${seconds} s; round trips per second`);
  console.log('| mode | direct echo | via async host function | host call / direct |');
  console.log('| --- | ---: | ---: | ---: |');
  const modes = process.env.MODES ? JSON.parse(process.env.MODES) : [{ threads: 0 }, { threads: 2 }];
  for (const options of modes) {
    const direct = await runInProcess(options, false, connections, seconds);
    const hosted = await runInProcess(options, true, connections, seconds);
    const mode = options.threads ? `threads: ${options.threads}` : 'inline';
    const f = (x) => Math.round(x).toLocaleString('en-US');
    console.log(`| ${mode} | ${f(direct)} | ${f(hosted)} | ${(hosted / direct).toFixed(2)} |`);
  }
}

module.exports = { bridgeOptions, pingpong };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const run =
    argv[0] === 'client'
      ? pingpong(Number(argv[1]), Number(argv[2] || 50), Number(argv[3] || 3)).then((res) => console.log(JSON.stringify(res)))
      : standalone(Number(argv[0] || 50), Number(argv[1] || 3));
  run.catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
