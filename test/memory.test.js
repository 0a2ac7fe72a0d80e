'use strict';
const assert = require('node:assert/strict');
const { Bridge } = require('..');
const { guest, fixture, serve, connect, readBytes, readToClose, exchange, waitFor, MODES } = require('./helpers');

const MiB = 1024 * 1024;

for (const mode of MODES) {
  describe(`maxMemoryBytes (${mode.name})`, function () {
    it('makes memory.grow return -1 at the cap and succeed below it', async function () {
      // 2 MiB = 32 pages; the guest starts with 1.
      const srv = await serve(fixture('grow.wat'), { ...mode.options, maxMemoryBytes: 2 * MiB });
      try {
        const socket = await connect(srv.port);
        const ask = async (pages) => {
          const reply = readBytes(socket, 4);
          socket.write(Buffer.from([pages]));
          return (await reply).readInt32LE(0);
        };
        assert.equal(await ask(16), 1, 'grew from 1 to 17 pages');
        assert.equal(await ask(16), -1, '33 pages would pass the cap');
        assert.equal(await ask(15), 17, 'exactly 32 pages is allowed');
        assert.equal(await ask(1), -1, 'nothing past the cap');
        socket.end();
        assert.deepEqual(srv.errors, [], 'a guest that handles -1 is not a failure');
      } finally {
        await srv.close();
      }
    });

    it('reports a guest whose allocator fails at the cap as a memory GuestError and keeps serving', async function () {
      const srv = await serve(guest('misbehave'), { ...mode.options, maxMemoryBytes: 8 * MiB });
      try {
        assert.equal((await exchange(srv.port, 'hog 2')).toString(), 'holding 2 MiB');
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write('hog 64');
        await closed;
        await waitFor(() => srv.errors.length === 1, 'the memory error');
        const [err] = srv.errors;
        assert.equal(err.kind, 'memory');
        assert.match(err.message, /may not grow past 8 MiB \(maxMemoryBytes\)/);
        assert.equal(srv.bridge.stats().restarts, 1);
        // The fresh instance starts small again: the hoard is gone.
        assert.equal((await exchange(srv.port, 'hog 4')).toString(), 'holding 4 MiB');
        assert.equal((await exchange(srv.port, 'still serving')).toString(), 'still serving');
      } finally {
        await srv.close();
      }
    });

    it('keeps a real trap a trap when memory was never refused', async function () {
      const srv = await serve(guest('misbehave'), { ...mode.options, maxMemoryBytes: 8 * MiB });
      try {
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write('trap');
        await closed;
        await waitFor(() => srv.errors.length === 1, 'the trap');
        assert.equal(srv.errors[0].kind, 'trap');
      } finally {
        await srv.close();
      }
    });
  });
}

describe('maxMemoryBytes at load', function () {
  it('refuses a module whose initial memory is larger than the cap, naming both sizes', async function () {
    await assert.rejects(
      Bridge.load(fixture('big-initial-memory.wat'), { maxMemoryBytes: 4 * MiB }),
      /cannot load guest '.*big-initial-memory\.wat': its memory starts at 6400 KiB but maxMemoryBytes is 4 MiB - raise maxMemoryBytes/,
    );
    const bridge = await Bridge.load(fixture('big-initial-memory.wat'), { maxMemoryBytes: 8 * MiB });
    await bridge.close();
  });

  it('refuses caps that are not whole numbers from one page to 4 GiB', function () {
    for (const bad of [0, 65535, 1.5, -1, 2 ** 32 + 1, '1MiB']) {
      assert.throws(() => Bridge.loadSync(guest('echo'), { maxMemoryBytes: bad }), /option 'maxMemoryBytes' must be a whole number of bytes from 65536/);
    }
  });

  it('serves the AssemblyScript examples under the default 256 MiB cap', async function () {
    const bridge = await Bridge.load(guest('echo'));
    assert.equal(bridge.options.maxMemoryBytes, 256 * MiB);
    await bridge.close();
  });
});
