'use strict';
// WASI preview1 without capabilities (DESIGN.md, "Guest platform v2", WASI): every function
// exists and answers hostile pointers with an errno, stdout / stderr become 'log' lines,
// proc_exit stops the guest, and a command module is refused. Through the hand-written
// test/fixtures/wasi-hostile.wat, in every mode.
const assert = require('node:assert/strict');
const { Bridge } = require('..');
const { fixture, serve, connect, readBytes, readToClose, waitFor, MODES } = require('./helpers');

// The errnos wasi-hostile.wat's 'h' answers, in its order: every preview1 function once (in
// alphabetical order, proc_exit apart), then ten more calls of the functions that take pointers.
const SUCCESS = 0;
const BADF = 8;
const FAULT = 21;
const INVAL = 28;
const NOSYS = 52;
const HOSTILE = [
  ['args_get', SUCCESS], ['args_sizes_get', FAULT], ['environ_get', SUCCESS], ['environ_sizes_get', FAULT],
  ['clock_res_get', FAULT], ['clock_time_get', FAULT], ['fd_advise', NOSYS], ['fd_allocate', BADF],
  ['fd_close', BADF], ['fd_datasync', NOSYS], ['fd_fdstat_get', FAULT], ['fd_fdstat_set_flags', NOSYS],
  ['fd_fdstat_set_rights', NOSYS], ['fd_filestat_get', NOSYS], ['fd_filestat_set_size', BADF],
  ['fd_filestat_set_times', NOSYS], ['fd_pread', NOSYS], ['fd_prestat_get', BADF],
  ['fd_prestat_dir_name', BADF], ['fd_pwrite', NOSYS], ['fd_read', NOSYS], ['fd_readdir', BADF],
  ['fd_renumber', NOSYS], ['fd_seek', NOSYS], ['fd_sync', BADF], ['fd_tell', NOSYS], ['fd_write', FAULT],
  ['path_create_directory', BADF], ['path_filestat_get', BADF], ['path_filestat_set_times', BADF],
  ['path_link', BADF], ['path_open', BADF], ['path_readlink', BADF], ['path_remove_directory', BADF],
  ['path_rename', BADF], ['path_symlink', BADF], ['path_unlink_file', BADF], ['poll_oneoff', NOSYS],
  ['proc_raise', NOSYS], ['random_get', FAULT], ['sched_yield', SUCCESS], ['sock_accept', BADF],
  ['sock_recv', BADF], ['sock_send', NOSYS], ['sock_shutdown', BADF],
  ['clock_res_get(99)', INVAL], ['clock_time_get(7)', INVAL], ['fd_write(2^29 iovecs)', FAULT],
  ['fd_write(buffer past the end)', FAULT], ['fd_write(nwritten at -1)', FAULT], ['fd_write(fd 5)', BADF],
  ['fd_fdstat_get(fd 9)', BADF], ['random_get(2^32 - 1 bytes)', FAULT], ['random_get(at -1)', FAULT],
  ['args_sizes_get(size at -1)', FAULT],
];

for (const mode of MODES) {
  describe(`WASI preview1 (${mode.name})`, function () {
    let g;
    beforeEach(async function () {
      g = await serve(fixture('wasi-hostile.wat'), mode.options);
    });
    afterEach(async function () {
      await g.close();
    });

    it('answers every WASI function called with hostile pointers with an errno and keeps the guest running', async function () {
      const socket = await connect(g.port);
      const reply = readBytes(socket, HOSTILE.length);
      socket.write('h');
      const got = [...(await reply)];
      assert.deepEqual(
        got.map((errno, i) => [HOSTILE[i][0], errno]),
        HOSTILE,
      );
      const again = readBytes(socket, HOSTILE.length);
      socket.write('h');
      assert.equal((await again).length, HOSTILE.length);
      socket.destroy();
      assert.deepEqual(g.errors, []);
      assert.deepEqual(g.logs, []);
    });

    it('turns stdout and stderr into log lines and answers clocks, randomness and fdstat', async function () {
      const before = BigInt(Date.now()) * 1000000n;
      const socket = await connect(g.port);
      const reply = readBytes(socket, 72);
      socket.write('l');
      const r = await reply;
      const after = BigInt(Date.now()) * 1000000n;
      assert.equal(r.readUInt32LE(0), 7, 'nwritten of "one\\ntwo"');
      assert.equal(r.readUInt32LE(4), 4, 'nwritten of "err\\n"');
      assert.equal(r[8], 2, 'fd 1 is a character device');
      assert.equal(r.readBigUInt64LE(16), 1n << 6n, 'fd 1 may be written, not seeked');
      assert.equal(r.readUInt32LE(40), 0);
      assert.equal(r.readUInt32LE(44), 0);
      const now = r.readBigUInt64LE(48);
      assert.ok(now >= before - 1000000n && now <= after + 1000000n, `realtime ${now}`);
      assert.notDeepEqual(r.subarray(56, 72), Buffer.alloc(16), 'random_get filled its buffer');
      await waitFor(() => g.logs.length === 3, 'three log lines');
      assert.deepEqual(g.logs, [
        { line: 'one', level: 'log' },
        { line: 'err', level: 'error' },
        { line: 'two', level: 'log' },
      ]);
      socket.destroy();
      assert.deepEqual(g.errors, []);
    });

    it('stops the guest with an abort GuestError proc_exit(7) when it calls proc_exit and serves the next connection', async function () {
      const socket = await connect(g.port);
      const closed = readToClose(socket);
      socket.write('x');
      await closed;
      await waitFor(() => g.errors.length === 1, 'the GuestError');
      assert.equal(g.errors[0].name, 'GuestError');
      assert.equal(g.errors[0].kind, 'abort');
      assert.match(g.errors[0].message, /proc_exit\(7\)/);
      const next = await connect(g.port);
      const reply = readBytes(next, HOSTILE.length);
      next.write('h');
      assert.equal((await reply).length, HOSTILE.length);
      next.destroy();
    });
  });
}

describe('loading WASI modules', function () {
  it('refuses a command module (_start without _initialize) and says how to build a reactor', async function () {
    const wat = `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) (i32.const 1024)) (func (export "dealloc") (param i32 i32))
      (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32 i32))
      (func (export "onClose") (param i32)) (func (export "_start")))`;
    await assert.rejects(Bridge.load(Buffer.from(wat)), (e) => {
      assert.match(e.message, /a WASI command module \(exports _start, no _initialize\)/);
      assert.match(e.message, /-mexec-model=reactor/);
      assert.match(e.message, /crate-type = \["cdylib"\]/);
      return true;
    });
  });

  it('loads a module that exports both _start and _initialize as a reactor', async function () {
    const wat = `(module (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) (i32.const 1024)) (func (export "dealloc") (param i32 i32))
      (func (export "onConnection") (param i32)) (func (export "onData") (param i32 i32 i32))
      (func (export "onClose") (param i32)) (func (export "_start")) (func (export "_initialize")))`;
    const bridge = await Bridge.load(Buffer.from(wat));
    await bridge.close();
  });
});
