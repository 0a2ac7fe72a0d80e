// The TCP echo server of the article "A TCP Server Example in AssemblyScript", with its connection
// logic in the AssemblyScript guest assembly/examples/echo.ts, hosted by wasmer instead of V8.
//
//   npm start                 # listens on 127.0.0.1:7000 (PORT and HOST override)
//   nc 127.0.0.1 7000         # type a line: it comes back
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7000);
const host = process.env.HOST ?? '127.0.0.1';
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'echo.wasm');

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile);
  bridge.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  const server = createServer(bridge, (socket, id) => {
    console.log(`Connected: ${socket.remoteAddress}:${socket.remotePort} (connection ${id})`);
  });
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') console.log(`echo server listening on ${addr.address}:${addr.port}`);
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
