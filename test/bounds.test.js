'use strict';
// Resource bounds, measured: 10,000 concurrent idle connections that all still echo, and 10,000
// guest traps in a row without memory growth. The server runs in its own process
// (test/scripts/bounds-server.js) so that it is measured alone and each process holds only one
// end of the 10,000 connections. WSB_VERBOSE=1 prints the figures.
//
// (The third bound, a guest that writes far more than it reads, is tested in
// test/lifecycle.test.js: "destroys a connection whose guest ignores false and keeps writing,
// with a host GuestError".)
const assert = require('node:assert/strict');
const { fork } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { guest, connect, readBytes, exchange, sendUntilClosed, sleep, tcpUpstream, MODES } = require('./helpers');

const SERVER = path.join(__dirname, 'scripts', 'bounds-server.js');
const verbose = !!process.env.WSB_VERBOSE;
const MiB = 1024 * 1024;
const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

/** This process's limit on open files, from /proc/self/limits (null where unknown). */
function fdLimit() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    const n = (v) => (v === 'unlimited' ? Infinity : Number(v));
    return m ? { soft: n(m[1]), hard: n(m[2]) } : null;
  } catch {
    return null;
  }
}

/**
 * Starts bounds-server.js in a child process; resolves once it listens. `report({ gc })` asks it
 * for { rss, vsize, connections, stats, errors, firstErrors } (after a garbage collection with
 * gc: the child runs with --expose-gc). `stop()` ends it.
 */
async function startServer(guestName, bridgeOptions, { backlog = 511 } = {}) {
  const child = fork(SERVER, [guest(guestName), JSON.stringify(bridgeOptions), '{}', String(backlog)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = [];
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exited = `the server process exited (code ${code}, signal ${signal})`;
      for (const w of waiting.splice(0)) w.reject(new Error(exited));
      resolve();
    }),
  );
  const port = await new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.port) resolve(m.port);
      else if (m.fatal) reject(new Error(`the server process failed: ${m.fatal}`));
      else if (m.report && waiting.length) waiting.shift().resolve(m.report);
    });
    child.on('exit', () => reject(new Error(exited)));
  });
  return {
    port,
    report({ gc = false } = {}) {
      if (exited) return Promise.reject(new Error(exited));
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.send(gc ? 'gc' : 'report');
      });
    },
    async stop() {
      if (!exited) {
        if (child.connected) child.disconnect();
        const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exit;
        clearTimeout(killer);
      }
    },
  };
}

