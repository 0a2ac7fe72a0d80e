'use strict';
// Bridge options: defaults, checks with messages that name the option, and what reaches the
// addon. Limits come from the addon (constants.js), so JS and Rust agree on them.
const { fileURLToPath } = require('node:url');
const native = require('./native');
const constants = require('./constants');
const { bytesOf } = require('./bytes');

const DEFAULTS = Object.freeze({
  threads: 0,
  highWaterMark: constants.defaultHighWaterMark,
  fuelPerEvent: undefined,
  eventTimeoutMs: undefined,
  maxMemoryBytes: constants.defaultMaxMemoryBytes,
  cacheDir: undefined,
  allowConnect: Object.freeze([]),
  maxEventOutputBytes: constants.defaultMaxEventOutputBytes,
  config: undefined,
  maxSharedBytes: constants.defaultMaxSharedBytes,
  hostFunctions: Object.freeze({}),
});

/** The longest `eventTimeoutMs`: as for Node's timers, about 24.8 days. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const HOST_FUNCTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks `options` against DEFAULTS; returns a complete options object or throws a TypeError. */
function checkOptions(options) {
  if (options === undefined || options === null) return { ...DEFAULTS };
  if (typeof options !== 'object') throw new TypeError('Bridge options must be an object');
  for (const key of Object.keys(options)) {
    if (!(key in DEFAULTS)) throw new TypeError(`unknown Bridge option '${key}'`);
  }
  const o = { ...DEFAULTS, ...options };
  const { maxThreads, maxHighWaterMark, minMemoryBytes, maxMemoryBytes } = constants;
  if (!Number.isInteger(o.threads) || o.threads < 0) {
    throw new TypeError(`option 'threads' must be a whole number >= 0, got ${o.threads}`);
  }
  if (o.threads > maxThreads) {
    throw new TypeError(`option 'threads' must be at most ${maxThreads}, got ${o.threads}`);
  }
  if (!Number.isInteger(o.highWaterMark) || o.highWaterMark < 1 || o.highWaterMark > maxHighWaterMark) {
    throw new TypeError(
      `option 'highWaterMark' must be a whole number of bytes from 1 to ${maxHighWaterMark} (256 MiB), got ${o.highWaterMark}`,
    );
  }
  if (o.fuelPerEvent !== undefined && (!Number.isSafeInteger(o.fuelPerEvent) || o.fuelPerEvent < 1)) {
    throw new TypeError(`option 'fuelPerEvent' must be a whole number of instructions >= 1, got ${o.fuelPerEvent}`);
  }
  if (o.eventTimeoutMs !== undefined && (!Number.isInteger(o.eventTimeoutMs) || o.eventTimeoutMs < 1 || o.eventTimeoutMs > MAX_TIMEOUT_MS)) {
    throw new TypeError(
      `option 'eventTimeoutMs' must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${o.eventTimeoutMs}`,
    );
  }
  if (!Number.isSafeInteger(o.maxMemoryBytes) || o.maxMemoryBytes < minMemoryBytes || o.maxMemoryBytes > maxMemoryBytes) {
    throw new TypeError(
      `option 'maxMemoryBytes' must be a whole number of bytes from ${minMemoryBytes} (one wasm page) to ${maxMemoryBytes} (4 GiB), got ${o.maxMemoryBytes}`,
    );
  }
  const { minMaxEventOutputBytes: lo, maxMaxEventOutputBytes: hi } = constants;
  if (!Number.isInteger(o.maxEventOutputBytes) || o.maxEventOutputBytes < lo || o.maxEventOutputBytes > hi) {
    throw new TypeError(
      `option 'maxEventOutputBytes' must be a whole number of bytes from ${lo} (1 MiB) to ${hi} (1 GiB), got ${o.maxEventOutputBytes}`,
    );
  }
  if (o.cacheDir instanceof URL) {
    if (o.cacheDir.protocol !== 'file:') throw new TypeError(`option 'cacheDir' must be a folder path or a file: URL`);
    o.cacheDir = fileURLToPath(o.cacheDir);
  }
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === '')) {
    throw new TypeError(`option 'cacheDir' must be a folder path, got ${o.cacheDir}`);
  }
  if (!Number.isSafeInteger(o.maxSharedBytes) || o.maxSharedBytes < 0) {
    throw new TypeError(`option 'maxSharedBytes' must be a whole number of bytes >= 0, got ${o.maxSharedBytes}`);
  }
  o.config = configBytes(o.config);
  if (typeof o.hostFunctions !== 'object' || o.hostFunctions === null) {
    throw new TypeError(`option 'hostFunctions' must be an object of functions by name`);
  }
  for (const [name, fn] of Object.entries(o.hostFunctions)) {
    if (!HOST_FUNCTION_NAME.test(name)) {
      throw new TypeError(`option 'hostFunctions': '${name}' is not a host function name (1-64 of A-Za-z0-9_.-)`);
    }
    if (typeof fn !== 'function') throw new TypeError(`option 'hostFunctions': '${name}' is not a function`);
  }
  o.hostFunctions = Object.freeze({ ...o.hostFunctions });
  if (!Array.isArray(o.allowConnect) || !o.allowConnect.every((e) => typeof e === 'string')) {
    throw new TypeError(`option 'allowConnect' must be an array of "host:port" or "host:*" strings`);
  }
  try {
    native.checkAllowConnect(o.allowConnect);
  } catch (err) {
    throw new TypeError(err.message, { cause: err });
  }
  o.allowConnect = Object.freeze([...o.allowConnect]);
  return o;
}

