// The echo server of echo-server.ts served natively: `bridge.listen` accepts and serves the
// connections on the bridge's worker threads, with no JS per message (see "Native I/O" in the
// README). Node's event loop only sees the guest's logs and errors.
//
//   npm run start:native      # listens on 127.0.0.1:7000 (PORT, HOST and THREADS override)
//   nc 127.0.0.1 7000         # type a line: it comes back
import os from 'node:os';
import path from 'node:path';
import { Bridge, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7000);
const host = process.env.HOST ?? '127.0.0.1';
const threads = Number(process.env.THREADS ?? os.availableParallelism());
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'echo.wasm');

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { threads });
  bridge.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  const server = await bridge.listen({ port, host }).catch(async (err: Error) => {
    await bridge.close();
    throw err;
  });
  const addr = server.address();
  console.log(`native echo server listening on ${addr.address}:${addr.port} (${threads} worker threads)`);

  const stop = (): void => {
    const { accepted, bytesIn } = bridge.stats();
    console.log(`served ${accepted} connections, ${bytesIn} bytes`);
    // close() stops accepting; bridge.close() ends the open connections after their output.
    void server.close();
    void bridge.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
