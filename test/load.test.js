'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { pathToFileURL } = require('node:url');
const { Bridge } = require('..');
const { guest, fixture, serve, exchange } = require('./helpers');

describe('loading guests', function () {
  it('loads from a path, a file URL, a Buffer, a Uint8Array and an ArrayBuffer', async function () {
    const path = guest('echo');
    const bytes = fs.readFileSync(path);
    const sources = [
      path,
      pathToFileURL(path),
      bytes,
      new Uint8Array(bytes),
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length),
    ];
    for (const source of sources) {
      const bridge = await Bridge.load(source);
      assert.equal(bridge.stats().instances, 1);
      await bridge.close();
      const sync = Bridge.loadSync(source);
      await sync.close();
    }
  });

  const refusals = [
    ['not-wasm.txt', /^Error: cannot load guest '.*not-wasm\.txt': not a WebAssembly module \(it does not start with the \\0asm magic bytes\)/],
    ['missing-ondata.wat', /^Error: cannot load guest '.*missing-ondata\.wat': missing export onData\(id: u32, data: ArrayBuffer\) - export it from the guest's entry file$/],
    ['unknown-imports.wat', /^Error: cannot load guest '.*unknown-imports\.wat': imports the host does not provide: wasi_unstable\.fd_write, my\.thing - the host provides WASI preview1/],
    ['no-allocator.wat', /^Error: cannot load guest '.*no-allocator\.wat': no usable allocator - export __new, __pin and __unpin \(AssemblyScript >= 0\.18: build with --exportRuntime\)/],
    ['start-trap.wat', /^Error: cannot load guest '.*start-trap\.wat': its start function failed: unreachable/],
  ];
  for (const [file, message] of refusals) {
    it(`refuses ${file} with a message that names the problem`, async function () {
      await assert.rejects(Bridge.load(fixture(file)), message);
      assert.throws(() => Bridge.loadSync(fixture(file)), message);
    });
  }

  const codes = [
    ['not-wasm.txt', 'ERR_GUEST_NOT_WASM'],
    ['missing-ondata.wat', 'ERR_GUEST_MISSING_EXPORT'],
    ['unknown-imports.wat', 'ERR_GUEST_UNKNOWN_IMPORT'],
    ['no-allocator.wat', 'ERR_GUEST_NO_ALLOCATOR'],
    ['big-initial-memory.wat', 'ERR_GUEST_MEMORY_LIMIT'],
    ['start-trap.wat', 'ERR_GUEST_START_FAILED'],
  ];
  for (const [file, code] of codes) {
    it(`gives the refusal of ${file} the stable code ${code}, sync and async`, async function () {
      const options = { maxMemoryBytes: 1 << 20 };
      await assert.rejects(Bridge.load(fixture(file), options), (e) => e.code === code);
      assert.throws(() => Bridge.loadSync(fixture(file), options), (e) => e.code === code);
    });
  }

  it('codes empty and malformed bytes, and keeps the file system code for a missing file', async function () {
    await assert.rejects(Bridge.load(Buffer.alloc(0)), { code: 'ERR_GUEST_EMPTY' });
    await assert.rejects(Bridge.load(Buffer.from('\0asm\x01\0\0\0\x99')), { code: 'ERR_GUEST_INVALID_WASM' });
    await assert.rejects(Bridge.load('/no/such/guest.wasm'), { code: 'ENOENT' });
  });

  it('refuses a module the compiler panics on (an exception-handling reference type) without crashing the process', async function () {
    // Found by the load fuzz campaign: wasmer 7.4.2 panics on it; unwinding into Node aborted
    // the process. The panic is caught and the module refused like any invalid one.
    const wat = Buffer.from('(module (type (func (param nullexnref))) (func (type 0)))');
    const refused = { code: 'ERR_GUEST_INVALID_WASM', message: /invalid WebAssembly: the compiler cannot handle this module/ };
    assert.throws(() => Bridge.loadSync(wat), refused);
    await assert.rejects(Bridge.load(wat), refused);
  });

  it('names a missing file in the error', async function () {
    await assert.rejects(Bridge.load('/no/such/guest.wasm'), /^Error: cannot load guest '\/no\/such\/guest\.wasm': no such file$/);
  });

  it('refuses bytes that are not wasm and names them <bytes>', async function () {
    await assert.rejects(Bridge.load(Buffer.from('hello')), /^Error: cannot load guest '<bytes>': not a WebAssembly module/);
    await assert.rejects(Bridge.load(Buffer.alloc(0)), /cannot load guest '<bytes>': the file is empty/);
    await assert.rejects(Bridge.load(Buffer.from('\0asm\x01\0\0\0\x99')), /cannot load guest '<bytes>': invalid WebAssembly/);
  });

  it('refuses unknown options and malformed ones with messages naming them', async function () {
    await assert.rejects(Bridge.load(guest('echo'), { bogus: 1 }), /unknown Bridge option 'bogus'/);
    await assert.rejects(Bridge.load(guest('echo'), { threads: -1 }), /option 'threads' must be a whole number >= 0, got -1/);
    await assert.rejects(Bridge.load(guest('echo'), { threads: 1000 }), /option 'threads' must be at most 256/);
    await assert.rejects(Bridge.load(guest('echo'), { highWaterMark: 0 }), /highWaterMark' must be a whole number/);
    await assert.rejects(Bridge.load(guest('echo'), { highWaterMark: 2 ** 30 }), /from 1 to 268435456 \(256 MiB\)/);
    assert.throws(() => Bridge.loadSync(guest('echo'), { cacheDir: 42 }), /option 'cacheDir' must be a folder path, got 42/);
    await assert.rejects(Bridge.load(guest('echo'), { fuelPerEvent: 0 }), /option 'fuelPerEvent' must be a whole number of instructions >= 1, got 0/);
  });
});

describe('ABI flavours', function () {
  it('serves a guest written to the older AssemblyScript ABI (__alloc/__retain/__release)', async function () {
    const srv = await serve(fixture('legacy-as.wat'));
    try {
      assert.equal((await exchange(srv.port, 'legacy hello')).toString(), 'legacy hello');
      assert.equal((await exchange(srv.port, 'x'.repeat(70000))).toString(), 'x'.repeat(70000));
    } finally {
      await srv.close();
    }
  });

  it('serves a raw guest that takes onData(id, ptr, len) and exports alloc/dealloc', async function () {
    const srv = await serve(fixture('raw.wat'));
    try {
      assert.equal((await exchange(srv.port, 'bytes', 9)).toString(), 'raw:bytes');
    } finally {
      await srv.close();
    }
  });
});
