'use strict';
// Decodes the output batches the addon returns (src/instance/outbox.rs describes the layout) and
// carries them out on the sockets, in order. The op numbers, levels and kinds come from the addon
// (constants.js).
const constants = require('./constants');

const {
  WRITE: OP_WRITE,
  END: OP_END,
  CLOSE: OP_CLOSE,
  PAUSE: OP_PAUSE,
  RESUME: OP_RESUME,
  LOG: OP_LOG,
  ERROR: OP_ERROR,
  WANT_DRAIN: OP_WANT_DRAIN,
  ACK: OP_ACK,
  CONNECT: OP_CONNECT,
  TIMER: OP_TIMER,
  CALL: OP_CALL,
} = constants.ops;
const HEADER = constants.header;
const NO_ID = constants.noId;
const LEVELS = constants.levels;
const KINDS = constants.kinds;

/**
 * Carries out one batch: the first `n` bytes of `buf`.
 *
 * `shared`: `buf` is the bridge's shared output buffer, which the next native call overwrites.
 * Written bytes are then copied out (into Node's pooled Buffers, cheap for small writes) before
 * they are handed to a socket, and before a record that runs user code (a 'log' or 'error'
 * listener, which might call into the bridge) the rest of the batch is copied out too.
 * @param {Buffer} buf the batch
 * @param {number} n its length in bytes
 * @param {Map<number, import('./flow').Conn>} conns open connections by id
 * @param {{ highWaterMark: number, inputWindow: number, log(line: string, level: string): void,
 *   error(kind: string, message: string, id: number | undefined, generation16: number): void, wantDrain(c: Conn): void,
 *   connect(id: number, worker: number, host: string, port: number): void }} host
 * @param {boolean} [shared]
 */
function apply(buf, n, conns, host, shared = false) {
  let off = 0;
  while (off + HEADER <= n) {
    const op = buf[off];
    if (shared && (op === OP_LOG || op === OP_ERROR || op === OP_CONNECT || op === OP_CALL)) {
      // Log, Error, Connect, Call: user code may run; go on from a private copy of the rest.
      buf = Buffer.from(buf.subarray(off, n));
      n = buf.length;
      off = 0;
      shared = false;
    }
    const sub = buf[off + 1];
    const id = buf.readUInt32LE(off + 4);
    const len = buf.readUInt32LE(off + 8);
    const start = off + HEADER;
    off = start + len;
    if (op === OP_WRITE) {
      const c = conns.get(id);
      if (c === undefined) continue;
      const s = c.socket;
      if (s.destroyed || !s.writable) continue;
      const data = shared ? Buffer.from(buf.subarray(start, off)) : buf.subarray(start, off);
      if (s.writableLength + len >= host.highWaterMark) {
        // This write reaches the mark: stop reading until the queue falls below it again.
        s.write(data, c.flushed);
        if (!c.pressured) {
          c.pressured = true;
          if (!c.dialed) s.pause();
        }
      } else {
        s.write(data);
      }
      continue;
    }
    switch (op) {
      case OP_END: {
        const c = conns.get(id);
        if (c !== undefined && !c.socket.destroyed) c.socket.end();
        break;
      }
      case OP_CLOSE: {
        const c = conns.get(id);
        if (c !== undefined) c.socket.destroy();
        break;
      }
      case OP_PAUSE: {
        const c = conns.get(id);
        if (c !== undefined) {
          c.guestPaused = true;
          c.socket.pause();
        }
        break;
      }
      case OP_RESUME: {
        const c = conns.get(id);
        if (c !== undefined) {
          c.guestPaused = false;
          c.release();
        }
        break;
      }
      case OP_WANT_DRAIN: {
        // The guest was told false. If the socket is already below the mark (Node sent the
        // bytes at once), no write callback will report it: the host must.
        const c = conns.get(id);
        if (c !== undefined && !c.pressured) host.wantDrain(c);
        break;
      }
      case OP_ACK: {
        const c = conns.get(id);
        if (c !== undefined) {
          c.inflight -= buf.readUInt32LE(start);
          if (c.backlogged && c.inflight < host.inputWindow) {
            c.backlogged = false;
            c.release();
          }
        }
        break;
      }
      case OP_CONNECT:
        // The guest dialed: `sub` is its worker, the u16 at offset 2 the port, the payload the host.
        host.connect(id, sub, buf.toString('utf8', start, off), buf.readUInt16LE(start - HEADER + 2));
        break;
      case OP_TIMER:
        host.arm(buf.readUInt32LE(start));
        break;
      case OP_CALL: {
        // The guest called a host function: `sub` is its worker; the payload is the call
        // handle, the instance, the name's length, the name and the data (a copy: the function
        // may keep it).
        const nameLen = buf[start + 8];
        const name = buf.toString('latin1', start + 9, start + 9 + nameLen);
        const data = Buffer.from(buf.subarray(start + 9 + nameLen, off));
        host.call(sub, buf.readUInt32LE(start + 4), buf.readInt32LE(start), id, name, data);
        break;
      }
      case OP_LOG:
        host.log(buf.toString('utf8', start, off), LEVELS[sub] || 'log');
        break;
      case OP_ERROR:
        // The u16 at offset 2: the low 16 bits of the generation of the guest that failed.
        host.error(KINDS[sub] || 'host', buf.toString('utf8', start, off), id === NO_ID ? undefined : id, buf.readUInt16LE(start - HEADER + 2));
        break;
      default:
        throw new Error(`wasm-socket-bridge: corrupt output batch (op ${op} at ${off - len - HEADER})`);
    }
  }
}

module.exports = { apply };
