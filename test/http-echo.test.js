'use strict';
// The HTTP echo guest (assembly/examples/http-echo.ts, WasmEdge's HTTP echo server) over real
// sockets, in every execution mode (its server script's test is in examples.test.js).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const { guest, serve, connect, readToClose, sendUntilClosed, waitFor, sleep, curl, CURL, MODES, accepted } = require('./helpers');

/**
 * Reads HTTP responses (each with a Content-Length) off `socket` as they arrive: next()
 * resolves with the next { status, reason, headers, body }, or rejects if the connection ends first.
 */
function responses(socket) {
  let buf = Buffer.alloc(0);
  let ended = false;
  const waiters = [];
  const parseOne = () => {
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return null;
    const [statusLine, ...lines] = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
    const headers = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (buf.length < headEnd + 4 + length) return null;
    const body = buf.subarray(headEnd + 4, headEnd + 4 + length).toString();
    buf = buf.subarray(headEnd + 4 + length);
    return { status: Number(m[1]), reason: m[2], headers, body };
  };
  const pump = () => {
    while (waiters.length > 0) {
      const r = parseOne();
      if (r) waiters.shift().resolve(r);
      else if (ended) waiters.shift().reject(new Error(`the connection ended before a whole response; left: ${JSON.stringify(buf.toString())}`));
      else break;
    }
  };
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    pump();
  });
  socket.on('close', () => {
    ended = true;
    pump();
  });
  return {
    next: () => new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
      pump();
    }),
    get ended() {
      return ended;
    },
  };
}

const post = (target, body, extra = '') =>
  `POST ${target} HTTP/1.1\r\nHost: test\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const get = (target, extra = '') => `GET ${target} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;

/** Requests that a lenient parser answered (or let through): each must get a 400 and nothing else. */
const CHUNKED = 'POST /c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n';
const REFUSED = [
  // A CRLF-only front end reads "Dummy: x\nContent-Length: 23" as one field: no body, so the
  // 23 bytes after the header section are a second request, GET /admin, that it never saw.
  ['a header line ended by a bare LF that hides a Content-Length and a GET /admin', 'POST / HTTP/1.1\r\nHost: test\r\nDummy: x\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n'],
  ['a request whose lines all end with a bare LF', 'GET /lf HTTP/1.1\nHost: test\n\n'],
  ['a chunk size followed by a space', `${CHUNKED}a \r\n0123456789\r\n0\r\n\r\n`],
  ['a chunk extension with nothing after its ";"', `${CHUNKED}2;\r\nab\r\n0\r\n\r\n`],
  ['a chunk extension with an unbalanced quote', `${CHUNKED}2;a="b\r\nab\r\n0\r\n\r\n`],
];

/** Beginnings of requests with a byte in error: answered at once, though the request is not finished. */
const HALF_SENT = [
  ['a request line with a control character in its method', 'GE\x01T / HTTP/1.1\r\n'],
  ['a method with a control character and nothing after it', 'GE\x01'],
  ['a header value with a NUL byte', 'GET / HTTP/1.1\r\nHost: test\r\nX-A: a\x00'],
];

