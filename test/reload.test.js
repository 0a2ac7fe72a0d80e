'use strict';
// Hot reload (DESIGN.md, "Guest platform v2"): bridge.reload swaps the guest for new connections
// while open ones stay on the instance that served them, in every mode. The clock test guest
// (test/guests/clock.ts) answers "config" with its configuration, which tells generations apart.
const assert = require('node:assert/strict');
const { guest, fixture, serve, exchange, sleep, waitFor, lineClient, runScript, MODES } = require('./helpers');

const CLOCK = guest('clock');
const ECHO = guest('echo');

for (const mode of MODES) {
  describe(`hot reload (${mode.name})`, function () {
    this.timeout(30000);
    let srv;
    beforeEach(async function () {
      srv = await serve(CLOCK, { ...mode.options, config: 'one', hostFunctions: { later: (d) => sleep(300).then(() => d) } });
    });
    afterEach(async function () {
      await srv.close();
    });

    it('keeps 20 open connections on the old guest while connections made after the reload get the new one', async function () {
      const old = [];
      for (let i = 0; i < 20; i++) old.push(await lineClient(srv.port));
      for (const c of old) assert.equal(await c.ask('config'), 'config one');
      assert.equal(srv.bridge.generation, 1);
      await srv.bridge.reload(CLOCK, { config: 'two' });
      assert.equal(srv.bridge.generation, 2);
      const fresh = [];
      for (let i = 0; i < 5; i++) fresh.push(await lineClient(srv.port));
      for (const c of fresh) assert.equal(await c.ask('config'), 'config two');
      for (const c of old) assert.equal(await c.ask('config'), 'config one');
      // A different module: new connections echo, the first ones still run clock with 'one'.
      await srv.bridge.reload(ECHO);
      assert.equal(srv.bridge.generation, 3);
      assert.equal((await exchange(srv.port, 'plain echo')).toString(), 'plain echo');
      for (const c of old) assert.equal(await c.ask('config'), 'config one');
      for (const c of fresh) assert.equal(await c.ask('config'), 'config two');
      const perThread = Math.max(mode.options.threads, 1);
      assert.ok(srv.bridge.stats().instances > perThread, 'the replaced guests are still running');
      for (const c of [...old, ...fresh]) c.close();
      await waitFor(() => srv.bridge.connections === 0, 'every connection closed');
      // Each replaced instance is dropped with its last connection.
      await waitFor(() => srv.bridge.stats().instances === perThread, 'only the current instances left');
      assert.deepEqual(srv.errors, []);
    });

    it('keeps the timers and host calls of old connections running across a reload', async function () {
      const c = await lineClient(srv.port);
      const answer = await c.ask('after 300');
      const timer = Number(/^timer (\d+)$/.exec(answer)[1]);
      c.send('call later from-before');
      assert.equal((await c.next()).line, 'before');
      assert.match((await c.next()).line, /^called \d+$/);
      assert.equal((await c.next()).line, 'after');
      await srv.bridge.reload(CLOCK, { config: 'two' });
      const lines = [(await c.next()).line, (await c.next()).line].sort();
      assert.deepEqual(lines, [`fired ${timer}`, lines[1]].sort());
      assert.ok(lines.some((l) => /^reply \d+ 0 from-before$/.test(l)), `got ${JSON.stringify(lines)}`);
      assert.equal(await c.ask('config'), 'config one');
      c.close();
    });

    it('sees no error and no lost or mixed bytes on connections opened and closed through 10 reloads', async function () {
      let reloads = 0;
      let stop = false;
      const seen = new Set();
      const client = (async () => {
        let n = 0;
        while (!stop || n < 10) {
          const c = await lineClient(srv.port);
          const first = await c.ask('config');
          const second = await c.ask('config');
          // One connection, one generation: both answers come from the same guest.
          assert.equal(second, first);
          assert.match(first, /^config (one|g\d+)$/);
          seen.add(first);
          c.close();
          n++;
        }
        return n;
      })();
      for (let g = 1; g <= 10; g++) {
        await srv.bridge.reload(CLOCK, { config: `g${g}` });
        reloads++;
        await sleep(20);
      }
      stop = true;
      const served = await client;
      assert.equal(reloads, 10);
      assert.equal(srv.bridge.generation, 11);
      assert.ok(served >= 10);
      assert.ok(seen.has('config g10'), `the last generation served: ${[...seen]}`);
      assert.deepEqual(srv.errors, []);
    });

    it('rejects a module that does not compile or start and keeps serving with the current guest', async function () {
      const c = await lineClient(srv.port);
      await assert.rejects(srv.bridge.reload(Buffer.from('not wasm at all')), (err) => {
        assert.equal(err.code, 'ERR_GUEST_NOT_WASM');
        return true;
      });
      await assert.rejects(srv.bridge.reload(fixture('start-trap.wat')), (err) => {
        assert.equal(err.code, 'ERR_GUEST_START_FAILED');
        assert.match(err.message, /cannot load guest '.*start-trap\.wat': its start function failed/);
        return true;
      });
      await assert.rejects(srv.bridge.reload('/no/such/guest.wasm'), { code: 'ENOENT' });
      assert.equal(srv.bridge.generation, 1);
      assert.equal(await c.ask('config'), 'config one');
      const d = await lineClient(srv.port);
      assert.equal(await d.ask('config'), 'config one');
      c.close();
      d.close();
      assert.deepEqual(srv.errors, []);
    });

    it('refuses reload options other than config with a TypeError', async function () {
      await assert.rejects(srv.bridge.reload(CLOCK, { threads: 4 }), { name: 'TypeError', message: /only the option 'config'/ });
      await assert.rejects(srv.bridge.reload(CLOCK, 'two'), { name: 'TypeError' });
      await assert.rejects(srv.bridge.reload(CLOCK, { config: 42 }), { name: 'TypeError' });
      assert.equal(srv.bridge.generation, 1);
    });

    it('keeps the configuration when a reload gives none, and clears it when config is null', async function () {
      await srv.bridge.reload(CLOCK);
      const a = await lineClient(srv.port);
      assert.equal(await a.ask('config'), 'config one');
      await srv.bridge.reload(CLOCK, { config: null });
      const b = await lineClient(srv.port);
      assert.equal(await b.ask('config'), 'config ');
      a.close();
      b.close();
    });

    it('runs reloads asked for at once one after the other, in order', async function () {
      const done = [];
      await Promise.all([
        srv.bridge.reload(CLOCK, { config: 'x' }).then(() => done.push(srv.bridge.generation)),
        srv.bridge.reload(Buffer.from('broken')).catch(() => done.push('refused')),
        srv.bridge.reload(CLOCK, { config: 'y' }).then(() => done.push(srv.bridge.generation)),
      ]);
      assert.deepEqual(done, [2, 'refused', 3]);
      const c = await lineClient(srv.port);
      assert.equal(await c.ask('config'), 'config y');
      c.close();
    });

    it('keeps the shared store, the summed stats and broadcasts to old and new instances', async function () {
      const old = await lineClient(srv.port);
      assert.equal(await old.ask('sset k before'), 'sset 0');
      const before = srv.bridge.stats();
      await srv.bridge.reload(CLOCK, { config: 'two' });
      const fresh = await lineClient(srv.port);
      assert.equal(await fresh.ask('sget k'), 'sget before');
      const after = srv.bridge.stats();
      assert.ok(after.accepted >= before.accepted + 1, 'accepted counts on across the reload');
      assert.ok(after.events > before.events);
      srv.bridge.broadcast('to everyone');
      assert.equal((await old.next()).line, 'msg to everyone');
      assert.equal((await fresh.next()).line, 'msg to everyone');
      old.close();
      fresh.close();
    });

    it('tells which generation failed on each GuestError, and replaces a failed old instance with nothing', async function () {
      const old = await lineClient(srv.port);
      await old.ask('config');
      await srv.bridge.reload(CLOCK, { config: 'two' });
      old.send('trap');
      await waitFor(() => srv.errors.length === 1, 'the old instance failed');
      assert.equal(srv.errors[0].generation, 1);
      assert.equal(srv.errors[0].kind, 'trap');
      const fresh = await lineClient(srv.port);
      fresh.send('trap');
      await waitFor(() => srv.errors.length === 2, 'the new instance failed');
      assert.equal(srv.errors[1].generation, 2);
      const again = await lineClient(srv.port);
      assert.equal(await again.ask('config'), 'config two');
      again.close();
      const perThread = Math.max(mode.options.threads, 1);
      await waitFor(() => srv.bridge.stats().instances === perThread, 'the failed old instance is gone');
    });

    it('rejects a reload after close', async function () {
      await srv.bridge.close();
      await assert.rejects(srv.bridge.reload(CLOCK), /this bridge is closed/);
    });
  });
}

