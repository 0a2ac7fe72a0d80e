'use strict';
// Decodes the output batches the addon returns (src/outbox.rs describes the layout) and carries
// them out on the sockets, in order.

const OP_WRITE = 1;
const OP_END = 2;
const OP_CLOSE = 3;
const OP_PAUSE = 4;
const OP_RESUME = 5;
const OP_LOG = 6;
const OP_ERROR = 7;
const HEADER = 12;
const NO_ID = 0xffffffff;

const LEVELS = ['log', 'info', 'warn', 'error', 'debug', 'trace'];
const KINDS = [undefined, 'trap', 'abort', 'fuel', 'memory', 'host'];

/**
 * Carries out one batch.
 * @param {Buffer} buf the batch
 * @param {Map<number, import('node:net').Socket>} sockets open sockets by connection id
 * @param {{ log(line: string, level: string): void, error(kind: string, message: string, id: number | undefined): void }} sink
 */
function apply(buf, sockets, sink) {
  let off = 0;
  const n = buf.length;
  while (off + HEADER <= n) {
    const op = buf[off];
    const sub = buf[off + 1];
    const id = buf.readUInt32LE(off + 4);
    const len = buf.readUInt32LE(off + 8);
    const start = off + HEADER;
    off = start + len;
    switch (op) {
      case OP_WRITE: {
        const s = sockets.get(id);
        if (s !== undefined && !s.destroyed && s.writable) s.write(buf.subarray(start, off));
        break;
      }
      case OP_END: {
        const s = sockets.get(id);
        if (s !== undefined && !s.destroyed) s.end();
        break;
      }
      case OP_CLOSE: {
        const s = sockets.get(id);
        if (s !== undefined) s.destroy();
        break;
      }
      case OP_PAUSE: {
        const s = sockets.get(id);
        if (s !== undefined) s.pause();
        break;
      }
      case OP_RESUME: {
        const s = sockets.get(id);
        if (s !== undefined) s.resume();
        break;
      }
      case OP_LOG:
        sink.log(buf.toString('utf8', start, off), LEVELS[sub] || 'log');
        break;
      case OP_ERROR:
        sink.error(KINDS[sub] || 'host', buf.toString('utf8', start, off), id === NO_ID ? undefined : id);
        break;
      default:
        throw new Error(`wasm-socket-bridge: corrupt output batch (op ${op} at ${off - len - HEADER})`);
    }
  }
}

module.exports = { apply, LEVELS, KINDS };