/** Polls the server's report until `predicate(report)` holds; returns that report. */
async function reportWhen(server, predicate, what, ms) {
  const start = Date.now();
  for (;;) {
    const r = await server.report();
    if (predicate(r)) return r;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}; last report: ${JSON.stringify(r)}`);
    await sleep(50);
  }
}

/** Sends `message` on `socket` and resolves once exactly that came back. */
async function echoOnce(socket, message) {
  const reply = readBytes(socket, message.length);
  socket.write(message);
  const back = await reply;
  if (back.length < message.length) throw new Error(`closed after ${back.length} of ${message.length} bytes`);
  if (!back.equals(message)) throw new Error(`sent ${JSON.stringify(message.toString())}, got ${JSON.stringify(back.toString())}`);
}

const IDLE_CONNECTIONS = 10000;
const CONNECT_BATCH = 500;
const ECHO_BATCH = 2000;
/** Bytes of server RSS one idle connection may cost. Measured: see the report in the test. */
const RSS_PER_IDLE_CONNECTION = 32 * 1024;

for (const mode of MODES) {
  describe(`resource bounds: 10,000 idle connections (${mode.name})`, function () {
    this.timeout(90000);

    it('holds 10,000 concurrent idle connections, then echoes a unique message on every one of them', async function () {
      // This process holds the 10,000 client ends, the server process the 10,000 server ends.
      // Node raises its soft limit on open files to the hard limit at start (both processes are
      // Node), so only the hard limit can stop us, and only a privileged shell can raise that.
      const need = IDLE_CONNECTIONS + 500;
      const limit = fdLimit();
      if (limit && limit.soft < need) {
        console.log(
          `      skipped: this process may open ${limit.soft} files (hard limit ${limit.hard}) and the test needs ${need}; ` +
            `run mocha from a shell with \`ulimit -n ${need}\` (raising the hard limit needs root or limits.conf).`,
        );
        this.skip();
      }
      const server = await startServer('echo', mode.options, { backlog: 4096 });
      const sockets = [];
      const clientErrors = [];
      try {
        // Baseline: the guest compiled, an instance used, one connection served and closed.
        assert.equal((await exchange(server.port, 'warm')).toString(), 'warm');
        await reportWhen(server, (r) => r.connections === 0, 'the warm-up connection to close', 10000);
        const base = await server.report({ gc: true });

        // Open the connections in batches, never far ahead of the server's accept loop, so the
        // listen backlog (4096, the kernel's somaxconn here) is never overrun.
        const t0 = Date.now();
        while (sockets.length < IDLE_CONNECTIONS) {
          const n = Math.min(CONNECT_BATCH, IDLE_CONNECTIONS - sockets.length);
          const batch = await Promise.all(Array.from({ length: n }, () => connect(server.port)));
          for (const s of batch) {
            s.on('error', (e) => clientErrors.push(e.code || e.message));
            sockets.push(s);
          }
          await reportWhen(server, (r) => sockets.length - r.connections <= 2 * CONNECT_BATCH, 'the server to accept', 30000);
        }
        // With threads, stats() is each worker's count as of its last batch: a worker may still be
        // running onConnection for the last connections JS attached, so wait for both.
        const all = await reportWhen(
          server,
          (r) => r.connections === IDLE_CONNECTIONS && r.stats.accepted === IDLE_CONNECTIONS + 1,
          `${IDLE_CONNECTIONS} attached connections, each counted by its instance`,
          30000,
        );
        const connectMs = Date.now() - t0;

        // Idle for a moment: nothing may close them.
        await sleep(1000);
        const idle = await server.report({ gc: true });
        assert.equal(idle.connections, IDLE_CONNECTIONS, 'an idle connection was closed');
        assert.deepEqual(clientErrors, []);

        // Then every one of them echoes a message of its own.
        const t1 = Date.now();
        const nonce = crypto.randomBytes(4).toString('hex');
        for (let from = 0; from < sockets.length; from += ECHO_BATCH) {
          await Promise.all(
            sockets.slice(from, from + ECHO_BATCH).map((s, i) => echoOnce(s, Buffer.from(`connection ${from + i} says ${nonce}`))),
          );
        }
        const echoMs = Date.now() - t1;
        const echoed = await server.report({ gc: true });
        assert.equal(echoed.connections, IDLE_CONNECTIONS);

        const perConnection = (idle.rss - base.rss) / IDLE_CONNECTIONS;
        const figures =
          `server RSS ${mib(base.rss)} before, ${mib(idle.rss)} with ${IDLE_CONNECTIONS} idle connections ` +
          `(${(perConnection / 1024).toFixed(1)} KiB per connection), ${mib(echoed.rss)} after every one echoed; ` +
          `connecting took ${connectMs} ms, echoing ${echoMs} ms`;
        if (verbose) console.log(`      ${figures}`);

        const st = echoed.stats;
        assert.equal(st.accepted, IDLE_CONNECTIONS + 1, figures);
        assert.equal(st.traps, 0, figures);
        assert.equal(all.stats.accepted, IDLE_CONNECTIONS + 1, figures);
        assert.deepEqual(echoed.firstErrors, [], 'the echo guest must cause no GuestError');
        assert.ok(perConnection < RSS_PER_IDLE_CONNECTION, `an idle connection costs too much server memory: ${figures}`);
      } finally {
        for (const s of sockets) s.destroy();
        await server
          .report()
          .then(() => reportWhen(server, (r) => r.connections === 0, 'every connection to close', 30000))
          .catch(() => {});
        await server.stop();
      }
      assert.deepEqual(clientErrors, []);
    });
  });
}

