// An HTTP CONNECT tunnel proxy whose logic runs in the AssemblyScript guest
// assembly/examples/proxy.ts. The guest may only dial what ALLOW lists (allowConnect):
// nothing else is reachable through it.
//
//   ALLOW=127.0.0.1:8080 npx tsx examples/proxy-server.ts      # proxy on 127.0.0.1:8081
//   npx tsx examples/http-echo-server.ts                        # an upstream on 127.0.0.1:8080
//   curl -p -x http://127.0.0.1:8081 -d WasmEdge http://127.0.0.1:8080   # -> echo:WasmEdge
//
// PORT, HOST and ALLOW (comma-separated "host:port" or "host:*") override the defaults.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 8081);
const host = process.env.HOST ?? '127.0.0.1';
const allowConnect = (process.env.ALLOW ?? '127.0.0.1:8080').split(',').filter((s) => s !== '');
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'proxy.wasm');

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { allowConnect });
  bridge.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  // Half-open sockets let a client's FIN travel through the tunnel while replies still flow back.
  const server = createServer(bridge, { allowHalfOpen: true });
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      console.log(`proxy listening on ${addr.address}:${addr.port}, allowed upstreams: ${allowConnect.join(', ') || 'none'}`);
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
