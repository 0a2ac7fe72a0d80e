'use strict';
// Hostile guests: hand-written .wat guests that call every host import with bad pointers and
// lengths, unknown and closed ids, and re-entrant patterns. Each call must get the answer its
// import documents (src/instance/imports/, docs/guest-abi.md): a return value, nothing at all, or a
// GuestError that closes the instance's connections and replaces the instance. Either way the
// bridge keeps serving. Also: modules refused at load, beyond what load.test.js covers.
const assert = require('node:assert/strict');
const { Bridge } = require('..');
const { fixture, serve, connect, readBytes, readToClose, sendUntilClosed, exchange, waitFor, MODES, hardCap, assertConnection } = require('./helpers');

// test/fixtures/hostile-imports.wat: 10 pages of memory, "DATA" at 16, "END!" in the last 4 bytes.
const MEMEND = 10 * 65536;
// Where the string tests place their AssemblyScript strings (the header; the text follows).
const STR = 200000;

/** A command for hostile-imports.wat: a letter, five u32 arguments, then a payload. */
function cmd(letter, args = [], payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(21);
  head[0] = letter.charCodeAt(0);
  args.forEach((a, i) => head.writeUInt32LE(a >>> 0, 1 + 4 * i));
  return Buffer.concat([head, payload]);
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** An AssemblyScript string object: its byte length (or `claimed`), then the UTF-16LE bytes. */
function asString(text, claimed) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf16le') : text;
  return Buffer.concat([u32(claimed === undefined ? bytes.length : claimed), bytes]);
}

/** Places `objects` at STR and calls string import `which` with `ptr` (default: the first string). */
function strCall(which, objects, { ptr = STR + 4, a4 = 0, a5 = 0, at = STR } = {}) {
  return cmd('S', [at, ptr, which, a4, a5], Buffer.concat(objects));
}

const STRING_IMPORTS = { log: 0, info: 1, warn: 2, error: 3, debug: 4 };
const ASSERT_FALSE = 5;
const ASSERT_TRUE = 6;
const TIMERS = 7;
const TIME = 8;
const TIME_LOG = 9;
const TIME_END = 10;
const TRACE = 11;
const ABORT = 12;

const isReport = (line) => /^[A-Z.]:[0-9]*$/.test(line);

/** Sends one command on an open socket; resolves with the guest's report line ("W:1"). */
async function ask(srv, socket, data) {
  const from = srv.logs.length;
  const letter = String.fromCharCode(data[0]);
  socket.write(data);
  let found;
  await waitFor(() => {
    found = srv.logs.slice(from).find(({ line }) => isReport(line) && line.startsWith(`${letter}:`));
    return found !== undefined;
  }, `the report of command ${letter}`);
  return found.line;
}

/** Sends one command on a fresh connection; resolves with the report and the socket. */
async function askOnce(srv, data) {
  const socket = await connect(srv.port);
  const report = await ask(srv, socket, data);
  return { socket, report };
}

/** Guest log lines other than the command reports. */
const guestLines = (srv) => srv.logs.filter(({ line }) => !isReport(line));

/** A fresh connection is echoed by the (possibly replaced) instance. */
async function assertStillServes(srv) {
  const probe = cmd('.', [], Buffer.from('still serving'));
  assert.deepEqual(await exchange(srv.port, probe), probe);
}

/**
 * Sends `data` on a fresh connection and checks that it stops the guest: one GuestError of
 * `kind` for that connection with `message` (a string: exactly), the connection closed without
 * output, no report logged, the instance replaced, and a new connection served.
 */
async function assertStops(srv, data, kind, message) {
  const { data: received } = await sendUntilClosed(srv.port, data);
  assert.equal(received.length, 0, 'nothing may be sent after the guest stopped');
  await waitFor(() => srv.errors.length === 1, 'the error event');
  const [err] = srv.errors;
  assert.equal(err.name, 'GuestError');
  assert.equal(err.kind, kind);
  assertConnection(srv, err.connectionId, -1);
  if (message instanceof RegExp) assert.match(err.message, message);
  else assert.equal(err.message, message);
  assert.deepEqual(
    srv.logs.filter(({ line }) => isReport(line)),
    [],
    'the guest must not get past the call that stopped it',
  );
  await assertStillServes(srv);
  await waitFor(() => srv.bridge.stats().restarts === 1, 'the restart count');
  assert.equal(srv.bridge.stats().traps, 1);
}

