'use strict';
// Loads the test module test/guests/framing-unit.ts (built to build/guests/framing-unit.wasm) in
// Node's own WebAssembly, with no addon: test/framing.test.js and test/http-differential.test.js
// drive the SDK's framing helpers and HTTP parser through it.
const fs = require('node:fs');
const path = require('node:path');

const wasmFile = path.join(__dirname, '..', 'build', 'guests', 'framing-unit.wasm');

/** Reader kinds of the module's start(kind, a, b). */
const LINES = 0;
const U16 = 1;
const U32 = 2;
const HTTP = 3;

/**
 * Instantiates the test module; its only import is env.abort, which throws here. Returns its
 * exports as `x` and `str(ptr)`, which reads an AssemblyScript string.
 */
function loadFramingUnit() {
  let memory;
  const str = (ptr) => {
    const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
    return Buffer.from(memory.buffer, ptr, len).toString('utf16le');
  };
  const env = {
    abort(msg, file, line, col) {
      throw new Error(`guest abort: ${msg ? str(msg) : ''} at ${file ? str(file) : ''}:${line}:${col}`);
    },
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmFile)), { env });
  memory = instance.exports.memory;
  instance.exports._initialize();
  return { x: instance.exports, str };
}

/**
 * Gives `input` (a Buffer) to a new reader of `kind` with limits `a`, `b`, pushed in pieces
 * ending at each of `cuts` (ascending offsets) and then the rest, and returns the module's JSON
 * result: a record per message, then the reader's final state.
 */
function runReader(u, kind, a, b, input, cuts = []) {
  const n = input.length;
  const ptr = u.x.inputBuffer(n);
  new Uint8Array(u.x.memory.buffer, ptr, n).set(input);
  u.x.start(kind, a, b);
  let prev = 0;
  for (const c of cuts) {
    if (c > prev) u.x.feed(prev, c - prev);
    prev = c;
  }
  if (n > prev) u.x.feed(prev, n - prev);
  return u.str(u.x.finish());
}

module.exports = { loadFramingUnit, runReader, LINES, U16, U32, HTTP };