for (const mode of MODES) {
  describe(`http-echo guest (assembly/examples/http-echo.ts, ${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('http-echo'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
      assert.deepEqual(srv.errors, []);
    });

    it('answers curl -d "WasmEdge" -X POST with exactly echo:WasmEdge', async function () {
      if (!fs.existsSync(CURL)) this.skip();
      const out = await curl(['-d', 'WasmEdge', '-X', 'POST', `http://127.0.0.1:${srv.port}`]);
      assert.equal(out, 'echo:WasmEdge');
    });

    it('answers curl with a chunked body and with Expect: 100-continue', async function () {
      if (!fs.existsSync(CURL)) this.skip();
      const url = `http://127.0.0.1:${srv.port}/x`;
      assert.equal(await curl(['-H', 'Transfer-Encoding: chunked', '-d', 'WasmEdge', url]), 'echo:WasmEdge');
      assert.equal(await curl(['-H', 'Expect: 100-continue', '-d', 'WasmEdge', url]), 'echo:WasmEdge');
    });

    it('serves three requests one after another on one keep-alive connection', async function () {
      const socket = await connect(srv.port);
      const r = responses(socket);
      socket.write(post('/a', 'first'));
      const one = await r.next();
      assert.equal(one.status, 200);
      assert.equal(one.body, 'echo:first');
      assert.equal(one.headers.connection, undefined);
      socket.write(get('/hello'));
      const two = await r.next();
      assert.equal(two.status, 200);
      assert.match(two.body, /POST a body to \/hello/);
      socket.write(post('/c', 'third'));
      assert.equal((await r.next()).body, 'echo:third');
      assert.equal(r.ended, false, 'the connection stays open');
      assert.equal(accepted(srv), 1, 'all three came on one connection');
      const closed = readToClose(socket);
      socket.end();
      await closed;
    });

    it('answers a request written one byte at a time', async function () {
      const socket = await connect(srv.port);
      socket.setNoDelay(true);
      const r = responses(socket);
      const request = Buffer.from(post('/bytes', 'one byte at a time'));
      for (let i = 0; i < request.length; i++) {
        await new Promise((resolve) => socket.write(request.subarray(i, i + 1), resolve));
        await new Promise((resolve) => setImmediate(resolve));
        // Natively the worker reads on its own thread: let it take each byte on its own.
        if (srv.native) await waitFor(() => srv.bridge.stats().bytesIn >= i + 1, 'the worker to read the byte');
      }
      const res = await r.next();
      assert.equal(res.status, 200);
      assert.equal(res.body, 'echo:one byte at a time');
      // The bytes really came as many onData calls (about one each; allow for some coalescing).
      await waitFor(() => srv.bridge.stats().events >= request.length / 4, 'the bytes to arrive as separate onData events');
      socket.end();
    });

    it('answers pipelined requests in order and ends the connection after the one that asks to close', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write(post('/1', 'alpha') + get('/2') + post('/3', 'gamma') + post('/4', 'delta', 'Connection: close\r\n') + get('/never'));
      const { data, ended } = await closed;
      assert.ok(ended, 'the server should have sent FIN');
      const texts = data.toString().split(/HTTP\/1\.1 /).filter(Boolean);
      assert.equal(texts.length, 4, data.toString());
      assert.match(texts[0], /\r\n\r\necho:alpha$/);
      assert.match(texts[1], /POST a body to \/2/);
      assert.match(texts[2], /\r\n\r\necho:gamma$/);
      assert.match(texts[3], /^200 OK\r\n[^]*Connection: close\r\n[^]*\r\n\r\necho:delta$/);
    });

    it('answers 3,000 pipelined requests from a client that reads only later, pausing instead of overrunning its output', async function () {
      // The answers (about 450 KB) exceed the host's hard cap on queued output (256 KiB here), so
      // they only all arrive if the guest stops at a write that returns false and goes on at onDrain.
      const socket = await connect(srv.port);
      socket.pause();
      const n = 3000;
      socket.write(Array.from({ length: n }, (_, i) => get(`/${i}`)).join('') + post('/end', 'done', 'Connection: close\r\n'));
      await sleep(300);
      const closed = readToClose(socket);
      socket.resume();
      const { data, ended } = await closed;
      assert.ok(ended);
      const text = data.toString();
      assert.equal(text.split('HTTP/1.1 200 OK\r\n').length - 1, n + 1);
      assert.match(text, /POST a body to \/2999 and/);
      assert.ok(text.endsWith('echo:done'));
    });

    it('closes an HTTP/1.0 connection after its answer unless it asked for keep-alive', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write('GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST /old HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi');
      const { data, ended } = await closed;
      assert.ok(ended);
      const text = data.toString();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: keep-alive\r\n/);
      assert.match(text, /Connection: close\r\n[^]*\r\n\r\necho:hi$/);
    });

    it('answers a bad request with 400 and closes the connection', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write('NOT A REQUEST\r\n\r\n');
      const { data, ended } = await closed;
      assert.ok(ended, 'the server should have sent FIN');
      assert.match(data.toString(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n[^]*\r\n\r\n400 Bad Request: bad request target\n$/);
    });

    for (const [what, request] of REFUSED) {
      it(`answers ${what} with a 400 and nothing else, and closes the connection`, async function () {
        const { data, ended } = await sendUntilClosed(srv.port, Buffer.from(request, 'latin1'));
        assert.ok(ended, 'the server should have sent FIN');
        const text = data.toString('latin1');
        assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n/);
        assert.equal(text.split('HTTP/1.1 ').length - 1, 1, `one response only, got ${JSON.stringify(text)}`);
        assert.doesNotMatch(text, /admin/, 'the hidden request is never answered');
      });
    }

    for (const [what, start] of HALF_SENT) {
      it(`answers ${what} with 400 and closes at once, while the client sends nothing more`, async function () {
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write(Buffer.from(start, 'latin1'));
        let timer;
        const waited = new Promise((resolve) => {
          timer = setTimeout(() => resolve(null), 5000);
        });
        const result = await Promise.race([closed, waited]);
        clearTimeout(timer);
        if (result === null) socket.destroy();
        assert.ok(result, 'the server waited for more bytes instead of answering');
        assert.ok(result.ended, 'the server should have sent FIN');
        assert.match(result.data.toString('latin1'), /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n/);
      });
    }

    it('answers a body over the 1 MiB limit with 413 before it arrives, and closes', async function () {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.write('POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nsome');
      const { data, ended } = await closed;
      assert.ok(ended);
      assert.match(data.toString(), /^HTTP\/1\.1 413 Content Too Large\r\n/);
    });
  });

  describe(`http-echo guest configured through the bridge's config option (${mode.name})`, function () {
    let srv;
    afterEach(async function () {
      if (srv) await srv.close();
      assert.deepEqual(srv.errors, []);
      srv = null;
    });

    it('ends a keep-alive connection idle for idleTimeoutMs (300 ms), not before', async function () {
      srv = await serve(guest('http-echo'), { ...mode.options, config: { idleTimeoutMs: 300 } });
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      const r = responses(socket);
      const sent = performance.now();
      socket.write(get('/idle'));
      assert.equal((await r.next()).status, 200);
      const { ended } = await closed;
      const after = performance.now() - sent;
      assert.ok(ended, 'the server should have ended the connection with a FIN');
      // The guest's last activity, its answer, came after `sent`: the timeout runs from there.
      assert.ok(after >= 300, `closed ${after.toFixed(1)} ms after the request, before the 300 ms timeout`);
      assert.ok(after < 3000, `closed only ${after.toFixed(1)} ms after the request`);
    });

    it('keeps a connection open while it sends a request every 100 ms for a second, past the 300 ms idle timeout', async function () {
      srv = await serve(guest('http-echo'), { ...mode.options, config: { idleTimeoutMs: 300 } });
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      let gone = false;
      closed.then(() => {
        gone = true;
      });
      const r = responses(socket);
      const start = performance.now();
      for (let i = 0; i < 10; i++) {
        socket.write(post(`/active/${i}`, `request ${i}`));
        assert.equal((await r.next()).body, `echo:request ${i}`);
        await sleep(100);
      }
      assert.ok(performance.now() - start >= 1000);
      assert.equal(gone, false, 'an active connection must not be timed out');
      assert.equal(accepted(srv), 1, 'all ten requests came on one connection');
      // Idle from now on: it goes after the timeout.
      const { ended } = await closed;
      assert.ok(ended);
    });

    it('logs remoteAddress:remotePort METHOD target for each request when logPeers is true', async function () {
      srv = await serve(guest('http-echo'), { ...mode.options, config: { logPeers: true } });
      const socket = await connect(srv.port);
      const r = responses(socket);
      socket.write(get('/') + post('/submit?x=1', 'data'));
      await r.next();
      await r.next();
      const peer = `127.0.0.1:${socket.localPort}`;
      await waitFor(() => srv.logs.filter((l) => l.line.startsWith(peer)).length === 2, 'two peer log lines');
      const lines = srv.logs.filter((l) => l.line.startsWith('127.0.0.1:'));
      assert.deepEqual(lines.map((l) => l.line), [`${peer} GET /`, `${peer} POST /submit?x=1`]);
      assert.ok(lines.every((l) => l.level === 'log'));
      socket.end();
    });

    it('logs nothing per request without logPeers', async function () {
      srv = await serve(guest('http-echo'), { ...mode.options, config: '{"logPeers": false}' });
      const socket = await connect(srv.port);
      const r = responses(socket);
      socket.write(get('/quiet'));
      await r.next();
      socket.end();
      await sleep(50);
      assert.deepEqual(srv.logs, []);
    });
  });
}

describe('http-echo guest without a config', function () {
  it('ends an idle keep-alive connection after the default 5 s', async function () {
    this.timeout(20000);
    const srv = await serve(guest('http-echo'), { threads: 0 });
    try {
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      const r = responses(socket);
      const sent = performance.now();
      socket.write(get('/default'));
      await r.next();
      const { ended } = await closed;
      const after = performance.now() - sent;
      assert.ok(ended);
      assert.ok(after >= 5000 && after < 8000, `closed ${after.toFixed(0)} ms after the request`);
    } finally {
      await srv.close();
    }
    assert.deepEqual(srv.errors, []);
  });
});
