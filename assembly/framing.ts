// Framing helpers: TCP is a byte stream, so one onData can carry part of a message, or several.
// These readers accumulate the bytes of one connection across onData calls and hand back whole
// messages. Keep one reader per connection, e.g. in a Map<u32, LineReader> filled at onConnection
// and emptied at onClose:
//
//   const readers = new Map<u32, LineReader>();
//   export function onConnection(id: u32): void { readers.set(id, new LineReader()); }
//   export function onData(id: u32, data: ArrayBuffer): void {
//     const r = readers.get(id);
//     r.push(data);
//     while (r.next()) Socket.write(id, "you said: " + r.line + "\n");
//     if (r.failed) { Socket.write(id, r.error + "\n"); Socket.end(id); }
//   }
//   export function onClose(id: u32): void { readers.delete(id); }
//
// Every reader has a size limit: a peer that never ends its line (or announces a huge frame)
// puts the reader in an error state (`failed`, `error`) instead of making it buffer without end.
// Messages come out the same however the bytes were split across onData calls.

const LF: u8 = 0x0a;
const CR: u8 = 0x0d;

/** Buffers smaller than this are not allocated; an emptied queue above SHRINK_ABOVE lets go. */
const MIN_CAPACITY: i32 = 256;
const SHRINK_ABOVE: i32 = 65536;

/**
 * A FIFO of bytes: push at the end, read and consume from the front. The readers below are built
 * on it; use it directly for a framing of your own.
 *
 * Consumed bytes are not copied on every push: the unread bytes move to the front only when the
 * free space at the end runs out and the unread part is at most half the capacity; otherwise the
 * buffer doubles. So each byte is copied a bounded number of times on average, and the capacity
 * stays within about twice the largest amount of unread data plus one push. An emptied queue
 * whose buffer grew above 64 KiB releases it.
 */
export class ByteQueue {
  private buf: ArrayBuffer = new ArrayBuffer(0);
  private head: i32 = 0;
  private tail: i32 = 0;

  /** Bytes pushed and not yet consumed. */
  get length(): i32 {
    return this.tail - this.head;
  }

  /** Size of the current backing buffer, in bytes. */
  get capacity(): i32 {
    return this.buf.byteLength;
  }

  /**
   * Address of the first unread byte in guest memory. Valid until the next push, skip, take or
   * clear (those may move or release the buffer).
   */
  get dataStart(): usize {
    return changetype<usize>(this.buf) + <usize>this.head;
  }

  /** Appends `data`: an ArrayBuffer, a Uint8Array, or a string (appended as UTF-8). */
  push<T>(data: T): void {
    if (isString<T>()) {
      const bytes = String.UTF8.encode(changetype<string>(data));
      this.pushBytes(changetype<usize>(bytes), bytes.byteLength);
    } else if (data instanceof ArrayBuffer) {
      const buf = changetype<ArrayBuffer>(data);
      this.pushBytes(changetype<usize>(buf), buf.byteLength);
    } else if (data instanceof Uint8Array) {
      const arr = changetype<Uint8Array>(data);
      this.pushBytes(arr.dataStart, arr.byteLength);
    } else {
      ERROR("push takes an ArrayBuffer, a Uint8Array or a string");
    }
  }

  /** Appends `len` bytes of guest memory starting at `ptr`. */
  pushBytes(ptr: usize, len: i32): void {
    if (len <= 0) return;
    // An empty queue is always at 0 (skip and clear reset it), so only unread bytes move.
    const live = this.tail - this.head;
    const cap = this.buf.byteLength;
    if (this.tail + len > cap) {
      const need = live + len;
      const base = changetype<usize>(this.buf);
      if (need <= cap >> 1) {
        // Enough room once compacted, and the bytes moved are fewer than the space gained.
        memory.copy(base, base + <usize>this.head, <usize>live);
      } else {
        let size = need > 0x20000000 ? need : need << 1;
        if (size < MIN_CAPACITY) size = MIN_CAPACITY;
        const grown = new ArrayBuffer(size);
        memory.copy(changetype<usize>(grown), base + <usize>this.head, <usize>live);
        this.buf = grown;
      }
      this.head = 0;
      this.tail = live;
    }
    memory.copy(changetype<usize>(this.buf) + <usize>this.tail, ptr, <usize>len);
    this.tail += len;
  }

  /** The unread byte at `index` (0 is the first unread byte). */
  at(index: i32): u8 {
    if (<u32>index >= <u32>this.length) throw new RangeError("ByteQueue index out of range");
    return load<u8>(this.dataStart + <usize>index);
  }

  /** Index of the first `byte` at or after `from` among the unread bytes, or -1. */
  indexOf(byte: u8, from: i32 = 0): i32 {
    const start = this.dataStart;
    const n = this.length;
    for (let i = from < 0 ? 0 : from; i < n; i++) {
      if (load<u8>(start + <usize>i) == byte) return i;
    }
    return -1;
  }

