'use strict';
// Native I/O (DESIGN.md, "Guest platform v2"): bridge.listen serves connections on the worker
// threads. The behaviour suites run in native mode through MODES (test/helpers.js); this file
// covers what is particular to listen: its options, its address, closing, and both kinds of
// connection on one bridge.
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { Bridge, createServer } = require('..');
const { guest, fixture, connect, exchange, readBytes, readToClose, waitFor, runScript } = require('./helpers');

describe('bridge.listen (native I/O)', function () {
  this.timeout(20000);

  it('refuses to listen without worker threads, saying how to fix it', async function () {
    const bridge = await Bridge.load(guest('echo'));
    try {
      await assert.rejects(bridge.listen(), /needs worker threads|serves connections on the worker threads: load the bridge with threads >= 1/);
    } finally {
      await bridge.close();
    }
  });

  it('refuses malformed options with a TypeError or RangeError that names the option', async function () {
    const bridge = await Bridge.load(guest('echo'), { threads: 1 });
    try {
      await assert.rejects(bridge.listen({ port: 70000 }), { name: 'RangeError', message: /'port'/ });
      await assert.rejects(bridge.listen({ port: 1.5 }), { name: 'RangeError', message: /'port'/ });
      await assert.rejects(bridge.listen({ host: 7 }), { name: 'TypeError', message: /'host'/ });
      await assert.rejects(bridge.listen({ backlog: 0 }), { name: 'RangeError', message: /'backlog'/ });
      await assert.rejects(bridge.listen({ allowHalfOpen: 'yes' }), { name: 'TypeError', message: /'allowHalfOpen'/ });
      await assert.rejects(bridge.listen({ exclusive: true }), { name: 'TypeError', message: /unknown option 'exclusive'/ });
      await assert.rejects(bridge.listen({ host: 'no-such-host.invalid' }), /cannot resolve no-such-host\.invalid/);
    } finally {
      await bridge.close();
    }
  });

  it('listens on a free port, reports its address as net.Server does, and refuses a port in use', async function () {
    const bridge = await Bridge.load(guest('echo'), { threads: 2 });
    const other = net.createServer();
    await new Promise((r) => other.listen(0, '127.0.0.1', r));
    try {
      const server = await bridge.listen();
      const addr = server.address();
      assert.equal(addr.address, '127.0.0.1');
      assert.equal(addr.family, 'IPv4');
      assert.ok(addr.port > 0);
      assert.equal((await exchange(addr.port, 'native')).toString(), 'native');
      // In use by Node, and by this very bridge: both refused.
      await assert.rejects(bridge.listen({ port: other.address().port }), /cannot listen on 127\.0\.0\.1:\d+/);
      await assert.rejects(bridge.listen({ port: addr.port }), /cannot listen on 127\.0\.0\.1:\d+/);
      await server.close();
    } finally {
      other.close();
      await bridge.close();
    }
  });

  it('serves Node sockets and native connections on one bridge at once, with one set of stats', async function () {
    const bridge = await Bridge.load(guest('echo'), { threads: 2 });
    const nodeServer = createServer(bridge);
    await new Promise((r) => nodeServer.listen(0, '127.0.0.1', r));
    const native = await bridge.listen();
    try {
      const sockets = await Promise.all([connect(nodeServer.address().port), connect(native.address().port)]);
      await waitFor(() => bridge.connections === 2, 'both connections');
      const answers = await Promise.all(
        sockets.map((s, i) => {
          const r = readBytes(s, 7);
          s.write(`kind ${i}!`);
          return r;
        }),
      );
      assert.deepEqual(answers.map(String), ['kind 0!', 'kind 1!']);
      assert.equal(bridge.stats().accepted, 2);
      sockets.forEach((s) => s.end());
      await waitFor(() => bridge.connections === 0, 'both to close');
    } finally {
      nodeServer.close();
      await bridge.close();
    }
  });

  it('stops accepting at close() and resolves once its last connection has closed', async function () {
    const bridge = await Bridge.load(guest('echo'), { threads: 2 });
    const server = await bridge.listen();
    const { port } = server.address();
    try {
      const open = await connect(port);
      assert.equal((await exchange(port, 'one')).toString(), 'one');
      let closed = false;
      const closing = server.close().then(() => (closed = true));
      await assert.rejects(connect(port), { code: 'ECONNREFUSED' });
      const r = readBytes(open, 8);
      open.write('goes on!');
      assert.equal((await r).toString(), 'goes on!');
      assert.equal(closed, false, 'a connection is still open');
      open.end();
      await closing;
      assert.equal(server.connections, 0);
    } finally {
      await bridge.close();
    }
  });

  it('spreads connections evenly over the worker threads, whatever the kernel hashed them to', async function () {
    // Each worker runs its own instance of a guest that answers how many connections its
    // instance has been given. The kernel's SO_REUSEPORT hash alone gives 20/20 to 40
    // connections only one time in eight; the hand-off to the least loaded worker always does.
    const bridge = await Bridge.load(fixture('count-connections.wat'), { threads: 2 });
    const sockets = [];
    try {
      const server = await bridge.listen();
      for (let i = 0; i < 40; i++) sockets.push(await connect(server.address().port));
      await waitFor(() => bridge.connections === 40);
      const answers = [];
      for (const s of sockets) {
        s.write('?');
        answers.push((await readBytes(s, 1))[0]);
      }
      assert.deepEqual(answers, sockets.map(() => 20));
      assert.equal(bridge.stats().accepted, 40);
    } finally {
      for (const s of sockets) s.destroy();
      await bridge.close();
    }
  });

  it('accepts the connections left waiting while it was out of file descriptors once some close', async function () {
    // The server process may hold 100 descriptors, so most of 150 clients wait in the backlog
    // (accept fails with EMFILE). Clients that got their echo leave, which frees descriptors;
    // nothing new connects, so only the worker retrying its accepts lets the others in.
    const { spawn } = require('node:child_process');
    const script = path.join(__dirname, 'scripts', 'native-fd-limit.js');
    const child = spawn('bash', ['-c', `ulimit -n 100 && exec "${process.execPath}" "${script}"`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      await waitFor(() => /port \d+/.test(out), 'the server to listen');
      const port = Number(/port (\d+)/.exec(out)[1]);
      const sockets = [];
      for (let i = 0; i < 150; i++) sockets.push(await connect(port));
      const echoed = sockets.map((s, i) => {
        s.on('error', () => {});
        s.write(`client ${i}`);
        return readBytes(s, `client ${i}`.length).then((b) => {
          assert.equal(b.toString(), `client ${i}`);
          s.destroy();
        });
      });
      let timer;
      const stuck = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('clients still waiting after 15 s: the waiting connections were never accepted')), 15000);
      });
      await Promise.race([Promise.all(echoed), stuck]).finally(() => clearTimeout(timer));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('keeps the process alive while a connection the guest dialed natively is open, after its server closed', async function () {
    const { exited } = runScript('test/scripts/native-dial-hold.js', { killAfter: 15000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, out);
    assert.equal(code, 0, out);
    assert.match(out, /dialed[^]*server closed[^]*upstream closed/);
  });

  it('ends native connections on bridge.close(), after their queued output, and resolves', async function () {
    const bridge = await Bridge.load(guest('echo'), { threads: 2 });
    const server = await bridge.listen();
    const socket = await connect(server.address().port);
    const reply = readBytes(socket, 5);
    socket.write('hello');
    assert.equal((await reply).toString(), 'hello');
    const ended = readToClose(socket);
    await bridge.close();
    assert.equal((await ended).ended, true, 'the client got a FIN');
    assert.equal(bridge.connections, 0);
  });

  it('keeps the process alive while listening, and lets it exit after bridge.close()', async function () {
    const script = `
      const { Bridge } = require(${JSON.stringify(require.resolve('..'))});
      (async () => {
        const bridge = await Bridge.load(${JSON.stringify(guest('echo'))}, { threads: 1 });
        const server = await bridge.listen();
        console.log('listening ' + server.address().port);
        setTimeout(() => bridge.close().then(() => console.log('closed')), 300);
      })();`;
    const { exited } = runScript('-e', { args: [script], killAfter: 15000 });
    const { code, signal, out } = await exited;
    assert.equal(signal, null, out);
    assert.equal(code, 0, out);
    assert.match(out, /listening \d+\n[^]*closed/);
  });
});
