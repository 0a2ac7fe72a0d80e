'use strict';
// Fuzz-style: many concurrent clients feed random byte streams, with random sizes and timing, to
// the echo and byte-count guests; some reset mid-stream, some half-close, some stop reading for a
// while. Every byte must come back exactly (byte-count: the count must be right), the server must
// keep serving, and its stats and errors must make sense.
//
// The random choices come from a seeded PRNG. A failure prints the seed; replay it with
//   WSB_SEED=<seed> npx mocha --no-config test/hostile-clients.test.js
// (--no-config because with .mocharc.json's spec, naming a file runs it along with the whole
// suite). The plan of every client is replayed exactly; the timing of the machine is not.
// WSB_CLIENTS sets the number of clients per test (default 200; client i's plan does not depend
// on it), WSB_VERBOSE=1 prints the seed and the figures of each run.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { guest, serve, connect, readToClose, exchange, sleep, waitFor, MODES } = require('./helpers');
const { prng } = require('./prng');

const SEED = process.env.WSB_SEED !== undefined ? Number(process.env.WSB_SEED) >>> 0 : crypto.randomInt(2 ** 32);
const CLIENTS = Number(process.env.WSB_CLIENTS || 200);
const MAX_MESSAGE = 256 * 1024;
/** A client that has not finished by then is reported (with its plan) instead of hanging the test. */
const CLIENT_DEADLINE_MS = 30000;
const verbose = !!process.env.WSB_VERBOSE;

/** A 32-bit hash of a string (FNV-1a), to derive one independent stream per test and client. */
function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const int = (rand, lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)); // lo..hi inclusive

/** Random bytes from `rand`; messages are slices of this pool at random offsets. */
function bytePool(rand, size) {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (rand() * 4294967296) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, size);
}

/** Message sizes: a quarter tiny, half log-uniform over 1 byte .. 256 KiB, a quarter large. */
function messageSize(rand) {
  const p = rand();
  if (p < 0.25) return int(rand, 1, 64);
  if (p < 0.75) return Math.max(1, Math.min(MAX_MESSAGE, Math.round(Math.exp(rand() * Math.log(MAX_MESSAGE)))));
  return int(rand, 64 * 1024, MAX_MESSAGE);
}

/** A pause before a write: mostly none, sometimes a few ms, now and then tens of ms. */
function pauseMs(rand) {
  const p = rand();
  if (p < 0.5) return 0;
  if (p < 0.85) return rand() * 5;
  return 5 + rand() * 35;
}

/**
 * The plan of one client, drawn from its own stream: its behaviour, when it starts, and its
 * writes (each message cut into 1..4 writes, each with a pause before it).
 */
function planClient(rand, pool, guestName) {
  const kinds =
    guestName === 'echo'
      ? [
          ['normal', 0.4], // send, read every byte back, then end
          ['half-close', 0.2], // send, end at once, read every byte back until the server's FIN
          ['slow-reader', 0.1], // stop reading, send, read again after a while
          ['reset', 0.2], // send part, maybe read part, reset (never ended)
          ['silent-end', 0.05], // connect, end at once
          ['silent-reset', 0.05], // connect, reset at once
        ]
      : [
          ['count', 0.65], // send, end, expect the count then the server's FIN
          ['count-then-reset', 0.05], // send, end, reset once the FIN went out
          ['reset', 0.2], // send part, reset (never ended)
          ['silent-end', 0.1], // connect, end at once: expect "0"
        ];
  let p = rand();
  let kind = kinds[kinds.length - 1][0];
  for (const [k, w] of kinds) {
    if (p < w) {
      kind = k;
      break;
    }
    p -= w;
  }
  const writes = [];
  if (!kind.startsWith('silent')) {
    const messages = int(rand, 1, 6);
    for (let m = 0; m < messages; m++) {
      const size = messageSize(rand);
      const at = int(rand, 0, pool.length - size);
      const data = pool.subarray(at, at + size);
      const pieces = rand() < 0.6 ? 1 : int(rand, 2, 4);
      let from = 0;
      for (let i = 0; i < pieces; i++) {
        const to = i === pieces - 1 ? size : Math.max(from, Math.min(size, from + Math.round((rand() * 2 * size) / pieces)));
        if (to > from) writes.push({ data: data.subarray(from, to), pause: pauseMs(rand) });
        from = to;
      }
    }
  }
  return {
    kind,
    startDelay: rand() * 300,
    writes,
    // reset: how many writes go out before the reset, and whether to wait for part of the echo.
    resetAfter: int(rand, 0, writes.length),
    waitForSome: rand() < 0.5,
    readPause: 50 + rand() * 250, // slow-reader: how long reading stays paused
  };
}

