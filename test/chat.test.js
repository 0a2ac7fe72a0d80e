'use strict';
// assembly/examples/chat.ts: each client line goes to the application through the host function
// "publish", which broadcasts it with its sender; every instance writes each broadcast to all of
// its own clients.
const assert = require('node:assert/strict');
const { guest, serve, connect, waitFor, MODES } = require('./helpers');

/** A client that collects the lines the server sends. */
async function chatClient(port) {
  const socket = await connect(port);
  const lines = [];
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  return { socket, lines, say: (line) => socket.write(`${line}\n`) };
}

/** Serves the chat guest with a "publish" that broadcasts `<id> line` and records the order. */
async function serveChat(options) {
  const published = [];
  let bridge = null;
  const srv = await serve(guest('chat'), {
    ...options,
    hostFunctions: {
      publish(line, { connectionId }) {
        const message = `<${connectionId}> ${line.toString()}`;
        published.push(message);
        bridge.broadcast(message);
      },
    },
  });
  bridge = srv.bridge;
  return { srv, published };
}

for (const mode of MODES) {
  describe(`chat example (${mode.name})`, function () {
    this.timeout(20000);
    let srv;
    let published;
    beforeEach(async function () {
      ({ srv, published } = await serveChat(mode.options));
    });
    afterEach(async function () {
      await srv.close();
    });

    it('delivers every line of every client to all six clients, all in the order the application broadcast them', async function () {
      // Six connections open at once: with threads: 2 the least-loaded placement puts three on
      // each worker, so lines cross from one instance to the other.
      const clients = await Promise.all(Array.from({ length: 6 }, () => chatClient(srv.port)));
      await waitFor(() => srv.bridge.connections === 6, 'six connections');
      const perClient = 20;
      // Every client talks at once, interleaved, so the broadcast order is decided by the host.
      for (let n = 0; n < perClient; n++) clients.forEach((c, i) => c.say(`client ${i} line ${n}`));
      const total = clients.length * perClient;
      await waitFor(() => clients.every((c) => c.lines.length >= total), 'every line at every client', 15000);
      assert.equal(published.length, total);
      for (const c of clients) assert.deepEqual(c.lines, published, 'each client sees the broadcast order');
      // Each sender's own lines keep their order, and every line of every client is there.
      const ids = srv.ids;
      clients.forEach((_c, i) => {
        const mine = published.filter((m) => m.includes(` client ${i} line `));
        assert.equal(mine.length, perClient);
        mine.forEach((m, n) => assert.equal(m.replace(/^<\d+> /, ''), `client ${i} line ${n}`));
        // (JS sees no native connection arrive: there only that they are ids.)
        const isId = (id) => (srv.native ? Number.isInteger(id) && id > 0 : ids.includes(id));
        assert.ok(mine.every((m) => isId(Number(/^<(\d+)>/.exec(m)[1]))), 'sender ids are connection ids');
      });
      clients.forEach((c) => c.socket.end());
    });

    it('ends the connection of a client whose line passes the line limit, and the room goes on', async function () {
      const a = await chatClient(srv.port);
      const b = await chatClient(srv.port);
      await waitFor(() => srv.bridge.connections === 2, 'two connections');
      const closed = new Promise((r) => b.socket.on('close', r));
      b.say('x'.repeat(2000));
      await closed;
      assert.deepEqual(b.lines, ['error: line longer than 1024 bytes']);
      a.say('still here');
      await waitFor(() => a.lines.length === 1, 'the line after the overlong one');
      assert.match(a.lines[0], /^<\d+> still here$/);
      assert.deepEqual(published, [a.lines[0]]);
      a.socket.end();
    });
  });
}
