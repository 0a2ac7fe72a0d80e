'use strict';
const assert = require('node:assert/strict');
const { guest, runScript } = require('./helpers');

describe('scaling out on one machine', function () {
  this.timeout(60000);

  it('runs a bridge inside each of two worker_threads, inline and threaded, and exits by itself', async function () {
    const { exited } = runScript('test/scripts/in-worker-threads.js', { args: [guest('echo')], killAfter: 30000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echo 0 ok/);
    assert.match(out, /echo 1 ok/);
  });
});