  /** A copy of `len` unread bytes starting at `offset`, without consuming them. */
  copy(offset: i32, len: i32): ArrayBuffer {
    if (offset < 0 || len < 0 || offset + len > this.length) {
      throw new RangeError("ByteQueue range out of bounds");
    }
    const out = new ArrayBuffer(len);
    memory.copy(changetype<usize>(out), this.dataStart + <usize>offset, <usize>len);
    return out;
  }

  /** Consumes the first `len` unread bytes and returns a copy of them. */
  take(len: i32): ArrayBuffer {
    const out = this.copy(0, len);
    this.skip(len);
    return out;
  }

  /** Consumes (drops) the first `len` unread bytes. */
  skip(len: i32): void {
    if (len < 0 || len > this.length) throw new RangeError("ByteQueue skip out of bounds");
    this.head += len;
    if (this.head == this.tail) {
      this.head = 0;
      this.tail = 0;
      if (this.buf.byteLength > SHRINK_ABOVE) this.buf = new ArrayBuffer(0);
    }
  }

  /** Drops every unread byte and releases the buffer. */
  clear(): void {
    this.head = 0;
    this.tail = 0;
    this.buf = new ArrayBuffer(0);
  }
}

/**
 * What LineReader and LengthPrefixedReader share: the bytes received and not yet returned, the
 * current line or frame, and the failed state a limit puts the reader in.
 */
export class FramedReader {
  protected queue: ByteQueue = new ByteQueue();
  protected current: ArrayBuffer = new ArrayBuffer(0);
  protected problem: string = "";

  /** Adds received bytes: an ArrayBuffer, a Uint8Array or a string. Ignored once failed. */
  push<T>(data: T): void {
    if (this.problem.length == 0) this.queue.push<T>(data);
  }

  /** Adds `len` bytes of guest memory starting at `ptr`. Ignored once failed. */
  pushBytes(ptr: usize, len: i32): void {
    if (this.problem.length == 0) this.queue.pushBytes(ptr, len);
  }

  /** Bytes received and not yet returned (a LengthPrefixedReader counts prefixes too). */
  get buffered(): i32 {
    return this.queue.length;
  }

  /** True once the input broke the reader's limit. */
  get failed(): bool {
    return this.problem.length != 0;
  }

  /** Why the reader failed ("" when it has not). */
  get error(): string {
    return this.problem;
  }

  /** Forgets buffered bytes and any failure, as for a new connection. */
  reset(): void {
    this.queue.clear();
    this.current = new ArrayBuffer(0);
    this.problem = "";
  }

  /** Enters the failed state: keeps `why` and drops what is buffered. */
  protected fail(why: string): void {
    this.problem = why;
    this.queue.clear();
  }
}

/**
 * Splits a byte stream into lines. A line ends with "\n"; a "\r" just before the "\n" is removed
 * too, so "\r\n" and "\n" endings both work. A "\r" anywhere else stays in the line.
 *
 *   reader.push(data);
 *   while (reader.next()) handle(reader.line);   // or reader.bytes for the raw bytes
 *   if (reader.failed) ...                         // a line was longer than maxLineLength
 *
 * A line longer than `maxLineLength` bytes (not counting its ending) puts the reader in the
 * failed state: next() returns false from then on, the buffered bytes are dropped and later
 * pushes are ignored, until reset(). The lines before it are still returned first. At most about
 * maxLineLength + 2 bytes of an unfinished line are kept between pushes (plus the bytes of the
 * latest push when next() has not run yet).
 */
export class LineReader extends FramedReader {
  /** Leading bytes of the queue already searched for "\n" without finding one. */
  private scanned: i32 = 0;

  /** @param maxLineLength longest line accepted, in bytes, without its "\r\n" or "\n" (default 64 KiB). */
  constructor(public readonly maxLineLength: i32 = 65536) {
    super();
  }

  /**
   * Moves to the next complete line: true when one is ready in `line` / `bytes`, false when more
   * bytes are needed (or the reader failed). Call it in a loop after each push.
   */
  next(): bool {
    if (this.problem.length != 0) return false;
    const q = this.queue;
    const nl = q.indexOf(LF, this.scanned);
    if (nl < 0) {
      this.scanned = q.length;
      // Whatever follows, this line will be longer than the limit (one byte may be a "\r").
      if (<i64>q.length > <i64>this.maxLineLength + 1) this.tooLong();
      return false;
    }
    let len = nl;
    if (len > 0 && q.at(len - 1) == CR) len--;
    if (len > this.maxLineLength) {
      this.tooLong();
      return false;
    }
    this.current = q.copy(0, len);
    q.skip(nl + 1);
    this.scanned = 0;
    return true;
  }

  /**
   * At the end of the stream (onEnd), returns the buffered bytes that no "\n" ended as a last
   * line: true when there were any (read them from `line` / `bytes`), false otherwise. Call it
   * after next() returned false.
   */
  finish(): bool {
    if (this.problem.length != 0) return false;
    const q = this.queue;
    const len = q.length;
    if (len == 0) return false;
    if (len > this.maxLineLength) {
      this.tooLong();
      return false;
    }
    this.current = q.take(len);
    this.scanned = 0;
    return true;
  }

  /** The current line (the one next() or finish() moved to), decoded from UTF-8. */
  get line(): string {
    return String.UTF8.decode(this.current);
  }

