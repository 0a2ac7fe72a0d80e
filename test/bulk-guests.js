'use strict';
// Guests whose onData loops over one bulk instruction (or plain arithmetic, the baseline) until
// it is stopped: the measure of what fuel and eventTimeoutMs bound. Generated as WebAssembly text
// (Bridge.load compiles text too), one per instruction, from the template below.
//
// The AssemblyScript-flavoured ABI of test/fixtures/endless-loop.wat. `pages` is the length of
// each memory operation in 64 KiB pages (PAGES: the largest size the memory allows); tables are
// always worked on whole.

/** Pages of memory each guest starts with (and the cap the tests use). */
const PAGES = 1024;
const TABLE = 100000;
const SEGMENT = 65536;

const BODIES = {
  // The baseline: a counter, as plain as a loop gets.
  arith: '(local.set $n (i32.add (local.get $n) (i32.const 1)))',
  'memory.fill': '(memory.fill (i32.const 0) (i32.const 7) (local.get $len))',
  'memory.copy': '(memory.copy (i32.const 0) (i32.const 65536) (i32.sub (local.get $len) (i32.const 65536)))',
  'memory.init': '(memory.init $seg (i32.const 0) (i32.const 0) (i32.const 65536))',
  'memory.grow': '(drop (memory.grow (i32.const 1)))',
  'table.fill': '(table.fill $t (i32.const 0) (ref.null func) (i32.const 100000))',
  'table.copy': '(table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 99999))',
  'table.init': '(table.init $t $elems (i32.const 0) (i32.const 0) (i32.const 10000))',
  'table.grow': '(drop (table.grow $g (ref.null func) (i32.const 1000)))',
};

/** The WebAssembly text of the guest that loops over `op` (a key of BODIES), `pages` at a time. */
function bulkGuest(op, pages = PAGES) {
  const body = BODIES[op];
  if (!body) throw new Error(`no bulk guest for ${op}`);
  const initial = op === 'memory.grow' ? 1 : PAGES;
  const elems = Array.from({ length: 10000 }, () => '$f').join(' ');
  return `(module
  (memory (export "memory") ${initial})
  (table $t ${TABLE} funcref)
  (table $g 0 funcref)
  (data $seg "${'x'.repeat(SEGMENT)}")
  (elem $elems func ${elems})
  (func $f)
  (func (export "__new") (param i32 i32) (result i32) (i32.const 1024))
  (func (export "__pin") (param i32) (result i32) (local.get 0))
  (func (export "__unpin") (param i32))
  (func (export "onConnection") (param i32))
  (func (export "onData") (param $id i32) (param $buf i32)
    (local $len i32) (local $n i32)
    (local.set $len (i32.const ${pages * 65536}))
    (loop $forever ${body} (br $forever)))
  (func (export "onClose") (param i32))
)`;
}

module.exports = { bulkGuest, OPS: Object.keys(BODIES), PAGES };
