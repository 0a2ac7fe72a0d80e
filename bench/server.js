'use strict';
// A benchmark server in its own process: `node bench/server.js KIND` listens on 127.0.0.1:0 and
// prints its port. KIND: node-net (plain net echo, no wasm) or bridge-inline (echo guest).
const net = require('node:net');
const path = require('node:path');

async function main(kind) {
  let server;
  if (kind === 'node-net') {
    server = net.createServer((socket) => socket.on('data', (d) => socket.write(d)));
  } else if (kind === 'bridge-inline') {
    const { Bridge, createServer } = require('..');
    const bridge = await Bridge.load(path.join(__dirname, '..', 'build', 'guests', 'echo.wasm'));
    server = createServer(bridge);
  } else {
    throw new Error(`unknown server kind ${kind}`);
  }
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  process.on('SIGTERM', () => process.exit(0));
}

main(process.argv[2]).catch((e) => {
  console.error(e.message);
  process.exit(1);
});
