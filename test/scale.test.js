'use strict';
const assert = require('node:assert/strict');
const { guest, exchange, runScript } = require('./helpers');

describe('scaling out on one machine', function () {
  this.timeout(60000);

  it('runs two cluster workers on one port, each with its own bridge, that echo and exit cleanly', async function () {
    const { child, exited, match } = runScript('examples/cluster-server.ts', { env: { PORT: '0', WORKERS: '2' } });
    try {
      const m = await match(/worker \d+ listening on 127\.0\.0\.1:(\d+)[^]*worker \d+ listening on 127\.0\.0\.1:(\d+)/);
      const ports = [Number(m[1]), Number(m[2])];
      assert.equal(ports[0], ports[1], 'both workers share one port');
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(ports[0], `message ${i}`)));
      replies.forEach((r, i) => assert.equal(r.toString(), `message ${i}`));
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the primary did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /exited with [1-9]/);
  });

  it('runs a bridge inside each of two worker_threads, inline and threaded, and exits by itself', async function () {
    const { exited } = runScript('test/scripts/in-worker-threads.js', { args: [guest('echo')], killAfter: 30000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echo 0 ok/);
    assert.match(out, /echo 1 ok/);
  });
});
