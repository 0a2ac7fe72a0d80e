'use strict';
// assembly/examples/auth-echo.ts: the first line is a token checked by the async host function
// "checkToken"; data is held until the answer, then echoed after "ok", or "denied" ends it.
const assert = require('node:assert/strict');
const { guest, serve, connect, readBytes, readToClose, sleep, MODES, assertConnection } = require('./helpers');

for (const mode of MODES) {
  describe(`auth-echo example (${mode.name})`, function () {
    this.timeout(20000);
    let srv;
    let checked;
    beforeEach(async function () {
      checked = [];
      srv = await serve(guest('auth-echo'), {
        ...mode.options,
        hostFunctions: {
          async checkToken(token, { connectionId }) {
            checked.push({ token: token.toString(), connectionId });
            await sleep(20);
            if (token.toString() === 'boom') throw new Error('token service down');
            return token.toString() === 'secret' || token.toString().startsWith('good-') ? 'ok' : 'no';
          },
        },
      });
    });
    afterEach(async function () {
      await srv.close();
    });

    it('answers ok for a valid token and then echoes what the client sends', async function () {
      const s = await connect(srv.port);
      const ok = readBytes(s, 3);
      s.write('secret\n');
      assert.equal((await ok).toString(), 'ok\n');
      const echo = readBytes(s, 11);
      s.write('hello world');
      assert.equal((await echo).toString(), 'hello world');
      s.end();
      assert.equal(checked.length, 1);
      assert.equal(checked[0].token, 'secret');
      assertConnection(srv, checked[0].connectionId);
    });

    it('answers denied for an invalid token, drops what follows, and ends the connection', async function () {
      const s = await connect(srv.port);
      const closed = readToClose(s);
      s.write('wrong\r\nthis must not come back');
      const { data, ended } = await closed;
      assert.equal(data.toString(), 'denied\n');
      assert.ok(ended, 'the server ends the connection');
      assert.equal(checked[0].token, 'wrong', 'a "\\r\\n" ending is not part of the token');
    });

    it('echoes after ok the data sent right after the token, before the host function answered', async function () {
      const s = await connect(srv.port);
      const expected = 'ok\nsame packet|second write|third write';
      const got = readBytes(s, expected.length);
      s.write('secret\nsame packet');
      await sleep(1);
      s.write('|second write');
      s.write('|third write');
      assert.equal((await got).toString(), expected);
      assert.equal(checked.length, 1, 'the bytes after the token are not taken for another token');
      s.end();
    });

    it('gives each of many connections checked at once its own answer', async function () {
      const n = 60;
      const results = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const s = await connect(srv.port);
          const closed = readToClose(s);
          const token = i % 3 === 0 ? `bad-${i}` : `good-${i}`;
          s.write(`${token}\npayload ${i}\n`);
          // An accepted client ends once its echo is in; a denied one is ended by the server.
          if (i % 3 !== 0) {
            await readBytes(s, `ok\npayload ${i}\n`.length);
            s.end();
          }
          return { i, token, ...(await closed) };
        }),
      );
      for (const { i, token, data } of results) {
        const want = token.startsWith('good-') ? `ok\npayload ${i}\n` : 'denied\n';
        assert.equal(data.toString(), want, `connection ${i} (${token})`);
      }
      assert.equal(checked.length, n);
      assert.equal(new Set(checked.map((c) => c.connectionId)).size, n, 'one check per connection');
    });

    it('denies when the host function throws, and a token over 256 bytes without asking', async function () {
      const a = await sendAndClose(srv.port, 'boom\nx');
      assert.equal(a.data.toString(), 'denied\n');
      const b = await sendAndClose(srv.port, `${'t'.repeat(300)}\n`);
      assert.equal(b.data.toString(), 'denied\n');
      assert.deepEqual(checked.map((c) => c.token), ['boom']);
      assert.deepEqual(srv.errors, []);
    });
  });
}

async function sendAndClose(port, data) {
  const s = await connect(port);
  const closed = readToClose(s);
  s.write(data);
  return closed;
}
