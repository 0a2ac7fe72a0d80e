'use strict';
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { root, guest, exchange } = require('./helpers');

function run(cmd, args, env, onLine) {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (onLine) onLine(out);
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })));
  return { child, exited, output: () => out };
}

describe('process lifetime', function () {
  it('exits by itself after server.close() and bridge.close()', async function () {
    const { child, exited } = run(process.execPath, [path.join(__dirname, 'scripts', 'exit-after-close.js'), guest('echo')]);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    const { code, signal, out } = await exited;
    clearTimeout(timer);
    assert.equal(signal, null, `the process did not exit by itself:\n${out}`);
    assert.equal(code, 0, out);
    assert.match(out, /echoed ping\nclosed\n/);
  });
});

describe('examples/echo-server.ts (npm start)', function () {
  it('prints its address and echoes what a client sends', async function () {
    let resolvePort;
    const portSeen = new Promise((r) => {
      resolvePort = r;
    });
    const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const { child, exited, output } = run(process.execPath, [tsx, 'examples/echo-server.ts'], { PORT: '0' }, (out) => {
      const m = /echo server listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    try {
      const port = await Promise.race([portSeen, exited.then(() => Promise.reject(new Error(output())))]);
      assert.equal((await exchange(port, 'hello')).toString(), 'hello');
    } finally {
      child.kill('SIGTERM');
      const { signal, code } = await exited;
      clearTimeout(timer);
      assert.ok(code === 0 || signal === 'SIGTERM', output());
    }
  });
});