const total = (writes) => writes.reduce((n, w) => n + w.data.length, 0);

/** Writes `writes` in order with their pauses; waits for 'drain' unless told not to. */
async function writeAll(socket, writes, waitForDrain = true) {
  for (const w of writes) {
    if (w.pause > 0) await sleep(w.pause);
    if (socket.destroyed) return;
    const ok = socket.write(w.data);
    if (!ok && waitForDrain) await new Promise((r) => socket.once('drain', r).once('close', r));
  }
}

/** Resolves when `socket` has received `bytes` bytes in `got`, rejects if it closes first. */
function untilReceived(socket, state, bytes) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (state.received >= bytes) {
        socket.off('data', check);
        socket.off('close', closed);
        resolve();
      }
    };
    const closed = () => {
      socket.off('data', check);
      reject(new Error(`closed after ${state.received} of ${bytes} bytes`));
    };
    socket.on('data', check);
    socket.on('close', closed);
    check();
  });
}

/** Where two buffers first differ, or -1. */
function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * Runs one client to its end. Returns { sent, received, problem }: `sent` counts the bytes
 * written, `received` the bytes that came back; `problem` describes anything wrong.
 */
async function runClient(port, guestName, plan) {
  await sleep(plan.startDelay);
  const socket = await connect(port);
  const state = { received: 0, chunks: [], ended: false, error: null };
  socket.on('data', (d) => {
    state.chunks.push(d);
    state.received += d.length;
  });
  socket.on('end', () => {
    state.ended = true;
  });
  socket.on('error', (e) => {
    state.error = e;
  });
  const closed = new Promise((r) => socket.once('close', r));
  const all = Buffer.concat(plan.writes.map((w) => w.data));
  const got = () => Buffer.concat(state.chunks);
  const problems = [];
  const expectEcho = (n, what) => {
    const d = firstDifference(got(), all.subarray(0, n));
    if (d === -1) return;
    if (d === state.received && d < n) problems.push(`${what}: only ${state.received} of ${n} bytes came back (the rest never did)`);
    else problems.push(`${what}: got ${state.received} of ${n} bytes, the first wrong byte is at offset ${d}`);
  };
  let sent = 0;

  switch (plan.kind) {
    case 'normal': {
      await writeAll(socket, plan.writes);
      sent = all.length;
      await untilReceived(socket, state, all.length).catch((e) => problems.push(`echo: ${e.message}`));
      expectEcho(all.length, 'echo');
      socket.end();
      await closed;
      if (!state.ended) problems.push('the server did not end its side after our FIN');
      break;
    }
    case 'half-close': {
      await writeAll(socket, plan.writes);
      sent = all.length;
      socket.end();
      await closed;
      expectEcho(all.length, 'echo of a half-closed client');
      if (!state.ended) problems.push('the server did not end its side after our FIN');
      break;
    }
    case 'slow-reader': {
      socket.pause();
      const resumed = sleep(plan.readPause).then(() => socket.resume());
      await writeAll(socket, plan.writes, false);
      sent = all.length;
      await resumed;
      await untilReceived(socket, state, all.length).catch((e) => problems.push(`echo: ${e.message}`));
      expectEcho(all.length, 'echo to a slow reader');
      socket.end();
      await closed;
      break;
    }
    case 'reset': {
      const before = plan.writes.slice(0, plan.resetAfter);
      await writeAll(socket, before);
      sent = total(before);
      if (guestName === 'echo' && plan.waitForSome && sent > 0) {
        await untilReceived(socket, state, 1).catch(() => {});
      }
      // Never ended: a reset while our own end() is pending would never emit 'close' (Node 20).
      if (!socket.destroyed) socket.resetAndDestroy();
      await closed;
      if (guestName === 'echo') {
        // Whatever came back before the reset must be a prefix of what was sent.
        const d = firstDifference(got(), all.subarray(0, state.received));
        if (d !== -1 || state.received > sent) problems.push(`partial echo before the reset differs at byte ${d} (${state.received} of ${sent} sent)`);
      } else if (state.received > 0) {
        problems.push(`byte-count answered ${JSON.stringify(got().toString())} to a client that never sent FIN`);
      }
      break;
    }
    case 'count':
    case 'silent-end': {
      await writeAll(socket, plan.writes);
      sent = all.length;
      socket.end();
      await closed;
      const want = guestName === 'echo' ? '' : String(all.length);
      if (got().toString() !== want) problems.push(`expected ${JSON.stringify(want)}, got ${JSON.stringify(got().toString().slice(0, 80))}`);
      if (!state.ended) problems.push('the server did not end its side after our FIN');
      break;
    }
    case 'count-then-reset': {
      await writeAll(socket, plan.writes);
      sent = all.length;
      socket.end();
      // Reset only once our FIN is out ('finish'), never while end() is pending.
      await new Promise((r) => socket.once('finish', r).once('close', r));
      if (!socket.destroyed) socket.resetAndDestroy();
      await closed;
      const answer = got().toString();
      if (answer !== '' && answer !== String(all.length)) problems.push(`a wrong count before the reset: ${answer}, sent ${all.length}`);
      break;
    }
    case 'silent-reset': {
      socket.resetAndDestroy();
      await closed;
      break;
    }
    default:
      throw new Error(`unknown client kind ${plan.kind}`);
  }
  if (state.error && !['reset', 'silent-reset', 'count-then-reset'].includes(plan.kind)) {
    problems.push(`socket error ${state.error.code || state.error.message}`);
  }
  return { sent, received: state.received, problem: problems.length ? problems.join('; ') : null };
}

