'use strict';
const assert = require('node:assert/strict');
const { fork } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');
const { guest, serve, connect, readBytes, readToClose, sendUntilClosed, exchange, sleep, waitFor, MODES, recorded, hardCap, assertConnection } = require('./helpers');

// The per-connection order guarantee: onConnection first; data; at most one onEnd, after which no
// data; at most one onError; onClose last, exactly once. onDrain (W) may come anywhere between.
const VALID_SEQUENCE = /^CD*E?R?X$/;

for (const mode of MODES) {
  describe(`connection lifecycle (${mode.name})`, function () {
    it('lets a half-open connection answer after the client FIN (byte-count example)', async function () {
      const srv = await serve(guest('byte-count'), mode.options, { allowHalfOpen: true });
      try {
        const socket = await connect(srv.port);
        const done = readToClose(socket);
        socket.write(crypto.randomBytes(100000));
        socket.end();
        const { data, ended } = await done;
        assert.equal(data.toString(), '100000');
        assert.ok(ended, 'the guest should have ended its side');
      } finally {
        await srv.close();
      }
    });

    it('ends a connection that is not half-open at the client FIN: onEnd then onClose, and writes in onEnd return false', async function () {
      const srv = await serve(guest('byte-count'), mode.options);
      try {
        const socket = await connect(srv.port);
        const done = readToClose(socket);
        socket.write('12345');
        socket.end();
        const { data, ended } = await done;
        assert.equal(data.length, 0, `nothing may be sent after the FIN ended the connection, got ${data}`);
        assert.ok(ended);
        assert.deepEqual(srv.errors, []);
      } finally {
        await srv.close();
      }
      const rec = await serve(guest('recorder'), mode.options);
      try {
        const socket = await connect(rec.port);
        const done = readToClose(socket);
        socket.end('bye');
        await done;
        await waitFor(() => recorded(rec.logs).size === 1, 'the recorded events');
        assert.deepEqual([...recorded(rec.logs).values()], ['CDEX']);
      } finally {
        await rec.close();
      }
    });

    it('delivers onError before the single onClose when a client resets mid-stream', async function () {
      const srv = await serve(guest('recorder'), mode.options);
      try {
        const socket = await connect(srv.port);
        const echoed = readBytes(socket, 1000);
        socket.write(Buffer.alloc(1000, 1));
        await echoed;
        socket.resetAndDestroy();
        await waitFor(() => recorded(srv.logs).size === 1, 'the recorded events');
        assert.match([...recorded(srv.logs).values()][0], /^CD+RX$/);
      } finally {
        await srv.close();
      }
    });

    it('keeps the event order of 120 clients that mix data, FIN and resets at random', async function () {
      const srv = await serve(guest('recorder'), mode.options, { allowHalfOpen: Math.random() < 0.5 });
      try {
        const clients = Array.from({ length: 120 }, async () => {
          const socket = await connect(srv.port);
          socket.on('error', () => {});
          socket.on('data', () => {});
          const closed = new Promise((r) => socket.on('close', r));
          const chunks = Math.floor(Math.random() * 6);
          for (let i = 0; i < chunks; i++) {
            socket.write(crypto.randomBytes(1 + Math.floor(Math.random() * 20000)));
            if (Math.random() < 0.5) await sleep(Math.random() * 10);
          }
          const how = Math.random();
          if (how < 0.4) {
            socket.end();
            await closed;
          } else if (how < 0.7) {
            socket.resetAndDestroy();
          } else {
            // FIN, then a reset. Reset only once the FIN has gone out ('finish'): a client that
            // resets while its own shutdown is still pending never emits 'close' in Node 20, and
            // its half-dead handle keeps the test process from exiting.
            socket.end();
            await new Promise((r) => socket.once('finish', r));
            await sleep(Math.random() * 5);
            if (!socket.destroyed) socket.resetAndDestroy();
          }
        });
        await Promise.all(clients);
        await waitFor(() => recorded(srv.logs).size === 120, 'all 120 connections to close', 15000);
        const late = srv.logs.filter((l) => l.line.startsWith('late'));
        assert.deepEqual(late, [], 'no event may follow onClose');
        const ids = [...recorded(srv.logs).keys()];
        assert.equal(new Set(ids).size, 120, 'connection ids are never reused');
        for (const [id, seq] of recorded(srv.logs)) {
          assert.match(seq.replace(/W/g, ''), VALID_SEQUENCE, `connection ${id} saw ${seq}`);
        }
      } finally {
        await srv.close();
      }
    });

    it('stops and restarts onData for one connection with Socket.pause and Socket.resume', async function () {
      const srv = await serve(guest('recorder'), mode.options);
      try {
        // A guest acts only on connections of its own instance. With two workers, connections
        // go to the least-loaded one: a, filler and b land on workers 0, 1, 0, so b can resume a.
        const a = await connect(srv.port);
        const filler = await connect(srv.port);
        const pausedLog = waitFor(() => srv.logs.some((l) => l.line.startsWith('paused')), 'the pause');
        a.write('pause');
        await pausedLog;
        const id = Number(srv.logs.find((l) => l.line.startsWith('paused')).line.split(' ')[1]);
        let got = '';
        a.on('data', (d) => {
          got += d;
        });
        a.write('held back');
        await sleep(300);
        assert.equal(got, '', 'a paused connection must not get onData');
        // Natively the kernel picks the worker (SO_REUSEPORT): try until one lands beside a (a
        // resume from the other instance, which does not own a, changes nothing).
        for (let tries = 0; ; tries++) {
          const b = await connect(srv.port);
          b.write(`resume ${id}`);
          const done = srv.native ? () => got === 'held back' : () => srv.logs.some((l) => l.line === `resumed ${id}`);
          const resumed = waitFor(done, 'the resume', srv.native ? 300 : 5000);
          const ok = await resumed.then(() => true, (e) => (srv.native && tries < 30 ? false : Promise.reject(e)));
          b.end();
          if (ok) break;
        }
        await waitFor(() => got === 'held back', 'the held-back echo');
        a.end();
        filler.end();
      } finally {
        await srv.close();
      }
    });

    it('sends nothing for writes after Socket.end or Socket.close', async function () {
      const srv = await serve(guest('misbehave'), mode.options);
      try {
        const done = sendUntilClosed(srv.port, 'close');
        assert.equal((await done).data.length, 0);
        await waitFor(() => srv.logs.length === 1, 'the log line');
        assert.equal(srv.logs[0].line, 'write after close returned false');
      } finally {
        await srv.close();
      }
    });
  });

  describe(`backpressure (${mode.name})`, function () {
    it('returns false past highWaterMark and calls onDrain, so a guest can stream 8 MiB at the pace of the client', async function () {
      const srv = await serve(guest('recorder'), mode.options);
      try {
        const size = 8 * 1024 * 1024;
        const socket = await connect(srv.port);
        const all = readBytes(socket, size);
        socket.write(`stream ${size}`);
        const data = await all;
        assert.equal(data.length, size);
        for (let i = 0; i < size; i += 4099) assert.equal(data[i], i % 251, `byte ${i}`);
        socket.end();
        await waitFor(() => recorded(srv.logs).size === 1, 'the recorded events');
        const seq = [...recorded(srv.logs).values()][0];
        assert.ok((seq.match(/W/g) || []).length >= 10, `the guest should have waited for onDrain many times: ${seq}`);
      } finally {
        await srv.close();
      }
    });

    it('destroys a connection whose guest ignores false and keeps writing, with a host GuestError', async function () {
      const srv = await serve(guest('misbehave'), mode.options);
      try {
        const cap = hardCap(mode.options);
        const done = sendUntilClosed(srv.port, 'flood');
        const { data } = await done;
        assert.ok(data.length <= cap, `at most the cap may be sent, got ${data.length}`);
        await waitFor(() => srv.errors.length === 1, 'the error event');
        const [err] = srv.errors;
        assert.equal(err.kind, 'host');
        assertConnection(srv, err.connectionId);
        assert.match(err.message, new RegExp(`kept writing after Socket\\.write returned false.*cap of ${cap} .*connection destroyed`));
        // Only that connection paid: the instance was not replaced and still serves.
        assert.equal((await exchange(srv.port, 'next')).toString(), 'next');
        assert.equal(srv.bridge.stats().restarts, 0);
      } finally {
        await srv.close();
      }
    });

    it('bounds server memory while a client sends 256 MiB without reading, then echoes all of it byte-exact', async function () {
      const child = fork(path.join(__dirname, 'scripts', 'serve.js'), [guest('echo'), JSON.stringify(mode.options)]);
      const messages = [];
      child.on('message', (m) => messages.push(m));
      const rss = async () => {
        const before = messages.length;
        child.send('rss');
        await waitFor(() => messages.slice(before).some((m) => m.rss), 'the rss answer');
        return messages.slice(before).find((m) => m.rss).rss;
      };
      try {
        await waitFor(() => messages.some((m) => m.port), 'the child server');
        const port = messages.find((m) => m.port).port;
        // Warm the server up so its baseline includes the compiled guest and a used instance.
        assert.equal((await exchange(port, 'warm')).toString(), 'warm');
        const baseline = await rss();

        // The byte stream: position p carries block[p % PERIOD]; the odd period catches any
        // reordered, lost or repeated chunk.
        const PERIOD = 1024 * 1024 + 7;
        const block = crypto.randomBytes(PERIOD);
        const doubled = Buffer.concat([block, block]);
        const total = 256 * 1024 * 1024;
        const socket = await connect(port);
        socket.pause(); // do not read yet

        let peak = baseline;
        const sampler = setInterval(() => {
          rss().then((r) => {
            peak = Math.max(peak, r);
          }, () => {});
        }, 100);

        let received = 0;
        let mismatch = null;
        const allBack = new Promise((resolve, reject) => {
          socket.on('data', (d) => {
            const at = received % PERIOD;
            if (mismatch === null && !d.equals(doubled.subarray(at, at + d.length))) mismatch = received;
            received += d.length;
            if (received >= total) resolve();
          });
          socket.on('close', () => reject(new Error(`closed after ${received} bytes`)));
        });

        const writeAll = (async () => {
          let sent = 0;
          while (sent < total) {
            const n = Math.min(65536, total - sent);
            const at = sent % PERIOD;
            const ok = socket.write(doubled.subarray(at, at + n));
            sent += n;
            if (!ok) await new Promise((r) => socket.once('drain', r));
          }
        })();

        await sleep(3000); // the client does not read for 3 s
        const stalled = received;
        socket.resume();
        await Promise.all([writeAll, allBack]);
        clearInterval(sampler);
        socket.end();
        assert.equal(stalled, 0);
        assert.equal(mismatch, null, `echoed bytes differ from the sent bytes at offset ${mismatch}`);
        assert.equal(received, total);
        const growth = peak - baseline;
        if (process.env.WSB_VERBOSE) console.log(`      server RSS: baseline ${(baseline / 1048576).toFixed(1)} MiB, peak ${(peak / 1048576).toFixed(1)} MiB`);
        assert.ok(growth < 64 * 1024 * 1024, `server RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
        assert.deepEqual(messages.filter((m) => m.error), []);
      } finally {
        child.disconnect();
      }
    });

    it('serves 2,000 concurrent connections that each echo', async function () {
      const srv = await serve(guest('echo'), mode.options);
      try {
        const sockets = [];
        for (let batch = 0; batch < 10; batch++) {
          sockets.push(...(await Promise.all(Array.from({ length: 200 }, () => connect(srv.port)))));
        }
        await waitFor(() => srv.bridge.connections === 2000, '2,000 attached connections');
        const replies = sockets.map((s, i) => {
          const msg = `hello from ${i}`;
          const r = readBytes(s, msg.length);
          s.write(msg);
          return r.then((b) => assert.equal(b.toString(), msg));
        });
        await Promise.all(replies);
        sockets.forEach((s) => s.destroy());
        await waitFor(() => srv.bridge.connections === 0, 'all connections to close');
      } finally {
        await srv.close();
      }
    });
  });
}
