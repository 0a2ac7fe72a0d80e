// Scale out on one machine with Node's cluster module: WORKERS processes (default 2) share one
// port, each with its own bridge (and its own guest instance) serving the echo guest.
//
//   npx tsx examples/cluster-server.ts      # PORT (default 7000), HOST, WORKERS override
//
// SIGTERM or SIGINT to the primary closes every worker's server and bridge, then all exit.
import cluster from 'node:cluster';
import path from 'node:path';
import { Bridge, createServer } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 7000);
const host = process.env.HOST ?? '127.0.0.1';
const workers = Number(process.env.WORKERS ?? 2);
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'echo.wasm');

async function worker(): Promise<void> {
  const bridge = await Bridge.load(guestFile);
  bridge.on('error', (err) => console.error(`worker ${process.pid}: guest ${err.kind}: ${err.message}`));
  const server = createServer(bridge);
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') console.log(`worker ${process.pid} listening on ${addr.address}:${addr.port}`);
  });
  process.on('message', (msg) => {
    if (msg !== 'shutdown') return;
    server.close();
    void bridge.close().then(() => process.disconnect());
  });
}

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  const shutdown = (): void => {
    for (const w of Object.values(cluster.workers ?? {})) w?.send('shutdown');
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  cluster.on('exit', (w, code) => {
    if (code !== 0) console.error(`worker ${w.process.pid} exited with ${code}`);
  });
} else {
  worker().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
