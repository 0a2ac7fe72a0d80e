'use strict';
// NativeServer: what bridge.listen resolves with. The workers accept and serve its connections
// natively (src/native/); this object only reports its address and closes it. Types: ../index.d.ts.

/** How often close() looks whether the server's last connection has closed. */
const CLOSE_POLL_MS = 20;

class NativeServer {
  #listener;
  #unlisten;
  #onClosed;
  #closing = null;

  /** `unlisten(listener)` stops the workers accepting; `onClosed()` runs once close() resolves. */
  constructor(listener, unlisten, onClosed) {
    this.#listener = listener;
    this.#unlisten = unlisten;
    this.#onClosed = onClosed;
  }

  /** `{ address, family, port }`, as net.Server's address(). */
  address() {
    const l = this.#listener;
    return { address: l.address, family: l.family, port: l.port };
  }

  /** Connections it accepted that are still open. */
  get connections() {
    return this.#listener.connections();
  }

  /**
   * Stops accepting at once; open connections go on. Resolves, as net.Server's close, once the
   * last connection it accepted has closed. Idempotent.
   */
  close() {
    if (this.#closing !== null) return this.#closing;
    this.#unlisten(this.#listener);
    this.#closing = new Promise((resolve) => {
      const check = () => {
        if (this.#listener.connections() === 0) resolve();
        else setTimeout(check, CLOSE_POLL_MS);
      };
      check();
    }).then(() => this.#onClosed());
    return this.#closing;
  }
}

module.exports = { NativeServer };
