'use strict';
// The http-get guest (assembly/examples/http-get.ts: an HTTP client after the WASI sockets client
// example, dialing with Socket.connect) against local upstreams, in every execution mode: bodies,
// errors, concurrent fetches (as in WasmEdge's non-blocking HTTP client example). Its example
// server script (examples/http-get-server.ts) is tested in test/examples.test.js.
const assert = require('node:assert/strict');
const net = require('node:net');
const { guest, serve, connect, readToClose, waitFor, tcpUpstream, httpUpstream, MODES } = require('./helpers');

const { FILE, SLOW_BODY, BIG } = httpUpstream;
const MAX_BODY = 1024 * 1024;

/**
 * A raw TCP upstream for responses Node's http module does not produce: it reads a request head
 * and answers with `answers[path]` (a Buffer or string, or a function of the socket), then ends.
 */
function rawUpstream(answers) {
  return tcpUpstream((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1];
      const answer = answers[path];
      if (typeof answer === 'function') answer(s);
      else s.end(answer ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
  });
}

/** A port nothing listens on (listened on, then closed). */
async function closedPort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts a client: sends `line` (and a newline, or a FIN with `half`); resolves with its socket and everything until close. */
async function request(port, line, { half = false } = {}) {
  const socket = await connect(port);
  const closed = readToClose(socket);
  if (half) socket.end(line);
  else socket.write(`${line}\n`);
  return { socket, answer: closed.then((r) => r.data) };
}

/** One client: sends `line`, resolves with the whole answer (the server ends the connection). */
async function ask(port, line, options) {
  return (await request(port, line, options)).answer;
}

