// A line-based chat room with its connection logic in the AssemblyScript guest
// assembly/examples/chat.ts: each line a client sends reaches this script through the host
// function "publish", which broadcasts it, with the sender's connection id, to every guest
// instance; each instance writes it to all of its clients.
//
//   npx tsx examples/chat-server.ts      # 127.0.0.1:7003 (PORT and HOST override)
//   nc 127.0.0.1 7003                    # in two or more terminals: type a line, everyone sees it
//
// THREADS=N runs the guest on N worker threads; the room is still one room, because every line
// goes through bridge.broadcast to every worker's instance.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7003);
const host = process.env.HOST ?? '127.0.0.1';
const threads = Number(process.env.THREADS ?? 0);
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'chat.wasm');

async function main(): Promise<void> {
  // The application sees every line first: here it only names the sender and passes it on. The
  // guest calls it only once connections exist, so `b` is set by then.
  let b: Bridge | undefined = undefined;
  const publish = (line: Buffer, { connectionId }: { connectionId?: number }): void => {
    b?.broadcast(`<${connectionId}> ${line.toString()}`);
  };
  b = await Bridge.load(guestFile, { threads, hostFunctions: { publish } });
  b.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  b.on('log', (line: string) => console.log(`guest: ${line}`));

  const server = createServer(b);
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      const where = threads > 0 ? `, ${threads} worker threads` : '';
      console.log(`chat server listening on ${addr.address}:${addr.port}${where}`);
      console.log(`try: nc ${addr.address} ${addr.port}   (in two terminals)`);
    }
  });

  const stop = (): void => {
    server.close();
    void b.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
