'use strict';
// Guests that keep time, know their peer and read their configuration (DESIGN.md, "Guest
// platform v2"): Timer.set/clear with onTimer, Socket.setTimeout with onTimeout, the address
// imports and Host.config, through the clock test guest (test/guests/clock.ts), in every mode.
const assert = require('node:assert/strict');
const { Bridge } = require('..');
const { guest, serve, connect, sleep, waitFor, MODES } = require('./helpers');

/** A line client: `send(line)`, `next()` resolves with the next line the server sends. */
async function lineClient(port) {
  const socket = await connect(port);
  const lines = [];
  const waiters = [];
  let buf = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w.resolve({ line, at: Date.now() });
      else lines.push({ line, at: Date.now() });
    }
  });
  socket.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w.reject(new Error('the connection closed'));
  });
  return {
    socket,
    send: (line) => socket.write(`${line}\n`),
    next(ms = 5000) {
      if (lines.length) return Promise.resolve(lines.shift());
      if (closed) return Promise.reject(new Error('the connection closed'));
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        waiters.push(w);
        setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`no line within ${ms} ms`));
          }
        }, ms).unref();
      });
    },
    async ask(line) {
      this.send(line);
      return (await this.next()).line;
    },
    pending: () => lines.map((l) => l.line),
    close: () => socket.destroy(),
  };
}

/** The timer id in a "timer T" answer. */
function timerId(answer) {
  const m = /^timer (\d+)$/.exec(answer);
  assert.ok(m, `expected "timer T", got ${JSON.stringify(answer)}`);
  return Number(m[1]);
}

