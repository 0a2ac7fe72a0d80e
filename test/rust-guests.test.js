'use strict';
// Guests written in Rust with sdk/rust (export_guest!, Socket::write, println!), built with
// cargo for wasm32-wasi (scripts/other-guests.mjs): the seeds' two Rust programs as guests,
// seed 004's HTTP server (examples/rust/http-echo) against curl, and seed 002's client
// (examples/rust/http-get) against an upstream Node HTTP server, and Rust's std over WASI
// (test/guests/rust/wasi), in every mode.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { serveGuest } = require('wasm-socket-bridge/testing');
const { CURL, curl, guest, serve, connect, readToClose, waitFor, httpUpstream, MODES } = require('./helpers');
const { requireBuilt } = require('./other-languages');

/** Sends `data` (in pieces, `gap` ms apart) on a fresh connection and collects the answer. */
async function send(port, pieces, gap = 10) {
  const socket = await connect(port);
  const closed = readToClose(socket);
  for (const p of pieces) {
    socket.write(p);
    await new Promise((r) => setTimeout(r, gap));
  }
  return closed;
}

for (const mode of MODES) {
  describe(`Rust guest http-echo, seed 004's HTTP server (${mode.name})`, function () {
    let g;
    before(function () {
      requireBuilt(this, 'rust-http-echo', 'Rust');
    });
    beforeEach(async function () {
      g = await serve(guest('rust-http-echo'), mode.options);
    });
    afterEach(async function () {
      await g.close();
    });

    it("answers the seed's curl -d POST with echo: and the body, and prints the request as a log line", async function () {
      if (!fs.existsSync(CURL)) this.skip();
      const out = await curl(['-d', 'name=WasmEdge', '-X', 'POST', `http://127.0.0.1:${g.port}`]);
      assert.equal(out, 'echo: name=WasmEdge');
      await waitFor(() => g.logs.length === 1, 'the request line');
      assert.match(g.logs[0].line, /^127\.0\.0\.1:\d+ request: "POST" "\/"$/);
      assert.equal(g.logs[0].level, 'log');
      assert.deepEqual(g.errors, []);
    });

    it('waits for a 400 KB request split into many packets and answers it once, with Connection: close', async function () {
      const body = crypto.randomBytes(200000).toString('hex');
      const req = `POST /split HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const pieces = [];
      for (let i = 0; i < req.length; i += 30000) pieces.push(req.slice(i, i + 30000));
      const r = await send(g.port, pieces);
      const text = r.data.toString();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nConnection: close\r\n/);
      assert.match(text, new RegExp(`\\r\\nContent-Length: ${body.length + 6}\\r\\n`));
      assert.ok(text.endsWith(`\r\n\r\necho: ${body}`));
      assert.equal(r.ended, true);
    });

    it('answers a malformed request 400 and a body over 1 MiB 413 with an error log line, and keeps serving', async function () {
      const bad = await send(g.port, ['NONSENSE\r\n\r\n']);
      assert.match(bad.data.toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
      const big = await send(g.port, ['POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n']);
      assert.match(big.data.toString(), /^HTTP\/1\.1 413 Payload Too Large\r\n/);
      await waitFor(() => g.logs.length === 2, 'two error lines');
      assert.deepEqual(g.logs.map((l) => l.level), ['error', 'error']);
      assert.match(g.logs[1].line, /^\d+: 413 Payload Too Large$/);
      if (fs.existsSync(CURL)) {
        assert.equal(await curl(['-d', 'again', `http://127.0.0.1:${g.port}/`]), 'echo: again');
      }
      assert.deepEqual(g.errors, []);
    });
  });

  describe(`Rust guest http-get, seed 002's client (${mode.name})`, function () {
    let up;
    let g;
    before(function () {
      requireBuilt(this, 'rust-http-get', 'Rust');
    });
    beforeEach(async function () {
      up = await httpUpstream();
      g = await serve(guest('rust-http-get'), { ...mode.options, allowConnect: [`127.0.0.1:${up.port}`] });
    });
    afterEach(async function () {
      await g.close();
      await up.close();
    });

    it('GETs /file.txt from the allowed upstream, answers exactly its body and logs the fetch', async function () {
      const r = await send(g.port, [`127.0.0.1:${up.port}/file.txt\n`]);
      assert.equal(r.data.toString(), httpUpstream.FILE);
      assert.equal(r.ended, true);
      await waitFor(() => g.logs.length === 1, 'the fetched line');
      assert.deepEqual(g.logs, [
        { line: `fetched http://127.0.0.1:${up.port}/file.txt: ${httpUpstream.FILE.length} bytes, status 200`, level: 'log' },
      ]);
      const [req] = up.state.requests;
      assert.equal(req.method, 'GET');
      assert.equal(req.url, '/file.txt');
      assert.equal(req.headers.host, `127.0.0.1:${up.port}`);
      assert.equal(req.headers.connection, 'close');
      await waitFor(() => g.bridge.connections === 0, 'client and upstream to close');
      assert.equal(g.bridge.stats().dialed, 1);
      assert.deepEqual(g.errors, []);
    });

    it('fetches a 300 KiB body byte for byte, for several clients at once', async function () {
      const answers = await Promise.all(
        [1, 2, 3].map(() => send(g.port, [`http://127.0.0.1:${up.port}/big\n`])),
      );
      for (const a of answers) assert.ok(a.data.equals(httpUpstream.BIG));
    });

    it('answers an error line for a port not in allowConnect, a bad line and an upstream 404', async function () {
      const other = up.port === 65535 ? 65534 : up.port + 1;
      assert.equal((await send(g.port, [`127.0.0.1:${other}/file.txt\n`])).data.toString(), 'error: not allowed (-1)\n');
      assert.equal((await send(g.port, ['no address here\n'])).data.toString(), 'error: bad request (expected host:port/path)\n');
      assert.equal((await send(g.port, [`127.0.0.1:${up.port}/missing\n`])).data.toString(), 'error: upstream status 404\n');
      assert.deepEqual(g.errors, []);
    });
  });

  describe(`Rust guest using std over WASI (${mode.name})`, function () {
    let g;
    before(function () {
      requireBuilt(this, 'rust-wasi', 'Rust');
    });
    beforeEach(async function () {
      g = await serveGuest(guest('rust-wasi'), mode.options);
    });
    afterEach(async function () {
      await g.close();
    });
    const ask = async (line) => (await g.exchange(`${line}\n`, { until: '\n' })).toString().trim();

    it('turns println! into a log line and a partial eprint! into an error line at the end of the event', async function () {
      assert.equal(await ask('println hello from Rust'), 'ok');
      assert.equal(await ask('eprint no newline'), 'ok');
      await g.waitForLog('no newline');
      assert.deepEqual(g.logs, [
        { line: 'hello from Rust', level: 'log' },
        { line: 'no newline', level: 'error' },
      ]);
    });

    it('reads SystemTime and Instant, sees no environment or arguments, and gets errors for files and stdin', async function () {
      const before = Date.now();
      const ms = Number((await ask('time')).split(' ')[1]);
      assert.ok(ms >= before - 1000 && ms <= Date.now() + 1000, `time ${ms}`);
      assert.match(await ask('elapsed'), /^elapsed \d+$/);
      assert.equal(await ask('env'), 'env 0 0');
      assert.match(await ask('file'), /^file failed to find a pre-opened file descriptor/);
      assert.equal(await ask('stdin'), 'stdin Function not implemented (os error 52)');
      assert.deepEqual(g.errors, []);
    });

    it('uses the shared store through the SDK: set, compare-and-set and keys by prefix', async function () {
      assert.equal(await ask('set a1 x'), 'set ok');
      assert.equal(await ask('set a2 y'), 'set ok');
      assert.equal(await ask('setif a1 x z'), 'setif true');
      assert.equal(await ask('setif a1 x w'), 'setif false');
      assert.equal(await ask('setif a3 - n'), 'setif true');
      assert.equal(await ask('setif a2 y -'), 'setif true');
      assert.equal(await ask('keys a'), 'keys a1,a3');
      assert.equal(await ask('keys zz'), 'keys'); // no key (the answer is trimmed)
      assert.equal(g.bridge.shared.get('a1').toString(), 'z');
      assert.equal(await ask(`keys ${'p'.repeat(1100)}`), 'keys refused');
    });

    it('reports a panic as its error line and a trap GuestError, and std::process::exit(4) as abort proc_exit(4)', async function () {
      const c = await g.connect();
      c.send('panic\n');
      await c.read();
      const trap = await g.waitForError();
      assert.equal(trap.kind, 'trap');
      await g.waitForLog(/guest panicked on purpose/);
      assert.equal(g.logs.find((l) => /guest panicked on purpose/.test(l.line)).level, 'error');
      const d = await g.connect();
      d.send('exit 4\n');
      await d.read();
      await waitFor(() => g.errors.length === 2, 'the second GuestError');
      assert.equal(g.errors[1].kind, 'abort');
      assert.match(g.errors[1].message, /proc_exit\(4\)/);
      assert.equal(await ask('env'), 'env 0 0');
    });
  });
}
