// The HTTP echo server of WasmEdge's networking examples (`curl -d "WasmEdge" -X POST ...` prints
// `echo:WasmEdge`), with its request handling in the AssemblyScript guest
// assembly/examples/http-echo.ts, hosted by wasmer inside Node.
//
//   npx tsx examples/http-echo-server.ts                  # 127.0.0.1:8080 (PORT and HOST override)
//   curl -d "WasmEdge" -X POST http://127.0.0.1:8080      # -> echo:WasmEdge
//
// IDLE_TIMEOUT_MS (default 5000; 0: never) ends keep-alive connections idle that long; LOG_PEERS=1
// logs `address:port METHOD target` for every request. Both reach the guest as its config.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'http-echo.wasm');
// The guest reads this with Host.configString() (the bridge sends an object as JSON).
const config = {
  idleTimeoutMs: Number(process.env.IDLE_TIMEOUT_MS ?? 5000),
  logPeers: process.env.LOG_PEERS === '1',
};

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { config });
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
      console.log(`http echo server listening on ${addr.address}:${addr.port}`);
      console.log(`try: curl -d "WasmEdge" -X POST http://${addr.address}:${addr.port}`);
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
