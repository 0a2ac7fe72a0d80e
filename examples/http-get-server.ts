// An HTTP client as a guest (assembly/examples/http-get.ts, after the WASI sockets client example
// "Towards sockets and networking in WebAssembly and WASI"), behind a line-based
// TCP server: send a line `host:port/path` and get the body of http://host:port/path back. The
// guest may only fetch from what ALLOW lists (allowConnect): nothing else is reachable through it.
//
//   npx tsx examples/http-echo-server.ts                        # an upstream on 127.0.0.1:8080
//   ALLOW=127.0.0.1:8080 npx tsx examples/http-get-server.ts    # this server on 127.0.0.1:8082
//   printf '127.0.0.1:8080/file.txt\n' | nc 127.0.0.1 8082      # -> the upstream's body
//
// Or serve a folder of your own (`python3 -m http.server 8000`) with ALLOW=127.0.0.1:8000.
// PORT, HOST and ALLOW (comma-separated "host:port" or "host:*") override the defaults.
import path from 'node:path';
import { Bridge, createServer, type GuestError } from 'wasm-socket-bridge';

const port = Number(process.env.PORT ?? 8082);
const host = process.env.HOST ?? '127.0.0.1';
const allowConnect = (process.env.ALLOW ?? '127.0.0.1:8080').split(',').filter((s) => s !== '');
const guestFile = path.join(__dirname, '..', 'build', 'guests', 'http-get.wasm');

/** A line to try with nc: the first allowed upstream (port 80 for "host:*"). */
function exampleLine(): string {
  const first = allowConnect[0] ?? '127.0.0.1:8080';
  return `${first.replace(/:\*$/, ':80')}/file.txt`;
}

async function main(): Promise<void> {
  const bridge = await Bridge.load(guestFile, { allowConnect });
  bridge.on('error', (err: GuestError) => console.error(`guest ${err.kind}: ${err.message}`));
  bridge.on('log', (line: string) => console.log(`guest: ${line}`));

  // Half-open sockets: a client may send its line and FIN (`nc -N`, or a pipe) and still read
  // the answer.
  const server = createServer(bridge, { allowHalfOpen: true });
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exitCode = 1;
  });
  server.listen(port, host, () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') {
      const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      console.log(`http-get listening on ${shown}:${addr.port}, allowed upstreams: ${allowConnect.join(', ') || 'none'}`);
      console.log(`try: printf '${exampleLine()}\\n' | nc ${shown.replace(/^\[|\]$/g, '')} ${addr.port}`);
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
