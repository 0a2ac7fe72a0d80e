'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { guest, serve, connect, readBytes, readToClose, exchange, waitFor, MODES } = require('./helpers');

for (const mode of MODES) {
  describe(`echo guest (assembly/examples/echo.ts, ${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('echo'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    it('echoes one client message back byte for byte', async function () {
      const got = await exchange(srv.port, 'hello');
      assert.equal(got.toString(), 'hello');
      assert.deepEqual(srv.errors, []);
    });

    it('gives each of 50 concurrent clients exactly its own bytes while their writes interleave', async function () {
      const clients = await Promise.all(Array.from({ length: 50 }, () => connect(srv.port)));
      const expected = clients.map(() => []);
      const replies = clients.map((s, i) => {
        const total = 20 * 100;
        return readBytes(s, total).then((b) => ({ i, b }));
      });
      // 20 rounds; in each round every client writes one 100-byte chunk, in a shuffled order.
      for (let round = 0; round < 20; round++) {
        const order = clients.map((_, i) => i).sort(() => Math.random() - 0.5);
        for (const i of order) {
          const chunk = crypto.randomBytes(100);
          expected[i].push(chunk);
          clients[i].write(chunk);
        }
        await new Promise((r) => setImmediate(r));
      }
      for (const { i, b } of await Promise.all(replies)) {
        assert.ok(b.equals(Buffer.concat(expected[i])), `client ${i} got other bytes than it sent`);
      }
      clients.forEach((s) => s.end());
    });

    it('echoes 16 MiB byte-exact through one connection', async function () {
      const data = crypto.randomBytes(16 * 1024 * 1024);
      const socket = await connect(srv.port);
      const reply = readBytes(socket, data.length);
      for (let off = 0; off < data.length; off += 65536) socket.write(data.subarray(off, off + 65536));
      const got = await reply;
      socket.end();
      assert.equal(got.length, data.length);
      assert.ok(got.equals(data), 'echoed bytes differ from the bytes sent');
      const stats = srv.bridge.stats();
      assert.ok(stats.bytesIn >= data.length && stats.bytesOut >= data.length);
    });

    it('counts connections, events and bytes in stats()', async function () {
      await exchange(srv.port, 'abc');
      const socket = await connect(srv.port);
      const closed = readToClose(socket);
      socket.end();
      await closed;
      // With worker threads, stats are published after each batch: wait for the last onClose.
      await waitFor(() => srv.bridge.stats().closed === 2, 'both closes to be counted');
      const s = srv.bridge.stats();
      assert.equal(s.accepted, 2);
      assert.equal(s.bytesIn, 3);
      assert.equal(s.bytesOut, 3);
      assert.equal(s.instances, Math.max(1, mode.options.threads));
      assert.equal(s.traps, 0);
      assert.ok(s.events >= 5, `events ${s.events}`); // 2 x onConnection, onData, 2 x onClose
    });
  });

  describe(`quit-on-q guest (assembly/examples/quit-on-q.ts, ${mode.name})`, function () {
    it('echoes until a chunk contains q, then echoes that chunk and ends the connection', async function () {
      const srv = await serve(guest('quit-on-q'), mode.options);
      try {
        const socket = await connect(srv.port);
        const first = readBytes(socket, 5);
        socket.write('hello');
        assert.equal((await first).toString(), 'hello');
        const rest = readToClose(socket);
        socket.write('quit');
        const { data, ended } = await rest;
        assert.equal(data.toString(), 'quit');
        assert.ok(ended, 'the server should have sent FIN');
      } finally {
        await srv.close();
      }
    });
  });
}
