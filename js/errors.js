'use strict';
// The errors users see: GuestError for a failing guest, and load errors with a stable code.

/** A guest failed: it trapped, aborted, ran out of fuel or memory, or the host refused it. */
class GuestError extends Error {
  constructor(kind, message, connectionId, generation = 1) {
    super(message);
    this.name = 'GuestError';
    this.kind = kind;
    this.connectionId = connectionId;
    /** Which load of the bridge's guest failed (`bridge.generation` when it was loaded). */
    this.generation = generation;
  }
}

/** A guest that could not be loaded: `code` is stable (`ERR_GUEST_...`, src/guest/error.rs). */
function loadError({ code, message }) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/** A guest file that could not be read: keeps the file system's code (`ENOENT`, ...). */
function readError(path, err) {
  const e = new Error(`cannot load guest '${path}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  e.code = err.code;
  return e;
}

module.exports = { GuestError, loadError, readError };
