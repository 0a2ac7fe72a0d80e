'use strict';
// JS and the addon share numbers and names (outbox ops, error kinds, log levels, load error
// codes, limits). They are defined once in Rust (src/napi/constants.rs); these tests fail when
// anything JS or the public types state by hand drifts from them.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const constants = require('../js/constants');
const batch = require('../js/batch');
const { DEFAULTS } = require('../js/options');

const types = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');

/** The string members of `export type Name = 'a' | 'b' ...;` in index.d.ts. */
function union(name) {
  const m = new RegExp(`export type ${name} =([^;]+);`).exec(types);
  assert.ok(m, `index.d.ts declares ${name}`);
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}

describe('constants shared with the addon', function () {
  it('declares exactly the addon error kinds as GuestErrorKind in index.d.ts', function () {
    assert.deepEqual(union('GuestErrorKind'), constants.kinds.filter((k) => k !== ''));
  });

  it('declares exactly the addon log levels as LogLevel in index.d.ts', function () {
    assert.deepEqual(union('LogLevel'), constants.levels);
  });

  it('declares exactly the addon load error codes as LoadErrorCode in index.d.ts', function () {
    assert.deepEqual(union('LoadErrorCode'), constants.loadCodes);
  });

  it('takes its option defaults and limits from the addon', function () {
    assert.equal(DEFAULTS.highWaterMark, constants.defaultHighWaterMark);
    assert.equal(DEFAULTS.maxMemoryBytes, constants.defaultMaxMemoryBytes);
    assert.equal(constants.maxThreads, 256);
  });

  it('carries out a record of every op the addon defines without calling it corrupt', function () {
    // 12 bytes of payload, more than the fixed part of any record (a call's handle, instance and
    // name length: 9 bytes), so the record order, which follows the addon's map, never matters.
    const records = Object.values(constants.ops).map((op) => {
      const r = Buffer.alloc(constants.header + 12);
      r[0] = op;
      r.writeUInt32LE(7, 4);
      r.writeUInt32LE(12, 8);
      return r;
    });
    const buf = Buffer.concat(records);
    const seen = [];
    const host = {
      highWaterMark: 65536,
      inputWindow: 0,
      log: (line, level) => seen.push(`log ${level}`),
      error: (kind) => seen.push(`error ${kind}`),
      wantDrain: () => seen.push('wantDrain'),
      connect: () => seen.push('connect'),
      arm: () => seen.push('arm'),
      call: () => seen.push('call'),
    };
    batch.apply(buf, buf.length, new Map(), host);
    assert.deepEqual(seen.sort(), ['arm', 'call', 'connect', 'error host', 'log log'].sort());
    const bad = Buffer.alloc(constants.header);
    bad[0] = 250;
    assert.throws(() => batch.apply(bad, bad.length, new Map(), host), /corrupt output batch \(op 250/);
  });
});
