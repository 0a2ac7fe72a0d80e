'use strict';
const assert = require('node:assert/strict');
const { guest, serve, connect, readBytes, sleep, MODES } = require('./helpers');

// The same digest as assembly/examples/hash.ts, in JS: FNV-1a over the line, `rounds` times.
function digest(line, rounds) {
  let h = 0xcbf29ce484222325n;
  const bytes = Buffer.from(line);
  for (let r = 0n; r < BigInt(rounds); r++) {
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    h ^= r;
  }
  return h.toString(16).padStart(16, '0');
}

for (const mode of MODES) {
  describe(`hash guest (assembly/examples/hash.ts, ${mode.name})`, function () {
    it('answers each line with its iterated digest, also when lines arrive split across writes', async function () {
      const srv = await serve(guest('hash'), mode.options);
      try {
        const socket = await connect(srv.port);
        const expected = `ok\n${digest('hello', 3)}\n${digest('split line', 3)}\n`;
        const reply = readBytes(socket, expected.length);
        socket.write('rounds=3\nhel');
        await sleep(20);
        socket.write('lo\nsplit');
        await sleep(20);
        socket.write(' line\n');
        assert.equal((await reply).toString(), expected);
        const more = readBytes(socket, 17);
        socket.write('hello\n');
        assert.equal((await more).toString(), `${digest('hello', 3)}\n`, 'rounds stays set for the connection');
        socket.end();
      } finally {
        await srv.close();
      }
    });

    it('uses 20000 rounds by default', async function () {
      const srv = await serve(guest('hash'), mode.options);
      try {
        const socket = await connect(srv.port);
        const reply = readBytes(socket, 17);
        socket.write('hello\n');
        assert.equal((await reply).toString(), `${digest('hello', 20000)}\n`);
        socket.end();
      } finally {
        await srv.close();
      }
    });
  });
}
