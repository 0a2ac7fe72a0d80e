'use strict';
// A bridge server in its own process, for tests that measure the server alone. Started with
// child_process.fork(serve.js, [guest, optionsJson]); sends { port } once listening and answers
// 'rss' messages with { rss } (process.memoryUsage().rss of this process).
const { Bridge, createServer } = require('../..');

(async () => {
  const bridge = await Bridge.load(process.argv[2], JSON.parse(process.argv[3] || '{}'));
  bridge.on('error', (e) => process.send({ error: `${e.kind}: ${e.message}` }));
  const server = createServer(bridge);
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'rss') process.send({ rss: process.memoryUsage().rss });
  });
  process.on('disconnect', () => process.exit(0));
})();
