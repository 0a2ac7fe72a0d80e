'use strict';
// Serves one echo, then closes the server and the bridge, and leaves the process to exit on its
// own (test/process.test.js times it). It never calls process.exit.
const net = require('node:net');
const { Bridge, createServer } = require('../..');

(async () => {
  const bridge = await Bridge.load(process.argv[2]);
  const server = createServer(bridge);
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => client.write('ping'));
    client.on('data', async (d) => {
      process.stdout.write(`echoed ${d}\n`);
      // Keep the client open: bridge.close() has to end it.
      server.close();
      await bridge.close();
      process.stdout.write('closed\n');
    });
  });
})();
