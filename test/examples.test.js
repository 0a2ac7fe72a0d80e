'use strict';
// The example server scripts (examples/*-server.ts), each run with tsx in a child process as a
// user would start it: they print their address, serve, and exit on SIGTERM.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const { guest, connect, exchange, readBytes, readToClose, sendUntilClosed, waitFor, httpUpstream, runScript, curl, CURL } = require('./helpers');

describe('examples/echo-server.ts (npm start)', function () {
  it('prints its address and echoes what a client sends', async function () {
    const { child, exited, match, output } = runScript('examples/echo-server.ts', { env: { PORT: '0' }, killAfter: 30000 });
    try {
      const port = Number((await match(/echo server listening on 127\.0\.0\.1:(\d+)/))[1]);
      assert.equal((await exchange(port, 'hello')).toString(), 'hello');
    } finally {
      child.kill('SIGTERM');
      const { signal, code } = await exited;
      assert.ok(code === 0 || signal === 'SIGTERM', output());
    }
  });
});

describe('examples/native-echo-server.ts (npm run start:native)', function () {
  this.timeout(60000);

  it('serves on the worker threads, echoes 20 clients at once, reports what it served and exits 0 on SIGTERM', async function () {
    const { child, exited, match } = runScript('examples/native-echo-server.ts', { env: { PORT: '0', THREADS: '2' } });
    try {
      const port = Number((await match(/native echo server listening on 127\.0\.0\.1:(\d+) \(2 worker threads\)/))[1]);
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(port, `message ${i}`)));
      replies.forEach((r, i) => assert.equal(r.toString(), `message ${i}`));
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /served 20 connections, \d+ bytes/);
  });
});

describe('examples/cluster-server.ts', function () {
  this.timeout(60000);

  it('runs two cluster workers on one port, each with its own bridge, that echo and exit cleanly', async function () {
    const { child, exited, match } = runScript('examples/cluster-server.ts', { env: { PORT: '0', WORKERS: '2' } });
    try {
      const m = await match(/worker \d+ listening on 127\.0\.0\.1:(\d+)[^]*worker \d+ listening on 127\.0\.0\.1:(\d+)/);
      const ports = [Number(m[1]), Number(m[2])];
      assert.equal(ports[0], ports[1], 'both workers share one port');
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(ports[0], `message ${i}`)));
      replies.forEach((r, i) => assert.equal(r.toString(), `message ${i}`));
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the primary did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /exited with [1-9]/);
  });
});