describe('hot reload with worker threads', function () {
  this.timeout(30000);

  it('completes for new connections while a guest is stuck in a long event on another worker', async function () {
    const srv = await serve(CLOCK, { threads: 2, config: 'one' });
    try {
      const stuck = await lineClient(srv.port);
      stuck.send('busy 2500');
      await sleep(100);
      await srv.bridge.reload(CLOCK, { config: 'two' });
      const fresh = await lineClient(srv.port);
      assert.equal(await fresh.ask('config'), 'config two');
      // The stuck event has not finished: the reload and the new connection did not wait for it.
      assert.deepEqual(stuck.pending(), []);
      assert.equal((await stuck.next(5000)).line, 'busy done');
      assert.equal(await stuck.ask('config'), 'config one');
      stuck.close();
      fresh.close();
    } finally {
      await srv.close();
    }
  });
});

for (const mode of MODES) {
  describe(`hot reload memory (${mode.name})`, function () {
    this.timeout(180000);

    it('returns to within 16 MiB of the level after the first reload once 200 reloads are done and their connections closed', async function () {
      const args = [CLOCK, '200', String(mode.options.threads)];
      const { exited } = runScript('test/scripts/reload-memory.js', { args, killAfter: 170000 });
      const { code, out } = await exited;
      assert.equal(code, 0, out);
      const report = JSON.parse(out.trim().split('\n').pop());
      if (process.env.WSB_VERBOSE) console.log(report);
      assert.equal(report.reloads, 200);
      assert.ok(report.growthBytes < 16 * 1024 * 1024, `grew ${report.growthBytes} bytes: ${out}`);
    });
  });
}
