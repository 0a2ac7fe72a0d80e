'use strict';
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { root, guest, exchange } = require('./helpers');

function start(args, env) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { out: '' };
  child.stdout.on('data', (d) => (state.out += d));
  child.stderr.on('data', (d) => (state.out += d));
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, state, exited };
}

describe('scaling out on one machine', function () {
  this.timeout(60000);

  it('runs two cluster workers on one port, each with its own bridge, that echo and exit cleanly', async function () {
    const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const { child, state, exited } = start([tsx, 'examples/cluster-server.ts'], { PORT: '0', WORKERS: '2' });
    const killer = setTimeout(() => child.kill('SIGKILL'), 50000);
    try {
      const ports = await new Promise((resolve, reject) => {
        const t = setInterval(() => {
          const found = [...state.out.matchAll(/worker (\d+) listening on 127\.0\.0\.1:(\d+)/g)];
          if (found.length === 2) {
            clearInterval(t);
            resolve(found.map((m) => Number(m[2])));
          }
        }, 20);
        exited.then(() => reject(new Error(`the cluster exited early:\n${state.out}`)));
      });
      assert.equal(ports[0], ports[1], 'both workers share one port');
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(ports[0], `message ${i}`)));
      replies.forEach((r, i) => assert.equal(r.toString(), `message ${i}`));
    } finally {
      child.kill('SIGTERM');
    }
    const { code, signal } = await exited;
    clearTimeout(killer);
    assert.equal(signal, null, `the primary did not exit by itself:\n${state.out}`);
    assert.equal(code, 0, state.out);
    assert.doesNotMatch(state.out, /exited with [1-9]/);
  });

  it('runs a bridge inside each of two worker_threads, inline and threaded, and exits by itself', async function () {
    const { child, state, exited } = start([path.join(__dirname, 'scripts', 'in-worker-threads.js'), guest('echo')]);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
    const { code, signal } = await exited;
    clearTimeout(killer);
    assert.equal(signal, null, `the process did not exit by itself:\n${state.out}`);
    assert.equal(code, 0, state.out);
    assert.match(state.out, /echo 0 ok/);
    assert.match(state.out, /echo 1 ok/);
  });
});
