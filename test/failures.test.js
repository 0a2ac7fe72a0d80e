'use strict';
const assert = require('node:assert/strict');
const { guest, serve, connect, readBytes, readToClose, sendUntilClosed, exchange, waitFor, MODES, assertConnection } = require('./helpers');

for (const mode of MODES) {
  describe(`guest failures (${mode.name})`, function () {
    let srv;
    beforeEach(async function () {
      srv = await serve(guest('misbehave'), mode.options);
    });
    afterEach(async function () {
      await srv.close();
    });

    it('reports a trap as a GuestError of kind trap, closes that socket, and keeps serving', async function () {
      const closed = sendUntilClosed(srv.port, 'trap');
      const { data } = await closed;
      assert.equal(data.length, 0);
      await waitFor(() => srv.errors.length === 1, 'the error event');
      const [err] = srv.errors;
      assert.equal(err.name, 'GuestError');
      assert.equal(err.kind, 'trap');
      assertConnection(srv, err.connectionId);
      assert.match(err.message, /unreachable/);
      assert.equal((await exchange(srv.port, 'still here')).toString(), 'still here');
      const s = srv.bridge.stats();
      assert.equal(s.traps, 1);
      assert.equal(s.restarts, 1);
    });

    if (mode.options.threads === 0) {
      it('closes every connection of the failed instance and starts the next one fresh', async function () {
        const bystander = await connect(srv.port);
        const bystanderClosed = readToClose(bystander);
        assert.equal((await exchange(srv.port, 'count', 1)).toString(), '2');
        const culprit = await connect(srv.port);
        const culpritClosed = readToClose(culprit);
        culprit.write('trap');
        await culpritClosed;
        await bystanderClosed;
        // The replacement instance has seen only the connection made after the failure.
        assert.equal((await exchange(srv.port, 'count', 1)).toString(), '1');
      });
    } else {
      it('replaces only the failed worker instance while connections on the other workers keep flowing', async function () {
        if (srv.native) {
          // The kernel spreads native connections (SO_REUSEPORT): of 20 bystanders, some share
          // the culprit's worker (and close with its instance), the others must keep flowing.
          const bystanders = await Promise.all(Array.from({ length: 20 }, () => connect(srv.port)));
          for (const b of bystanders) {
            const echoed = readBytes(b, 6);
            b.write('before');
            assert.equal((await echoed).toString(), 'before');
          }
          const closed = bystanders.map(() => false);
          const closedNow = bystanders.map((b, i) => new Promise((resolve) => b.once('close', () => resolve((closed[i] = true)))));
          await sendUntilClosed(srv.port, 'trap');
          await waitFor(() => srv.errors.length === 1, 'the error event');
          const survivors = [];
          await Promise.all(
            bystanders.map(async (b, i) => {
              // Those of the failed instance may have closed already: then there is nothing to read.
              if (closed[i]) return;
              const after = readBytes(b, 5);
              b.write('after');
              const got = await Promise.race([after.then(String), closedNow[i].then(() => 'closed')]);
              if (got === 'after') survivors.push(b);
              else assert.equal(closed[i], true, 'a bystander either echoes or closed with the failed instance');
            }),
          );
          assert.ok(survivors.length > 0, 'the bystanders on the other worker survive');
          for (const b of survivors) b.end();
          assert.equal(srv.bridge.stats().restarts, 1);
          assert.equal(srv.bridge.stats().instances, mode.options.threads);
          return;
        }
        // Connections go to the least-loaded worker: the bystander to one, the culprit to the other.
        const bystander = await connect(srv.port);
        const first = readBytes(bystander, 6);
        bystander.write('before');
        assert.equal((await first).toString(), 'before');
        const culpritClosed = sendUntilClosed(srv.port, 'trap');
        await culpritClosed;
        await waitFor(() => srv.errors.length === 1, 'the error event');
        const after = readBytes(bystander, 5);
        bystander.write('after');
        assert.equal((await after).toString(), 'after', 'the connection on the healthy worker must survive');
        bystander.end();
        assert.equal(srv.bridge.stats().restarts, 1);
        assert.equal(srv.bridge.stats().instances, mode.options.threads);
      });
    }

    it('reports an abort with its message and source location', async function () {
      const closed = sendUntilClosed(srv.port, 'abort');
      await closed;
      await waitFor(() => srv.errors.length === 1, 'the error event');
      const [err] = srv.errors;
      assert.equal(err.kind, 'abort');
      assert.match(err.message, /^guest gave up on connection \d+ at test\/guests\/misbehave\.ts:\d+:\d+$/);
      assert.equal((await exchange(srv.port, 'next')).toString(), 'next');
    });

    it('treats a write from outside guest memory as a trap and never reads host memory', async function () {
      const closed = sendUntilClosed(srv.port, 'oob');
      assert.equal((await closed).data.length, 0);
      await waitFor(() => srv.errors.length === 1, 'the error event');
      assert.equal(srv.errors[0].kind, 'trap');
      assert.match(srv.errors[0].message, /Socket\.write: guest passed pointer 4294967280 with length 64, outside its memory/);
      assert.equal((await exchange(srv.port, 'ok')).toString(), 'ok');
    });

    it('survives a hundred failures in a row', async function () {
      for (let i = 0; i < 100; i++) {
        const closed = sendUntilClosed(srv.port, i % 2 ? 'trap' : 'abort');
        await closed;
      }
      await waitFor(() => srv.errors.length === 100, '100 error events');
      assert.equal((await exchange(srv.port, 'alive')).toString(), 'alive');
      assert.equal(srv.bridge.stats().restarts, 100);
    });

    it('lets the guest close its own connection, after which its writes return false', async function () {
      const closed = sendUntilClosed(srv.port, 'close');
      assert.equal((await closed).data.length, 0);
      await waitFor(() => srv.logs.length === 1, 'the log line');
      assert.equal(srv.logs[0].line, 'write after close returned false');
      assert.deepEqual(srv.errors, []);
    });
  });

  describe(`guest logs (${mode.name})`, function () {
    it('surfaces console.log and trace as log events with their level', async function () {
      const srv = await serve(guest('misbehave'), mode.options);
      try {
        assert.equal((await exchange(srv.port, 'log hi')).toString(), 'log hi');
        await waitFor(() => srv.logs.length === 2, 'two log lines');
        assert.deepEqual(srv.logs, [
          { line: 'guest says: hi', level: 'log' },
          { line: 'trace: trace from guest 1.5, 42', level: 'trace' },
        ]);
      } finally {
        await srv.close();
      }
    });
  });
}
