'use strict';
// With worker threads: serves one echo, closes the client and the server, and never calls
// bridge.close() or process.exit. The process must still exit on its own.
const net = require('node:net');
const { Bridge, createServer } = require('../..');

(async () => {
  const bridge = await Bridge.load(process.argv[2], { threads: 2 });
  const server = createServer(bridge);
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => client.write('ping'));
    client.on('data', (d) => {
      process.stdout.write(`echoed ${d}\n`);
      client.end();
      server.close();
    });
  });
})();
