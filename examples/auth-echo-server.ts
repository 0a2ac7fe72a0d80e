// An echo server that checks a token first, with its connection logic in the AssemblyScript
// guest assembly/examples/auth-echo.ts: the first line a client sends is its token, which the
// guest hands to the host function "checkToken" below (async, as a database or an auth service
// would be); the guest answers "ok" and echoes from then on, or "denied" and ends the connection.
//
//   npx tsx examples/auth-echo-server.ts   # 127.0.0.1:7004 (PORT and HOST override)
//   nc 127.0.0.1 7004                      # type the token (TOKEN, default "secret"), then anything
//
// THREADS=N runs the guest on N worker threads; the check always runs here, on the JS thread.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { timingSafeEqual } from 'node:crypto';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7004);
const host = process.env.HOST ?? '127.0.0.1';
const threads = Number(process.env.THREADS ?? 0);
const token = Buffer.from(process.env.TOKEN ?? 'secret');
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'auth-echo.wasm');

/** The demo check: one fixed token, answered after a short wait as a real lookup would be. */
async function checkToken(candidate: Buffer, { connectionId }: { connectionId?: number }): Promise<string> {
  await sleep(10);
  const ok = candidate.length === token.length && timingSafeEqual(candidate, token);
  console.log(`connection ${connectionId}: token ${ok ? 'accepted' : 'denied'}`);
  return ok ? 'ok' : 'denied';
}

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { threads, hostFunctions: { checkToken } });
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
      console.log(`auth-echo server listening on ${addr.address}:${addr.port}`);
      console.log(`try: nc ${addr.address} ${addr.port}   (first line: the token)`);
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