  /** The current line's raw bytes (a copy owned by the caller), without its line ending. */
  get bytes(): ArrayBuffer {
    return this.current;
  }

  reset(): void {
    super.reset();
    this.scanned = 0;
  }

  private tooLong(): void {
    this.fail("line longer than " + this.maxLineLength.toString() + " bytes");
    this.scanned = 0;
  }
}

/**
 * Splits a byte stream into frames that each start with their length as a big-endian unsigned
 * integer of `prefixSize` bytes: 2 (u16, as DNS over TCP) or 4 (u32). The length counts the
 * frame's bytes after the prefix; a zero-length frame is a valid, empty frame.
 *
 *   const reader = LengthPrefixedReader.u16();
 *   reader.push(data);
 *   while (reader.next()) handle(reader.frame);
 *   if (reader.failed) ...            // a prefix announced more than maxFrameSize bytes
 *
 * A prefix announcing more than `maxFrameSize` bytes puts the reader in the failed state (the
 * frames before it are still returned first): next() returns false from then on, the buffered
 * bytes are dropped and later pushes are ignored, until reset(). So at most one frame
 * (maxFrameSize + prefixSize bytes) is buffered, plus the bytes of the latest push.
 */
export class LengthPrefixedReader extends FramedReader {
  /**
   * @param prefixSize 2 (u16 big-endian) or 4 (u32 big-endian); anything else throws.
   * @param maxFrameSize largest frame accepted, in bytes, not counting the prefix (default 1 MiB).
   */
  constructor(public readonly prefixSize: i32 = 2, public readonly maxFrameSize: u32 = 1 << 20) {
    super();
    if (prefixSize != 2 && prefixSize != 4) {
      throw new RangeError("LengthPrefixedReader prefixSize must be 2 or 4");
    }
  }

  /** A reader of u16 big-endian length-prefixed frames (DNS over TCP), at most maxFrameSize bytes each. */
  static u16(maxFrameSize: u32 = 65535): LengthPrefixedReader {
    return new LengthPrefixedReader(2, maxFrameSize);
  }

  /** A reader of u32 big-endian length-prefixed frames, at most maxFrameSize bytes each (default 1 MiB). */
  static u32(maxFrameSize: u32 = 1 << 20): LengthPrefixedReader {
    return new LengthPrefixedReader(4, maxFrameSize);
  }

  /**
   * Moves to the next complete frame: true when one is ready in `frame` / `bytes`, false when
   * more bytes are needed (or the reader failed). Call it in a loop after each push.
   */
  next(): bool {
    if (this.problem.length != 0) return false;
    const q = this.queue;
    const p = this.prefixSize;
    if (q.length < p) return false;
    let len: u32 = 0;
    for (let i = 0; i < p; i++) len = (len << 8) | <u32>q.at(i);
    if (len > this.maxFrameSize) {
      this.fail("frame too large: " + len.toString() + " bytes, the limit is " + this.maxFrameSize.toString());
      return false;
    }
    if (<u32>(q.length - p) < len) return false;
    this.current = q.copy(p, <i32>len);
    q.skip(p + <i32>len);
    return true;
  }

  /** The current frame's bytes, without the prefix (a copy owned by the caller). */
  get frame(): ArrayBuffer {
    return this.current;
  }

  /** The current frame as a Uint8Array over `frame`. */
  get bytes(): Uint8Array {
    return Uint8Array.wrap(this.current);
  }
}

/**
 * Returns `data` (an ArrayBuffer, a Uint8Array or a string sent as UTF-8) with its length in
 * front as a big-endian u16 (`prefixSize` 2) or u32 (4): one frame for LengthPrefixedReader,
 * ready for Socket.write. Throws a RangeError when the data does not fit the prefix.
 */
export function lengthPrefixed<T>(data: T, prefixSize: i32 = 2): ArrayBuffer {
  let ptr: usize = 0;
  let len: i32 = 0;
  if (isString<T>()) {
    return lengthPrefixed<ArrayBuffer>(String.UTF8.encode(changetype<string>(data)), prefixSize);
  } else if (data instanceof ArrayBuffer) {
    const buf = changetype<ArrayBuffer>(data);
    ptr = changetype<usize>(buf);
    len = buf.byteLength;
  } else if (data instanceof Uint8Array) {
    const arr = changetype<Uint8Array>(data);
    ptr = arr.dataStart;
    len = arr.byteLength;
  } else {
    ERROR("lengthPrefixed takes an ArrayBuffer, a Uint8Array or a string");
  }
  if (prefixSize != 2 && prefixSize != 4) throw new RangeError("prefixSize must be 2 or 4");
  if (prefixSize == 2 && len > 0xffff) throw new RangeError("frame too large for a u16 length");
  const out = new ArrayBuffer(prefixSize + len);
  const base = changetype<usize>(out);
  for (let i = 0; i < prefixSize; i++) {
    store<u8>(base + <usize>i, <u8>(<u32>len >> (<u32>(prefixSize - 1 - i) * 8)));
  }
  memory.copy(base + <usize>prefixSize, ptr, <usize>len);
  return out;
}
