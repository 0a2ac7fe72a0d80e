'use strict';
// Timer accuracy: 10,000 live timers across 1,000 connections (the clock test guest, 10 one-shot
// timers per connection at random delays of 200-2,000 ms), inline and with threads: 2. For each
// timer: how late its "fired" line reached the client after the time it was due. A measurement,
// never an assertion. Run: node bench/timers.js [connections] [timersPerConnection]
const net = require('node:net');
const path = require('node:path');
const { Bridge, createServer } = require('..');

const CONNECTIONS = Number(process.argv[2] || 1000);
const PER_CONNECTION = Number(process.argv[3] || 10);
const guest = path.join(__dirname, '..', 'build', 'guests', 'clock.wasm');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run(options) {
  const bridge = await Bridge.load(guest, options);
  bridge.on('log', () => {});
  const server = createServer(bridge);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const lateness = [];
  const sockets = [];
  let pending = CONNECTIONS * PER_CONNECTION;
  let done;
  const finished = new Promise((r) => (done = r));
  for (let i = 0; i < CONNECTIONS; i++) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.setEncoding('utf8');
    const due = new Map();
    const asked = [];
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      for (let j = buf.indexOf('\n'); j >= 0; j = buf.indexOf('\n')) {
        const line = buf.slice(0, j);
        buf = buf.slice(j + 1);
        const now = performance.now();
        if (line.startsWith('timer ')) {
          const { sentAt, ms } = asked.shift();
          due.set(line.slice(6), sentAt + ms);
        } else if (line.startsWith('fired ')) {
          lateness.push(now - due.get(line.slice(6)));
          if (--pending === 0) done();
        }
      }
    });
    for (let k = 0; k < PER_CONNECTION; k++) {
      const ms = 200 + Math.floor(Math.random() * 1800);
      asked.push({ sentAt: performance.now(), ms });
      s.write(`after ${ms}\n`);
    }
    sockets.push(s);
  }
  const timeout = setTimeout(() => done(), 20000);
  await finished;
  clearTimeout(timeout);
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  await bridge.close();
  lateness.sort((a, b) => a - b);
  return {
    mode: options.threads ? `threads: ${options.threads}` : 'inline',
    fired: lateness.length,
    p50: percentile(lateness, 50),
    p99: percentile(lateness, 99),
    max: lateness[lateness.length - 1],
    within100: lateness.filter((x) => x <= 100).length,
  };
}

(async () => {
  console.log(`${CONNECTIONS} connections x ${PER_CONNECTION} timers (200-2000 ms); lateness of each "fired" line at the client, ms`);
  console.log('| mode | fired | p50 | p99 | max | within 100 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const modes = process.env.MODES ? JSON.parse(process.env.MODES) : [{ threads: 0 }, { threads: 2 }];
  for (const options of modes) {
    const r = await run(options);
    const f = (x) => x.toFixed(1);
    console.log(`| ${r.mode} | ${r.fired} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.max)} | ${r.within100} |`);
  }
})();
