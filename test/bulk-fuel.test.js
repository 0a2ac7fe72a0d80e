'use strict';
// fuelPerEvent charges the bulk instructions by the length they touch, so no instruction lets a
// guest hold its thread past what its budget allows; eventTimeoutMs stops any call at its deadline.
// Timings here are bounds with wide margins (what would otherwise take minutes); the measured
// figures come from `node bench/bulk-fuel.js`.
const assert = require('node:assert/strict');
const { serve, sendUntilClosed, exchange, waitFor, MODES, guest, fixture } = require('./helpers');
const { bulkGuest, OPS, PAGES } = require('./bulk-guests');

const MEMORY = PAGES * 65536;

/** Milliseconds from sending one byte until the guest's failure closed the connection. */
async function stopped(srv) {
  const start = process.hrtime.bigint();
  await sendUntilClosed(srv.port, 'x');
  return Number(process.hrtime.bigint() - start) / 1e6;
}

for (const mode of MODES) {
  describe(`fuel charged by length (${mode.name})`, function () {
    for (const op of OPS.filter((o) => o !== 'arith')) {
      it(`stops a guest looping over ${op} with a fuel GuestError within its budget`, async function () {
        for (const pages of [1, PAGES]) {
          const bytes = Buffer.from(bulkGuest(op, pages));
          const srv = await serve(bytes, { ...mode.options, fuelPerEvent: 1e7, maxMemoryBytes: MEMORY });
          try {
            const ms = await stopped(srv);
            await waitFor(() => srv.errors.length === 1, 'the fuel error');
            assert.equal(srv.errors[0].kind, 'fuel', srv.errors[0].message);
            // Unmetered by length, a loop over 64 MiB operations runs for minutes.
            assert.ok(ms < 5000, `${op} of ${pages} pages held the guest for ${ms} ms`);
            assert.equal((await exchange(srv.port, '')).length, 0);
          } finally {
            await srv.close();
          }
        }
      });
    }
  });

  describe(`eventTimeoutMs (${mode.name})`, function () {
    it('stops an endless loop at its deadline with a timeout GuestError and keeps serving', async function () {
      const srv = await serve(fixture('endless-loop.wat'), { ...mode.options, eventTimeoutMs: 100 });
      try {
        const ms = await stopped(srv);
        await waitFor(() => srv.errors.length === 1, 'the timeout error');
        const [err] = srv.errors;
        assert.equal(err.kind, 'timeout');
        assert.match(err.message, /ran longer than eventTimeoutMs \(100 ms\)/);
        assert.ok(ms >= 95, `stopped after ${ms} ms, before its deadline`);
        assert.ok(ms < 2000, `stopped after ${ms} ms`);
        assert.equal(srv.bridge.stats().restarts, 1);
        // The replacement instance serves the next connection, and is stopped again.
        await stopped(srv);
        await waitFor(() => srv.errors.length === 2, 'the second timeout');
      } finally {
        await srv.close();
      }
    });

    it('stops a loop over bulk instructions under a large budget at its deadline', async function () {
      const bytes = Buffer.from(bulkGuest('memory.fill', 1));
      const srv = await serve(bytes, { ...mode.options, fuelPerEvent: 1e12, eventTimeoutMs: 100, maxMemoryBytes: MEMORY });
      try {
        const ms = await stopped(srv);
        await waitFor(() => srv.errors.length === 1, 'the timeout error');
        assert.equal(srv.errors[0].kind, 'timeout');
        assert.ok(ms < 2000, `stopped after ${ms} ms`);
      } finally {
        await srv.close();
      }
    });

    it('leaves events that end in time alone and counts their fuel in stats', async function () {
      const srv = await serve(guest('echo'), { ...mode.options, eventTimeoutMs: 1000 });
      try {
        for (let i = 0; i < 20; i++) {
          assert.equal((await exchange(srv.port, `hello ${i}`)).toString(), `hello ${i}`);
        }
        assert.deepEqual(srv.errors, []);
        const s = srv.bridge.stats();
        assert.ok(s.fuelUsed > 0 && s.fuelMax > 0 && s.fuelMax <= s.fuelUsed, JSON.stringify(s));
      } finally {
        await srv.close();
      }
    });
  });
}

describe('eventTimeoutMs at load', function () {
  it('stops a start function that never ends and rejects the load with a timeout', async function () {
    const { Bridge } = require('..');
    const wat = `(module (memory (export "memory") 1)
      (func $start (loop $l (br $l))) (start $start)
      (func (export "__new") (param i32 i32) (result i32) (i32.const 1024))
      (func (export "__pin") (param i32) (result i32) (local.get 0))
      (func (export "__unpin") (param i32))
      (func (export "onConnection") (param i32))
      (func (export "onData") (param i32 i32))
      (func (export "onClose") (param i32)))`;
    const start = Date.now();
    await assert.rejects(Bridge.load(Buffer.from(wat), { eventTimeoutMs: 100 }), /eventTimeoutMs \(100 ms\)/);
    assert.ok(Date.now() - start < 5000);
  });

  it('refuses an eventTimeoutMs that is not a whole number of milliseconds', async function () {
    const { Bridge } = require('..');
    for (const bad of [0, -1, 1.5, '100', 2 ** 31]) {
      await assert.rejects(Bridge.load(guest('echo'), { eventTimeoutMs: bad }), /option 'eventTimeoutMs' must be a whole number of milliseconds/);
    }
  });
});