/** Runs `promise`, or reports what is still pending after `ms`. */
function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const GUESTS = [
  { name: 'echo', serverOptions: {} },
  { name: 'byte-count', serverOptions: { allowHalfOpen: true } },
];

for (const mode of MODES) {
  for (const g of GUESTS) {
    describe(`hostile clients: ${g.name} guest (${mode.name})`, function () {
      this.timeout(60000);
      const testSeed = (SEED ^ hash(`${g.name}/${mode.name}`)) >>> 0;

      afterEach(function () {
        if (this.currentTest.state === 'failed') {
          console.log(`      hostile-clients seed ${SEED} (${g.name}, ${mode.name}); replay: WSB_SEED=${SEED} npx mocha --no-config test/hostile-clients.test.js`);
        }
      });

      it(`answers ${CLIENTS} concurrent clients sending random streams with random pauses, resets and half-closes byte-exact, and keeps serving`, async function () {
        const started = Date.now();
        const rand = prng(testSeed);
        const pool = bytePool(rand, 1024 * 1024 + MAX_MESSAGE);
        const plans = Array.from({ length: CLIENTS }, (_, i) => planClient(prng(testSeed ^ hash(`client ${i}`)), pool, g.name));
        const srv = await serve(guest(g.name), mode.options, g.serverOptions);
        const seedNote = `(seed ${SEED}: replay with WSB_SEED=${SEED})`;
        try {
          const results = await Promise.all(
            plans.map((plan, i) =>
              withDeadline(runClient(srv.port, g.name, plan), CLIENT_DEADLINE_MS, `client ${i} (${plan.kind})`).catch((e) => ({ sent: 0, received: 0, problem: e.message })),
            ),
          );
          // Everything wrong goes into one list, so one run shows every kind of problem at once.
          const problems = results
            .map((r, i) => r.problem && `client ${i} (${plans[i].kind}, ${plans[i].writes.length} writes, ${total(plans[i].writes)} bytes): ${r.problem}`)
            .filter(Boolean);
          const check = (ok, what) => {
            if (!ok) problems.push(what);
          };

          // Every connection is gone, and the server still serves a fresh client.
          await waitFor(() => srv.bridge.connections === 0, 'every connection to close', 15000).catch((e) => problems.push(e.message));
          if (g.name === 'echo') {
            const reply = (await exchange(srv.port, 'still serving')).toString();
            check(reply === 'still serving', `a fresh client got ${JSON.stringify(reply)} back`);
          } else {
            const s = await connect(srv.port);
            const answer = readToClose(s);
            s.end('four');
            const reply = (await answer).data.toString();
            check(reply === '4', `a fresh client sending 4 bytes got ${JSON.stringify(reply)}`);
          }
          await waitFor(() => srv.bridge.connections === 0, 'the fresh client to close', 15000).catch((e) => problems.push(e.message));

          // Stats: one accepted and one closed connection per client (plus the fresh one), no
          // failures, and byte counts consistent with what the clients did. Threaded stats are
          // published after each batch: wait for them to settle.
          const clients = CLIENTS + 1;
          await waitFor(() => srv.bridge.stats().closed === clients, `stats().closed to reach ${clients}`, 15000).catch(() => {});
          const st = srv.bridge.stats();
          const fresh = g.name === 'echo' ? 'still serving'.length : 4;
          const sentByAll = results.reduce((n, r) => n + r.sent, 0) + fresh;
          const sentByFinished = results.reduce((n, r, i) => n + (plans[i].kind.includes('reset') ? 0 : r.sent), 0) + fresh;
          const receivedByAll = results.reduce((n, r) => n + r.received, 0) + (g.name === 'echo' ? fresh : 1);
          check(st.accepted === clients, `stats().accepted is ${st.accepted}, expected ${clients}`);
          check(st.closed === clients, `stats().closed is ${st.closed}, expected ${clients}`);
          check(st.connections === 0, `stats().connections is ${st.connections}`);
          check(st.traps === 0 && st.restarts === 0, `a well-behaved guest trapped: traps ${st.traps}, restarts ${st.restarts}`);
          check(st.instances === Math.max(1, mode.options.threads), `stats().instances is ${st.instances}`);
          check(st.bytesIn >= sentByFinished && st.bytesIn <= sentByAll, `stats().bytesIn ${st.bytesIn} is outside ${sentByFinished}..${sentByAll}`);
          check(st.bytesOut >= receivedByAll, `stats().bytesOut ${st.bytesOut} is below the ${receivedByAll} bytes the clients received`);
          if (g.name === 'echo') check(st.bytesOut <= st.bytesIn, `the echo guest wrote ${st.bytesOut} bytes but read ${st.bytesIn}`);
          check(st.events >= 2 * clients, `stats().events is only ${st.events}`);
          for (const e of srv.errors) problems.push(`a well-behaved guest caused a GuestError: ${e.kind} (connection ${e.connectionId}): ${e.message}`);
          const figures = `stats ${JSON.stringify(st)}; clients sent ${sentByAll} bytes (${sentByFinished} by clients that did not reset), received ${receivedByAll}`;
          assert.deepEqual(problems, [], `${problems.length} problems ${seedNote}; ${figures}`);
          if (verbose) {
            const kinds = {};
            for (const p of plans) kinds[p.kind] = (kinds[p.kind] || 0) + 1;
            console.log(
              `      seed ${SEED}: ${CLIENTS} clients ${JSON.stringify(kinds)}, ${(sentByAll / 1048576).toFixed(1)} MiB sent, ` +
                `${(receivedByAll / 1048576).toFixed(1)} MiB received, ${st.events} events, ${Date.now() - started} ms`,
            );
          }
        } finally {
          await srv.close();
        }
      });
    });
  }
}

for (const mode of MODES) {
  describe(`half-closing clients (${mode.name})`, function () {
    it('echoes every byte a client sent before its FIN, then ends, when the server is not half-open', async function () {
      // The plainest case of the fuzz test's half-close clients: no pauses, no resets. A plain
      // Node net echo server (allowHalfOpen false) answers all of it.
      const srv = await serve(guest('echo'), mode.options);
      try {
        const sizes = [1, 10, 1000, 20000, 65536, 100000, 300000];
        const results = await Promise.all(
          sizes.map(async (n) => {
            const socket = await connect(srv.port);
            const done = readToClose(socket);
            socket.end(crypto.randomBytes(n));
            const { data, ended } = await done;
            return `${n} bytes sent: ${data.length} echoed, ${ended ? 'then FIN' : 'no FIN'}`;
          }),
        );
        assert.deepEqual(
          results,
          sizes.map((n) => `${n} bytes sent: ${n} echoed, then FIN`),
        );
        assert.deepEqual(srv.errors, []);
      } finally {
        await srv.close();
      }
    });
  });
}
