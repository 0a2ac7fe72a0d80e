'use strict';
// Guests that keep time, know their peer and read their configuration (DESIGN.md, "Guest
// platform v2"): Timer.set/clear with onTimer, Socket.setTimeout with onTimeout, the address
// imports and Host.config, through the clock test guest (test/guests/clock.ts), in every mode.
const assert = require('node:assert/strict');
const { Bridge } = require('..');
const { guest, serve, sleep, waitFor, lineClient, MODES } = require('./helpers');

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

for (const mode of MODES) {
  describe(`the shared store (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('clock'), { ...mode.options, maxSharedBytes: 4096 });
    });
    afterEach(async function () {
      await srv.close();
    });

    it('lets a guest and JS read, write and delete the same keys', async function () {
      const c = await lineClient(srv.port);
      assert.equal(await c.ask('sset greeting hello'), 'sset 0');
      assert.equal(srv.bridge.shared.get('greeting').toString(), 'hello');
      srv.bridge.shared.set('from-js', 'hi there');
      assert.equal(await c.ask('sget from-js'), 'sget hi there');
      assert.equal(await c.ask('sdel from-js'), 'sdel true');
      assert.equal(await c.ask('sdel from-js'), 'sdel false');
      assert.equal(srv.bridge.shared.get('from-js'), undefined);
      assert.equal(srv.bridge.shared.delete('greeting'), true);
      assert.equal(await c.ask('sget greeting'), 'sget null');
      c.close();
    });

    it('adds atomically from many connections on every worker: 100 connections x 10 adds sum to 1,000', async function () {
      const clients = await Promise.all(Array.from({ length: 100 }, () => lineClient(srv.port)));
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 10; i++) assert.match(await c.ask('sadd hits 1'), /^sadd \d+$/);
        }),
      );
      assert.equal(srv.bridge.shared.add('hits', 0), 1000);
      assert.equal(srv.bridge.shared.get('hits').readBigInt64LE(), 1000n);
      clients.forEach((c) => c.close());
    });

    it('refuses what passes maxSharedBytes and keys over 1 KiB, to the guest with codes and to JS with errors', async function () {
      const c = await lineClient(srv.port);
      assert.equal(await c.ask(`sset big ${'x'.repeat(5000)}`), 'sset -3');
      assert.throws(() => srv.bridge.shared.set('big', Buffer.alloc(5000)), RangeError);
      assert.equal(await c.ask('skey 1025'), 'skey -2');
      assert.equal(await c.ask('skey 1024'), 'skey 0');
      assert.throws(() => srv.bridge.shared.get('k'.repeat(1025)), /at most 1024 bytes/);
      assert.equal(await c.ask('sadd n -5'), 'sadd -5');
      c.close();
    });

    it('keeps the store when an instance traps and is replaced', async function () {
      const a = await lineClient(srv.port);
      assert.equal(await a.ask('sset kept yes'), 'sset 0');
      a.send('trap');
      await waitFor(() => srv.errors.length === 1, 'the trap');
      const b = await lineClient(srv.port);
      assert.equal(await b.ask('sget kept'), 'sget yes');
      b.close();
    });

    it('stops a guest whose Shared.get buffer lies outside its memory with a trap', async function () {
      const c = await lineClient(srv.port);
      c.send('sbadptr');
      await waitFor(() => srv.errors.length === 1, 'the trap');
      assert.match(srv.errors[0].message, /^Shared\.get: guest passed pointer 4294967280/);
    });

    it('compare-and-sets from a guest and from JS only when the value is the expected one', async function () {
      const c = await lineClient(srv.port);
      assert.equal(await c.ask('sif k - one'), 'sif 1', 'expected absent, and it was');
      assert.equal(await c.ask('sif k - two'), 'sif 0', 'expected absent, but it was there');
      assert.equal(await c.ask('sif k zero two'), 'sif 0');
      assert.equal(await c.ask('sif k one two'), 'sif 1');
      assert.equal(srv.bridge.shared.get('k').toString(), 'two');
      assert.equal(srv.bridge.shared.setIf('k', 'one', 'three'), false);
      assert.equal(srv.bridge.shared.get('k').toString(), 'two', 'a failed setIf changes nothing');
      assert.equal(srv.bridge.shared.setIf('k', Buffer.from('two'), undefined), true, 'value undefined deletes');
      assert.equal(srv.bridge.shared.get('k'), undefined);
      assert.equal(srv.bridge.shared.setIf('k', undefined, new Uint8Array([0x68, 0x69])), true);
      assert.equal(await c.ask('sget k'), 'sget hi');
      assert.equal(await c.ask('sif k hi -'), 'sif 1', 'the guest deletes with a null value');
      assert.equal(srv.bridge.shared.get('k'), undefined);
      assert.equal(srv.bridge.shared.setIf('k', undefined, ''), true, 'an empty value is a value');
      assert.equal(srv.bridge.shared.setIf('k', undefined, 'x'), false);
      assert.deepEqual(srv.bridge.shared.get('k'), Buffer.alloc(0));
      c.close();
    });

    it('lists the keys with a prefix, sorted bytewise, to a guest and to JS', async function () {
      const c = await lineClient(srv.port);
      for (const k of ['list:b', 'list:a', 'list:ab', 'other', 'list']) srv.bridge.shared.set(k, 'v');
      assert.deepEqual(srv.bridge.shared.keys('list:'), ['list:a', 'list:ab', 'list:b']);
      assert.deepEqual(srv.bridge.shared.keys(), ['list', 'list:a', 'list:ab', 'list:b', 'other']);
      assert.deepEqual(srv.bridge.shared.keys(Buffer.from('oth')), ['other']);
      assert.deepEqual(srv.bridge.shared.keys('none'), []);
      assert.equal(await c.ask('skeys list:'), 'skeys 3 list:a,list:ab,list:b');
      assert.equal(await c.ask('sif list:a v -'), 'sif 1');
      assert.equal(await c.ask('skeys list:'), 'skeys 2 list:ab,list:b');
      assert.equal(await c.ask('skeys nothing'), 'skeys 0 ');
      c.close();
    });

    it('increments a decimal string by compare-and-set from 100 connections x 10 on every worker, summing to exactly 1,000', async function () {
      const clients = await Promise.all(Array.from({ length: 100 }, () => lineClient(srv.port)));
      await Promise.all(
        clients.map(async (c) => {
          for (let i = 0; i < 10; i++) assert.match(await c.ask('sincr counter'), /^sincr \d+ \d+$/);
        }),
      );
      assert.equal(srv.bridge.shared.get('counter').toString(), '1000');
      clients.forEach((c) => c.close());
    });

    it('answers setIf and keys refusals with codes to the guest and errors to JS', async function () {
      const c = await lineClient(srv.port);
      // The scratch buffer "S" starts with "key"; listings land at "O" (2 KiB of room).
      assert.equal(await c.ask('sifraw S 1025 S -1 S 1'), 'sifraw -2', 'a key over 1 KiB');
      assert.equal(await c.ask('sifraw S 3 S -1 S 5000'), 'sifraw -3', 'past maxSharedBytes (4096)');
      assert.equal(srv.bridge.shared.get('key'), undefined, 'a refused setIf stores nothing');
      assert.equal(await c.ask('sifraw S 3 S 3 S 1'), 'sifraw 0', 'expected a value, the key is absent');
      assert.equal(await c.ask('sifraw S 3 S -1 S -1'), 'sifraw 1', 'expected absent and deleted: holds');
      assert.equal(await c.ask('skeysraw S 1025 O 2048'), 'skeysraw -2 0', 'a prefix over 1 KiB');
      srv.bridge.shared.set('key1', 'x');
      srv.bridge.shared.set('key22', 'x');
      // Full listing: (4 + 4) + (4 + 5) = 17 bytes; only whole entries are written.
      assert.equal(await c.ask('skeysraw S 3 O 2048'), 'skeysraw 17 2');
      assert.equal(await c.ask('skeysraw S 3 O 16'), 'skeysraw 17 1');
      assert.equal(await c.ask('skeysraw S 3 O 0'), 'skeysraw 17 0');
      assert.equal(await c.ask('skeysraw S 3 O 2147483647'), 'skeysraw 17 2', 'a huge cap writes only the listing');
      assert.equal(await c.ask('skeysraw S 3 O -1'), 'skeysraw 17 2', 'a cap of -1 is 4 GiB, as a u32');
      assert.throws(() => srv.bridge.shared.setIf('k'.repeat(1025), undefined, 'v'), TypeError);
      assert.throws(() => srv.bridge.shared.setIf('big', undefined, Buffer.alloc(5000)), RangeError);
      assert.equal(srv.bridge.shared.setIf('big', 'other', Buffer.alloc(5000)), false, 'no match: no refusal');
      assert.throws(() => srv.bridge.shared.setIf('k', 5, 'v'), TypeError);
      assert.throws(() => srv.bridge.shared.setIf('k', undefined, null), TypeError);
      assert.throws(() => srv.bridge.shared.keys('k'.repeat(1025)), /at most 1024 bytes/);
      assert.throws(() => srv.bridge.shared.keys(7), TypeError);
      c.close();
      assert.deepEqual(srv.errors, []);
    });

    for (const [what, cmd, message] of [
      ['a key length of -1', 'sifraw S -1 S -1 S 1', /^Shared\.setIf: guest passed pointer \d+ with length 4294967295/],
      ['an expected length of -2', 'sifraw S 3 S -2 S 1', /^Shared\.setIf: guest passed pointer \d+ with length 4294967294/],
      ['a value outside its memory', 'sifraw S 3 S -1 4294967280 64', /^Shared\.setIf: guest passed pointer 4294967280/],
      ['a prefix outside its memory', 'skeysraw 4294967280 3 O 64', /^Shared\.keys: guest passed pointer 4294967280/],
      ['a listing buffer outside its memory', 'skeysraw S 3 4294967280 64', /^Shared\.keys: guest passed pointer 4294967280 with length 8/],
    ]) {
      it(`stops a guest that hands Shared.setIf or Shared.keys ${what} with a trap`, async function () {
        srv.bridge.shared.set('key1', 'x');
        const c = await lineClient(srv.port);
        c.send(cmd);
        await waitFor(() => srv.errors.length === 1, 'the trap');
        assert.equal(srv.errors[0].kind, 'trap');
        assert.match(srv.errors[0].message, message);
        assert.equal(srv.bridge.shared.get('key1').toString(), 'x', 'the store is untouched');
      });
    }
  });
}

for (const mode of MODES) {
  describe(`messages from the application (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('clock'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    it('broadcasts to every instance, so clients on every worker hear it', async function () {
      const clients = await Promise.all(Array.from({ length: 4 }, () => lineClient(srv.port)));
      await waitFor(() => srv.bridge.connections === 4, 'four connections');
      await Promise.all(clients.map((c) => c.ask('who')));
      srv.bridge.broadcast('hello all');
      for (const c of clients) assert.equal((await c.next()).line, 'msg hello all');
      clients.forEach((c) => c.close());
    });

    it('sends to the instance that owns one connection, after the data the application saw before it', async function () {
      // Each time the application sees data on a connection, it sends that connection a message:
      // the guest's answer to the data must come before the message, in every mode.
      const { Bridge: B, createServer } = require('..');
      const bridge = await B.load(guest('clock'), mode.options);
      const server = createServer(bridge, (socket, id) => socket.on('data', () => bridge.send(id, 'seen')));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      try {
        const c = await lineClient(server.address().port);
        for (let i = 0; i < 20; i++) {
          c.send('config');
          assert.equal((await c.next()).line, 'config ');
          assert.equal((await c.next()).line, 'msg seen');
        }
        assert.equal(bridge.send(987654, 'nobody'), false);
        assert.throws(() => bridge.send(0, 'x'), TypeError);
        c.close();
      } finally {
        server.close();
        await bridge.close();
      }
    });
  });
}

describe('messages to a guest without onMessage', function () {
  it('throw a TypeError that says what the guest lacks', async function () {
    const srv = await serve(guest('echo'));
    try {
      assert.throws(() => srv.bridge.broadcast('x'), /does not export onMessage\(id, data\)/);
      assert.throws(() => srv.bridge.send(1, 'x'), TypeError);
    } finally {
      await srv.close();
    }
  });
});

/** Host functions for the host-call tests: each shows one way a function can answer. */
function hostFunctions(calls) {
  return {
    upper: (data, ctx) => {
      calls.push(ctx.connectionId);
      return data.toString().toUpperCase();
    },
    later: async (data) => {
      await sleep(20);
      return Buffer.from(`later:${data}`);
    },
    nothing: () => undefined,
    fails: () => {
      throw new Error('no such user');
    },
    rejects: async () => {
      throw new Error('database down');
    },
    number: () => 42,
    never: () => new Promise(() => {}),
    echo: async (data) => {
      await sleep(Math.random() * 20);
      return data;
    },
  };
}

for (const mode of MODES) {
  describe(`host functions (${mode.name})`, function () {
    let srv;
    let calls;
    beforeEach(async function () {
      calls = [];
      srv = await serve(guest('clock'), { ...mode.options, hostFunctions: hostFunctions(calls) });
    });
    afterEach(async function () {
      await srv.close();
    });

    /** Sends "call NAME DATA" and returns [before, called, after, reply] lines. */
    async function call(c, what) {
      c.send(`call ${what}`);
      const lines = [];
      for (let i = 0; i < 4; i++) lines.push((await c.next()).line);
      return lines;
    }

    it('answers a sync function as an event after the call, never inside it', async function () {
      const c = await lineClient(srv.port);
      const [before, called, after, reply] = await call(c, 'upper hello');
      const handle = Number(/^called (\d+)$/.exec(called)[1]);
      assert.deepEqual([before, after], ['before', 'after']);
      assert.equal(reply, `reply ${handle} 0 HELLO`);
      assert.deepEqual(calls, [srv.ids[0]], 'ctx.connectionId is the connection');
      c.close();
    });

    it('answers async functions, nothing, throws, rejections and wrong types with their status', async function () {
      const c = await lineClient(srv.port);
      assert.match((await call(c, 'later x'))[3], /^reply \d+ 0 later:x$/);
      assert.match((await call(c, 'nothing x'))[3], /^reply \d+ 0 $/);
      assert.match((await call(c, 'fails x'))[3], /^reply \d+ 1 no such user$/);
      assert.match((await call(c, 'rejects x'))[3], /^reply \d+ 1 database down$/);
      assert.match((await call(c, 'number x'))[3], /^reply \d+ 1 host function 'number' returned number; return a Buffer, Uint8Array, string or nothing$/);
      assert.deepEqual(srv.errors, [], 'what a host function throws is the guest\'s to hear, not a GuestError');
      c.close();
    });

    it('refuses unknown and malformed names, and the 1,025th call in flight', async function () {
      const c = await lineClient(srv.port);
      assert.deepEqual((await c.ask('call nosuch x').then(async (l) => [l, (await c.next()).line])), ['before', 'called -1']);
      await c.next();
      c.send('call bad/name x');
      assert.deepEqual([(await c.next()).line, (await c.next()).line, (await c.next()).line], ['before', 'called -2', 'after']);
      assert.equal(await c.ask('calls 1025 never'), 'calls 1024 -3');
      c.close();
    });

    it('answers 300 calls in flight from many connections each exactly once with its own data', async function () {
      const clients = await Promise.all(Array.from({ length: 30 }, () => lineClient(srv.port)));
      await Promise.all(
        clients.map(async (c) => {
          assert.equal(await c.ask('calls 10 echo'), 'calls 10 0');
          const got = [];
          for (let i = 0; i < 10; i++) got.push(/^reply \d+ 0 (\d+)$/.exec((await c.next()).line)[1]);
          assert.deepEqual(got.map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        }),
      );
      await sleep(100);
      for (const c of clients) assert.deepEqual(c.pending(), []);
      clients.forEach((c) => c.close());
    });

    it('drops the answer to a call whose instance trapped instead of giving it to the successor', async function () {
      const a = await lineClient(srv.port);
      const [, called] = await (async () => {
        a.send('call later x');
        return [(await a.next()).line, (await a.next()).line];
      })();
      assert.match(called, /^called \d+$/);
      a.send('trap');
      await waitFor(() => srv.errors.length === 1, 'the trap');
      const b = await lineClient(srv.port);
      await sleep(100);
      assert.deepEqual(b.pending(), [], 'no reply reached the new instance');
      assert.match((await call(b, 'upper y'))[3], /^reply \d+ 0 Y$/);
      b.close();
    });
  });
}

describe('hostFunctions option', function () {
  it('refuses names outside 1-64 of A-Za-z0-9_.- and values that are not functions', function () {
    assert.throws(() => Bridge.loadSync(guest('clock'), { hostFunctions: { 'bad name': () => {} } }), /'bad name' is not a host function name/);
    assert.throws(() => Bridge.loadSync(guest('clock'), { hostFunctions: { ok: 42 } }), /'ok' is not a function/);
  });

  it('refuses a guest that imports Host.call without exporting onReply, naming both', async function () {
    const wat = `(module (import "Host" "call" (func (param i32 i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) i32.const 0) (func (export "dealloc") (param i32 i32))
      (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32 i32)) (func (export "onClose") (param i32)))`;
    await assert.rejects(Bridge.load(Buffer.from(wat)), {
      code: 'ERR_GUEST_MISSING_EXPORT',
      message: /imports Host\.call but does not export onReply\(call: i32, status: i32, ptr: usize, len: u32\)/,
    });
  });
});
