'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { Bridge } = require('..');
const { guest, fixture, serve, exchange, sendUntilClosed, waitFor } = require('./helpers');

const verbose = process.env.WSB_VERBOSE === '1';

describe('module cache (cacheDir)', function () {
  let dir;
  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-cache-'));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const load = async (source, options) => {
    const bridge = await Bridge.load(source, { cacheDir: dir, ...options });
    const info = bridge.cache;
    await bridge.close();
    return info;
  };
  const files = () => fs.readdirSync(dir).filter((f) => f.endsWith('.wsbmod'));

  it('compiles on the first load, loads the compiled module on the second, and both echo', async function () {
    const first = await load(guest('echo'));
    assert.equal(first.status, 'miss');
    assert.equal(first.reason, undefined);
    assert.equal(first.warning, undefined);
    assert.deepEqual(files(), [path.basename(first.file)]);
    const srv = await serve(guest('echo'), { cacheDir: dir });
    try {
      assert.equal(srv.bridge.cache.status, 'hit');
      assert.equal(srv.bridge.cache.file, first.file);
      assert.equal((await exchange(srv.port, 'from the cache')).toString(), 'from the cache');
    } finally {
      await srv.close();
    }
    assert.equal(fs.readdirSync(dir).length, 1, 'no temporary files are left behind');
  });

  it('keys the cache by the wasm bytes and the fuel budget', async function () {
    await load(guest('echo'));
    assert.equal((await load(guest('byte-count'))).status, 'miss');
    assert.equal((await load(guest('echo'), { fuelPerEvent: 1000000 })).status, 'miss');
    assert.equal((await load(guest('echo'), { fuelPerEvent: 2000000 })).status, 'miss');
    assert.equal(files().length, 4);
    assert.equal((await load(guest('echo'), { fuelPerEvent: 1000000 })).status, 'hit');
    assert.equal((await load(pathToFileURL(guest('echo')), { maxMemoryBytes: 1 << 20 })).status, 'hit', 'the memory cap is applied at run time, not compiled in');
  });

  it('keeps metering in a cached module: an endless loop still runs out of fuel', async function () {
    await load(fixture('endless-loop.wat'), { fuelPerEvent: 1000000 });
    const srv = await serve(fixture('endless-loop.wat'), { cacheDir: dir, fuelPerEvent: 1000000 });
    try {
      assert.equal(srv.bridge.cache.status, 'hit');
      await sendUntilClosed(srv.port, 'go');
      await waitFor(() => srv.errors.length === 1, 'the fuel error');
      assert.equal(srv.errors[0].kind, 'fuel');
    } finally {
      await srv.close();
    }
  });

  const damage = {
    'a flipped byte in the compiled code': (b) => {
      b[b.length >> 1] ^= 0xff;
      return b;
    },
    'a flipped byte in the header': (b) => {
      b[20] ^= 0x01;
      return b;
    },
    'a truncated file': (b) => b.subarray(0, b.length - 1000),
    'a file cut inside its header': (b) => b.subarray(0, 30),
    'an empty file': () => Buffer.alloc(0),
    'a file from something else': (b) => Buffer.concat([Buffer.from('not a cache file'), b]),
  };
  for (const [what, hurt] of Object.entries(damage)) {
    it(`never executes ${what}: it recompiles, rewrites the file, and serves`, async function () {
      const { file } = await load(guest('echo'));
      fs.writeFileSync(file, hurt(fs.readFileSync(file)));
      const srv = await serve(guest('echo'), { cacheDir: dir });
      try {
        assert.equal(srv.bridge.cache.status, 'miss');
        assert.match(srv.bridge.cache.reason, /truncated|altered|checksum|not a wasm-socket-bridge cache file|another key/);
        assert.equal((await exchange(srv.port, 'recompiled')).toString(), 'recompiled');
      } finally {
        await srv.close();
      }
      assert.equal((await load(guest('echo'))).status, 'hit', 'the file was rewritten whole');
    });
  }

  it('still loads, with a warning, when the cache folder cannot be written', async function () {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, 'in the way');
    const bridge = await Bridge.load(guest('echo'), { cacheDir: path.join(blocker, 'cache') });
    try {
      assert.equal(bridge.cache.status, 'miss');
      assert.match(bridge.cache.warning, /cannot write the module cache file/);
    } finally {
      await bridge.close();
    }
  });

  it('lets several loads share one folder at once', async function () {
    const infos = await Promise.all(Array.from({ length: 6 }, () => load(guest('hash'))));
    // Some may find the file another load just renamed into place; none may fail or see half a file.
    infos.forEach((i) => {
      assert.ok(i.status === 'miss' || i.status === 'hit');
      assert.equal(i.reason, undefined);
      assert.equal(i.warning, undefined);
    });
    assert.equal(fs.readdirSync(dir).length, 1, 'one file, no temporary leftovers');
    assert.equal((await load(guest('hash'))).status, 'hit');
  });

  it('loads a cached module faster than it compiles one', async function () {
    const time = async (options) => {
      const t0 = process.hrtime.bigint();
      const bridge = await Bridge.load(guest('hash'), options);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      await bridge.close();
      return ms;
    };
    const cold = await time({ cacheDir: dir });
    const hit = await time({ cacheDir: dir });
    const none = await time({});
    if (verbose) console.log(`      load hash.wasm: compile ${none.toFixed(1)} ms, cold cache ${cold.toFixed(1)} ms, cache hit ${hit.toFixed(1)} ms`);
    // Only the direction is asserted (timings belong to bench/); a hit skips Cranelift entirely.
    assert.ok(hit < cold, `cache hit ${hit} ms vs cold ${cold} ms`);
  });

  it('works with loadSync too', function () {
    const a = Bridge.loadSync(guest('echo'), { cacheDir: dir });
    const b = Bridge.loadSync(guest('echo'), { cacheDir: dir });
    assert.equal(a.cache.status, 'miss');
    assert.equal(b.cache.status, 'hit');
    return Promise.all([a.close(), b.close()]);
  });

  it('has no cache info without cacheDir', async function () {
    const bridge = await Bridge.load(guest('echo'));
    assert.equal(bridge.cache, null);
    await bridge.close();
  });
});
