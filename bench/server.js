'use strict';
// A benchmark server in its own process: `node bench/server.js KIND GUEST` listens on 127.0.0.1:0
// and prints its port. KIND: node-net (plain net echo, no wasm; GUEST ignored), resp-js (the plain
// JS GET/SET RESP server of bench/resp-server.js; GUEST ignored), v8-wasm (the guest
// run by Node's WebAssembly, as the AssemblyScript TCP server article does), bridge-inline
// (threads: 0), bridge-threads (threads: 2); a -fuel suffix on a bridge kind adds fuelPerEvent
// (1e12, never reached: it measures metering's cost). GUEST: a name in build/guests (echo, hash, kv,
// pingpong). The pingpong guest answers directly, or with a -host suffix on the kind through its
// async host function (bench/hostcall.js).
// On SIGTERM it prints one JSON line: the JS thread's event-loop delay p99 (ms) and its RSS.
const net = require('node:net');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

async function main(kind, guestName) {
  const wasm = path.join(__dirname, '..', 'build', 'guests', `${guestName || 'echo'}.wasm`);
  let server;
  if (kind === 'node-net') {
    server = net.createServer((socket) => {
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => {}); // a reset by the client is not the server's failure
    });
  } else if (kind === 'resp-js') {
    server = require('./resp-server').createRespServer();
  } else if (kind === 'v8-wasm') {
    server = require('./v8-host').createV8Server(wasm);
  } else if (kind.startsWith('bridge-')) {
    const { Bridge, createServer } = require('..');
    const [, mode, fuel, host] = /^bridge-(inline|threads)(-fuel)?(-host)?$/.exec(kind) || [];
    if (!mode) throw new Error(`unknown server kind ${kind}`);
    const pingpong = guestName === 'pingpong' ? require('./hostcall').bridgeOptions(Boolean(host)) : {};
    const bridge = await Bridge.load(wasm, { threads: mode === 'threads' ? 2 : 0, fuelPerEvent: fuel ? 1e12 : undefined, ...pingpong });
    server = createServer(bridge);
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  const delay = monitorEventLoopDelay({ resolution: 10 });
  server.listen(0, '127.0.0.1', () => {
    delay.enable();
    console.log(server.address().port);
  });
  process.on('SIGTERM', () => {
    delay.disable();
    console.log(JSON.stringify({ loopDelayP99ms: delay.percentile(99) / 1e6, rss: process.memoryUsage().rss }));
    process.exit(0);
  });
}

main(process.argv[2], process.argv[3]).catch((e) => {
  console.error(e.message);
  process.exit(1);
});