const WARM_UP_TRAPS = 500;
const TRAPS = 10000;
/**
 * Bounds on server growth over the 10,000 traps after the warm-up. RSS: a plain Node `net` server
 * that accepts and destroys 10,000 connections one after the other grows by about 14 MiB here
 * (its heaps and malloc arenas settling), and the bridge by 15-22 MiB with or without traps; one
 * guest instance costs about 40 KiB of RSS, so leaking the replaced instances would add hundreds
 * of MiB. Virtual size: each instance reserves its linear memory (6 GiB with wasmer's defaults
 * today), so even a handful of leaked instances would show.
 */
const TRAP_RSS_GROWTH = 48 * MiB;
const TRAP_VSIZE_GROWTH = 1024 * MiB;

for (const mode of MODES) {
  describe(`resource bounds: 10,000 traps (${mode.name})`, function () {
    this.timeout(90000);

    it('survives 10,000 traps in a row, one connection each, without growing server memory, and counts every one', async function () {
      const server = await startServer('misbehave', mode.options);
      try {
        let answered = 0;
        const trap = async (n) => {
          for (let i = 0; i < n; i++) {
            // Each trap closes its connection and replaces the instance: one connection per trap.
            const { data } = await sendUntilClosed(server.port, 'trap');
            if (data.length > 0) answered++;
          }
        };
        await trap(WARM_UP_TRAPS);
        const before = await reportWhen(server, (r) => r.stats.traps === WARM_UP_TRAPS && r.connections === 0, 'the warm-up traps to be counted', 10000);
        const base = await server.report({ gc: true });

        const t0 = Date.now();
        await trap(TRAPS);
        const seconds = (Date.now() - t0) / 1000;
        const total = WARM_UP_TRAPS + TRAPS;
        await reportWhen(server, (r) => r.stats.traps === total && r.connections === 0, `stats().traps to reach ${total}`, 10000).catch(() => {});
        const after = await server.report({ gc: true });

        const figures =
          `${TRAPS} traps in ${seconds.toFixed(1)} s (${(TRAPS / seconds).toFixed(0)}/s); server RSS ${mib(base.rss)} after ${WARM_UP_TRAPS} ` +
          `warm-up traps, ${mib(after.rss)} after ${TRAPS} more (${after.rss >= base.rss ? '+' : ''}${mib(after.rss - base.rss)}); ` +
          `virtual size ${mib(base.vsize)} -> ${mib(after.vsize)}; JS heap used ${mib(base.heapUsed)} -> ${mib(after.heapUsed)}`;
        if (verbose) console.log(`      ${figures}`);

        assert.equal(answered, 0, 'a trapping guest must send nothing');
        assert.equal(before.stats.restarts, WARM_UP_TRAPS);
        const st = after.stats;
        assert.equal(st.traps, total, `stats().traps: ${JSON.stringify(st)}`);
        assert.equal(st.restarts, total, `stats().restarts: ${JSON.stringify(st)}`);
        assert.equal(st.accepted, total);
        assert.equal(st.closed, total);
        assert.equal(st.instances, Math.max(1, mode.options.threads));
        assert.deepEqual(after.errors, { trap: total }, `GuestErrors by kind; first: ${after.firstErrors.join(' | ')}`);
        assert.match(after.firstErrors[0], /^trap \(connection 1\): .*unreachable/);

        // The server still serves.
        assert.equal((await exchange(server.port, 'still alive')).toString(), 'still alive');

        assert.ok(after.rss - base.rss < TRAP_RSS_GROWTH, `server RSS grew by more than ${mib(TRAP_RSS_GROWTH)}: ${figures}`);
        if (base.vsize !== null && after.vsize !== null) {
          assert.ok(after.vsize - base.vsize < TRAP_VSIZE_GROWTH, `server virtual size grew by more than ${mib(TRAP_VSIZE_GROWTH)}: ${figures}`);
        }
      } finally {
        await server.stop();
      }
    });
  });
}

/** A TCP server that accepts connections and never reads them (an upstream for dial floods). */
function silentUpstream() {
  return tcpUpstream((s) => {
    s.pause();
    s.on('error', () => {});
  });
}

/** Peak RSS growth one event may cause: logs (issue 13) and a whole event's output. */
const LOG_FLOOD_PEAK = 32 * MiB;
const DIAL_FLOOD_PEAK = 128 * MiB;

