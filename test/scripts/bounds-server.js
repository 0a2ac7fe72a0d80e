'use strict';
// A bridge server in its own process, for the resource-bound tests (test/bounds.test.js), which
// need more file descriptors than one process should hold for both ends, and measure the server
// alone. Started with child_process.fork (or spawn with an 'ipc' stdio entry):
//   bounds-server.js <guest.wasm> [bridgeOptionsJson] [serverOptionsJson] [backlog]
// Sends { port } once listening on 127.0.0.1. Answers the message 'report' with
//   { report: { rss, vsize, peak, logs, heapUsed, external, connections, stats, errors,
//   firstErrors, fdLimit } }
// where peak is the peak resident size (VmHWM), logs counts 'log' lines and truncation notices,
// errors counts GuestErrors by kind and firstErrors holds the first few, verbatim.
// 'gc' runs a garbage collection first when node was started with --expose-gc. Exits when the
// IPC channel closes.
const fs = require('node:fs');
const { Bridge, createServer } = require('../..');

/** The process's virtual size in bytes (VmSize): a leaked wasm memory reservation shows there. */
function virtualSize() {
  try {
    const m = /^VmSize:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** The process's peak resident size in bytes so far (VmHWM). */
function peakResident() {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function fdLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? { soft: m[1], hard: m[2] } : null;
  } catch {
    return null;
  }
}

(async () => {
  // `native: true` (the native mode of test/helpers.js MODES): the workers serve it (bridge.listen).
  const { native, ...options } = JSON.parse(process.argv[3] || '{}');
  const bridge = await Bridge.load(process.argv[2], options);
  const errors = {};
  const firstErrors = [];
  bridge.on('error', (e) => {
    errors[e.kind] = (errors[e.kind] || 0) + 1;
    if (firstErrors.length < 5) firstErrors.push(`${e.kind} (connection ${e.connectionId}): ${e.message}`);
  });
  const logs = { lines: 0, truncated: 0 };
  bridge.on('log', (line) => {
    logs.lines++;
    if (line.startsWith('log output truncated')) logs.truncated++;
  });
  const serverOptions = JSON.parse(process.argv[4] || '{}');
  const backlog = Number(process.argv[5] || 511);
  if (native) {
    const server = await bridge.listen({ port: 0, backlog, allowHalfOpen: !!serverOptions.allowHalfOpen });
    process.send({ port: server.address().port });
  } else {
    const server = createServer(bridge, serverOptions);
    server.on('error', (e) => process.send({ fatal: e.message }));
    server.on('attachError', (e) => {
      errors.attach = (errors.attach || 0) + 1;
      if (firstErrors.length < 5) firstErrors.push(`attach: ${e.message}`);
    });
    server.listen({ port: 0, host: '127.0.0.1', backlog }, () => process.send({ port: server.address().port }));
  }
  process.on('message', (m) => {
    if (m === 'gc' && typeof global.gc === 'function') global.gc();
    if (m === 'report' || m === 'gc') {
      const mem = process.memoryUsage();
      process.send({
        report: {
          rss: mem.rss,
          vsize: virtualSize(),
          peak: peakResident(),
          logs,
          heapUsed: mem.heapUsed,
          external: mem.external,
          connections: bridge.connections,
          stats: bridge.stats(),
          errors,
          firstErrors,
          fdLimit: fdLimit(),
        },
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
})().catch((e) => {
  process.send({ fatal: e.stack || String(e) });
  process.exit(1);
});
