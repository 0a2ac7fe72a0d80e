'use strict';
// The kv guest (assembly/examples/kv.ts, a Redis-protocol key-value server) over real sockets, in
// every execution mode, driven by a real Redis client (ioredis), by raw sockets for what a client
// library never sends, and by redis-cli where it is installed. Its server script's test is in
// examples.test.js.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const Redis = require('ioredis');
const { guest, serve, connect, readBytes, readToClose, sendUntilClosed, sleep, waitFor, MODES } = require('./helpers');

const REDIS_CLI = '/usr/bin/redis-cli';

/** An ioredis client for 127.0.0.1:`port` that never reconnects on its own. */
function client(port) {
  return new Redis({ host: '127.0.0.1', port, retryStrategy: () => null, maxRetriesPerRequest: 0 });
}

/** A command as a RESP array of bulk strings (Buffers or strings). */
function resp(...args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** The bulk string reply carrying `value`. */
const bulk = (value) => Buffer.concat([Buffer.from(`$${Buffer.byteLength(value)}\r\n`), Buffer.from(value), Buffer.from('\r\n')]);

/** Writes `data` and waits until it has been handed to the kernel, then for one turn of the loop. */
async function writeAndSettle(socket, data) {
  await new Promise((resolve) => socket.write(data, resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

function redisCli(port, args) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

for (const mode of MODES) {
  describe(`kv guest (assembly/examples/kv.ts, ${mode.name})`, function () {
    let srv;
    let redis;
    beforeEach(async function () {
      srv = await serve(guest('kv'), mode.options);
      redis = client(srv.port);
    });
    afterEach(async function () {
      redis.disconnect();
      await srv.close();
      assert.deepEqual(srv.errors, []);
    });

    it('answers PING with PONG, PING with a message with that message, and ECHO with its argument', async function () {
      assert.equal(await redis.ping(), 'PONG');
      assert.equal(await redis.ping('hello there'), 'hello there');
      assert.equal(await redis.echo('echo me'), 'echo me');
      await assert.rejects(redis.call('ping', 'a', 'b'), { message: "ERR wrong number of arguments for 'ping' command" });
      await assert.rejects(redis.call('echo'), { message: "ERR wrong number of arguments for 'echo' command" });
    });

    it('sets and gets values, answers nil for a missing key, and treats command names in any case alike', async function () {
      assert.equal(await redis.get('missing'), null);
      assert.equal(await redis.set('greeting', 'hello'), 'OK');
      assert.equal(await redis.get('greeting'), 'hello');
      assert.equal(await redis.call('gEt', 'greeting'), 'hello');
      assert.equal(await redis.set('greeting', ''), 'OK');
      assert.equal(await redis.get('greeting'), '');
      await assert.rejects(redis.call('get'), { message: "ERR wrong number of arguments for 'get' command" });
      await assert.rejects(redis.call('get', 'a', 'b'), { message: "ERR wrong number of arguments for 'get' command" });
      await assert.rejects(redis.call('set', 'only-key'), { message: "ERR wrong number of arguments for 'set' command" });
    });

    it('sets a key with NX only when it is missing and with XX only when it exists', async function () {
      assert.equal(await redis.set('k', 'first', 'XX'), null);
      assert.equal(await redis.get('k'), null);
      assert.equal(await redis.set('k', 'first', 'NX'), 'OK');
      assert.equal(await redis.set('k', 'second', 'NX'), null);
      assert.equal(await redis.get('k'), 'first');
      assert.equal(await redis.set('k', 'third', 'xx'), 'OK');
      assert.equal(await redis.get('k'), 'third');
      await assert.rejects(redis.set('k', 'v', 'NX', 'XX'), { message: 'ERR syntax error' });
      await assert.rejects(redis.call('set', 'k', 'v', 'FOREVER'), { message: 'ERR syntax error' });
    });

    it('answers SET GET with the old value and keeps the expiry with KEEPTTL', async function () {
      assert.equal(await redis.set('k', 'one', 'GET'), null);
      assert.equal(await redis.set('k', 'two', 'EX', 100, 'GET'), 'one');
      assert.equal(await redis.set('k', 'three', 'KEEPTTL'), 'OK');
      const ttl = await redis.ttl('k');
      assert.ok(ttl >= 99 && ttl <= 100, `KEEPTTL kept the expiry, TTL ${ttl}`);
      assert.equal(await redis.set('k', 'four'), 'OK');
      assert.equal(await redis.ttl('k'), -1, 'a plain SET drops the expiry');
      await assert.rejects(redis.call('set', 'k', 'v', 'KEEPTTL', 'EX', '5'), { message: 'ERR syntax error' });
    });

    it('refuses SET expiry times that are not positive integers, as Redis does', async function () {
      await assert.rejects(redis.set('k', 'v', 'EX', 'soon'), { message: 'ERR value is not an integer or out of range' });
      await assert.rejects(redis.set('k', 'v', 'PX', '1.5'), { message: 'ERR value is not an integer or out of range' });
      await assert.rejects(redis.set('k', 'v', 'EX', 0), { message: "ERR invalid expire time in 'set' command" });
      await assert.rejects(redis.set('k', 'v', 'PX', -5), { message: "ERR invalid expire time in 'set' command" });
      await assert.rejects(redis.set('k', 'v', 'EX', '9223372036854775807'), { message: "ERR invalid expire time in 'set' command" });
      await assert.rejects(redis.call('set', 'k', 'v', 'EX'), { message: 'ERR syntax error' });
      await assert.rejects(redis.call('set', 'k', 'v', 'EX', '10', 'PX', '100'), { message: 'ERR syntax error' });
      assert.equal(await redis.exists('k'), 0, 'no refused SET stored anything');
    });

    it('deletes several keys with DEL and counts the ones that existed', async function () {
      await redis.set('a', '1');
      await redis.set('b', '2');
      assert.equal(await redis.del('a', 'b', 'missing', 'a'), 2);
      assert.equal(await redis.get('a'), null);
      assert.equal(await redis.del('a'), 0);
      await assert.rejects(redis.call('del'), { message: "ERR wrong number of arguments for 'del' command" });
    });

    it('counts existing keys with EXISTS, a key named twice counting twice', async function () {
      await redis.set('a', '1');
      await redis.set('b', '2');
      assert.equal(await redis.exists('a'), 1);
      assert.equal(await redis.exists('a', 'b', 'c', 'a'), 3);
      assert.equal(await redis.exists('nothing'), 0);
      await assert.rejects(redis.call('exists'), { message: "ERR wrong number of arguments for 'exists' command" });
    });

    it('increments with INCR from a missing key, keeps the expiry, and refuses values that are not 64-bit integers', async function () {
      assert.equal(await redis.incr('n'), 1);
      assert.equal(await redis.incr('n'), 2);
      assert.equal(await redis.get('n'), '2');
      await redis.set('n', '41', 'EX', 100);
      assert.equal(await redis.incr('n'), 42);
      assert.ok((await redis.ttl('n')) > 0, 'INCR kept the expiry');
      assert.equal(await redis.decr('n'), 41);
      assert.equal(await redis.incrby('n', 9), 50);
      assert.equal(await redis.decrby('n', 60), -10);
      for (const bad of ['abc', '1.5', ' 1', '007', '-0', '', '99999999999999999999']) {
        await redis.set('s', bad);
        await assert.rejects(redis.incr('s'), { message: 'ERR value is not an integer or out of range' }, `INCR of ${JSON.stringify(bad)}`);
        assert.equal(await redis.get('s'), bad, 'the value is left as it was');
      }
      await redis.set('big', '9223372036854775807');
      await assert.rejects(redis.incr('big'), { message: 'ERR increment or decrement would overflow' });
      await assert.rejects(redis.incrby('n', 'x'), { message: 'ERR value is not an integer or out of range' });
      await assert.rejects(redis.call('incr'), { message: "ERR wrong number of arguments for 'incr' command" });
    });

    it('sets expiries with EXPIRE that TTL reports in seconds, removes them with PERSIST, and answers -1 and -2', async function () {
      await redis.set('k', 'v');
      assert.equal(await redis.ttl('k'), -1);
      assert.equal(await redis.ttl('missing'), -2);
      assert.equal(await redis.pttl('missing'), -2);
      assert.equal(await redis.expire('missing', 10), 0);
      assert.equal(await redis.expire('k', 100), 1);
      assert.equal(await redis.ttl('k'), 100);
      const pttl = await redis.pttl('k');
      assert.ok(pttl > 99000 && pttl <= 100000, `PTTL ${pttl}`);
      assert.equal(await redis.persist('k'), 1);
      assert.equal(await redis.ttl('k'), -1);
      assert.equal(await redis.persist('k'), 0, 'nothing left to remove');
      assert.equal(await redis.persist('missing'), 0);
      assert.equal(await redis.get('k'), 'v', 'PERSIST keeps the value');
      // The Redis 7 options.
      assert.equal(await redis.expire('k', 50, 'XX'), 0, 'XX: no expiry yet');
      assert.equal(await redis.expire('k', 50, 'NX'), 1);
      assert.equal(await redis.expire('k', 80, 'NX'), 0, 'NX: has one');
      assert.equal(await redis.expire('k', 40, 'GT'), 0);
      assert.equal(await redis.expire('k', 60, 'GT'), 1);
      assert.equal(await redis.expire('k', 70, 'LT'), 0);
      assert.equal(await redis.expire('k', 30, 'LT'), 1);
      assert.equal(await redis.ttl('k'), 30);
      await assert.rejects(redis.call('expire', 'k', '10', 'NX', 'XX'), { message: 'ERR NX and XX, GT or LT options at the same time are not compatible' });
      await assert.rejects(redis.call('expire', 'k', 'soon'), { message: 'ERR value is not an integer or out of range' });
      await assert.rejects(redis.call('expire', 'k'), { message: "ERR wrong number of arguments for 'expire' command" });
      await assert.rejects(redis.call('ttl'), { message: "ERR wrong number of arguments for 'ttl' command" });
      // A time in the past deletes the key at once.
      assert.equal(await redis.expire('k', -1), 1);
      assert.equal(await redis.exists('k'), 0);
      assert.equal(await redis.ttl('k'), -2);
    });

    it('answers unknown commands as Redis 7 words it, naming the command and its first arguments', async function () {
      await assert.rejects(redis.call('foo'), { message: "ERR unknown command 'foo', with args beginning with: " });
      await assert.rejects(redis.call('FOO', 'bar', 'baz'), { message: "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' " });
      assert.equal(await redis.ping(), 'PONG', 'the connection goes on after an error');
    });

    it('answers 1,000 pipelined commands in order', async function () {
      const pipeline = redis.pipeline();
      const expected = [];
      for (let i = 0; i < 333; i++) {
        pipeline.set(`key:${i}`, `value ${i}`);
        pipeline.incr('counter');
        pipeline.get(`key:${i}`);
        expected.push('OK', i + 1, `value ${i}`);
      }
      pipeline.dbsize();
      expected.push(334);
      const results = await pipeline.exec();
      assert.equal(results.length, 1000);
      assert.deepEqual(results.map(([err]) => err), new Array(1000).fill(null));
      assert.deepEqual(results.map(([, value]) => value), expected);
    });

    it('stores a key and a value holding every byte value and CRLF, byte for byte', async function () {
      const bytes = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) bytes[i] = i;
      const value = Buffer.concat([bytes, Buffer.from('\r\n$3\r\nfoo\r\n*1\r\n'), crypto.randomBytes(4096), bytes]);
      const key = Buffer.concat([Buffer.from('bin\r\n'), bytes]);
      assert.equal(await redis.set(key, value), 'OK');
      assert.deepEqual(await redis.getBuffer(key), value);
      assert.equal(await redis.exists(key), 1);
      assert.equal(await redis.exists(Buffer.from('bin\r\n')), 0, 'a key is all of its bytes');
    });

    it('reads a bulk string split across many TCP writes, and answers only once it is whole', async function () {
      const socket = await connect(srv.port);
      socket.setNoDelay(true);
      const value = crypto.randomBytes(20000);
      const command = resp('SET', 'split', value);
      const replies = [];
      socket.on('data', (d) => replies.push(d));
      const eventsBefore = srv.bridge.stats().events;
      // Every byte of the headers on its own, then the value in pieces of 1 to 1500 bytes.
      const headerEnd = command.indexOf(value);
      let at = 0;
      for (; at < headerEnd; at++) await writeAndSettle(socket, command.subarray(at, at + 1));
      let size = 1;
      while (at < command.length - 3) {
        const end = Math.min(at + size, command.length - 3);
        await writeAndSettle(socket, command.subarray(at, end));
        at = end;
        size = (size * 7) % 1500 + 1;
      }
      // The value's last byte, then "\r" and "\n" apart.
      await writeAndSettle(socket, command.subarray(at, at + 1));
      await writeAndSettle(socket, command.subarray(at + 1, at + 2));
      await sleep(50);
      assert.equal(Buffer.concat(replies).length, 0, 'no answer before the command is whole');
      await writeAndSettle(socket, command.subarray(at + 2));
      await waitFor(() => Buffer.concat(replies).length >= 5, 'the answer to SET');
      assert.equal(Buffer.concat(replies).toString(), '+OK\r\n');
      const writes = headerEnd + 3;
      await waitFor(() => srv.bridge.stats().events - eventsBefore >= writes / 2, 'the pieces to arrive as separate onData events');
      socket.removeAllListeners('data');
      const expected = bulk(value);
      const got = readBytes(socket, expected.length);
      socket.write(resp('GET', 'split'));
      assert.deepEqual(await got, expected);
      socket.end();
    });

    it('answers inline commands as typed into telnet, with quoted arguments', async function () {
      const socket = await connect(srv.port);
      const expected = '+PONG\r\n$5\r\nhello\r\n+OK\r\n$11\r\nhello world\r\n$4\r\nAB\n\'\r\n';
      const got = readBytes(socket, expected.length);
      socket.write('PING\r\nping hello\n\r\nSET k "hello world"\r\nGET k\r\nECHO "\\x41B\\n\'"\r\n');
      assert.equal((await got).toString(), expected);
      socket.end();
    });

    it('answers what was sent before a protocol error, then the error, and closes the connection', async function () {
      const { data, ended } = await sendUntilClosed(srv.port, 'PING\r\n*1\r\n$four\r\nPING\r\n');
      assert.ok(ended, 'the server should have sent FIN');
      assert.equal(data.toString(), '+PONG\r\n-ERR Protocol error: invalid bulk length\r\n');
    });

    const protocolErrors = [
      ['more than 1024 arguments', '*1025\r\n', 'invalid multibulk length'],
      ['a bulk string over 1 MiB', '*2\r\n$4\r\nECHO\r\n$1048577\r\n', 'invalid bulk length'],
      ['an array element that is not a bulk string', '*1\r\n+PING\r\n', "expected '$', got '+'"],
      ['a bulk string not followed by CRLF', '*1\r\n$4\r\nPINGxx', 'bulk string not followed by CRLF'],
      ['an inline command with unbalanced quotes', 'ECHO "open\r\n', 'unbalanced quotes in request'],
      ['an inline command over 64 KiB without a newline', 'x'.repeat(70000), 'too big inline request'],
      ['an array header that never ends', `*${'1'.repeat(40)}`, 'too big mbulk count string'],
    ];
    for (const [what, input, error] of protocolErrors) {
      it(`answers ${what} with -ERR Protocol error and closes the connection`, async function () {
        const { data, ended } = await sendUntilClosed(srv.port, input);
        assert.ok(ended, 'the server should have sent FIN');
        assert.equal(data.toString(), `-ERR Protocol error: ${error}\r\n`);
      });
    }

    it('accepts a command of exactly 1024 arguments', async function () {
      const keys = Array.from({ length: 1023 }, (_, i) => `k${i}`);
      assert.equal(await redis.exists(...keys), 0);
    });

    it('answers QUIT with OK and ends the connection, ignoring what follows', async function () {
      const { data, ended } = await sendUntilClosed(srv.port, resp('QUIT') + 'PING\r\n');
      assert.ok(ended);
      assert.equal(data.toString(), '+OK\r\n');
    });

    it('expires a key set with PX 200 within 50 ms of its deadline, and never answers it after', async function () {
      const t0 = performance.now();
      assert.equal(await redis.set('short', 'lived', 'PX', 200), 'OK');
      const t1 = performance.now();
      // The guest fixed the deadline D while handling SET: t0 + 200 <= D <= t1 + 200.
      const reads = [];
      while (performance.now() < t1 + 300) {
        const sent = performance.now();
        const value = await redis.get('short');
        reads.push({ sent, got: performance.now(), value });
        await sleep(2);
      }
      const firstNil = reads.findIndex((r) => r.value === null);
      assert.ok(firstNil > 0, 'the value was there, then gone');
      const before = reads.slice(0, firstNil);
      const after = reads.slice(firstNil);
      assert.ok(before.every((r) => r.value === 'lived'));
      assert.ok(after.every((r) => r.value === null), 'once gone, it stays gone');
      const lastSeen = before[before.length - 1];
      const gone = after[0];
      // A GET answered with the value was handled before D, so it was sent before t1 + 200.
      assert.ok(lastSeen.sent < t1 + 200, `a GET sent ${(lastSeen.sent - t1).toFixed(1)} ms after SET still saw the value`);
      // A nil was handled at or after D, so it was received at or after t0 + 200: never early.
      assert.ok(gone.got >= t0 + 200, `the key was gone ${(gone.got - t0).toFixed(1)} ms after SET was sent`);
      // The window: seen until at least 150 ms, gone by 250 ms.
      assert.ok(lastSeen.sent >= t0 + 150, `last seen only ${(lastSeen.sent - t0).toFixed(1)} ms after SET`);
      assert.ok(gone.got <= t1 + 250, `still there ${(gone.got - t1).toFixed(1)} ms after SET`);
    });

    it('deletes expired keys on its timer, without any access to them', async function () {
      // One pipelined round trip, so no key expires before DBSIZE even on a loaded machine.
      const p = redis.pipeline();
      for (let i = 0; i < 100; i++) p.set(`temp:${i}`, 'x', 'PX', 400 + i);
      p.set('kept', 'x');
      p.set('later', 'x', 'EX', 100);
      await p.exec();
      assert.equal(await redis.dbsize(), 102);
      await sleep(800);
      // The shared store itself: only the timer can have removed the expired keys from it.
      assert.deepEqual(srv.bridge.shared.keys('kv:'), ['kv:kept', 'kv:later']);
      assert.equal(await redis.dbsize(), 2);
      assert.match(await redis.info(), /\r\ndb0:keys=2,expires=1,/);
      assert.equal(await redis.get('kept'), 'x');
    });

    it('writes the answers to GETs of a 1 MiB value to a client that reads only later, pausing instead of overrunning its output', async function () {
      const value = crypto.randomBytes(1024 * 1024);
      const socket = await connect(srv.port); // one connection: with threads, one worker's store
      const stored = readBytes(socket, 5);
      socket.write(resp('SET', 'big', value));
      assert.equal((await stored).toString(), '+OK\r\n');
      socket.pause();
      const n = 40; // 40 MiB of answers, far over the host's hard cap on queued output
      socket.write(Buffer.concat(Array.from({ length: n }, () => resp('GET', 'big'))));
      await sleep(300);
      const expected = bulk(value);
      const got = readBytes(socket, expected.length * n);
      socket.resume();
      const data = await got;
      assert.equal(data.length, expected.length * n);
      for (let i = 0; i < n; i++) assert.ok(data.subarray(i * expected.length, (i + 1) * expected.length).equals(expected), `answer ${i}`);
      socket.end();
    });

    it('answers commands sent before a half-close, then ends the connection', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.end(Buffer.concat([resp('SET', 'h', 'v'), resp('GET', 'h')]));
      const res = await closed;
      assert.ok(res.ended, 'the server should have sent FIN');
      assert.equal(res.data.toString(), '+OK\r\n$1\r\nv\r\n');
    });

    it('speaks with redis-cli: SET, GET, INCR and an error', async function () {
      if (!fs.existsSync(REDIS_CLI)) this.skip();
      assert.equal(await redisCli(srv.port, ['SET', 'cli', 'hello world']), 'OK\n');
      assert.equal(await redisCli(srv.port, ['GET', 'cli']), 'hello world\n');
      assert.equal(await redisCli(srv.port, ['INCR', 'visits']), '1\n');
      assert.match(await redisCli(srv.port, ['GET']), /ERR wrong number of arguments for 'get' command/);
    });

    it('keeps its keys in the bridge\'s shared store, as "kv:" + key behind an 8-byte deadline', async function () {
      assert.equal(await redis.set(Buffer.from([0, 0xff, 0x0d]), 'binary key'), 'OK');
      assert.equal(await redis.set('plain', 'v', 'PX', 100000), 'OK');
      const stored = srv.bridge.shared.get(Buffer.from([0x6b, 0x76, 0x3a, 0, 0xff, 0x0d]));
      assert.equal(stored.readBigInt64LE(0), 0n, 'no deadline');
      assert.equal(stored.subarray(8).toString(), 'binary key');
      const deadline = Number(srv.bridge.shared.get('kv:plain').readBigInt64LE(0));
      assert.ok(Math.abs(deadline - (Date.now() + 100000)) < 5000, `deadline ${deadline}`);
      // What the application writes there, kv reads (with a deadline of 0: none).
      srv.bridge.shared.set('kv:from-js', Buffer.concat([Buffer.alloc(8), Buffer.from('hello')]));
      assert.equal(await redis.get('from-js'), 'hello');
      assert.equal(await redis.dbsize(), 3);
      srv.bridge.shared.set('not-kv', 'x');
      assert.equal(await redis.dbsize(), 3, 'keys outside "kv:" are not kv\'s');
      assert.equal(await redis.flushdb(), 'OK');
      assert.deepEqual(srv.bridge.shared.keys(), ['not-kv'], 'FLUSHDB leaves other keys alone');
    });

    it('refuses to write a key over 1021 bytes, and finds nothing under one', async function () {
      const long = 'k'.repeat(1022);
      await assert.rejects(redis.set(long, 'v'), { message: 'ERR key is too long: at most 1021 bytes' });
      await assert.rejects(redis.incr(long), { message: 'ERR key is too long: at most 1021 bytes' });
      assert.equal(await redis.get(long), null);
      assert.equal(await redis.del(long), 0);
      assert.equal(await redis.set('k'.repeat(1021), 'v'), 'OK');
      assert.equal(await redis.get('k'.repeat(1021)), 'v');
    });

    it('keeps the keyspace and its deadlines when an instance fails and is replaced', async function () {
      // A bridge whose instances get 1 MiB of memory: a 900 KiB value does not fit.
      const own = await serve(guest('kv'), { ...mode.options, maxMemoryBytes: 1 << 20 });
      const first = client(own.port);
      const bomb = client(own.port);
      bomb.on('error', () => {});
      const fresh = [];
      try {
        const t0 = performance.now();
        const p = first.pipeline();
        p.set('survivor', 'still here');
        p.set('counter', '41');
        p.set('fading', 'x', 'PX', 1500);
        await p.exec();
        bomb.set('bomb', Buffer.alloc(900 * 1024)).catch(() => {});
        await waitFor(() => own.errors.length > 0, 'the instance failure');
        assert.equal(own.errors[0].kind, 'memory');
        // Fresh connections (one per worker with threads): the replacement instance sees the keys.
        fresh.push(client(own.port), client(own.port));
        for (const f of fresh) assert.equal(await f.get('survivor'), 'still here');
        assert.equal(await fresh[0].incr('counter'), 42);
        assert.equal(await fresh[1].incr('counter'), 43);
        assert.ok(own.bridge.shared.get('kv:fading'), 'not due yet');
        await sleep(t0 + 2300 - performance.now());
        // Deleted by a timer, not by an access: inline, the instance that set it failed, so the
        // replacement took the deadline over from the store.
        assert.equal(own.bridge.shared.get('kv:fading'), undefined);
        assert.equal(await fresh[0].exists('bomb'), 0);
      } finally {
        [first, bomb, ...fresh].forEach((c) => c.disconnect());
        await own.close();
      }
      assert.equal(own.errors.length, 1, own.errors.map((e) => e.message).join('\n'));
    });

    if (mode.options.threads === 2) {
      describe('with two workers', function () {
        let other;
        beforeEach(async function () {
          other = client(srv.port);
          await redis.ping();
          await other.ping(); // the second connection goes to the worker with fewer connections
        });
        afterEach(function () {
          other.disconnect();
        });

        it('shows a key set through one worker to a connection on the other, and its deletion too', async function () {
          assert.equal(await redis.set('where', 'first worker'), 'OK');
          assert.equal(await other.get('where'), 'first worker');
          assert.equal(await other.set('where', 'second worker', 'XX'), 'OK');
          assert.equal(await redis.get('where'), 'second worker');
          assert.equal(await redis.set('where', 'again', 'NX'), null);
          assert.equal(await other.del('where'), 1);
          assert.equal(await redis.exists('where'), 0);
          assert.equal(await redis.set('where', 'again', 'NX'), 'OK');
          assert.equal(await other.dbsize(), 1);
        });

        it('counts INCR from 20 clients on both workers exactly: 1,000 increments answer 1 to 1,000 once each', async function () {
          const clients = Array.from({ length: 20 }, () => client(srv.port));
          try {
            const answers = await Promise.all(
              clients.map((c) => {
                const p = c.pipeline();
                for (let i = 0; i < 50; i++) p.incr('hits');
                return p.exec();
              }),
            );
            const values = answers.flat().map(([err, n]) => {
              assert.equal(err, null);
              return n;
            });
            assert.deepEqual(values.sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1));
            assert.equal(await redis.get('hits'), '1000');
            assert.equal(await other.get('hits'), '1000');
          } finally {
            clients.forEach((c) => c.disconnect());
          }
        });

        it('lets exactly one of many concurrent SET NX win across both workers', async function () {
          const clients = Array.from({ length: 10 }, () => client(srv.port));
          try {
            const answers = await Promise.all(clients.map((c, i) => c.set('lock', `owner ${i}`, 'NX')));
            assert.equal(answers.filter((a) => a === 'OK').length, 1);
            const winner = answers.indexOf('OK');
            assert.equal(await other.get('lock'), `owner ${winner}`);
          } finally {
            clients.forEach((c) => c.disconnect());
          }
        });

        it('expires a key set through one worker for the other, on access and by the timer', async function () {
          assert.equal(await redis.set('brief', 'x', 'PX', 300), 'OK');
          assert.equal(await redis.set('brief-untouched', 'x', 'PX', 300), 'OK');
          assert.equal(await other.get('brief'), 'x');
          const ttl = await other.pttl('brief');
          assert.ok(ttl > 0 && ttl <= 300, `PTTL on the other worker: ${ttl}`);
          await sleep(700);
          assert.equal(await other.get('brief'), null, 'gone on access');
          assert.equal(srv.bridge.shared.get('kv:brief-untouched'), undefined, 'gone by the timer');
          // EXPIRE through the other worker, and a newer SET the old deadline must not delete.
          assert.equal(await redis.set('renewed', 'old', 'PX', 200), 'OK');
          assert.equal(await other.set('renewed', 'new'), 'OK');
          assert.equal(await other.expire('renewed', 100), 1);
          await sleep(350);
          assert.equal(await redis.get('renewed'), 'new', 'the first worker\'s timer left the newer value');
          const left = await redis.ttl('renewed');
          assert.ok(left > 90 && left <= 100, `TTL ${left}`);
        });
      });
    }
  });

  describe(`kv guest with maxmemory as maxSharedBytes (${mode.name})`, function () {
    it('refuses writes that would pass the shared store\'s maxSharedBytes with -OOM, while reads and deletes go on', async function () {
      const srv = await serve(guest('kv'), { ...mode.options, maxSharedBytes: 4096, config: { maxmemory: 4096 } });
      const redis = client(srv.port);
      try {
        assert.match(await redis.info(), /\r\nmaxmemory:4096\r\n/);
        assert.equal(await redis.set('a', 'x'.repeat(2000)), 'OK');
        await assert.rejects(redis.set('b', 'x'.repeat(3000)), { message: "OOM command not allowed when used memory > 'maxmemory'." });
        assert.equal(await redis.exists('b'), 0);
        assert.equal((await redis.get('a')).length, 2000);
        assert.equal(await redis.set('a', 'small'), 'OK', 'a write that shrinks the store is fine');
        assert.equal(await redis.set('b', 'x'.repeat(3000)), 'OK', 'room again once a is smaller');
        assert.equal(await redis.del('a', 'b'), 2);
      } finally {
        redis.disconnect();
        await srv.close();
      }
      assert.deepEqual(srv.errors, []);
    });
  });
}
