// A key-value server that speaks the Redis protocol, with its commands, store and key expiry in
// the AssemblyScript guest assembly/examples/kv.ts (GET, SET with EX/PX/NX/XX, DEL, EXISTS, INCR,
// EXPIRE, TTL, PERSIST, ...), hosted by wasmer inside Node. Any Redis client talks to it.
//
//   npx tsx examples/kv-server.ts        # 127.0.0.1:6380 (PORT and HOST override)
//   redis-cli -p 6380                    # then: SET greeting hello EX 60, GET greeting, TTL greeting
//
// THREADS=N runs the guest on N worker threads; each has its own store, so a key set on one
// connection is seen by the connections on the same worker only. MAXMEMORY caps the bytes the
// store holds (default 64 MiB per instance): writes past it get -OOM.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 6380);
const host = process.env.HOST ?? '127.0.0.1';
const threads = Number(process.env.THREADS ?? 0);
// The guest's configuration (the bridge's `config` option, sent to it as JSON).
const config = process.env.MAXMEMORY ? { config: { maxmemory: Number(process.env.MAXMEMORY) } } : {};
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'kv.wasm');

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { threads, ...config });
  bridge.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  const server = createServer(bridge);
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      const where = threads > 0 ? `, ${threads} worker threads (one store each)` : '';
      console.log(`kv server listening on ${addr.address}:${addr.port}${where}`);
      const hostArg = addr.address === '127.0.0.1' ? '' : `-h ${addr.address} `;
      console.log(`try: redis-cli ${hostArg}-p ${addr.port}`);
    }
  });

  const stop = (): void => {
    server.close();
    void bridge.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
