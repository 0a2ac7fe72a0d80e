'use strict';
// Two worker_threads, each loading the addon with its own bridge and server (one inline, one
// with its own worker pool); the main thread echoes through both, then stops them. Prints
// "echo <n> ok" per worker and exits by itself.
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');

if (isMainThread) {
  const guest = process.argv[2];
  const talk = (port, msg) =>
    new Promise((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write(msg));
      let got = '';
      c.on('data', (d) => {
        got += d;
        if (got.length >= msg.length) c.end();
      });
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
  const workers = [0, 2].map((threads) => new Worker(__filename, { workerData: { guest, threads } }));
  workers.forEach((w, n) => {
    w.once('message', async ({ port }) => {
      const msg = `hello worker ${n}`;
      const got = await talk(port, msg);
      console.log(`echo ${n} ${got === msg ? 'ok' : `wrong: ${got}`}`);
      w.postMessage('stop');
    });
    w.on('error', (e) => {
      console.error(`worker ${n} failed: ${e.message}`);
      process.exitCode = 1;
    });
  });
} else {
  const { Bridge, createServer } = require('../..');
  (async () => {
    const bridge = await Bridge.load(workerData.guest, { threads: workerData.threads });
    const server = createServer(bridge);
    server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
    parentPort.once('message', async () => {
      server.close();
      await bridge.close();
      parentPort.close();
    });
  })();
}
