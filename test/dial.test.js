'use strict';
// Socket.connect in every execution mode, with the dialer test guest (test/guests/dialer.ts):
// names and addresses, refusals, closing while connecting, bridge.send to a dialed connection,
// the counts. In native mode the worker dials by itself (src/native/driver.rs, names resolved on
// a resolver thread): no net.connect is made for the upstream there, which these tests check.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { guest, serve, connect, waitFor, upstreamEcho, lineClient, MODES } = require('./helpers');

/**
 * A listening socket that never completes a connection: a child process listens with a backlog
 * of 1 and stops itself (SIGSTOP); two connections fill its accept queue, after which the kernel
 * drops every SYN, so a dial to it stays connecting until it is closed.
 */
async function stuckListener() {
  const child = spawn(process.execPath, [
    '-e',
    `const s = require('net').createServer();
     s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       process.stdout.write(s.address().port + '\\n', () => process.kill(process.pid, 'SIGSTOP'));
     });`,
  ]);
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', () => reject(new Error('the listener exited')));
  });
  // Once it is stopped nothing accepts: the kernel completes these two (the accept queue holds
  // backlog + 1) and drops every SYN after them.
  await waitFor(() => stopped(child.pid), 'the listener to stop itself');
  const fillers = [await connect(port), await connect(port)];
  return {
    port,
    close() {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}

/** Whether process `pid` is stopped (Linux: state T in /proc/<pid>/stat). */
function stopped(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
}

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Records the net.connect calls made to `port` while it is installed; `restore()` ends it. */
function spyOnDials(port) {
  const original = net.connect;
  const calls = [];
  net.connect = function (...args) {
    const target = typeof args[0] === 'object' && args[0] !== null ? args[0].port : args[0];
    if (Number(target) === port) calls.push(args);
    return original.apply(this, args);
  };
  return {
    calls,
    restore() {
      net.connect = original;
    },
  };
}

/** The id in a "dial <id>" answer. */
function dialed(line) {
  const m = /^dial (\d+)( closed)?$/.exec(line);
  assert.ok(m, `expected "dial <id>", got ${JSON.stringify(line)}`);
  return Number(m[1]);
}

for (const mode of MODES) {
  describe(`Socket.connect (${mode.name})`, function () {
    this.timeout(20000);
    let up;
    let stuck;
    let srv;
    before(async function () {
      up = await upstreamEcho();
      stuck = await stuckListener();
    });
    after(async function () {
      stuck.close();
      await up.close();
    });
    afterEach(async function () {
      if (srv) await srv.close();
      srv = null;
    });

    const start = (allowConnect) => serve(guest('dialer'), { ...mode.options, allowConnect }).then((s) => (srv = s));

    /** Checks that the upstream at `port` was dialed natively in native mode, by Node otherwise. */
    const assertDialedBy = (spy) => {
      if (mode.native) assert.equal(spy.calls.length, 0, 'a native bridge dials without net.connect');
      else assert.ok(spy.calls.length > 0, 'the JS path dials with net.connect');
    };

    it('dials a host name (localhost), hears onConnect with the address as Node prints it, and exchanges data both ways', async function () {
      await start([`localhost:${up.port}`]);
      const spy = spyOnDials(up.port);
      try {
        const client = await lineClient(srv.port);
        const id = dialed(await client.ask(`dial localhost ${up.port}`));
        assert.equal((await client.next()).line, `connect ${id} 127.0.0.1 ${up.port}`);
        assert.equal(await client.ask(`write ${id} over the wire`), `wrote ${id} true`);
        assert.equal((await client.next()).line, `data ${id} over the wire`);
        assert.equal(await client.ask(`close ${id}`), `closed ${id}`);
        assert.equal((await client.next()).line, `close ${id} KDX`);
        assertDialedBy(spy);
        assert.equal(srv.bridge.stats().dialed, 1);
        client.close();
        await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
        assert.deepEqual(srv.errors, []);
      } finally {
        spy.restore();
      }
    });

    it('queues writes made before the connection is established and sends them once it is', async function () {
      await start([`127.0.0.1:${up.port}`]);
      const client = await lineClient(srv.port);
      // The write runs in the event that dialed, before the connection can be established.
      const answer = await client.ask(`dial 127.0.0.1 ${up.port} write early`);
      const id = dialed(answer.replace(/ wrote true$/, ''));
      assert.equal(answer, `dial ${id} wrote true`);
      const lines = [(await client.next()).line, (await client.next()).line];
      assert.deepEqual(lines, [`connect ${id} 127.0.0.1 ${up.port}`, `data ${id} early`]);
      client.close();
    });

    it('gives onError then onClose, and no onConnect, when the port refuses the connection', async function () {
      const port = await closedPort();
      await start([`127.0.0.1:${port}`]);
      const spy = spyOnDials(port);
      try {
        const client = await lineClient(srv.port);
        const id = dialed(await client.ask(`dial 127.0.0.1 ${port}`));
        assert.equal((await client.next()).line, `error ${id}`);
        assert.equal((await client.next()).line, `close ${id} RX`);
        assertDialedBy(spy);
        client.close();
        await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
        assert.deepEqual(srv.errors, []);
      } finally {
        spy.restore();
      }
    });

    it('gives onError then onClose when the host name does not resolve', async function () {
      await start(['no-such-host.invalid:*']);
      const client = await lineClient(srv.port);
      const id = dialed(await client.ask('dial no-such-host.invalid 80'));
      assert.equal((await client.next()).line, `error ${id}`);
      assert.equal((await client.next()).line, `close ${id} RX`);
      client.close();
    });

    it('closes a dial in the event that made it, for a name and for an address: onClose only', async function () {
      await start([`localhost:${up.port}`, `127.0.0.1:${up.port}`]);
      const client = await lineClient(srv.port);
      for (const host of ['localhost', '127.0.0.1']) {
        const answer = await client.ask(`dial ${host} ${up.port} close`);
        const id = dialed(answer);
        assert.equal(answer, `dial ${id} closed`);
        assert.equal((await client.next()).line, `close ${id} X`);
      }
      client.close();
      await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
    });

    it('closes a connection that is still connecting: onClose only, never onConnect', async function () {
      await start([`127.0.0.1:${stuck.port}`]);
      const client = await lineClient(srv.port);
      const id = dialed(await client.ask(`dial 127.0.0.1 ${stuck.port}`));
      assert.equal(srv.bridge.connections, 2, 'the client and the connection being dialed');
      assert.equal(await client.ask(`write ${id} queued`), `wrote ${id} true`);
      assert.equal(await client.ask(`close ${id}`), `closed ${id}`);
      assert.equal((await client.next()).line, `close ${id} X`);
      await waitFor(() => srv.bridge.connections === 1, 'the dialed connection to be gone');
      assert.equal(srv.bridge.stats().connections, 1);
      client.close();
    });

    it('delivers bridge.send to a dialed connection while it connects and once it is established, and refuses it after onClose', async function () {
      await start([`127.0.0.1:${stuck.port}`, `127.0.0.1:${up.port}`]);
      const client = await lineClient(srv.port);
      const waiting = dialed(await client.ask(`dial 127.0.0.1 ${stuck.port}`));
      assert.equal(srv.bridge.send(waiting, 'still connecting'), true);
      assert.equal((await client.next()).line, `message ${waiting} still connecting`);
      const id = dialed(await client.ask(`dial 127.0.0.1 ${up.port}`));
      assert.equal((await client.next()).line, `connect ${id} 127.0.0.1 ${up.port}`);
      assert.equal(srv.bridge.send(id, 'hello'), true);
      assert.equal((await client.next()).line, `message ${id} hello`);
      assert.equal(await client.ask(`close ${id}`), `closed ${id}`);
      assert.equal((await client.next()).line, `close ${id} KMX`);
      await waitFor(() => srv.bridge.send(id, 'gone') === false, 'bridge.send to refuse the closed id');
      assert.equal(await client.ask(`close ${waiting}`), `closed ${waiting}`);
      assert.equal((await client.next()).line, `close ${waiting} MX`);
      client.close();
    });
  });
}

describe('Socket.connect on a native bridge that closes', function () {
  this.timeout(20000);

  it('fails a dial still connecting at bridge.close() with onError then onClose, and resolves', async function () {
    const stuck = await stuckListener();
    const srv = await serve(guest('dialer'), { threads: 2, native: true, allowConnect: [`127.0.0.1:${stuck.port}`] });
    try {
      const client = await lineClient(srv.port);
      const id = dialed(await client.ask(`dial 127.0.0.1 ${stuck.port}`));
      assert.equal(srv.bridge.connections, 2);
      await srv.bridge.close();
      await waitFor(() => srv.logs.some((l) => l.line.startsWith(`dialed ${id} `)), `onClose of ${id}`);
      assert.ok(srv.logs.some((l) => l.line === `dialed ${id} RX`), JSON.stringify(srv.logs));
      assert.equal(srv.bridge.connections, 0);
    } finally {
      await srv.close();
      stuck.close();
    }
  });

  it('refuses a dial made while the bridge closes (from onEnd) with onError then onClose', async function () {
    const up = await upstreamEcho();
    const srv = await serve(guest('dialer'), { threads: 2, native: true, allowConnect: [`127.0.0.1:${up.port}`] });
    const spy = spyOnDials(up.port);
    try {
      const client = await lineClient(srv.port);
      assert.equal(await client.ask(`dialonend 127.0.0.1 ${up.port}`), 'armed');
      // The client answers the bridge's FIN with its own; the guest dials at that onEnd.
      await srv.bridge.close();
      await waitFor(() => srv.logs.some((l) => /^dialed \d+ /.test(l.line)), 'onClose of the late dial');
      assert.match(srv.logs.find((l) => /^dialed \d+ /.test(l.line)).line, /^dialed \d+ RX$/);
      assert.equal(spy.calls.length, 0);
    } finally {
      spy.restore();
      await srv.close();
      await up.close();
    }
  });
});
