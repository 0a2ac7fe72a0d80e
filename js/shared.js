'use strict';
// bridge.shared: the bridge's shared store from JS (src/bridge/shared.rs), the same one every
// guest instance reads and writes with module Shared. Keys are strings (sent as UTF-8) or bytes,
// at most 1 KiB; keys plus values are bounded by the bridge's maxSharedBytes.
const { maxSharedKeyBytes } = require('./constants');
const { bytesOf } = require('./bytes');

const KEY_TOO_LONG = -2;
const FULL = -3;

function keyBytes(key) {
  const k = typeof key === 'string' ? Buffer.from(key, 'utf8') : ArrayBuffer.isView(key) ? Buffer.from(key.buffer, key.byteOffset, key.byteLength) : null;
  if (k === null) throw new TypeError('a shared store key is a string or bytes (Uint8Array, Buffer)');
  if (k.length > maxSharedKeyBytes) throw new TypeError(`a shared store key is at most ${maxSharedKeyBytes} bytes, got ${k.length}`);
  return k;
}

function valueBytes(value) {
  const bytes = bytesOf(value);
  if (bytes === null) throw new TypeError('a shared store value is a string or bytes (Uint8Array, Buffer, ArrayBuffer)');
  return bytes;
}

function full(maxBytes) {
  return new RangeError(`the shared store is full: keys plus values may not pass maxSharedBytes (${maxBytes} bytes)`);
}

class SharedStore {
  #native;
  #maxBytes;

  constructor(nativeBridge, maxBytes) {
    this.#native = nativeBridge;
    this.#maxBytes = maxBytes;
  }

  /** The value of `key` as a Buffer, or undefined when missing. */
  get(key) {
    return this.#native.sharedGet(keyBytes(key)) ?? undefined;
  }

  /** Stores `value` (a string as UTF-8, or bytes) under `key`; RangeError past maxSharedBytes. */
  set(key, value) {
    const code = this.#native.sharedSet(keyBytes(key), valueBytes(value));
    if (code === FULL) throw full(this.#maxBytes);
    if (code === KEY_TOO_LONG) throw new TypeError(`a shared store key is at most ${maxSharedKeyBytes} bytes`);
  }

  /** Removes `key`; whether it was there. */
  delete(key) {
    return this.#native.sharedDelete(keyBytes(key)) === 1;
  }

  /**
   * Adds `delta` to the little-endian i64 under `key` (missing, or of another length: 0),
   * atomically with every guest; returns the new value (exact up to 2^53).
   */
  add(key, delta) {
    if (!Number.isSafeInteger(delta)) throw new TypeError(`shared.add takes a whole number delta, got ${delta}`);
    const k = keyBytes(key);
    const n = this.#native.sharedAdd(k, delta);
    if (n === null || n === undefined) throw full(this.#maxBytes);
    return Number(n);
  }

  /**
   * Compare-and-set, atomic with every guest: when the value of `key` is `expected` (bytes or a
   * string; `undefined`: the key is absent), stores `value` (`undefined`: deletes the key) and
   * answers true; otherwise answers false and changes nothing. RangeError past maxSharedBytes.
   */
  setIf(key, expected, value) {
    const k = keyBytes(key);
    const e = expected === undefined ? null : valueBytes(expected);
    const v = value === undefined ? null : valueBytes(value);
    const code = this.#native.sharedSetIf(k, e, v);
    if (code === FULL) throw full(this.#maxBytes);
    if (code === KEY_TOO_LONG) throw new TypeError(`a shared store key is at most ${maxSharedKeyBytes} bytes`);
    return code === 1;
  }

  /**
   * The keys that start with `prefix` (a string or bytes), sorted bytewise, decoded as UTF-8.
   * Costs O(keys in the store): every key is compared under the store's lock.
   */
  keys(prefix = '') {
    return this.#native.sharedKeys(keyBytes(prefix)).map((k) => k.toString('utf8'));
  }
}

module.exports = { SharedStore };
