'use strict';
// A bridge server in its own process, for tests that measure the server alone. Started with
// child_process.fork(serve.js, [guest, optionsJson]); sends { port } once listening and answers
// 'rss' messages with { rss } (process.memoryUsage().rss of this process).
const { Bridge, createServer } = require('../..');

(async () => {
  // `native: true` (the native mode of test/helpers.js MODES): the workers serve it (bridge.listen).
  const { native, ...options } = JSON.parse(process.argv[3] || '{}');
  const bridge = await Bridge.load(process.argv[2], options);
  bridge.on('error', (e) => process.send({ error: `${e.kind}: ${e.message}` }));
  if (native) {
    const server = await bridge.listen({ port: 0 });
    process.send({ port: server.address().port });
  } else {
    const server = createServer(bridge);
    server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  }
  process.on('message', (m) => {
    if (m === 'rss') process.send({ rss: process.memoryUsage().rss });
  });
  process.on('disconnect', () => process.exit(0));
})();
