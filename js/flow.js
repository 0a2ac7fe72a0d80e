'use strict';
// Connection flow control: when reading from an attached socket runs and when it waits.

/**
 * One attached connection. Reading from its socket runs unless the guest paused it
 * (`Socket.pause`), its queued output is at the high-water mark (`pressured`; accepted sockets
 * only), or, with worker threads, the bytes sent to the guest and not yet consumed reach the
 * input window, 4 x highWaterMark (`backlogged`).
 *
 * A connection the guest dialed is not paused for its own queued output: what it reads usually
 * feeds another connection (a proxy), and pausing it for its own output would deadlock against
 * an upstream that stops reading while its replies are not read. The guest paces it instead
 * (Socket.write's false, onDrain, Socket.pause), and the hard cap still bounds its queue.
 */
class Conn {
  constructor(id, socket, onFlushed, dialed = false) {
    this.id = id;
    this.socket = socket;
    this.dialed = dialed;
    this.guestPaused = false;
    this.pressured = false;
    this.backlogged = false;
    /** Threaded mode: input bytes handed to the worker that it has not acknowledged yet. */
    this.inflight = 0;
    /** Write callback used while the queue is at the mark: checks whether it drained. */
    this.flushed = () => onFlushed(this);
  }

  /** Starts reading again if nothing holds it back. */
  release() {
    if (!this.guestPaused && !(this.pressured && !this.dialed) && !this.backlogged) this.socket.resume();
  }
}

module.exports = { Conn };