for (const mode of MODES) {
  describe(`resource bounds: output of one event (${mode.name})`, function () {
    this.timeout(90000);

    it('caps one event at 1 MiB of logs: 20,000 lines of 60,000 characters raise peak RSS by less than 32 MiB', async function () {
      const server = await startServer('misbehave', { ...mode.options, fuelPerEvent: 1e8 });
      try {
        assert.equal((await exchange(server.port, 'warm up')).toString(), 'warm up');
        const base = await server.report({ gc: true });
        const answer = await exchange(server.port, 'manylogs 20000', 'logged 20000'.length);
        assert.equal(answer.toString(), 'logged 20000');
        const after = await reportWhen(server, (r) => r.logs.truncated === 1, 'the truncation notice', 10000);
        const figures = `peak RSS ${mib(base.peak)} -> ${mib(after.peak)}; ${after.logs.lines} log lines, ${after.stats.logsDropped} dropped`;
        if (verbose) console.log(`      ${figures}`);
        assert.ok(after.peak - base.peak < LOG_FLOOD_PEAK, `peak RSS grew by ${mib(after.peak - base.peak)}: ${figures}`);
        // At most 1 MiB of lines (each line is cut at 64 KiB of the guest's string), then one notice.
        assert.ok(after.logs.lines <= 40, figures);
        assert.equal(after.stats.logsDropped + after.logs.lines - 1, 20000, figures);
        assert.deepEqual(after.errors, {}, 'logging past the cap is not a failure');
        // The next event logs again.
        await exchange(server.port, 'manylogs 1', 'logged 1'.length);
        await reportWhen(server, (r) => r.logs.lines === after.logs.lines + 1, 'a line from the next event', 10000);
      } finally {
        await server.stop();
      }
    });

    it('stops a guest whose one event dials 1,000 connections and writes 200 KiB to each, with peak RSS under +128 MiB', async function () {
      const upstream = await silentUpstream();
      const server = await startServer('misbehave', { ...mode.options, allowConnect: [`127.0.0.1:${upstream.port}`] });
      try {
        assert.equal((await exchange(server.port, 'warm up')).toString(), 'warm up');
        const base = await server.report({ gc: true });
        const { data } = await sendUntilClosed(server.port, `dialflood 1000 200 ${upstream.port}`);
        assert.equal(data.length, 0, 'the stopped event sends nothing');
        const after = await reportWhen(server, (r) => r.errors.host === 1 && r.connections === 0, 'the host GuestError and every connection closed', 20000);
        const figures = `peak RSS ${mib(base.peak)} -> ${mib(after.peak)}; ${JSON.stringify(after.stats)}`;
        if (verbose) console.log(`      ${figures}`);
        assert.match(after.firstErrors[0], /^host \(connection \d+\): the guest's output in one event would pass 64 MiB \(maxEventOutputBytes\)/);
        assert.ok(after.peak - base.peak < DIAL_FLOOD_PEAK, `peak RSS grew by ${mib(after.peak - base.peak)}: ${figures}`);
        assert.equal(after.stats.restarts, 1, 'the instance was replaced');
        assert.equal((await exchange(server.port, 'still alive')).toString(), 'still alive');
      } finally {
        await server.stop();
        await upstream.close();
      }
    });

    it('counts command records too: a guest pausing its connection without end is stopped at a 1 MiB maxEventOutputBytes', async function () {
      const server = await startServer('misbehave', { ...mode.options, maxEventOutputBytes: 1 << 20 });
      try {
        assert.equal((await exchange(server.port, 'pauseflood 1000', 'paused 1000'.length)).toString(), 'paused 1000');
        const { data } = await sendUntilClosed(server.port, 'pauseflood 1000000');
        assert.equal(data.length, 0);
        const after = await reportWhen(server, (r) => r.errors.host === 1, 'the host GuestError', 20000);
        assert.match(after.firstErrors[0], /would pass 1 MiB \(maxEventOutputBytes\)/);
      } finally {
        await server.stop();
      }
    });
  });
}
