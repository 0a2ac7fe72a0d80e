'use strict';
// wasm-socket-bridge/testing: the helper guest authors test their guests with, from mocha and
// from node:test, against the echo guests of this repo.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const { serveGuest } = require('wasm-socket-bridge/testing');
const { guest, fixture, root } = require('./helpers');
const { requireBuilt } = require('./other-languages');

describe('wasm-socket-bridge/testing', function () {
  it('serves a guest on 127.0.0.1 and exchanges bytes until a count, a string, a RegExp or a predicate', async function () {
    const g = await serveGuest(guest('echo'));
    try {
      assert.equal(g.host, '127.0.0.1');
      assert.ok(g.port > 0);
      assert.equal((await g.exchange('abc', { until: 3 })).toString(), 'abc');
      assert.equal((await g.exchange('one\ntwo\n', { until: 'two\n' })).toString(), 'one\ntwo\n');
      assert.equal((await g.exchange('x=1;', { until: /=\d;$/ })).toString(), 'x=1;');
      const big = Buffer.alloc(200000, 1);
      assert.equal((await g.exchange(big, { until: (b) => b.length === big.length })).length, big.length);
      const c = await g.connect();
      assert.equal((await c.exchange('first', { until: 5 })).toString(), 'first');
      assert.equal((await c.exchange('second', { until: 6 })).toString(), 'second');
      c.close();
    } finally {
      await g.close();
    }
  });

  it('rejects a read that times out saying what arrived', async function () {
    const g = await serveGuest(guest('echo'));
    try {
      await assert.rejects(g.exchange('partial', { until: '\n', timeout: 200 }), /no "\\n" within 200 ms; received 7 bytes: "partial"/);
    } finally {
      await g.close();
    }
  });

  it('records GuestErrors and log lines, and reads until the server closes', async function () {
    const g = await serveGuest(fixture('wasi-hostile.wat'));
    try {
      const c = await g.connect();
      c.send('x');
      assert.equal((await c.read()).length, 0);
      const err = await g.waitForError();
      assert.equal(err.kind, 'abort');
      await g.exchange('l', { until: 72 });
      assert.deepEqual(await g.waitForLog('two'), { line: 'two', level: 'log' });
      assert.deepEqual(await g.waitForLog(/^er/), { line: 'err', level: 'error' });
    } finally {
      await g.close();
    }
  });

  it('works under node:test as a guest author would use it', async function () {
    requireBuilt(this, 'c-echo', 'C');
    const out = await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['--test', '--test-reporter=tap', fixture('node-test-echo.mjs')],
        { cwd: root, env: { ...process.env, GUEST: guest('c-echo') }, timeout: 30000 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout)),
      );
    });
    assert.match(out, /^# pass 1$/m);
    assert.match(out, /^# fail 0$/m);
  });
});