for (const mode of MODES) {
  describe(`timers and timeouts (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('clock'), { ...mode.options, config: 'hello' });
    });
    afterEach(async function () {
      await srv.close();
    });

    it('fires a one-shot connection timer once, no earlier than asked', async function () {
      const c = await lineClient(srv.port);
      const start = Date.now();
      const t = timerId(await c.ask('after 80'));
      const fired = await c.next();
      assert.equal(fired.line, `fired ${t}`);
      assert.ok(fired.at - start >= 75, `fired after ${fired.at - start} ms`);
      await sleep(200);
      assert.deepEqual(c.pending(), [], 'a one-shot timer fires once');
      c.close();
    });

    it('fires a repeating timer until it is cleared, and ignores clearing it again', async function () {
      const c = await lineClient(srv.port);
      const t = timerId(await c.ask('every 20'));
      for (let i = 0; i < 3; i++) assert.equal((await c.next()).line, `fired ${t}`);
      c.send(`clear ${t}`);
      // Lines already on their way may still arrive before "cleared".
      let line;
      do line = (await c.next()).line;
      while (line === `fired ${t}`);
      assert.equal(line, 'cleared');
      assert.equal(await c.ask(`clear ${t}`), 'cleared');
      assert.equal(await c.ask('clear 123456'), 'cleared');
      await sleep(100);
      assert.deepEqual(c.pending(), []);
      c.close();
    });

    it('fires an instance timer (id 0) with id 0', async function () {
      const c = await lineClient(srv.port);
      const t = timerId(await c.ask('instance 30'));
      assert.equal((await c.next()).line, `fired ${t}`);
      await waitFor(() => srv.logs.some((l) => l.line === `fired ${t} 0`), 'the fired log line');
      c.close();
    });

    it('answers unknown connections, delays over 2^31 - 1 ms and the 10,001st live timer with their codes', async function () {
      const c = await lineClient(srv.port);
      assert.equal(await c.ask('bad'), 'bad -1 -2 -1');
      assert.equal(await c.ask('many 10001'), 'many 10000 -3');
      assert.equal(await c.ask('many 1'), 'many 0 -3', 'still full');
      c.close();
    });

    it('never fires a connection timer after its onClose, while timers race data and closes', async function () {
      const clients = [];
      for (let i = 0; i < 40; i++) {
        const c = await lineClient(srv.port);
        c.send('every 3');
        c.send('after 15');
        clients.push(c);
      }
      for (const [i, c] of clients.entries()) {
        await sleep(i % 5);
        if (i % 2) c.socket.end();
        else c.close();
      }
      await waitFor(() => srv.bridge.connections === 0, 'every connection closed');
      await sleep(100);
      const closedAt = new Map();
      srv.logs.forEach(({ line }, i) => {
        const m = /^closed (\d+)$/.exec(line);
        if (m) closedAt.set(Number(m[1]), i);
      });
      assert.equal(closedAt.size, 40);
      srv.logs.forEach(({ line }, i) => {
        const m = /^fired \d+ (\d+)$/.exec(line);
        if (m && Number(m[1]) !== 0) {
          const closed = closedAt.get(Number(m[1]));
          assert.ok(closed === undefined || i < closed, `"${line}" came after onClose of ${m[1]}`);
        }
      });
    });

    it('replaces the instance when onTimer traps, and timers on the fresh instance work', async function () {
      const a = await lineClient(srv.port);
      timerId(await a.ask('trapnext 20'));
      await waitFor(() => srv.errors.length === 1, 'the trap');
      assert.equal(srv.errors[0].kind, 'trap');
      await waitFor(() => srv.bridge.stats().restarts >= 1, 'the restart');
      const b = await lineClient(srv.port);
      const t = timerId(await b.ask('after 10'));
      assert.equal((await b.next()).line, `fired ${t}`);
      b.close();
    });

    it('calls onTimeout after the idle period, and activity pushes it back', async function () {
      const c = await lineClient(srv.port);
      const start = Date.now();
      assert.equal(await c.ask('idle 150'), 'idle 0');
      // Activity every 50 ms for 300 ms: no timeout yet.
      for (let i = 0; i < 6; i++) {
        await sleep(50);
        assert.equal(await c.ask('who').then((l) => l.includes(':')), true);
      }
      assert.deepEqual(c.pending(), []);
      const quiet = Date.now();
      const timeout = await c.next(3000);
      assert.equal(timeout.line, 'timeout');
      assert.ok(timeout.at - quiet >= 140, `timed out ${timeout.at - quiet} ms after the last activity`);
      assert.ok(timeout.at - start >= 440);
      // The guest's own write of "timeout" is activity too (as in Node): the next one comes a
      // whole quiet period later, not at once.
      const again = await c.next(3000);
      assert.equal(again.line, 'timeout');
      assert.ok(again.at - timeout.at >= 140, `again after ${again.at - timeout.at} ms`);
      c.send('idle 0');
      let line;
      do line = (await c.next()).line;
      while (line === 'timeout');
      assert.equal(line, 'idle 0');
      await sleep(300);
      assert.deepEqual(c.pending(), [], '0 turns it off');
      c.close();
    });

    it("gives the guest both ends' addresses and ports as Node prints them", async function () {
      const c = await lineClient(srv.port);
      const { localAddress, localPort } = c.socket;
      assert.equal(await c.ask('who'), `${localAddress}:${localPort} 127.0.0.1:${srv.port}`);
      c.close();
    });

    it('gives the guest its config', async function () {
      const c = await lineClient(srv.port);
      assert.equal(await c.ask('config'), 'config hello');
      c.close();
    });

    it('stops a guest whose address buffer lies outside its memory with a trap', async function () {
      const c = await lineClient(srv.port);
      c.send('badptr');
      await waitFor(() => srv.errors.length === 1, 'the trap');
      assert.equal(srv.errors[0].kind, 'trap');
      assert.match(srv.errors[0].message, /^Socket\.remoteAddress: guest passed pointer 4294967280/);
    });
  });

  describe(`configuration and fuel for timers (${mode.name})`, function () {
    for (const [what, config, expected] of [
      ['a string', 'plain text', 'plain text'],
      ['an object, as JSON', { idle: 5, tags: ['a'] }, '{"idle":5,"tags":["a"]}'],
      ['bytes', Buffer.from('bytes!'), 'bytes!'],
      ['nothing', undefined, ''],
    ]) {
      it(`passes ${what} as config`, async function () {
        const srv = await serve(guest('clock'), { ...mode.options, config });
        try {
          const c = await lineClient(srv.port);
          assert.equal(await c.ask('config'), `config ${expected}`);
          c.close();
        } finally {
          await srv.close();
        }
      });
    }

    it('runs onTimer under fuelPerEvent: an endless timer is a fuel GuestError', async function () {
      const srv = await serve(guest('clock'), { ...mode.options, fuelPerEvent: 1e6 });
      try {
        const c = await lineClient(srv.port);
        timerId(await c.ask('spinnext 10'));
        await waitFor(() => srv.errors.length === 1, 'the fuel error');
        assert.equal(srv.errors[0].kind, 'fuel');
      } finally {
        await srv.close();
      }
    });
  });
}

describe('loading guests that use timers', function () {
  it('refuses config of another type with a TypeError naming the option', function () {
    assert.throws(() => Bridge.loadSync(guest('clock'), { config: 42 }), /option 'config' must be a string, bytes/);
  });

  it('refuses a guest that imports Timer.set without exporting onTimer, naming both', async function () {
    const wat = `(module (import "Timer" "set" (func (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) i32.const 0) (func (export "dealloc") (param i32 i32))
      (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32 i32)) (func (export "onClose") (param i32)))`;
    await assert.rejects(Bridge.load(Buffer.from(wat)), {
      code: 'ERR_GUEST_MISSING_EXPORT',
      message: /imports Timer\.set but does not export onTimer\(timer: i32, id: u32\)/,
    });
  });

  it('lets the process exit while an instance timer is pending', async function () {
    const { runScript } = require('./helpers');
    const script = `const { Bridge, createServer } = require('.');
      (async () => {
        const b = await Bridge.load('build/guests/clock.wasm');
        const s = createServer(b).listen(0, '127.0.0.1', () => {
          const c = require('net').connect(s.address().port, '127.0.0.1', () => c.write('instance 3600000\\n'));
          c.on('data', () => { c.destroy(); s.close(); console.log('armed'); });
        });
      })();`;
    const { exited } = runScript('-e', { args: [script] });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, out);
    assert.equal(code, 0, out);
    assert.match(out, /armed/);
  });
});
