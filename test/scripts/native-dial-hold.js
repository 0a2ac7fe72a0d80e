'use strict';
// A process whose only open connection, once its native server has closed, is one the guest
// dialed natively: it must stay alive until that connection closes, as with an open Node socket.
// The upstream (in this process, unref'd so it holds nothing) ends the dialed connection after
// 500 ms on an unref'd timer; the process prints "upstream closed" only if it was still alive.
const net = require('node:net');
const path = require('node:path');
const { Bridge } = require('../..');

async function main() {
  const upstream = net.createServer((socket) => {
    socket.unref();
    socket.on('close', () => console.log('upstream closed'));
    setTimeout(() => socket.end(), 500).unref();
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  upstream.unref();
  const upPort = upstream.address().port;
  const bridge = await Bridge.load(path.join(__dirname, '..', '..', 'build', 'guests', 'dialer.wasm'), {
    threads: 1,
    allowConnect: [`127.0.0.1:${upPort}`],
  });
  const server = await bridge.listen();
  const client = net.connect(server.address().port, '127.0.0.1');
  let got = '';
  await new Promise((resolve) => {
    client.on('data', (d) => {
      got += d;
      if (/connect \d+ /.test(got)) resolve();
    });
    client.write(`dial 127.0.0.1 ${upPort}\n`);
  });
  console.log('dialed');
  client.destroy();
  await server.close();
  console.log('server closed');
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
