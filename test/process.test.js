'use strict';
const assert = require('node:assert/strict');
const { guest, exchange, runScript } = require('./helpers');

describe('process lifetime', function () {
  it('exits by itself after server.close() and bridge.close()', async function () {
    const { exited } = runScript('test/scripts/exit-after-close.js', { args: [guest('echo')], killAfter: 15000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echoed ping\nclosed\n/);
  });
});

describe('examples/echo-server.ts (npm start)', function () {
  it('prints its address and echoes what a client sends', async function () {
    const { child, exited, match, output } = runScript('examples/echo-server.ts', { env: { PORT: '0' }, killAfter: 30000 });
    try {
      const port = Number((await match(/echo server listening on 127\.0\.0\.1:(\d+)/))[1]);
      assert.equal((await exchange(port, 'hello')).toString(), 'hello');
    } finally {
      child.kill('SIGTERM');
      const { signal, code } = await exited;
      assert.ok(code === 0 || signal === 'SIGTERM', output());
    }
  });
});