const outside = (ptr, len) =>
  `guest passed pointer ${ptr} with length ${len}, outside its memory of ${MEMEND} bytes`;

for (const mode of MODES) {
  describe(`hostile guests calling Socket imports (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(fixture('hostile-imports.wat'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    const badWrites = [
      ['a pointer of -1', cmd('W', [0xffffffff, 1]), outside(4294967295, 1)],
      ['a length of -1', cmd('W', [16, 0xffffffff]), outside(16, 4294967295)],
      ['a length just under 2^32 from address 0', cmd('W', [0, 0xfffffff0]), outside(0, 4294967280)],
      ['a pointer and length whose sum overflows 32 bits', cmd('W', [0xfffffff0, 0x20]), outside(4294967280, 32)],
      ['a range that ends one byte past memory', cmd('W', [MEMEND - 3, 4]), outside(MEMEND - 3, 4)],
      ['one byte at the end of memory', cmd('W', [MEMEND, 1]), outside(MEMEND, 1)],
      ['an empty range one byte past the end of memory', cmd('W', [MEMEND + 1, 0]), outside(MEMEND + 1, 0)],
      ['a bad range for an unknown id', cmd('U', [0x7fffffff, 0xffffffff, 8]), outside(4294967295, 8)],
      ['a bad range for id -1', cmd('U', [0xffffffff, MEMEND, 1]), outside(MEMEND, 1)],
    ];
    for (const [what, data, message] of badWrites) {
      it(`stops a guest that calls Socket.write with ${what} with a trap naming the range, and keeps serving`, async function () {
        await assertStops(srv, data, 'trap', `Socket.write: ${message}`);
      });
    }

    it('accepts empty writes at address 0 and exactly at the end of memory, and the last 4 bytes of memory', async function () {
      const socket = await connect(srv.port);
      const got = readBytes(socket, 4);
      // own (end, 0), own (0, 0), own (end - 4, 4), unknown id (end, 0)
      assert.equal(await ask(srv, socket, cmd('Z')), 'Z:1110');
      assert.equal((await got).toString(), 'END!');
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('copies overlapping ranges, including the incoming buffer itself, byte-exact', async function () {
      const data = cmd('O', [], Buffer.from('overlap'));
      const want = Buffer.concat([data, data.subarray(2), Buffer.from('DATA'), Buffer.from('AT')]);
      const socket = await connect(srv.port);
      const got = readBytes(socket, want.length);
      assert.equal(await ask(srv, socket, data), 'O:1111');
      assert.deepEqual(await got, want);
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('returns false from Socket.write to ids 0, -1, 2^31-1 and 4242, sends nothing, and leaves the connection alone', async function () {
      const socket = await connect(srv.port);
      const received = [];
      socket.on('data', (d) => received.push(d));
      for (const id of [0, 0xffffffff, 0x7fffffff, 4242]) {
        assert.equal(await ask(srv, socket, cmd('U', [id, 16, 4])), 'U:0', `id ${id}`);
        assert.equal(await ask(srv, socket, cmd('U', [id, MEMEND, 0])), 'U:0', `id ${id}, empty write`);
      }
      const probe = cmd('.', [], Buffer.from('echo'));
      const echoed = readBytes(socket, probe.length);
      socket.write(probe);
      assert.deepEqual(await echoed, probe);
      assert.deepEqual(Buffer.concat(received), probe, 'only the echo may arrive');
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('does nothing for Socket.end, close, pause and resume of unknown ids', async function () {
      const socket = await connect(srv.port);
      for (const id of [0, 0xffffffff, 0x7fffffff, 4242]) {
        assert.equal(await ask(srv, socket, cmd('X', [id])), 'X:0', `id ${id}`);
      }
      assert.equal(srv.bridge.connections, 1);
      const probe = cmd('.', [], Buffer.from('still open'));
      const echoed = readBytes(socket, probe.length);
      socket.write(probe);
      assert.deepEqual(await echoed, probe, 'the connection must still be open and reading');
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('answers calls about a connection that has closed, from its onClose on, as for an unknown id: false, or nothing', async function () {
      const gone = await connect(srv.port);
      const goneClosed = readToClose(gone);
      gone.end();
      await goneClosed;
      await waitFor(() => srv.bridge.connections === 0, 'the first connection to close');
      const goneId = srv.ids[0];
      const socket = await connect(srv.port);
      if (mode.options.threads === 0) {
        // onClose itself wrote to, ended, closed, paused and resumed the id going away.
        assert.equal(await ask(srv, socket, cmd('G')), 'G:0');
      }
      assert.equal(await ask(srv, socket, cmd('U', [goneId, 16, 4])), 'U:0');
      assert.equal(await ask(srv, socket, cmd('X', [goneId])), 'X:0');
      const probe = cmd('.', [], Buffer.from('unaffected'));
      const echoed = readBytes(socket, probe.length);
      socket.write(probe);
      assert.deepEqual(await echoed, probe);
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('lets a guest close its own connection, close it again, pause, resume, end and write to it in the same event: writes return false and nothing breaks', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write(cmd('C'));
      const { data } = await closed;
      assert.equal(data.length, 0, 'queued output is dropped and later writes send nothing');
      await waitFor(() => srv.logs.some(({ line }) => line.startsWith('C:')), 'the report');
      assert.deepEqual(
        srv.logs.map(({ line }) => line),
        ['C:000'],
      );
      await waitFor(() => srv.bridge.connections === 0, 'the connection to close');
      assert.deepEqual(srv.errors, []);
      await assertStillServes(srv);
      assert.equal(srv.bridge.stats().restarts, 0);
    });

    it('lets a guest end its own connection and then write, end, pause and resume: the data before the end arrives, then FIN', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write(cmd('E'));
      const { data, ended } = await closed;
      assert.equal(data.toString(), 'DATA');
      assert.equal(ended, true);
      await waitFor(() => srv.logs.some(({ line }) => line.startsWith('E:')), 'the report');
      assert.deepEqual(
        srv.logs.map(({ line }) => line),
        ['E:100'],
      );
      assert.deepEqual(srv.errors, []);
      await assertStillServes(srv);
    });

    it('refuses one write larger than the hard cap: false, a host GuestError, that connection destroyed, the instance kept', async function () {
      const cap = hardCap(mode.options);
      const closed = sendUntilClosed(srv.port, cmd('H', [cap + 37856]));
      assert.equal((await closed).data.length, 0);
      await waitFor(() => srv.errors.length === 1 && srv.logs.length === 1, 'the error and the report');
      assert.equal(srv.logs[0].line, 'H:00');
      const [err] = srv.errors;
      assert.equal(err.kind, 'host');
      assertConnection(srv, err.connectionId);
      assert.match(
        err.message,
        new RegExp(`^connection \\d+: the guest kept writing after Socket\\.write returned false; ${cap + 37856} bytes queued would pass the cap of ${cap} `),
      );
      await assertStillServes(srv);
      const s = srv.bridge.stats();
      assert.equal(s.traps, 0);
      assert.equal(s.restarts, 0);
    });

    if (mode.options.threads === 0) {
      it('lets a guest write to and then end and close another live connection of its instance', async function () {
        const other = await connect(srv.port);
        const otherClosed = readToClose(other);
        await waitFor(() => srv.ids.length === 1, 'the first connection');
        const { socket, report } = await askOnce(srv, cmd('U', [srv.ids[0], 16, 4]));
        assert.equal(report, 'U:1');
        assert.equal(await ask(srv, socket, cmd('X', [srv.ids[0]])), 'X:0');
        const { data } = await otherClosed;
        assert.ok(['', 'DATA'].includes(data.toString()), `got ${data}`);
        socket.end();
        assert.deepEqual(srv.errors, []);
      });
    }

    it('stops a guest that loads outside its own memory with a trap, and keeps serving', async function () {
      await assertStops(srv, cmd('M'), 'trap', /^out of bounds memory access/);
    });

    it('stops a guest that recurses without end with a trap, and keeps serving', async function () {
      await assertStops(srv, cmd('K'), 'trap', /^call stack exhausted/);
    });

    it('survives thirty hostile calls in a row that each stop the guest', async function () {
      const stoppers = badWrites.map(([, data]) => data);
      for (let i = 0; i < 30; i++) await sendUntilClosed(srv.port, stoppers[i % stoppers.length]);
      await waitFor(() => srv.errors.length === 30, '30 error events');
      assert.ok(srv.errors.every((e) => e.kind === 'trap' && e.message.startsWith('Socket.write: ')));
      await assertStillServes(srv);
      await waitFor(() => srv.bridge.stats().restarts === 30, '30 restarts');
    });
  });

  describe(`hostile guests calling env imports (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(fixture('hostile-imports.wat'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    for (const [name, which] of Object.entries(STRING_IMPORTS)) {
      it(`logs console.${name} of a valid string at level ${name}`, async function () {
        const { socket, report } = await askOnce(srv, strCall(which, [asString('héllo 🦀')]));
        assert.equal(report, 'S:1');
        assert.deepEqual(guestLines(srv), [{ line: 'héllo 🦀', level: name }]);
        socket.end();
      });
    }

    const strings = [
      ['the null pointer', strCall(0, [], { ptr: 0 }), 'null'],
      ['an unpaired surrogate', strCall(0, [asString(Buffer.from([0x3d, 0xd8, 0x41, 0x00]))]), '\ufffdA'],
      ['an odd byte length', strCall(0, [asString('hello!', 11)]), 'hello'],
      ['an empty string that ends exactly at the end of memory', strCall(0, [u32(0)], { at: MEMEND - 4, ptr: MEMEND }), ''],
      ['a length of exactly 64 KiB', strCall(0, [u32(65536)]), '\0'.repeat(32768)],
      ['a length one byte over 64 KiB', strCall(0, [u32(65537)]), `${'\0'.repeat(32768)}...(truncated)`],
      ['a length of -1', strCall(0, [u32(0xffffffff)]), `${'\0'.repeat(32768)}...(truncated)`],
      [
        'a string whose header lies inside the text of another',
        strCall(0, [asString(Buffer.concat([Buffer.from('ab', 'utf16le'), u32(4), Buffer.from('cd', 'utf16le')]))], { ptr: STR + 12 }),
        'cd',
      ],
    ];
    for (const [what, data, line] of strings) {
      it(`decodes ${what} as its documented text`, async function () {
        const { socket, report } = await askOnce(srv, data);
        assert.equal(report, 'S:1');
        const lines = guestLines(srv);
        assert.equal(lines.length, 1);
        assert.equal(lines[0].line, line);
        socket.end();
        assert.deepEqual(srv.errors, []);
      });
    }

    const badStrings = [
      ['pointer -1', { ptr: 0xffffffff }, outside(4294967291, 4)],
      ['a pointer whose header starts before memory', { ptr: 2 }, outside(4294967294, 4)],
      ['a pointer 4 bytes past the end of memory', { ptr: MEMEND + 4 }, outside(MEMEND, 4)],
      ['a length that runs past the end of memory', { at: MEMEND - 8, ptr: MEMEND - 4 }, outside(MEMEND - 4, 10)],
    ];
    for (const [what, where, message] of badStrings) {
      it(`stops a guest that passes console.log ${what} with a trap naming the range`, async function () {
        await assertStops(srv, strCall(0, [asString('ab', 10)], where), 'trap', `console.log: ${message}`);
      });
    }

    const everyStringImport = [
      ['console.log', 0],
      ['console.info', 1],
      ['console.warn', 2],
      ['console.error', 3],
      ['console.debug', 4],
      ['console.assert', ASSERT_FALSE],
      ['console.time', TIME],
      ['console.timeLog', TIME_LOG],
      ['console.timeEnd', TIME_END],
      ['trace', TRACE],
    ];
    for (const [name, which] of everyStringImport) {
      it(`stops a guest that passes ${name} a bad string pointer with a trap that names ${name}`, async function () {
        await assertStops(srv, strCall(which, [], { ptr: 0xffffffff }), 'trap', `${name}: ${outside(4294967291, 4)}`);
      });
    }

    it('logs "Assertion failed" at level error for console.assert(false) and never reads the string of console.assert(true)', async function () {
      const { socket, report } = await askOnce(srv, strCall(ASSERT_FALSE, [asString('it broke')]));
      assert.equal(report, 'S:1');
      assert.equal(await ask(srv, socket, strCall(ASSERT_TRUE, [], { ptr: 0xffffffff })), 'S:1');
      assert.deepEqual(guestLines(srv), [{ line: 'Assertion failed: it broke', level: 'error' }]);
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('times a label with console.time/timeLog/timeEnd and ignores the label once it ended', async function () {
      const { socket, report } = await askOnce(srv, strCall(TIMERS, [asString('lap')]));
      assert.equal(report, 'S:1');
      const lines = guestLines(srv);
      assert.equal(lines.length, 2, JSON.stringify(lines));
      for (const { line, level } of lines) {
        assert.match(line, /^lap: \d+\.\d{3}ms$/);
        assert.equal(level, 'log');
      }
      assert.equal(await ask(srv, socket, strCall(TIME_LOG, [asString('never started')])), 'S:1');
      assert.equal(await ask(srv, socket, strCall(TIME_END, [asString('never started')])), 'S:1');
      assert.equal(guestLines(srv).length, 2, 'unknown labels log nothing');
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    it('prints the first n numbers of trace, with n below 0 read as 0 and above 5 as 5', async function () {
      const socket = await connect(srv.port);
      for (const n of [0, 2, 5, -1, 100]) {
        assert.equal(await ask(srv, socket, strCall(TRACE, [asString('t')], { a4: n })), 'S:1');
      }
      const all = 't 1.5, -2, NaN, Infinity, 0.25';
      assert.deepEqual(
        guestLines(srv).map(({ line, level }) => `${level} ${line}`),
        ['trace trace: t', 'trace trace: t 1.5, -2', `trace trace: ${all}`, 'trace trace: t', `trace trace: ${all}`],
      );
      socket.end();
      assert.deepEqual(srv.errors, []);
    });

    const aborts = [
      ['a message and a file', { a4: STR + 16, a5: 12 }, 'boom at f.ts:12:9'],
      ['the same string as message and file', { a4: STR + 4, a5: 1 }, 'boom at boom:1:9'],
      ['no message and no file', { ptr: 0, a4: 0 }, 'abort'],
      ['no message but a file', { ptr: 0, a4: STR + 16, a5: 3 }, 'abort at f.ts:3:9'],
      ['line -1', { a4: STR + 16, a5: 0xffffffff }, 'boom at f.ts:4294967295:9'],
      ['an unreadable message', { ptr: 0xffffffff, a4: STR + 16, a5: 2 }, `<unreadable: ${outside(4294967291, 4)}> at f.ts:2:9`],
      ['an unreadable file', { a4: MEMEND + 4, a5: 2 }, `boom at <unreadable: ${outside(MEMEND, 4)}>:2:9`],
    ];
    for (const [what, where, message] of aborts) {
      it(`reports env.abort with ${what} as an abort GuestError "${message}", and keeps serving`, async function () {
        await assertStops(srv, strCall(ABORT, [asString('boom'), asString('f.ts')], where), 'abort', message);
      });
    }

    it('answers env.seed with distinct non-zero whole numbers and env.Date.now with the time', async function () {
      const { socket, report } = await askOnce(srv, cmd('Q'));
      assert.equal(report, 'Q:1111');
      socket.end();
    });
  });

  describe(`hostile guests calling Socket.connect (${mode.name})`, function () {
    // test/fixtures/hostile-connect.wat: 1 page of memory, 'a' in bytes 60000..65535.
    let srv;
    beforeEach(async function () {
      srv = await serve(fixture('hostile-connect.wat'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    /** A chunk: Socket.connect(ptr, len, port); ptr 0 means the host bytes that follow. */
    const dial = (ptr, len, port, host = '') =>
      Buffer.concat([u32(ptr), u32(len), u32(port), Buffer.from(host, 'latin1')]);

    /** Sends one dial on a fresh connection; resolves with the answer and the warn lines. */
    async function answer(data) {
      const from = srv.logs.length;
      const socket = await connect(srv.port);
      socket.write(data);
      let report;
      await waitFor(() => {
        report = srv.logs.slice(from).find(({ line }) => line.startsWith('connect:'));
        return report !== undefined;
      }, 'the answer');
      socket.destroy();
      const warnings = srv.logs.slice(from).filter(({ level }) => level === 'warn').map(({ line }) => line);
      return { code: Number(report.line.slice('connect:'.length)), warnings };
    }

    const refusals = [
      ['a host that allowConnect does not list', dial(0, 0, 80, 'example.com'), -1, /^Socket\.connect: example\.com:80 is not in allowConnect; refused/],
      ['a host of exactly 253 bytes that allowConnect does not list', dial(60000, 253, 80), -1, /is not in allowConnect; refused/],
      ['port -1 (shown as the u32 the guest meant)', dial(0, 0, 0xffffffff, 'example.com'), -2, /example\.com:4294967295: port 4294967295 is not 1 to 65535; refused$/],
      ['port 0', dial(0, 0, 0, 'example.com'), -2, /: port 0 is not 1 to 65535; refused$/],
      ['port 70000', dial(0, 0, 70000, 'example.com'), -2, /: port 70000 is not 1 to 65535; refused$/],
      ['an empty host exactly at the end of memory', dial(65536, 0, 80), -2, /^Socket\.connect: :80: the host is empty; refused$/],
      ['a 5536-byte host', dial(60000, 5536, 80), -2, /: the host is \d+ bytes long \(at most 253\); refused$/],
      ['a host with a space', dial(0, 0, 80, 'bad host'), -2, /the host contains ' '/],
      ['a host that is not UTF-8', dial(0, 0, 80, '\xff\xfe'), -2, /^Socket\.connect: the host is not UTF-8 text; refused$/],
    ];
    for (const [what, data, code, warning] of refusals) {
      it(`answers ${code} to Socket.connect with ${what}, dials nothing and warns why`, async function () {
        const got = await answer(data);
        assert.equal(got.code, code);
        assert.equal(got.warnings.length, 1);
        assert.match(got.warnings[0], warning);
        assert.deepEqual(srv.errors, []);
        assert.equal(srv.bridge.stats().dialed ?? 0, 0);
      });
    }

    const badHosts = [
      ['a host pointer of -1', dial(0xffffffff, 4, 80), 'pointer 4294967295 with length 4'],
      ['a host length of -1', dial(16, 0xffffffff, 80), 'pointer 16 with length 4294967295'],
      ['a host range whose end overflows 32 bits', dial(0xfffffff0, 32, 80), 'pointer 4294967280 with length 32'],
      ['a host range that ends one byte past memory', dial(65533, 4, 80), 'pointer 65533 with length 4'],
    ];
    for (const [what, data, range] of badHosts) {
      it(`stops a guest that calls Socket.connect with ${what} with a trap naming the range, and keeps serving`, async function () {
        const { data: received } = await sendUntilClosed(srv.port, data);
        assert.equal(received.length, 0);
        await waitFor(() => srv.errors.length === 1, 'the error event');
        const [err] = srv.errors;
        assert.equal(err.kind, 'trap');
        assertConnection(srv, err.connectionId);
        assert.equal(err.message, `Socket.connect: guest passed ${range}, outside its memory of 65536 bytes`);
        assert.equal((await answer(dial(0, 0, 80, 'example.com'))).code, -1, 'the replacement instance answers');
      });
    }
  });

  describe(`a hostile allocator (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(fixture('hostile-alloc.wat'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    const buffers = [
      ['pointer -1', 'x', 'pointer 4294967295 with length 1'],
      ['a buffer that runs one byte past memory', 'xy', 'pointer 65535 with length 2'],
      ['a buffer whose range wraps past 2^32', 'xyz', 'pointer 4294967294 with length 3'],
    ];
    for (const [what, data, range] of buffers) {
      it(`stops a guest whose allocator returns ${what} before onData runs, and keeps serving`, async function () {
        const { data: received } = await sendUntilClosed(srv.port, data);
        assert.equal(received.length, 0);
        await waitFor(() => srv.errors.length === 1, 'the error event');
        const [err] = srv.errors;
        assert.equal(err.kind, 'trap');
        assertConnection(srv, err.connectionId);
        assert.equal(
          err.message,
          `the guest allocator alloc returned an unusable buffer: guest passed ${range}, outside its memory of 65536 bytes`,
        );
        // 4 bytes get the last 4 bytes of memory: a usable buffer.
        assert.equal((await exchange(srv.port, 'abcd')).toString(), 'abcd');
      });
    }
  });
}

describe('hostile modules refused at load', function () {
  const AS_RUNTIME = `
    (func (export "__new") (param i32 i32) (result i32) (i32.const 1024))
    (func (export "__pin") (param i32) (result i32) (local.get 0))
    (func (export "__unpin") (param i32))`;
  const EVENTS = `
    (func (export "onConnection") (param i32))
    (func (export "onData") (param i32 i32))
    (func (export "onClose") (param i32))`;
  const RAW_ALLOC = `
    (func (export "alloc") (param i32) (result i32) (i32.const 1024))
    (func (export "dealloc") (param i32 i32))`;
  /** A module in WebAssembly text, as bytes: `imports`, an exported memory, then `body`. */
  const wat = (body, imports = '', memory = '(memory (export "memory") 1)') =>
    Buffer.from(`(module ${imports} ${memory} ${body})`);

  const refusals = [
    [
      'exports onData(i32) -> i32',
      wat(`${AS_RUNTIME} (func (export "onConnection") (param i32)) (func (export "onData") (param i32) (result i32) (i32.const 0)) (func (export "onClose") (param i32))`),
      'export onData has signature (i32) -> (i32), expected (i32, i32) -> () for onData(id: u32, data: ArrayBuffer)',
    ],
    [
      'exports onConnection(f64)',
      wat(`${AS_RUNTIME} (func (export "onConnection") (param f64)) (func (export "onData") (param i32 i32)) (func (export "onClose") (param i32))`),
      'export onConnection has signature (f64) -> (), expected (i32) -> () for onConnection(id: u32)',
    ],
    [
      'exports onClose as a global',
      wat(`${AS_RUNTIME} (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32)) (global (export "onClose") i32 (i32.const 0))`),
      'export onClose is not a function, expected onClose(id: u32)',
    ],
    [
      'is a raw guest with the AssemblyScript onData(id, buffer)',
      wat(`${RAW_ALLOC} ${EVENTS}`),
      'export onData has signature (i32, i32) -> (), expected (i32, i32, i32) -> () for onData(id: u32, ptr: usize, len: u32)',
    ],
    [
      'exports alloc(i64)',
      wat(`(func (export "alloc") (param i64) (result i32) (i32.const 0)) (func (export "dealloc") (param i32 i32)) (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32 i32)) (func (export "onClose") (param i32))`),
      'export alloc has signature (i64) -> (i32), expected (i32) -> (i32) for alloc(size: u32) -> ptr',
    ],
    [
      'exports onDrain(i64)',
      wat(`${AS_RUNTIME} ${EVENTS} (func (export "onDrain") (param i64))`),
      'export onDrain has signature (i64) -> (), expected (i32) -> () for onDrain(id: u32)',
    ],
    [
      'exports _initialize(i32)',
      wat(`${AS_RUNTIME} ${EVENTS} (func (export "_initialize") (param i32))`),
      'export _initialize has signature (i32) -> (), expected () -> () for _initialize()',
    ],
    [
      'does not export its memory',
      wat(`${AS_RUNTIME} ${EVENTS}`, '', '(memory 1)'),
      'missing export memory - the guest must export its linear memory as "memory" (AssemblyScript does by default; do not use --importMemory)',
    ],
    [
      'imports WASI proc_exit with the wrong signature',
      wat(`${AS_RUNTIME} ${EVENTS}`, '(import "wasi_snapshot_preview1" "proc_exit" (func (param i64)))'),
      'import wasi_snapshot_preview1.proc_exit has signature (i64) -> (), the host provides (i32) -> ()',
    ],
    [
      'is a WASI command module',
      wat(`${AS_RUNTIME} ${EVENTS} (func (export "_start"))`),
      'a WASI command module (exports _start, no _initialize) - a guest is a library whose exports the host calls: build a reactor (C with zig cc or clang: -mexec-model=reactor; Rust: crate-type = ["cdylib"]; TinyGo: -buildmode=c-shared)',
    ],
    [
      'imports an env function the host does not know',
      wat(`${AS_RUNTIME} ${EVENTS}`, '(import "env" "memcpy" (func (param i32 i32 i32) (result i32)))'),
      'imports the host does not provide: env.memcpy - the host provides the Socket and env imports listed in docs/guest-abi.md',
    ],
    [
      'imports Socket.write with the wrong signature',
      wat(`${AS_RUNTIME} ${EVENTS}`, '(import "Socket" "write" (func (param i32 i32) (result i32)))'),
      'import Socket.write has signature (i32, i32) -> (i32), the host provides (i32, i32, i32) -> (i32)',
    ],
    [
      'imports env.abort as a global',
      wat(`${AS_RUNTIME} ${EVENTS}`, '(import "env" "abort" (global i32))'),
      'import env.abort is not a function; the host only provides functions',
    ],
  ];
  for (const [what, bytes, problem] of refusals) {
    it(`refuses a module that ${what}, naming the cause`, async function () {
      const message = `cannot load guest '<bytes>': ${problem}`;
      await assert.rejects(Bridge.load(bytes), { message });
      assert.throws(() => Bridge.loadSync(bytes), { message });
    });
  }

  const LOG_AND_ABORT = `
    (import "env" "console.log" (func $log (param i32)))
    (import "env" "abort" (func $abort (param i32 i32 i32 i32)))`;
  const BOOM = '(data (i32.const 96) "\\0a\\00\\00\\00b\\00o\\00o\\00m\\00!\\00")';
  const startFailures = [
    [
      'whose start function aborts',
      wat(`(func $s (call $abort (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))) (start $s) ${AS_RUNTIME} ${EVENTS}`, LOG_AND_ABORT),
      'its start function failed: abort',
    ],
    [
      'whose start function loads outside its memory',
      wat(`(func $s (drop (i32.load (i32.const 70000)))) (start $s) ${AS_RUNTIME} ${EVENTS}`),
      /^cannot load guest '<bytes>': its start function failed: out of bounds memory access/,
    ],
    [
      'whose _initialize traps',
      wat(`(func (export "_initialize") unreachable) ${AS_RUNTIME} ${EVENTS}`),
      /^cannot load guest '<bytes>': its start function failed: unreachable/,
    ],
    [
      'whose _initialize aborts with a message',
      wat(`${BOOM} (func (export "_initialize") (call $abort (i32.const 100) (i32.const 0) (i32.const 3) (i32.const 4))) ${AS_RUNTIME} ${EVENTS}`, LOG_AND_ABORT),
      'its start function failed: boom!',
    ],
    [
      'whose _initialize passes console.log a bad pointer',
      wat(`(func (export "_initialize") (call $log (i32.const -1))) ${AS_RUNTIME} ${EVENTS}`, LOG_AND_ABORT),
      'its start function failed: console.log: guest passed pointer 4294967291 with length 4, outside its memory of 65536 bytes',
    ],
    [
      'whose _initialize passes Socket.write a bad range',
      wat(
        `(func (export "_initialize") (drop (call $w (i32.const 1) (i32.const -1) (i32.const 5)))) ${AS_RUNTIME} ${EVENTS}`,
        '(import "Socket" "write" (func $w (param i32 i32 i32) (result i32)))',
      ),
      'its start function failed: Socket.write: guest passed pointer 4294967295 with length 5, outside its memory of 65536 bytes',
    ],
  ];
  for (const threads of [0, 2]) {
    for (const [what, bytes, problem] of startFailures) {
      it(`refuses a module ${what} (threads: ${threads}), naming the cause`, async function () {
        const message = { message: typeof problem === 'string' ? `cannot load guest '<bytes>': ${problem}` : problem };
        await assert.rejects(Bridge.load(bytes, { threads }), message);
        assert.throws(() => Bridge.loadSync(bytes, { threads }), message);
      });
    }
  }

  it('refuses a module whose table starts above 100,000 elements, naming both numbers', async function () {
    const message = /^cannot load guest '<bytes>': cannot instantiate: .*its table starts at 100001 elements but a guest table may hold at most 100000/;
    await assert.rejects(Bridge.load(wat(`${AS_RUNTIME} ${EVENTS} (table 100001 funcref)`)), { message });
  });

  it('answers table.grow past 100,000 elements (or by 2^30 in one go) with -1 instead of letting the host allocate it', async function () {
    // _initialize traps unless each grow answers as expected; before the cap, the 2^30 grow made
    // the host allocate 8 GiB and the process abort.
    const grows = `(table $t 0 funcref)
      (func $expect (param i32 i32) (if (i32.ne (local.get 0) (local.get 1)) (then unreachable)))
      (func (export "_initialize")
        (call $expect (table.grow $t (ref.null func) (i32.const 0x40000000)) (i32.const -1))
        (call $expect (table.grow $t (ref.null func) (i32.const 100000)) (i32.const 0))
        (call $expect (table.grow $t (ref.null func) (i32.const 1)) (i32.const -1)))`;
    for (const threads of [0, 2]) {
      const bridge = await Bridge.load(wat(`${AS_RUNTIME} ${EVENTS} ${grows}`), { threads });
      await bridge.close();
    }
  });

  it('describes, rather than reads, the strings a wasm start function logs before memory is reachable, and loads the module', async function () {
    const bytes = wat(
      `(func $s (call $log (i32.const 100)) (call $log (i32.const -1))) (start $s) ${AS_RUNTIME} ${EVENTS}`,
      LOG_AND_ABORT,
    );
    const bridge = await Bridge.load(bytes);
    const lines = [];
    bridge.on('log', (line) => lines.push(line));
    await waitFor(() => lines.length === 2, 'the start function logs');
    assert.deepEqual(lines, [100, 4294967295].map((p) => `<string at ${p}: unreadable during the start function; build with --exportStart _initialize>`));
    await bridge.close();
  });
});