/**
 * The `config` option as the bytes `Host.config` gives the guest: a string as UTF-8, bytes as
 * they are, a plain object as its JSON; undefined for none.
 */
function configBytes(config) {
  if (config === undefined || config === null) return undefined;
  const bytes = bytesOf(config);
  if (bytes !== null) return bytes;
  const proto = typeof config === 'object' ? Object.getPrototypeOf(config) : undefined;
  if (proto === Object.prototype || proto === null) {
    const json = JSON.stringify(config);
    return Buffer.from(json, 'utf8');
  }
  throw new TypeError(`option 'config' must be a string, bytes (Uint8Array, Buffer, ArrayBuffer) or a plain object, got ${typeof config}`);
}

/** The options the native compiler takes. */
function compileOptions(o) {
  return { fuel: o.fuelPerEvent, eventTimeoutMs: o.eventTimeoutMs, maxMemoryBytes: o.maxMemoryBytes, cacheDir: o.cacheDir };
}

/** What to load: `{ name, bytes }` for bytes, `{ name, path }` for a file (name = the path). */
function describeSource(source) {
  if (typeof source === 'string') return { name: source, path: source };
  if (source instanceof URL) {
    if (source.protocol !== 'file:') {
      throw new TypeError(`cannot load guest '${source.href}': only file: URLs can be loaded`);
    }
    const path = fileURLToPath(source);
    return { name: path, path };
  }
  if (source instanceof ArrayBuffer) return { name: '<bytes>', bytes: Buffer.from(source) };
  if (ArrayBuffer.isView(source)) {
    return { name: '<bytes>', bytes: Buffer.from(source.buffer, source.byteOffset, source.byteLength) };
  }
  throw new TypeError('Bridge.load takes a file path, a file: URL, or wasm bytes (Uint8Array, Buffer, ArrayBuffer)');
}

/** `bridge.reload`'s options: only `config` (as bytes; undefined keeps the current one). */
function checkReloadOptions(options) {
  if (options === undefined) return { config: undefined, keep: true };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`bridge.reload takes an options object ({ config }), got ${options === null ? 'null' : typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'config') {
      throw new TypeError(`bridge.reload takes only the option 'config' (the others stay as the bridge was loaded with), got '${key}'`);
    }
  }
  const keep = !Object.prototype.hasOwnProperty.call(options, 'config');
  return { config: keep ? undefined : (configBytes(options.config) ?? Buffer.alloc(0)), keep };
}

/** bridge.listen's options, with their defaults. */
function checkListenOptions(options) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`bridge.listen takes an options object ({ port, host, backlog, allowHalfOpen }), got ${options === null ? 'null' : typeof options}`);
  }
  const known = ['port', 'host', 'backlog', 'allowHalfOpen'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`bridge.listen: unknown option '${key}' (it takes ${known.join(', ')})`);
  }
  const { port = 0, host = '127.0.0.1', backlog = 511, allowHalfOpen = false } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`bridge.listen: option 'port' must be a whole number from 0 to 65535, got ${port}`);
  if (typeof host !== 'string' || host === '') throw new TypeError(`bridge.listen: option 'host' must be a non-empty string, got ${typeof host}`);
  if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) throw new RangeError(`bridge.listen: option 'backlog' must be a whole number from 1 to 65535, got ${backlog}`);
  if (typeof allowHalfOpen !== 'boolean') throw new TypeError(`bridge.listen: option 'allowHalfOpen' must be a boolean, got ${typeof allowHalfOpen}`);
  return { host, port, backlog, allowHalfOpen };
}

module.exports = { DEFAULTS, checkOptions, checkReloadOptions, checkListenOptions, compileOptions, describeSource };
