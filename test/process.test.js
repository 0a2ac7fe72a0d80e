'use strict';
const assert = require('node:assert/strict');
const { guest, runScript } = require('./helpers');

describe('process lifetime', function () {
  it('exits by itself after server.close() and bridge.close()', async function () {
    const { exited } = runScript('test/scripts/exit-after-close.js', { args: [guest('echo')], killAfter: 15000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echoed ping\nclosed\n/);
  });
});