describe('examples/http-echo-server.ts', function () {
  it('starts with PORT=0 via tsx, prints its address and the curl line, echoes for curl, and exits on SIGTERM', async function () {
    if (!fs.existsSync(CURL)) this.skip();
    const { child, exited, match } = runScript('examples/http-echo-server.ts', { env: { PORT: '0' } });
    try {
      const m = await match(/http echo server listening on 127\.0\.0\.1:(\d+)[^]*try: curl -d "WasmEdge" -X POST http:\/\/127\.0\.0\.1:\d+/);
      const port = Number(m[1]);
      assert.equal(await curl(['-d', 'WasmEdge', '-X', 'POST', `http://127.0.0.1:${port}`]), 'echo:WasmEdge');
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });

  it('passes LOG_PEERS=1 and IDLE_TIMEOUT_MS to the guest: it logs each request and ends idle connections', async function () {
    const { child, exited, match, output } = runScript('examples/http-echo-server.ts', { env: { PORT: '0', LOG_PEERS: '1', IDLE_TIMEOUT_MS: '200' } });
    try {
      const port = Number((await match(/http echo server listening on 127\.0\.0\.1:(\d+)/))[1]);
      const socket = await connect(port);
      const clientPort = socket.localPort;
      const closed = readToClose(socket);
      socket.write('POST /logged HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nhi');
      const { data, ended } = await closed; // keep-alive: only the idle timeout ends it
      assert.ok(ended, 'the idle connection should have been ended by the server');
      assert.match(data.toString(), /\r\n\r\necho:hi$/);
      await waitFor(() => output().includes(`guest: 127.0.0.1:${clientPort} POST /logged`), 'the peer log line');
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });
});

describe('examples/proxy-server.ts', function () {
  it('tunnels curl through the proxy to the http-echo example, and both exit on SIGTERM', async function () {
    if (!fs.existsSync(CURL)) this.skip();
    const echo = runScript('examples/http-echo-server.ts', { env: { PORT: '0' } });
    let proxy;
    try {
      const echoPort = Number((await echo.match(/listening on 127\.0\.0\.1:(\d+)/))[1]);
      proxy = runScript('examples/proxy-server.ts', { env: { PORT: '0', ALLOW: `127.0.0.1:${echoPort}` } });
      const proxyPort = Number((await proxy.match(/proxy listening on 127\.0\.0\.1:(\d+)/))[1]);
      const body = await curl(['-p', '-x', `http://127.0.0.1:${proxyPort}`, '-d', 'WasmEdge', `http://127.0.0.1:${echoPort}`]);
      assert.equal(body, 'echo:WasmEdge');
    } finally {
      echo.child.kill('SIGTERM');
      if (proxy) proxy.child.kill('SIGTERM');
    }
    for (const p of [echo, proxy]) {
      const { code, signal, out } = await p.exited;
      assert.equal(signal, null, out);
      assert.equal(code, 0, out);
    }
  });
});

describe('examples/http-get-server.ts', function () {
  const { FILE } = httpUpstream;

  it('fetches from the allowed upstream for a client line, and exits 0 on SIGTERM', async function () {
    const up = await httpUpstream();
    const { child, exited, match, output } = runScript('examples/http-get-server.ts', { env: { PORT: '0', ALLOW: `127.0.0.1:${up.port}` } });
    try {
      const port = Number((await match(/http-get listening on 127\.0\.0\.1:(\d+).*\ntry: .*\n/))[1]);
      const out = output();
      assert.match(out, new RegExp(`allowed upstreams: 127\\.0\\.0\\.1:${up.port}`));
      assert.match(out, new RegExp(`try: printf '127\\.0\\.0\\.1:${up.port}/file\\.txt\\\\n' \\| nc 127\\.0\\.0\\.1 ${port}`));
      const { data: body } = await sendUntilClosed(port, `127.0.0.1:${up.port}/file.txt\n`);
      assert.equal(body.toString(), FILE);
      await waitFor(() => output().includes(`guest: fetched http://127.0.0.1:${up.port}/file.txt: ${FILE.length} bytes, status 200`), 'the fetched log line');
    } finally {
      child.kill('SIGTERM');
      const { code, signal, out } = await exited;
      await up.close();
      assert.equal(signal, null, out);
      assert.equal(code, 0, out);
    }
  });
});

describe('examples/kv-server.ts', function () {
  it('starts with PORT=0 via tsx, prints its address and a redis-cli line, serves a Redis client, and exits 0 on SIGTERM', async function () {
    const { child, exited, match } = runScript('examples/kv-server.ts', { env: { PORT: '0' } });
    let redis;
    try {
      const m = await match(/kv server listening on 127\.0\.0\.1:(\d+)\n[^]*try: redis-cli -p (\d+)/);
      const port = Number(m[1]);
      assert.equal(Number(m[2]), port);
      redis = new Redis({ host: '127.0.0.1', port, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      assert.equal(await redis.set('greeting', 'hello', 'EX', 60), 'OK');
      assert.equal(await redis.get('greeting'), 'hello');
      assert.equal(await redis.ttl('greeting'), 60);
      assert.equal(await redis.incr('visits'), 1);
      assert.equal(await redis.del('greeting', 'visits'), 2);
    } finally {
      if (redis) redis.disconnect();
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });
});

describe('examples/chat-server.ts', function () {
  it('starts with PORT=0 and THREADS=2, prints its address and the nc line, relays lines between clients, and exits 0 on SIGTERM', async function () {
    const { child, exited, match } = runScript('examples/chat-server.ts', { env: { PORT: '0', THREADS: '2' } });
    const sockets = [];
    try {
      const m = await match(/chat server listening on 127\.0\.0\.1:(\d+), 2 worker threads\n[^]*try: nc 127\.0\.0\.1 (\d+)/);
      const port = Number(m[1]);
      assert.equal(Number(m[2]), port);
      const received = [];
      for (let i = 0; i < 2; i++) {
        const s = await connect(port);
        sockets.push(s);
        received.push('');
        s.setEncoding('utf8');
        s.on('data', (d) => {
          received[i] += d;
        });
      }
      sockets[0].write('hello from a\n');
      await waitFor(() => received.every((r) => r.split('\n').length === 2), 'the first line at both clients');
      sockets[1].write('hello from b\n');
      await waitFor(() => received.every((r) => r.split('\n').length === 3), 'the second line at both clients');
      for (const r of received) assert.match(r, /^<\d+> hello from a\n<\d+> hello from b\n$/);
      assert.equal(received[0], received[1]);
    } finally {
      sockets.forEach((s) => s.destroy());
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });
});

describe('examples/auth-echo-server.ts', function () {
  it('starts with PORT=0 and TOKEN, echoes after the right token, denies a wrong one, and exits 0 on SIGTERM', async function () {
    const { child, exited, match, output } = runScript('examples/auth-echo-server.ts', { env: { PORT: '0', TOKEN: 'letmein' } });
    try {
      const m = await match(/auth-echo server listening on 127\.0\.0\.1:(\d+)\n[^]*try: nc 127\.0\.0\.1 (\d+)/);
      const port = Number(m[1]);
      assert.equal(Number(m[2]), port);
      assert.equal((await exchange(port, 'letmein\nhello', 'ok\nhello'.length)).toString(), 'ok\nhello');
      const { data, ended } = await sendUntilClosed(port, 'secret\nhello');
      assert.equal(data.toString(), 'denied\n');
      assert.ok(ended);
      await waitFor(() => /token accepted[^]*token denied/.test(output()), 'the log lines of both checks');
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });
});

describe('examples/reload-server.ts', function () {
  it('reloads its guest when the watched file changes, keeps the open connection on the old guest, refuses a broken file, and exits 0 on SIGTERM', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-reload-'));
    const file = path.join(dir, 'guest.wasm');
    fs.copyFileSync(guest('echo'), file);
    const { child, exited, match, output } = runScript('examples/reload-server.ts', { env: { PORT: '0', GUEST: file, DEBOUNCE_MS: '50' } });
    try {
      const port = Number((await match(/reload server listening on 127\.0\.0\.1:(\d+), generation 1/))[1]);
      const old = await connect(port);
      const oldReply = readBytes(old, 4);
      old.write('old!');
      assert.equal((await oldReply).toString(), 'old!');
      // The clock guest answers lines; echo would give the same bytes back.
      fs.copyFileSync(guest('clock'), `${file}.tmp`);
      fs.renameSync(`${file}.tmp`, file);
      await match(/reloaded: generation 2 \(1 connections open/);
      assert.equal((await exchange(port, 'config\n', 'config \n'.length)).toString(), 'config \n');
      const again = readBytes(old, 6);
      old.write('still!');
      assert.equal((await again).toString(), 'still!');
      fs.writeFileSync(file, 'not wasm');
      await match(/reload refused, generation 2 keeps serving: cannot load guest/);
      assert.equal((await exchange(port, 'config\n', 'config \n'.length)).toString(), 'config \n');
      old.destroy();
      assert.doesNotMatch(output(), /guest \(generation/);
    } finally {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the server did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
  });
});
