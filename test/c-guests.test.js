'use strict';
// Guests written in C with sdk/c/wasm_socket_bridge.h and wasi-libc, built by zig cc as WASI
// reactors (scripts/other-guests.mjs): the echo and line-protocol examples (examples/c/) and a
// guest that uses the C library the usual way (test/guests/c/wasi.c), in every mode.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { serveGuest } = require('wasm-socket-bridge/testing');
const { guest, serve, connect, readToClose, waitFor, MODES } = require('./helpers');
const { requireBuilt } = require('./other-languages');

/** A line client: `ask(line)` sends it and resolves with the next line answered (CRLF or LF). */
async function lines(port) {
  const socket = await connect(port);
  let buf = '';
  const waiting = [];
  const got = [];
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else got.push(line);
    }
  });
  const next = () => (got.length ? Promise.resolve(got.shift()) : new Promise((r) => waiting.push(r)));
  return {
    socket,
    next,
    ask(line) {
      socket.write(`${line}\n`);
      return next();
    },
  };
}

for (const mode of MODES) {
  describe(`C guests (${mode.name})`, function () {
    describe('examples/c/echo.c (through wasm-socket-bridge/testing)', function () {
      let g;
      before(function () {
        requireBuilt(this, 'c-echo', 'C');
      });
      beforeEach(async function () {
        g = await serveGuest(guest('c-echo'), mode.options);
      });
      afterEach(async function () {
        await g.close();
      });

      it('echoes every byte, small and large, over a real socket', async function () {
        assert.equal((await g.exchange('hello from C\n', { until: '\n' })).toString(), 'hello from C\n');
        const big = crypto.randomBytes(512 * 1024);
        assert.ok((await g.exchange(big, { until: big.length })).equals(big));
        assert.deepEqual(g.errors, []);
      });

      it('delivers its printf lines as log events at level log', async function () {
        const c = await g.connect();
        c.end();
        await c.read();
        const closed = await g.waitForLog(/^closed /);
        const id = Number(closed.line.slice('closed '.length));
        assert.deepEqual(g.logs, [
          { line: `connection ${id}`, level: 'log' },
          { line: `closed ${id}`, level: 'log' },
        ]);
      });
    });

    describe('examples/c/lines.c', function () {
      let g;
      before(function () {
        requireBuilt(this, 'c-lines', 'C');
      });
      beforeEach(async function () {
        g = await serve(guest('c-lines'), mode.options);
      });
      afterEach(async function () {
        await g.close();
      });

      it('answers each command line, counting lines per connection', async function () {
        const a = await lines(g.port);
        const b = await lines(g.port);
        assert.equal(await a.ask('PING'), '+PONG');
        assert.equal(await a.ask('ECHO hello world'), 'hello world');
        assert.equal(await b.ask('COUNT'), ':1');
        assert.equal(await a.ask('COUNT'), ':3');
        assert.equal(await a.ask('FLY away'), "-ERR unknown command 'FLY'");
        a.socket.destroy();
        b.socket.destroy();
        await waitFor(() => g.logs.some((l) => l.level === 'error'), 'the error line');
        // (Natively no JS sees the connection arrive: the id is read from the line.)
        const errorLines = g.logs.filter((l) => l.level === 'error');
        assert.equal(errorLines.length, 1);
        const m = /^(\d+): unknown command 'FLY'$/.exec(errorLines[0].line);
        assert.ok(m, errorLines[0].line);
        const id = Number(m[1]);
        if (!g.native) assert.equal(id, g.ids[0]);
        assert.ok(g.logs.some((l) => l.line === `${id}: ECHO hello world` && l.level === 'log'));
      });

      it('joins lines split across packets and splits several lines in one packet', async function () {
        const c = await lines(g.port);
        c.socket.write('PI');
        await new Promise((r) => setTimeout(r, 20));
        c.socket.write('NG\r\nECHO a\nECHO b\n');
        assert.deepEqual([await c.next(), await c.next(), await c.next()], ['+PONG', 'a', 'b']);
        c.socket.destroy();
      });

      it('says goodbye and ends the connection on QUIT, and refuses a line over 1 KiB', async function () {
        const socket = await connect(g.port);
        const closed = readToClose(socket);
        socket.write('QUIT\nPING\n');
        const r = await closed;
        assert.equal(r.data.toString(), '+BYE\r\n');
        assert.equal(r.ended, true);
        const long = await connect(g.port);
        const done = readToClose(long);
        long.write(`${'x'.repeat(2000)}\n`);
        assert.equal((await done).data.toString(), '-ERR line too long\r\n');
        assert.deepEqual(g.errors, []);
      });
    });

    describe('test/guests/c/wasi.c: the C library over WASI', function () {
      let g;
      before(function () {
        requireBuilt(this, 'c-wasi', 'C');
      });
      beforeEach(async function () {
        g = await serve(guest('c-wasi'), mode.options);
      });
      afterEach(async function () {
        await g.close();
      });

      it('turns printf into a log line and a partial stderr line into an error line at the end of the event', async function () {
        const c = await lines(g.port);
        assert.equal(await c.ask('print hello stdout'), 'ok');
        assert.equal(await c.ask('eprint no newline here'), 'ok');
        await waitFor(() => g.logs.length === 2, 'two log lines');
        assert.deepEqual(g.logs, [
          { line: 'hello stdout', level: 'log' },
          { line: 'no newline here', level: 'error' },
        ]);
        c.socket.destroy();
      });

      it('reads the real time and random bytes, and sees no environment and no files', async function () {
        const c = await lines(g.port);
        const before = Date.now();
        const ms = Number((await c.ask('time')).replace(/^time /, ''));
        assert.ok(ms >= before - 1000 && ms <= Date.now() + 1000, `time ${ms}`);
        const r1 = await c.ask('random');
        const r2 = await c.ask('random');
        assert.match(r1, /^random [0-9a-f]{16}$/);
        assert.notEqual(r1, r2);
        assert.equal(await c.ask('env'), 'env 0');
        assert.match(await c.ask('file'), /^file (No such file or directory|Capabilities insufficient|Bad file descriptor)$/);
        c.socket.destroy();
        assert.deepEqual(g.errors, []);
      });

      it('stops the guest with an abort GuestError proc_exit(3) on exit(3), then serves new connections', async function () {
        const socket = await connect(g.port);
        const closed = readToClose(socket);
        socket.write('exit 3\n');
        await closed;
        await waitFor(() => g.errors.length === 1, 'the GuestError');
        assert.equal(g.errors[0].kind, 'abort');
        assert.match(g.errors[0].message, /proc_exit\(3\)/);
        const c = await lines(g.port);
        assert.equal(await c.ask('env'), 'env 0');
        c.socket.destroy();
      });
    });
  });
}
