'use strict';
const assert = require('node:assert/strict');
const { guest, fixture, serve, connect, readToClose, sendUntilClosed, exchange, waitFor, MODES, assertConnection } = require('./helpers');

for (const mode of MODES) {
  describe(`fuelPerEvent (${mode.name})`, function () {
    it('stops a guest stuck in an endless loop with a fuel GuestError and keeps the process serving', async function () {
      const srv = await serve(fixture('endless-loop.wat'), { ...mode.options, fuelPerEvent: 1000000 });
      try {
        const closed = sendUntilClosed(srv.port, 'go');
        await closed;
        await waitFor(() => srv.errors.length === 1, 'the fuel error');
        const [err] = srv.errors;
        assert.equal(err.kind, 'fuel');
        assertConnection(srv, err.connectionId);
        assert.match(err.message, /used up its budget of 1000000 points for one event \(fuelPerEvent/);
        assert.equal(srv.bridge.stats().restarts, 1);
      } finally {
        await srv.close();
      }
    });

    it('tells a real trap from running out of fuel, and lets events under the budget run', async function () {
      const srv = await serve(guest('misbehave'), { ...mode.options, fuelPerEvent: 5000000 });
      try {
        assert.equal((await exchange(srv.port, 'within budget')).toString(), 'within budget');
        const a = await connect(srv.port);
        const aClosed = readToClose(a);
        a.write('trap');
        await aClosed;
        await waitFor(() => srv.errors.length === 1, 'the trap');
        assert.equal(srv.errors[0].kind, 'trap');
        const b = await connect(srv.port);
        const bClosed = readToClose(b);
        b.write('spin 60000'); // a minute of CPU: far past 5 million instructions
        await bClosed;
        await waitFor(() => srv.errors.length === 2, 'the fuel error');
        assert.equal(srv.errors[1].kind, 'fuel');
        assert.equal((await exchange(srv.port, 'still serving')).toString(), 'still serving');
      } finally {
        await srv.close();
      }
    });
  });
}
