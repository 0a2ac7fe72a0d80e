// A key-value server that speaks the Redis protocol, with its commands, store and key expiry in
// the AssemblyScript guest assembly/examples/kv.ts (GET, SET with EX/PX/NX/XX, DEL, EXISTS, INCR,
// EXPIRE, TTL, PERSIST, ...), hosted by wasmer inside Node. Any Redis client talks to it.
//
//   npx tsx examples/kv-server.ts        # 127.0.0.1:6380 (PORT and HOST override)
//   redis-cli -p 6380                    # then: SET greeting hello EX 60, GET greeting, TTL greeting
//
// The keys live in the bridge's shared store (bridge.shared, as "kv:" + key), so THREADS=N (the
// guest on N worker threads) still gives one keyspace: every connection sees every write, INCR
// counts exactly across workers, and the keys outlive a failed instance. MAXMEMORY caps the bytes
// of keys and values the store holds (the bridge's maxSharedBytes, default 64 MiB): writes past it
// get -OOM.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 6380);
const host = process.env.HOST ?? '127.0.0.1';
const threads = Number(process.env.THREADS ?? 0);
// MAXMEMORY is the shared store's limit; the guest's config (the bridge's `config` option, sent as
// JSON) carries it too, for INFO to report.
const maxmemory = process.env.MAXMEMORY ? Number(process.env.MAXMEMORY) : undefined;
const config = maxmemory !== undefined ? { maxSharedBytes: maxmemory, config: { maxmemory } } : {};
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
      const where = threads > 0 ? `, ${threads} worker threads (one shared keyspace)` : '';
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
