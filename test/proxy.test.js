'use strict';
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { guest, serve, connect, readBytes, readToClose, waitFor, upstreamEcho, MODES } = require('./helpers');

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** Opens a tunnel through the proxy to 127.0.0.1:port; resolves with the socket once it is up. */
async function tunnel(proxyPort, port) {
  const socket = await connect(proxyPort);
  const reply = readBytes(socket, ESTABLISHED.length);
  socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  assert.equal((await reply).toString(), ESTABLISHED);
  return socket;
}

for (const mode of MODES) {
  describe(`proxy example and Socket.connect (${mode.name})`, function () {
    let up;
    beforeEach(async function () {
      up = await upstreamEcho();
    });
    afterEach(async function () {
      await up.close();
    });

    it('tunnels 64 MiB to an allowlisted upstream and back, byte for byte', async function () {
      const srv = await serve(guest('proxy'), { ...mode.options, allowConnect: [`127.0.0.1:${up.port}`] }, { allowHalfOpen: true });
      try {
        const socket = await tunnel(srv.port, up.port);
        const total = 64 * 1024 * 1024;
        const block = crypto.randomBytes(1024 * 1024);
        const hash = crypto.createHash('sha256');
        const back = crypto.createHash('sha256');
        let got = 0;
        const done = new Promise((resolve, reject) => {
          socket.on('data', (d) => {
            back.update(d);
            got += d.length;
            if (got >= total) resolve();
          });
          socket.on('error', reject);
          socket.on('close', () => reject(new Error(`closed after ${got} bytes`)));
        });
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            hash.update(block);
            sent += block.length;
            if (!socket.write(block)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
        await done;
        assert.equal(got, total);
        assert.equal(back.digest('hex'), hash.digest('hex'));
        assert.equal(srv.bridge.stats().dialed, 1);
        assert.deepEqual(srv.errors, []);
        socket.destroy();
      } finally {
        await srv.close();
      }
    });

    it('carries the CONNECT request and the first tunnel bytes in one write', async function () {
      const srv = await serve(guest('proxy'), { ...mode.options, allowConnect: ['127.0.0.1:*'] });
      try {
        const socket = await connect(srv.port);
        const reply = readBytes(socket, ESTABLISHED.length + 5);
        socket.write(`CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\n\r\nearly`);
        assert.equal((await reply).toString(), `${ESTABLISHED}early`);
        socket.end();
      } finally {
        await srv.close();
      }
    });

    it('refuses an upstream that is not in allowConnect with 403 and a log line naming it', async function () {
      const srv = await serve(guest('proxy'), { ...mode.options, allowConnect: ['127.0.0.1:1'] });
      try {
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write(`CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\n\r\n`);
        const { data } = await closed;
        assert.match(data.toString(), /^HTTP\/1\.1 403 Forbidden\r\n/);
        await waitFor(() => srv.logs.length > 0, 'the refusal log');
        assert.equal(srv.logs[0].level, 'warn');
        assert.equal(
          srv.logs[0].line,
          `Socket.connect: 127.0.0.1:${up.port} is not in allowConnect; refused (add "127.0.0.1:${up.port}" or "127.0.0.1:*" to allow it)`,
        );
        assert.equal(srv.bridge.stats().dialed, 0);
      } finally {
        await srv.close();
      }
    });

    it('dials nothing by default', async function () {
      const srv = await serve(guest('proxy'), mode.options);
      try {
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write(`CONNECT 127.0.0.1:${up.port} HTTP/1.1\r\n\r\n`);
        assert.match((await closed).data.toString(), /^HTTP\/1\.1 403 Forbidden\r\n/);
      } finally {
        await srv.close();
      }
    });

    it('answers 502 when an allowed upstream refuses the connection (onError, then onClose)', async function () {
      const port = up.port;
      await up.close(); // nothing listens there now
      up = { close: async () => {} };
      const srv = await serve(guest('proxy'), { ...mode.options, allowConnect: [`127.0.0.1:${port}`] });
      try {
        const socket = await connect(srv.port);
        const closed = readToClose(socket);
        socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
        assert.match((await closed).data.toString(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
        await waitFor(() => srv.bridge.connections === 0, 'every connection to close');
        assert.deepEqual(srv.errors, []);
      } finally {
        await srv.close();
      }
    });

    it('passes a half-close through the tunnel (allowHalfOpen) and closes both sides', async function () {
      const srv = await serve(guest('proxy'), { ...mode.options, allowConnect: [`127.0.0.1:${up.port}`] }, { allowHalfOpen: true });
      try {
        const socket = await tunnel(srv.port, up.port);
        const closed = readToClose(socket);
        socket.end('last words');
        const { data } = await closed;
        assert.equal(data.toString(), 'last words');
        await waitFor(() => srv.bridge.connections === 0, 'both tunnel ends to close');
      } finally {
        await srv.close();
      }
    });
  });
}

describe('allowConnect option', function () {
  const { Bridge } = require('..');
  it('refuses malformed entries and names them', function () {
    for (const bad of ['localhost', 'localhost:0', 'localhost:99999', '::1:80', 'a b:80']) {
      assert.throws(() => Bridge.loadSync(guest('echo'), { allowConnect: [bad] }), (e) => e instanceof TypeError && e.message.includes(`'${bad}'`) && e.message.includes('"host:port"'));
    }
    assert.throws(() => Bridge.loadSync(guest('echo'), { allowConnect: '127.0.0.1:80' }), /option 'allowConnect' must be an array/);
  });

  it('accepts host:port, host:* and bracketed IPv6 entries', async function () {
    const bridge = await Bridge.load(guest('echo'), { allowConnect: ['127.0.0.1:8080', 'localhost:*', '[::1]:9000'] });
    assert.deepEqual(bridge.options.allowConnect, ['127.0.0.1:8080', 'localhost:*', '[::1]:9000']);
    await bridge.close();
  });
});
