'use strict';
// A plain Node RESP server with GET and SET only, written the obvious way: one Map of keys to
// Buffers, each connection's bytes concatenated until a whole command is there, replies written
// per command. The kv benchmark's baseline (`npm run bench -- kv`): what the kv guest is worth
// against the JS a developer would write without it.
//
//   node bench/resp-server.js [port]      # 127.0.0.1, default port 0 (prints the port)
const net = require('node:net');

const OK = Buffer.from('+OK\r\n');
const NIL = Buffer.from('$-1\r\n');

/**
 * Parses one RESP array of bulk strings at the start of `buf`: { args, used } once it is whole,
 * null while more bytes are needed. Throws on anything else.
 */
function parseCommand(buf) {
  if (buf.length === 0) return null;
  if (buf[0] !== 0x2a) throw new Error(`expected '*', got '${String.fromCharCode(buf[0])}'`);
  let nl = buf.indexOf('\r\n');
  if (nl < 0) return null;
  const count = Number(buf.toString('latin1', 1, nl));
  let at = nl + 2;
  const args = [];
  for (let i = 0; i < count; i++) {
    if (at >= buf.length) return null;
    if (buf[at] !== 0x24) throw new Error(`expected '$', got '${String.fromCharCode(buf[at])}'`);
    nl = buf.indexOf('\r\n', at);
    if (nl < 0) return null;
    const len = Number(buf.toString('latin1', at + 1, nl));
    at = nl + 2;
    if (buf.length < at + len + 2) return null;
    args.push(buf.subarray(at, at + len));
    at += len + 2;
  }
  return { args, used: at };
}

function createRespServer() {
  const store = new Map();
  return net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let cmd;
      try {
        while ((cmd = parseCommand(pending)) !== null) {
          pending = pending.subarray(cmd.used);
          const [name, ...rest] = cmd.args;
          const command = name.toString('latin1').toLowerCase();
          if (command === 'get' && rest.length === 1) {
            const value = store.get(rest[0].toString('latin1'));
            if (value === undefined) socket.write(NIL);
            else socket.write(Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]));
          } else if (command === 'set' && rest.length === 2) {
            store.set(rest[0].toString('latin1'), Buffer.from(rest[1]));
            socket.write(OK);
          } else {
            socket.write(`-ERR unknown command '${command}'\r\n`);
          }
        }
      } catch (e) {
        socket.end(`-ERR Protocol error: ${e.message}\r\n`);
      }
    });
    socket.on('error', () => {}); // a reset by the client is not the server's failure
  });
}

module.exports = { createRespServer, parseCommand };

if (require.main === module) {
  const server = createRespServer();
  server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => console.log(server.address().port));
}
