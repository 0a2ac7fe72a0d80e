'use strict';
const assert = require('node:assert/strict');
const { guest, serve, connect, readBytes, waitFor, runScript } = require('./helpers');

/** Sends `spin 2000` (the guest burns 2 s of CPU) and counts 10 ms interval ticks meanwhile. */
async function ticksDuringSpin(options) {
  const srv = await serve(guest('misbehave'), options);
  try {
    const socket = await connect(srv.port);
    const reply = readBytes(socket, 4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const start = Date.now();
    socket.write('spin 2000');
    assert.equal((await reply).toString(), 'spun');
    const elapsed = Date.now() - start;
    clearInterval(timer);
    socket.end();
    return { ticks, elapsed };
  } finally {
    await srv.close();
  }
}

describe('worker threads', function () {
  it('keeps the JS thread ticking while a guest on a worker burns 2 s of CPU', async function () {
    const { ticks, elapsed } = await ticksDuringSpin({ threads: 2 });
    assert.ok(elapsed >= 1900, `the guest should have spun about 2 s, took ${elapsed} ms`);
    assert.ok(ticks >= 50, `a 10 ms interval should tick tens of times meanwhile, ticked ${ticks}`);
  });

  it('blocks the JS thread for the same burn in inline mode, which is why threads exist', async function () {
    const { ticks, elapsed } = await ticksDuringSpin({ threads: 0 });
    assert.ok(elapsed >= 1900, `took ${elapsed} ms`);
    assert.ok(ticks <= 5, `inline, the interval cannot tick while the guest runs, ticked ${ticks}`);
  });

  it('returns false from a Socket.write to a connection owned by another worker', async function () {
    const srv = await serve(guest('recorder'), { threads: 2 });
    try {
      const a = await connect(srv.port); // worker 0
      const b = await connect(srv.port); // worker 1 (least loaded)
      const c = await connect(srv.port); // worker 0
      await waitFor(() => srv.ids.length === 3, 'three attached connections');
      const [idA] = srv.ids;
      b.write(`poke ${idA}`);
      await waitFor(() => srv.logs.some((l) => l.line.startsWith('poke')), 'the first poke');
      const got = readBytes(a, 4);
      c.write(`poke ${idA}`);
      assert.equal((await got).toString(), 'poke', 'a connection on the same worker can be written to');
      await waitFor(() => srv.logs.filter((l) => l.line.startsWith('poke')).length === 2, 'the second poke');
      const pokes = srv.logs.filter((l) => l.line.startsWith('poke')).map((l) => l.line);
      assert.deepEqual(pokes, [`poke ${idA} false`, `poke ${idA} true`]);
      [a, b, c].forEach((s) => s.end());
    } finally {
      await srv.close();
    }
  });

  it('reports one instance per worker in stats()', async function () {
    const srv = await serve(guest('echo'), { threads: 3 });
    try {
      assert.equal(srv.bridge.stats().instances, 3);
    } finally {
      await srv.close();
    }
  });

  it('lets the process exit by itself when the server closes, without bridge.close()', async function () {
    const { exited } = runScript('test/scripts/exit-without-bridge-close.js', { args: [guest('echo')], killAfter: 15000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echoed ping/);
  });

  it('keeps the process alive until connections whose peers left have closed on their workers', async function () {
    // A server socket that saw EOF stops reading while its worker runs onEnd; nothing else held
    // the event loop, so the process used to exit before the sockets and the server closed.
    const script = `const net = require('node:net');
      const { Bridge, createServer } = require('.');
      (async () => {
        const bridge = await Bridge.load(${JSON.stringify(guest('echo'))}, { threads: 2 });
        const server = createServer(bridge, (s) => s.on('close', () => console.log('server socket closed')));
        await new Promise((r) => server.listen(0, '127.0.0.1', r));
        const clients = [];
        for (let i = 0; i < 3; i++) {
          const c = net.connect(server.address().port, '127.0.0.1');
          await new Promise((r) => c.once('connect', r));
          c.write('hi');
          await new Promise((r) => c.once('data', r));
          clients.push(c);
        }
        for (const c of clients) c.destroy();
        server.close(() => console.log('server closed'));
      })();`;
    const { exited } = runScript('-e', { args: [script], killAfter: 15000 });
    const { code, out } = await exited;
    assert.equal(code, 0, out);
    assert.equal(out.match(/server socket closed/g)?.length, 3, out);
    assert.match(out, /server closed/);
  });
});
