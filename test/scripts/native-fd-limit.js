'use strict';
// Serves the echo guest natively (one worker thread) in a process whose file descriptor limit
// the test lowered: prints the port, then the number of descriptors it has open once listening,
// and exits on SIGTERM after bridge.close().
const fs = require('node:fs');
const path = require('node:path');
const { Bridge } = require('../..');

async function main() {
  const bridge = await Bridge.load(path.join(__dirname, '..', '..', 'build', 'guests', 'echo.wasm'), { threads: 1 });
  const server = await bridge.listen();
  console.log(`port ${server.address().port} fds ${fs.readdirSync('/proc/self/fd').length}`);
  process.once('SIGTERM', () => {
    void server.close();
    void bridge.close();
  });
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