for (const mode of MODES) {
  describe(`http-get example: Socket.connect fetches (${mode.name})`, function () {
    let up;
    let srv;
    const start = async (allowConnect, serverOptions = { allowHalfOpen: true }) => {
      srv = await serve(guest('http-get'), { ...mode.options, allowConnect }, serverOptions);
      return srv;
    };
    beforeEach(async function () {
      up = await httpUpstream();
    });
    afterEach(async function () {
      if (srv) await srv.close();
      srv = undefined;
      await up.close();
    });

    it('returns exactly the body of /file.txt and logs the fetched line', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `127.0.0.1:${up.port}/file.txt`);
      assert.equal(body.toString(), FILE);
      await waitFor(() => srv.logs.length > 0, 'the fetched log line');
      assert.deepEqual(srv.logs, [{ line: `fetched http://127.0.0.1:${up.port}/file.txt: ${FILE.length} bytes, status 200`, level: 'log' }]);
      assert.equal(up.state.requests.length, 1);
      const [req] = up.state.requests;
      assert.equal(req.method, 'GET');
      assert.equal(req.url, '/file.txt');
      assert.equal(req.httpVersion, '1.1');
      assert.equal(req.headers.host, `127.0.0.1:${up.port}`);
      assert.equal(req.headers.connection, 'close');
      await waitFor(() => srv.bridge.connections === 0, 'the client and upstream connections to close');
      assert.equal(srv.bridge.stats().dialed, 1);
      assert.deepEqual(srv.errors, []);
    });

    it('takes a request line that ends with the client half-closing instead of a newline', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `http://127.0.0.1:${up.port}/file.txt`, { half: true });
      assert.equal(body.toString(), FILE);
    });

    it('answers "error: not allowed (-1)" for a port not in allowConnect, and the bridge logs a warning naming host:port', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const other = await closedPort();
      const body = await ask(srv.port, `127.0.0.1:${other}/file.txt`);
      assert.equal(body.toString(), 'error: not allowed (-1)\n');
      await waitFor(() => srv.logs.length > 0, 'the refusal log line');
      assert.equal(srv.logs[0].level, 'warn');
      assert.match(srv.logs[0].line, new RegExp(`^Socket\\.connect: 127\\.0\\.0\\.1:${other} is not in allowConnect`));
      assert.equal(srv.bridge.stats().dialed, 0);
      assert.equal(up.state.requests.length, 0);
    });

    it('answers "error: upstream failed" when an allowed upstream refuses the connection', async function () {
      const port = await closedPort();
      await start([`127.0.0.1:${port}`]);
      const body = await ask(srv.port, `127.0.0.1:${port}/file.txt`);
      assert.equal(body.toString(), 'error: upstream failed\n');
      await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
      assert.equal(srv.bridge.stats().dialed, 1);
      assert.deepEqual(srv.errors, []);
    });

    it('answers "error: upstream status 404" for a path the upstream does not have', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `127.0.0.1:${up.port}/missing.txt`);
      assert.equal(body.toString(), 'error: upstream status 404\n');
      await waitFor(() => srv.logs.length > 0, 'the failure log line');
      assert.deepEqual(srv.logs, [{ line: `fetch http://127.0.0.1:${up.port}/missing.txt: upstream status 404`, level: 'warn' }]);
    });

    it('answers a line that is not host:port/path with an error and dials nothing', async function () {
      await start(['127.0.0.1:*']);
      for (const line of ['hello', `127.0.0.1/file.txt`, `127.0.0.1:0/x`, `127.0.0.1:99999/x`, `127.0.0.1:${up.port}/a b`, `::1:${up.port}/x`]) {
        const body = await ask(srv.port, line);
        assert.equal(body.toString(), 'error: bad request (expected host:port/path)\n', line);
      }
      const long = await ask(srv.port, 'x'.repeat(3000), { half: true });
      assert.equal(long.toString(), 'error: request line too long\n');
      assert.equal(srv.bridge.stats().dialed, 0);
    });

    it('returns a 300 KiB body byte for byte, writing it in slices paced by onDrain', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `127.0.0.1:${up.port}/big`);
      assert.equal(body.length, BIG.length);
      assert.ok(body.equals(BIG), 'the body differs');
      await waitFor(() => srv.logs.length > 0, 'the fetched log line');
      assert.equal(srv.logs[0].line, `fetched http://127.0.0.1:${up.port}/big: ${BIG.length} bytes, status 200`);
      assert.deepEqual(srv.errors, []);
    });

    it('decodes a chunked response body', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `127.0.0.1:${up.port}/chunked`);
      assert.equal(body.toString(), 'one,two,three\n');
    });

    it('refuses a body over 1 MiB with an error line instead of buffering it', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const body = await ask(srv.port, `127.0.0.1:${up.port}/huge`);
      assert.equal(body.toString(), `error: upstream body too large (limit ${MAX_BODY} bytes)\n`);
      await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
      assert.deepEqual(srv.errors, []);
    });

    it('reads close-delimited bodies, skips interim responses, and reports truncated or malformed ones', async function () {
      const raw = await rawUpstream({
        '/until-close': 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it\n',
        '/interim': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nyes\n',
        '/truncated': 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort',
        '/not-http': 'SSH-2.0-OpenSSH_9.6\r\n\r\n',
        '/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
        '/endless': (s) => {
          // No length: the body runs until the close, and goes past the limit.
          s.write('HTTP/1.1 200 OK\r\n\r\n');
          const block = Buffer.alloc(64 * 1024, 0x62);
          let sent = 0;
          const pump = () => {
            while (sent < 2 * MAX_BODY && !s.destroyed) {
              sent += block.length;
              if (!s.write(block)) return void s.once('drain', pump);
            }
            s.end();
          };
          pump();
        },
      });
      try {
        await start([`127.0.0.1:${raw.port}`]);
        const url = (p) => `127.0.0.1:${raw.port}${p}`;
        assert.equal((await ask(srv.port, url('/until-close'))).toString(), 'all of it\n');
        assert.equal((await ask(srv.port, url('/interim'))).toString(), 'yes\n');
        assert.equal((await ask(srv.port, url('/truncated'))).toString(), 'error: upstream failed\n');
        assert.equal((await ask(srv.port, url('/not-http'))).toString(), 'error: bad upstream response\n');
        assert.equal((await ask(srv.port, url('/bad-chunk'))).toString(), 'error: bad upstream response\n');
        assert.equal((await ask(srv.port, url('/endless'))).toString(), `error: upstream body too large (limit ${MAX_BODY} bytes)\n`);
        await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
        assert.deepEqual(srv.errors, []);
      } finally {
        await srv.close();
        srv = undefined;
        await raw.close();
      }
    });

    // With allowHalfOpen a client's FIN may only mean "that was my line" (`nc -N`), so the guest
    // keeps fetching; a reset, or a FIN on a server without allowHalfOpen, closes the connection.
    for (const [how, serverOptions, hangUp] of [
      ['resets the connection', { allowHalfOpen: true }, (s) => s.resetAndDestroy()],
      ['sends a FIN to a server without allowHalfOpen', {}, (s) => s.end()],
    ]) {
      it(`closes the upstream connection when its client ${how} while the fetch is in flight`, async function () {
        await start([`127.0.0.1:${up.port}`], serverOptions);
        const { socket } = await request(srv.port, `127.0.0.1:${up.port}/slow`);
        await waitFor(() => up.state.slowInFlight === 1, 'the upstream to see the request');
        hangUp(socket);
        await waitFor(() => up.state.aborted === 1, 'the upstream to see the guest hang up');
        await waitFor(() => srv.bridge.connections === 0, 'both connections to close');
        assert.equal(up.state.slowDone, 0);
        await waitFor(() => srv.logs.length > 0, 'the log line');
        assert.deepEqual(srv.logs, [{ line: `client left before http://127.0.0.1:${up.port}/slow was fetched; upstream closed`, level: 'info' }]);
        assert.deepEqual(srv.errors, []);
      });
    }

    it('fetches two slow paths at the same time and answers a third client while both are in flight', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const order = [];
      const clients = await Promise.all(['A', 'B'].map((name) => request(srv.port, `127.0.0.1:${up.port}/slow`).then((c) => ({ name, ...c }))));
      const slow = clients.map(({ name, answer }) =>
        answer.then((body) => {
          order.push(name);
          return body.toString();
        }),
      );
      // Both requests reach the upstream before either is answered: the guest does not wait for
      // one fetch to finish before starting the next.
      await waitFor(() => up.state.slowInFlight === 2, 'both slow requests to be in flight');
      const file = await ask(srv.port, `127.0.0.1:${up.port}/file.txt`);
      order.push('file');
      const inFlightWhenAnswered = up.state.slowInFlight;
      assert.equal(file.toString(), FILE);
      assert.deepEqual(await Promise.all(slow), [SLOW_BODY, SLOW_BODY]);
      assert.equal(order[0], 'file', `answers arrived in the order ${order.join(', ')}`);
      assert.equal(inFlightWhenAnswered, 2, 'the slow fetches were still in flight when /file.txt was answered');
      assert.equal(up.state.slowMaxInFlight, 2);
      assert.equal(up.state.slowDone, 2);
      assert.deepEqual(srv.errors, []);
    });

    it('serves many clients at once, small and large bodies mixed', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const paths = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? '/file.txt' : '/big'));
      const bodies = await Promise.all(paths.map((p) => ask(srv.port, `127.0.0.1:${up.port}${p}`)));
      bodies.forEach((body, i) => {
        if (paths[i] === '/big') assert.ok(body.equals(BIG), `client ${i}: the body differs (${body.length} bytes)`);
        else assert.equal(body.toString(), FILE, `client ${i}`);
      });
      assert.equal(srv.bridge.stats().dialed, paths.length);
      assert.deepEqual(srv.errors, []);
    });
  });
}
