// Hot reload: an echo server whose guest file is watched; when it changes (a rebuild with
// `npm run build:guests`, or a copy over it), the bridge reloads it without dropping a
// connection. Connections open at the reload stay on the guest that served them; new ones get
// the new guest. Each generation is printed.
//
//   npx tsx examples/reload-server.ts               # 127.0.0.1:7005, watches build/guests/echo.wasm
//   GUEST=path/to/guest.wasm npx tsx examples/reload-server.ts
//   nc 127.0.0.1 7005                                # then rebuild or replace the guest file
import fs from 'node:fs';
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7005);
const host = process.env.HOST ?? '127.0.0.1';
const guestFile = path.resolve(process.env.GUEST ?? path.join(__dirname, '..', 'build', 'guests', 'echo.wasm'));
// Editors and compilers write a file in several steps: wait for it to be quiet this long.
const DEBOUNCE_MS = Number(process.env.DEBOUNCE_MS ?? 200);

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { cacheDir: process.env.CACHE_DIR });
  bridge.on('error', (err: GuestError) => console.error(`guest (generation ${err.generation}) ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  const server = createServer(bridge);
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      console.log(`reload server listening on ${addr.address}:${addr.port}, generation ${bridge.generation}`);
      console.log(`watching ${guestFile}: change it to reload`);
    }
  });

  let timer: NodeJS.Timeout | undefined;
  const reload = async (): Promise<void> => {
    try {
      await bridge.reload(guestFile);
      console.log(`reloaded: generation ${bridge.generation} (${bridge.connections} connections open stay on their guest)`);
    } catch (err) {
      // A broken or half-written file: the current guest keeps serving.
      console.error(`reload refused, generation ${bridge.generation} keeps serving: ${(err as Error).message}`);
    }
  };
  // Watch the folder, not the file: a rebuild often replaces the file (a new inode).
  const watcher = fs.watch(path.dirname(guestFile), (_event, name) => {
    if (name !== path.basename(guestFile)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), DEBOUNCE_MS);
  });

  const stop = (): void => {
    watcher.close();
    clearTimeout(timer);
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
