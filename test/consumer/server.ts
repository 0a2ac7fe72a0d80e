// A TypeScript consumer of the public API, type-checked with tsc --strict by test/types.test.js.
import { Bridge, createServer, GuestError, type BridgeStats, type LogLevel } from 'wasm-socket-bridge';
import type { Socket } from 'node:net';

async function main(): Promise<void> {
  const bridge: Bridge = await Bridge.load('build/guests/echo.wasm', { threads: 0, highWaterMark: 1 << 16 });
  const other: Bridge = Bridge.loadSync(new URL('file:///tmp/x.wasm'), { threads: 2 });
  bridge.on('error', (e: GuestError) => {
    const kind: 'trap' | 'abort' | 'fuel' | 'memory' | 'host' | 'timeout' = e.kind;
    const id: number | undefined = e.connectionId;
    console.error(kind, id, e.message);
  });
  bridge.on('log', (line: string, level: LogLevel) => console.log(level, line));
  const server = createServer(bridge, { allowHalfOpen: false }, (socket: Socket, id: number) => {
    console.log(socket.remotePort, id);
  });
  server.listen(7000, '127.0.0.1');
  const plain = createServer(bridge);
  plain.close();
  const id: number = bridge.attach(null as unknown as Socket);
  const stats: BridgeStats = bridge.stats();
  const open: number = bridge.connections + stats.connections + id;
  console.log(open, stats.bytesIn, stats.instances);
  await bridge.close();
  await other.close();
}

void main();
