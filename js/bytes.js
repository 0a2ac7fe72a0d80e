'use strict';
// What the API accepts as bytes (messages, host function results, shared store values, config):
// a string as UTF-8, or a Buffer, Uint8Array (any view) or ArrayBuffer, seen without a copy.

/** `value` as a Buffer, or null when it is none of those. */
function bytesOf(value) {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

module.exports = { bytesOf };
