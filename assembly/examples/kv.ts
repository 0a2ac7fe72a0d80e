// kv: a key-value server guest that speaks the Redis protocol (RESP2), so redis-cli, redis-benchmark
// and Redis client libraries (ioredis, ...) talk to it as to a small Redis.
//
//   npx tsx examples/kv-server.ts        # 127.0.0.1:6380; then: redis-cli -p 6380
//
// Commands (names and options in any case; keys and values are binary-safe byte strings):
//
//   PING [message]                 +PONG, or the message
//   ECHO message                   the message
//   GET key                        the value, or nil
//   SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]
//                                  +OK; nil when NX/XX stopped it; with GET the old value (or nil).
//                                  Without EX/PX/KEEPTTL a SET drops the key's expiry.
//   DEL key [key ...]              how many of the keys existed (and are gone now)
//   EXISTS key [key ...]           how many of the keys exist (a key named twice counts twice)
//   INCR key / DECR key            the value plus / minus 1 (a missing key counts as 0; the expiry
//   INCRBY key n / DECRBY key n    is kept); the value must be a 64-bit decimal integer
//   EXPIRE key seconds [NX|XX|GT|LT]  1 when the expiry was set, 0 when the key is missing or the
//                                  option said no; a time in the past deletes the key
//   TTL key / PTTL key             seconds (rounded) / milliseconds left; -1 no expiry, -2 no key
//   PERSIST key                    1 when an expiry was removed, else 0
//   DBSIZE                         number of keys (lists the keyspace: O(keys))
//   FLUSHDB / FLUSHALL             deletes every key (O(keys))
//   INFO [section]                 a few "field:value" lines, with the keyspace (O(keys))
//   HELLO [2]                      the server's details; any other protocol version: -NOPROTO
//   QUIT                           +OK, then the connection ends
//
// Errors read like Redis's: "-ERR unknown command 'foo', with args beginning with: ",
// "-ERR wrong number of arguments for 'get' command", "-ERR value is not an integer or out of
// range", "-ERR syntax error", "-ERR invalid expire time in 'set' command", and
// "-OOM command not allowed when used memory > 'maxmemory'." for a write past the store limit, and
// "-ERR key is too long: at most 1021 bytes" for a longer key written (a read of one finds nothing).
//
// The protocol: RESP arrays of bulk strings (what client libraries send) and inline commands (a
// line of words, as typed into telnet or nc; "double" and 'single' quotes as in redis-cli). Both
// are parsed incrementally, so a command may arrive split anywhere across onData calls, and many
// commands may arrive in one (pipelining): they are answered in order. Limits: 1024 arguments per
// command, 1 MiB per argument, 4 MiB per command, 64 KiB per inline command; past one, the answer
// is "-ERR Protocol error: ..." and the connection ends (as Redis does).
//
// The store is the bridge's shared store (module Shared, `bridge.shared` in JS): one keyspace for
// every instance, so with `threads: N` a key set through a connection on one worker is seen by
// connections on every other, and the keys outlive an instance that fails (its replacement finds
// them). Each key K is stored as "kv:" + K (so K is at most 1021 bytes, the store taking 1 KiB
// keys), its value behind an 8-byte deadline. Writes are compare-and-set loops (Shared.setIf):
// read, compute, write only if nobody changed the key meanwhile, else again; so INCR from many
// clients on every worker counts exactly, and SET NX/XX/GET and EXPIRE are atomic. DBSIZE,
// FLUSHDB and INFO list the keyspace (Shared.keys), so they cost O(keys). Nothing is saved to
// disk: the store lives as long as the bridge.
//
// Expiry: a key is checked on every access, so a GET right after the deadline never sees the
// value, on any worker. Each instance also keeps the deadlines it set in a min-heap with one
// instance timer (Timer.after) armed for the earliest; when it fires, due keys are deleted with
// setIf, so a value written since by any instance is never deleted. A new instance (after a
// failure, say) lists the keyspace once and takes over every deadline in it.
//
// Memory: the bridge's maxSharedBytes bounds keys plus values of the whole shared store ("kv:"
// and the 8-byte deadline included); a write that would pass it is refused with -OOM; reads and
// deletes always work. examples/kv-server.ts sets it from MAXMEMORY. The bridge's `config`
// option (JSON) may carry {"maxmemory": bytes}: INFO reports it, nothing more.
import { Socket, Timer, Host, Shared, ByteQueue } from "../index";

const MAX_ARGS: i32 = 1024;
const MAX_BULK: i32 = 1 << 20;
const MAX_REQUEST: i64 = 4 << 20;
const MAX_INLINE: i32 = 64 * 1024;
/** Longest pending "*N" / "$N" header line: a valid one has at most 20 digits. */
const MAX_HEADER: i32 = 32;
/** Replies are written out once this many bytes are pending, in slices of this size. */
const OUT_HIGH: i32 = 64 * 1024;
/** Most keys the expiry timer deletes in one onTimer; the rest wait for the next tick. */
const EXPIRE_BATCH: i32 = 1000;
const MAX_TIMER_MS: i64 = 0x7fffffff;

const CR: u8 = 0x0d;
const LF: u8 = 0x0a;

// ---------------------------------------------------------------------------------------------
// Bytes and strings. Where a key's bytes must be a string (the map of watched deadlines, error
// messages), they become one char per byte (Latin-1), which hashes and compares by content and
// keeps any byte value.

/** `len` bytes at `ptr` as a string of one char per byte. */
function latin1(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  const s = __new(<usize>len << 1, idof<String>());
  for (let i = 0; i < len; i++) store<u16>(s + (<usize>i << 1), <u16>load<u8>(ptr + <usize>i));
  return changetype<string>(s);
}

function keyOf(buf: ArrayBuffer): string {
  return latin1(changetype<usize>(buf), buf.byteLength);
}

/** Whether `buf` is the ASCII word `lower` in any case. */
function isWord(buf: ArrayBuffer, lower: string): bool {
  const n = buf.byteLength;
  if (n != lower.length) return false;
  const p = changetype<usize>(buf);
  for (let i = 0; i < n; i++) {
    let c = <u32>load<u8>(p + <usize>i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != <u32>lower.charCodeAt(i)) return false;
  }
  return true;
}

/** A command name in lower case, for the command table. */
function lowerName(buf: ArrayBuffer): string {
  const n = buf.byteLength;
  const p = changetype<usize>(buf);
  const s = __new(<usize>n << 1, idof<String>());
  for (let i = 0; i < n; i++) {
    let c = <u16>load<u8>(p + <usize>i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    store<u16>(s + (<usize>i << 1), c);
  }
  return changetype<string>(s);
}

/** Set by parseInteger. */
let parsed: i64 = 0;

/**
 * Parses `len` bytes at `ptr` as a decimal i64 the way Redis does (string2ll): an optional "-",
 * then digits without leading zeros ("0" alone is fine), nothing else. Sets `parsed`.
 */
function parseInteger(ptr: usize, len: i32): bool {
  if (len <= 0 || len > 20) return false;
  if (len == 1 && load<u8>(ptr) == 0x30) {
    parsed = 0;
    return true;
  }
  let i = 0;
  const negative = load<u8>(ptr) == 0x2d;
  if (negative) i = 1;
  if (i >= len) return false;
  const first = load<u8>(ptr + <usize>i);
  if (first < 0x31 || first > 0x39) return false;
  let v: u64 = 0;
  for (; i < len; i++) {
    const c = load<u8>(ptr + <usize>i);
    if (c < 0x30 || c > 0x39) return false;
    const d = <u64>(c - 0x30);
    if (v > (<u64>0xffffffffffffffff - d) / 10) return false;
    v = v * 10 + d;
  }
  const limit: u64 = negative ? <u64>1 << 63 : (<u64>1 << 63) - 1;
  if (v > limit) return false;
  parsed = negative ? <i64>(0 - v) : <i64>v;
  return true;
}

function parseArg(buf: ArrayBuffer): bool {
  return parseInteger(changetype<usize>(buf), buf.byteLength);
}

/** The decimal digits of `n` (with "-"), as bytes. */
function decimal(n: i64): ArrayBuffer {
  return String.UTF8.encode(n.toString());
}

function now(): i64 {
  return <i64>Date.now();
}

// ---------------------------------------------------------------------------------------------
// The RESP reader: bytes in, commands (arrays of byte strings) out.

/**
 * Reads commands from a connection's byte stream:
 *
 *   reader.push(data);
 *   while (reader.next()) run(reader.args);
 *   if (reader.failed) { answer "-ERR " + reader.error; end the connection }
 *
 * A command is either a RESP array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or an
 * inline command (a line that does not start with "*"). It keeps the arguments read so far
 * between pushes, so a big argument split over many pushes is not parsed again each time.
 */
class RespReader {
  private queue: ByteQueue = new ByteQueue();
  /** Arguments of the command being read. */
  args: Array<ArrayBuffer> = [];
  /** Arguments still to come in the current array; -1 between commands. */
  private left: i32 = -1;
  /** Length of the bulk string whose header was read; -1 when a "$" header comes next. */
  private bulk: i32 = -1;
  /** Bytes of bulk strings announced so far in the current command. */
  private total: i64 = 0;
  /** Leading bytes of the queue already searched for "\n". */
  private scanned: i32 = 0;
  private problem: string = "";

  push(data: ArrayBuffer): void {
    if (this.problem.length == 0) this.queue.push(data);
  }

  get failed(): bool {
    return this.problem.length != 0;
  }

  /** What was wrong, as Redis says it ("Protocol error: invalid bulk length"). */
  get error(): string {
    return this.problem;
  }

  /** Moves to the next whole command (in `args`); false when more bytes are needed or it failed. */
  next(): bool {
    const q = this.queue;
    while (this.problem.length == 0) {
      if (this.left < 0) {
        // Between commands.
        if (q.length == 0) return false;
        if (q.at(0) != 0x2a) return this.inline();
        const n = this.header(MAX_HEADER, "too big mbulk count string", "invalid multibulk length");
        if (n == -1) return false;
        if (n < -1) continue; // failed
        if (parsed > <i64>MAX_ARGS) {
          this.fail("invalid multibulk length");
          continue;
        }
        if (parsed <= 0) continue; // "*0" and "*-1" are ignored, as Redis does
        this.left = <i32>parsed;
        this.args = new Array<ArrayBuffer>(0);
        this.total = 0;
      } else if (this.bulk < 0) {
        // A "$N" header.
        if (q.length == 0) return false;
        const c = q.at(0);
        if (c != 0x24) {
          this.fail("expected '$', got '" + String.fromCharCode(c) + "'");
          continue;
        }
        const n = this.header(MAX_HEADER, "too big bulk count string", "invalid bulk length");
        if (n == -1) return false;
        if (n < -1) continue;
        if (parsed < 0 || parsed > <i64>MAX_BULK) {
          this.fail("invalid bulk length");
          continue;
        }
        this.total += parsed;
        if (this.total > MAX_REQUEST) {
          this.fail("command larger than " + (MAX_REQUEST >> 20).toString() + " MiB");
          continue;
        }
        this.bulk = <i32>parsed;
      } else {
        // The bulk string's bytes and their "\r\n".
        const n = this.bulk;
        if (q.length < n + 2) return false;
        if (q.at(n) != CR || q.at(n + 1) != LF) {
          this.fail("bulk string not followed by CRLF");
          continue;
        }
        this.args.push(q.copy(0, n));
        q.skip(n + 2);
        this.bulk = -1;
        this.left--;
        if (this.left == 0) {
          this.left = -1;
          return true;
        }
      }
    }
    return false;
  }

  /**
   * Reads a "*N\r\n" or "$N\r\n" line into `parsed`: returns 0 when read, -1 when more bytes are
   * needed, -2 after failing.
   */
  private header(max: i32, tooBig: string, invalid: string): i32 {
    const q = this.queue;
    const nl = q.indexOf(LF, this.scanned);
    if (nl < 0) {
      this.scanned = q.length;
      if (q.length > max) {
        this.fail(tooBig);
        return -2;
      }
      return -1;
    }
    this.scanned = 0;
    // "*" or "$", digits, "\r\n".
    if (nl < 2 || q.at(nl - 1) != CR || !parseInteger(q.dataStart + 1, nl - 2)) {
      this.fail(invalid);
      return -2;
    }
    q.skip(nl + 1);
    return 0;
  }

  /** Reads an inline command line; false when the line is not whole yet, or it failed. */
  private inline(): bool {
    const q = this.queue;
    while (q.length > 0) {
      const nl = q.indexOf(LF, this.scanned);
      if (nl < 0) {
        this.scanned = q.length;
        if (q.length > MAX_INLINE) this.fail("too big inline request");
        return false;
      }
      this.scanned = 0;
      if (nl > MAX_INLINE) {
        this.fail("too big inline request");
        return false;
      }
      const line = q.take(nl + 1);
      const args = splitArgs(changetype<usize>(line), nl);
      if (args == null) {
        this.fail("unbalanced quotes in request");
        return false;
      }
      const list = changetype<Array<ArrayBuffer>>(args);
      if (list.length == 0) continue; // an empty line is ignored
      if (list.length > MAX_ARGS) {
        this.fail("invalid multibulk length");
        return false;
      }
      this.args = list;
      return true;
    }
    return false;
  }

  private fail(why: string): void {
    this.problem = "Protocol error: " + why;
    this.queue.clear();
  }
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d || c == 0x0b || c == 0x0c;
}

function hexValue(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Splits an inline command line into words, as Redis (sdssplitargs) does: words are separated by
 * spaces; "double quotes" take \n \r \t \b \a \xHH and \<char> escapes; 'single quotes' take \';
 * a closing quote must be followed by a space or the end. Returns null for unbalanced quotes.
 */
function splitArgs(ptr: usize, len: i32): Array<ArrayBuffer> | null {
  const out = new Array<ArrayBuffer>();
  const word = new ByteQueue();
  let i = 0;
  while (true) {
    while (i < len && isSpace(load<u8>(ptr + <usize>i))) i++;
    if (i >= len) break;
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      if (i >= len) {
        if (inDouble || inSingle) return null;
        break;
      }
      const c = load<u8>(ptr + <usize>i);
      let byte: i32 = c;
      if (inDouble) {
        if (c == 0x5c && i + 3 < len && load<u8>(ptr + <usize>(i + 1)) == 0x78 &&
            hexValue(load<u8>(ptr + <usize>(i + 2))) >= 0 && hexValue(load<u8>(ptr + <usize>(i + 3))) >= 0) {
          byte = hexValue(load<u8>(ptr + <usize>(i + 2))) * 16 + hexValue(load<u8>(ptr + <usize>(i + 3)));
          i += 3;
        } else if (c == 0x5c && i + 1 < len) {
          i++;
          const e = load<u8>(ptr + <usize>i);
          byte = e == 0x6e ? 0x0a : e == 0x72 ? 0x0d : e == 0x74 ? 0x09 : e == 0x62 ? 0x08 : e == 0x61 ? 0x07 : e;
        } else if (c == 0x22) {
          if (i + 1 < len && !isSpace(load<u8>(ptr + <usize>(i + 1)))) return null;
          done = true;
          byte = -1;
        }
      } else if (inSingle) {
        if (c == 0x5c && i + 1 < len && load<u8>(ptr + <usize>(i + 1)) == 0x27) {
          i++;
          byte = 0x27;
        } else if (c == 0x27) {
          if (i + 1 < len && !isSpace(load<u8>(ptr + <usize>(i + 1)))) return null;
          done = true;
          byte = -1;
        }
      } else if (isSpace(c)) {
        done = true;
        byte = -1;
      } else if (c == 0x22) {
        inDouble = true;
        byte = -1;
      } else if (c == 0x27) {
        inSingle = true;
        byte = -1;
      }
      if (byte >= 0) pushByte(word, <u8>byte);
      i++;
    }
    out.push(word.take(word.length));
  }
  return out;
}

const oneByte = new ArrayBuffer(1);

function pushByte(q: ByteQueue, b: u8): void {
  store<u8>(changetype<usize>(oneByte), b);
  q.pushBytes(changetype<usize>(oneByte), 1);
}

// ---------------------------------------------------------------------------------------------
// The store: the bridge's shared store (module Shared), so every instance on every worker thread
// sees one keyspace, and it outlives a failed instance. A key K is stored as "kv:" + K; its
// stored bytes are an 8-byte little-endian deadline (ms since the epoch, 0: none) then the value.
// Every write is a compare-and-set (Shared.setIf) of the bytes read before it, retried when
// another instance changed the key in between, so INCR, SET NX/XX/GET and EXPIRE are atomic
// across workers.

const PREFIX = "kv:";
const PREFIX_BYTES = String.UTF8.encode(PREFIX);
/** Bytes of the deadline in front of each value. */
const HEADER: i32 = 8;
/** Longest key: the shared store takes keys of 1 KiB, "kv:" included. */
const MAX_KEY: i32 = 1024 - 3;
const KEY_TOO_LONG = "ERR key is too long: at most " + MAX_KEY.toString() + " bytes";

// @ts-ignore: decorator
@external("Shared", "get")
declare function shared_get_raw(kPtr: usize, kLen: u32, outPtr: usize, outCap: u32): i32;

/** The store key of `key`: "kv:" + key. */
function storeKey(key: ArrayBuffer): ArrayBuffer {
  const n = key.byteLength;
  const out = new ArrayBuffer(3 + n);
  memory.copy(changetype<usize>(out), changetype<usize>(PREFIX_BYTES), 3);
  memory.copy(changetype<usize>(out) + 3, changetype<usize>(key), <usize>n);
  return out;
}

/** The deadline of stored bytes (0: none; bytes too short to hold one have none). */
function deadlineOf(raw: ArrayBuffer): i64 {
  return raw.byteLength < HEADER ? 0 : load<i64>(changetype<usize>(raw));
}

/** The value of stored bytes. */
function valueOf(raw: ArrayBuffer): ArrayBuffer {
  return raw.byteLength < HEADER ? raw : raw.slice(HEADER);
}

/** Stored bytes: `deadline`, then `value`. */
function encode(deadline: i64, value: ArrayBuffer): ArrayBuffer {
  const out = new ArrayBuffer(HEADER + value.byteLength);
  store<i64>(changetype<usize>(out), deadline);
  memory.copy(changetype<usize>(out) + HEADER, changetype<usize>(value), <usize>value.byteLength);
  return out;
}

function isDue(deadline: i64): bool {
  return deadline != 0 && deadline <= now();
}

/**
 * The stored bytes of store key `sk`, or null when it is missing or its deadline has passed
 * (then it is deleted, unless another instance changed it meanwhile: then it is read again).
 */
function read(sk: ArrayBuffer): ArrayBuffer | null {
  while (true) {
    const got = Shared.get(sk);
    if (got === null) return null;
    const raw = changetype<ArrayBuffer>(got);
    if (!isDue(deadlineOf(raw))) return raw;
    if (Shared.setIf(sk, raw, null) == 1) {
      untrack(sk);
      return null;
    }
  }
}

/**
 * Shared.setIf(sk, expected, next), its refusals answered: 1 written, 0 the key changed since
 * it was read (read it again), < 0 refused (the error reply is written).
 */
function write(c: Client, sk: ArrayBuffer, expected: ArrayBuffer | null, next: ArrayBuffer | null): i32 {
  const code = Shared.setIf(sk, expected, next);
  if (code == Shared.FULL) c.error(OOM);
  else if (code == Shared.KEY_TOO_LONG) c.error(KEY_TOO_LONG);
  return code;
}

/** Set by probe: the full length of the stored bytes. */
let probedLength: i32 = 0;
const probeBuf = new ArrayBuffer(HEADER);

/** The deadline of store key `sk` (reading only its first 8 bytes), or -1 when it is missing. */
function probe(sk: ArrayBuffer): i64 {
  const n = shared_get_raw(changetype<usize>(sk), <u32>sk.byteLength, changetype<usize>(probeBuf), <u32>HEADER);
  probedLength = n;
  if (n < 0) return -1;
  return n < HEADER ? 0 : load<i64>(changetype<usize>(probeBuf));
}

/** Every store key of kv (O(keys in the shared store), so only DBSIZE, FLUSHDB, INFO use it). */
function allKeys(): Array<ArrayBuffer> {
  return Shared.keyBuffers(PREFIX);
}

// Expiry: a key is checked on every access (read above), so a GET right after the deadline never
// sees the value. Besides, each instance keeps the deadlines it set in a min-heap and arms one
// instance timer (Timer.after) for the earliest; when it fires, each due key is deleted with
// setIf, so a value written since (by any instance) is never deleted. A new instance (after a
// failure) first lists the keyspace and takes over every deadline in it.

/** A deadline this instance watches: store key, deadline, slot in the heap. */
class Entry {
  /** Deadline in ms since the epoch. */
  expiresAt: i64 = 0;
  /** Where the entry sits in the expiry heap; -1 when it is not in it. */
  heapIndex: i32 = -1;
  constructor(public name: string, public key: ArrayBuffer) {}
}

/** The entries, earliest first (a binary min-heap that knows each entry's slot). */
class ExpiryHeap {
  private items: Array<Entry> = [];

  get length(): i32 {
    return this.items.length;
  }

  /** The entry with the earliest deadline; only when length > 0. */
  first(): Entry {
    return this.items[0];
  }

  /** Adds `e`, or moves it after its deadline changed. */
  put(e: Entry): void {
    if (e.heapIndex < 0) {
      e.heapIndex = this.items.length;
      this.items.push(e);
    }
    this.up(e.heapIndex);
    this.down(e.heapIndex);
  }

  remove(e: Entry): void {
    const i = e.heapIndex;
    if (i < 0) return;
    e.heapIndex = -1;
    const last = this.items.pop();
    if (i == this.items.length) return; // it was the last one
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  clear(): void {
    for (let i = 0; i < this.items.length; i++) this.items[i].heapIndex = -1;
    this.items = [];
  }

  private swap(i: i32, j: i32): void {
    const a = this.items[i];
    const b = this.items[j];
    this.items[i] = b;
    this.items[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }

  private up(i: i32): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.items[parent].expiresAt <= this.items[i].expiresAt) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: i32): void {
    const n = this.items.length;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const child = r < n && this.items[r].expiresAt < this.items[l].expiresAt ? r : l;
      if (this.items[i].expiresAt <= this.items[child].expiresAt) return;
      this.swap(i, child);
      i = child;
    }
  }
}

/** The deadlines this instance watches, by store key (one char per byte). */
const tracked = new Map<string, Entry>();
const deadlines = new ExpiryHeap();

/** The expiry timer, and the deadline it was armed for (0: none armed). */
let expiryTimer: i32 = 0;
let armedFor: i64 = 0;

/** Watches the deadline `at` of store key `sk` (0: stops watching it), without arming the timer. */
function watch(sk: ArrayBuffer, at: i64): void {
  const name = keyOf(sk);
  if (at == 0) {
    if (!tracked.has(name)) return;
    deadlines.remove(tracked.get(name));
    tracked.delete(name);
    return;
  }
  let e: Entry;
  if (tracked.has(name)) e = tracked.get(name);
  else {
    e = new Entry(name, sk);
    tracked.set(name, e);
  }
  e.expiresAt = at;
  deadlines.put(e);
}

/** Watches the deadline `at` of store key `sk` (0: none) and keeps the expiry timer right. */
function track(sk: ArrayBuffer, at: i64): void {
  watch(sk, at);
  if (at != 0) schedule();
}

function untrack(sk: ArrayBuffer): void {
  watch(sk, 0);
}

/**
 * Arms the expiry timer for the earliest deadline. A timer already armed for an earlier moment
 * is kept (when it fires with nothing due, it is armed again), so most writes cost no host call.
 */
function schedule(): void {
  if (deadlines.length == 0) return; // a timer still armed fires, finds nothing, and stops
  const at = deadlines.first().expiresAt;
  if (expiryTimer > 0) {
    if (armedFor <= at) return;
    Timer.clear(expiryTimer);
    expiryTimer = 0;
  }
  let ms = at - now();
  if (ms < 1) ms = 1;
  if (ms > MAX_TIMER_MS) ms = MAX_TIMER_MS;
  const t = Timer.after(<u32>ms);
  if (t <= 0) {
    // Keys still expire on access; the next write tries again.
    console.warn("kv: cannot arm the expiry timer (" + t.toString() + ")");
    return;
  }
  expiryTimer = t;
  armedFor = at;
}

export function onTimer(timer: i32, id: u32): void {
  if (timer != expiryTimer) return;
  expiryTimer = 0;
  armedFor = 0;
  const t = now();
  for (let n = 0; n < EXPIRE_BATCH && deadlines.length > 0; n++) {
    const e = deadlines.first();
    if (e.expiresAt > t) break;
    deadlines.remove(e);
    tracked.delete(e.name);
    // The key as it is now (its first 8 bytes): watched again when another instance moved its
    // deadline later; when due, read whole and deleted with setIf, unless it changed meanwhile.
    const d = probe(e.key);
    if (d <= 0) continue; // gone, or no deadline any more
    if (d > t) {
      watch(e.key, d);
      continue;
    }
    const got = Shared.get(e.key);
    if (got === null) continue;
    const raw = changetype<ArrayBuffer>(got);
    if (isDue(deadlineOf(raw))) Shared.setIf(e.key, raw, null);
  }
  schedule();
}

let configured = false;
/** The config's maxmemory, shown by INFO (the limit itself is the bridge's maxSharedBytes). */
let maxMemory: i64 = 0;

/**
 * Once per instance: reads the bridge's config ({"maxmemory": bytes}, for INFO) and takes over
 * the deadlines already in the store (those a failed instance watched, for one).
 */
function configure(): void {
  if (configured) return;
  configured = true;
  const keys = allKeys();
  for (let i = 0; i < keys.length; i++) {
    const d = probe(keys[i]);
    if (d > 0) watch(keys[i], d);
  }
  schedule();
  const text = Host.configString();
  const at = text.indexOf("\"maxmemory\"");
  if (at < 0) return;
  let i = text.indexOf(":", at) + 1;
  while (i < text.length && text.charCodeAt(i) == 0x20) i++;
  let j = i;
  while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++;
  const digits = String.UTF8.encode(text.substring(i, j));
  if (i > 0 && parseArg(digits) && parsed > 0) maxMemory = parsed;
  else console.warn("kv: config maxmemory is not a number of bytes: " + text);
}

// ---------------------------------------------------------------------------------------------
// Connections and replies.

const OK = String.UTF8.encode("+OK\r\n");
const NIL = String.UTF8.encode("$-1\r\n");
const CRLF = String.UTF8.encode("\r\n");

/** One connection: its reader, its pending replies, and whether it is ending. */
class Client {
  reader: RespReader = new RespReader();
  /** Replies not yet handed to Socket.write. */
  out: ByteQueue = new ByteQueue();
  /** Waiting for onDrain (a write returned false); reading is paused. */
  blocked: bool = false;
  /** No more commands run (QUIT, or a protocol error); the connection ends once `out` is sent. */
  stopped: bool = false;
  /** The peer half-closed: end after answering what it sent. */
  peerEnded: bool = false;
  /** Socket.end was called. */
  ended: bool = false;

  constructor(public id: u32) {}

  raw(buf: ArrayBuffer): void {
    this.out.push(buf);
  }

  /** `s` (one byte per char) with CR and LF made spaces, so it cannot break the protocol. */
  line(s: string): void {
    const n = s.length;
    const buf = new ArrayBuffer(n);
    const p = changetype<usize>(buf);
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c == 0x0d || c == 0x0a) c = 0x20;
      store<u8>(p + <usize>i, <u8>c);
    }
    this.out.push(buf);
    this.out.push(CRLF);
  }

  ok(): void {
    this.raw(OK);
  }

  simple(s: string): void {
    this.line("+" + s);
  }

  /** An error reply; `message` starts with its code ("ERR ...", "OOM ..."). */
  error(message: string): void {
    this.line("-" + message);
  }

  int(n: i64): void {
    this.line(":" + n.toString());
  }

  nil(): void {
    this.raw(NIL);
  }

  bulk(value: ArrayBuffer): void {
    this.line("$" + value.byteLength.toString());
    this.raw(value);
    this.raw(CRLF);
  }

  bulkString(s: string): void {
    this.bulk(String.UTF8.encode(s));
  }

  arrayOf(n: i32): void {
    this.line("*" + n.toString());
  }
}

const clients = new Map<u32, Client>();

// ---------------------------------------------------------------------------------------------
// The commands.

type Handler = (c: Client, args: Array<ArrayBuffer>) => void;

class Command {
  /** `arity` as Redis counts it: the name included; negative: at least -arity. */
  constructor(public name: string, public arity: i32, public run: Handler) {}
}

const commands = new Map<string, Command>();

function define(name: string, arity: i32, run: Handler): void {
  commands.set(name, new Command(name, arity, run));
}

const NOT_INTEGER = "ERR value is not an integer or out of range";
const SYNTAX = "ERR syntax error";
const OOM = "OOM command not allowed when used memory > 'maxmemory'.";

define("ping", -1, (c: Client, args: Array<ArrayBuffer>): void => {
  if (args.length > 2) wrongArity(c, "ping");
  else if (args.length == 2) c.bulk(args[1]);
  else c.simple("PONG");
});

define("echo", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  c.bulk(args[1]);
});

define("get", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  const raw = read(storeKey(args[1]));
  if (raw === null) c.nil();
  else c.bulk(valueOf(changetype<ArrayBuffer>(raw)));
});

define("set", -3, (c: Client, args: Array<ArrayBuffer>): void => {
  // SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]
  let nx = false;
  let xx = false;
  let get = false;
  let keepTtl = false;
  let unit: i64 = 0; // 1000 for EX, 1 for PX, 0 for neither
  let expireArg: ArrayBuffer | null = null;
  for (let i = 3; i < args.length; i++) {
    const a = args[i];
    const hasNext = i + 1 < args.length;
    if (isWord(a, "nx") && !xx) nx = true;
    else if (isWord(a, "xx") && !nx) xx = true;
    else if (isWord(a, "get")) get = true;
    else if (isWord(a, "keepttl") && unit == 0) keepTtl = true;
    else if (isWord(a, "ex") && hasNext && !keepTtl && unit != 1) {
      unit = 1000;
      expireArg = args[++i];
    } else if (isWord(a, "px") && hasNext && !keepTtl && unit != 1000) {
      unit = 1;
      expireArg = args[++i];
    } else {
      c.error(SYNTAX);
      return;
    }
  }
  let deadline: i64 = 0;
  if (expireArg != null) {
    if (!parseArg(changetype<ArrayBuffer>(expireArg))) {
      c.error(NOT_INTEGER);
      return;
    }
    deadline = deadlineAfter(parsed, unit);
    if (parsed <= 0 || deadline == 0) {
      c.error("ERR invalid expire time in 'set' command");
      return;
    }
  }
  const sk = storeKey(args[1]);
  const value = args[2];
  let old: ArrayBuffer | null = null;
  let next: i64 = 0;
  while (true) {
    old = read(sk);
    const exists = old !== null;
    if ((nx && exists) || (xx && !exists)) {
      if (!get) c.nil();
      else if (old === null) c.nil();
      else c.bulk(valueOf(changetype<ArrayBuffer>(old)));
      return;
    }
    next = deadline != 0 ? deadline : keepTtl && old !== null ? deadlineOf(changetype<ArrayBuffer>(old)) : 0;
    const code = write(c, sk, old, encode(next, value));
    if (code < 0) return;
    if (code == 1) break;
  }
  track(sk, next);
  if (!get) c.ok();
  else if (old === null) c.nil();
  else c.bulk(valueOf(changetype<ArrayBuffer>(old)));
});

/**
 * The deadline `amount` x `unit` ms from now, or 0 when it overflows an i64 (Redis answers
 * "invalid expire time"). `amount` may be negative or 0 (a time in the past).
 */
function deadlineAfter(amount: i64, unit: i64): i64 {
  if (amount > i64.MAX_VALUE / unit || amount < i64.MIN_VALUE / unit) return 0;
  const ms = amount * unit;
  const t = now();
  if (ms > i64.MAX_VALUE - t) return 0;
  const at = t + ms;
  // A deadline in the past (or now) is kept as 1 ms after the epoch: already due, never "none".
  return at < 1 ? 1 : at;
}

/** Deletes key `sk` unless it is missing (or expired); whether it was there. */
function deleteKey(sk: ArrayBuffer): bool {
  while (true) {
    const raw = read(sk);
    if (raw === null) return false;
    if (Shared.setIf(sk, raw, null) == 1) {
      untrack(sk);
      return true;
    }
  }
}

define("del", -2, (c: Client, args: Array<ArrayBuffer>): void => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (deleteKey(storeKey(args[i]))) n++;
  c.int(n);
});

define("exists", -2, (c: Client, args: Array<ArrayBuffer>): void => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (read(storeKey(args[i])) !== null) n++;
  c.int(n);
});

/** INCR, DECR, INCRBY, DECRBY: adds `delta` to the integer at `key` (kept with its expiry). */
function incrBy(c: Client, key: ArrayBuffer, delta: i64): void {
  const sk = storeKey(key);
  while (true) {
    const old = read(sk);
    let current: i64 = 0;
    let deadline: i64 = 0;
    if (old !== null) {
      const raw = changetype<ArrayBuffer>(old);
      if (!parseArg(valueOf(raw))) {
        c.error(NOT_INTEGER);
        return;
      }
      current = parsed;
      deadline = deadlineOf(raw);
    }
    if ((delta > 0 && current > i64.MAX_VALUE - delta) || (delta < 0 && current < i64.MIN_VALUE - delta)) {
      c.error("ERR increment or decrement would overflow");
      return;
    }
    const next = current + delta;
    const code = write(c, sk, old, encode(deadline, decimal(next)));
    if (code < 0) return;
    if (code == 1) {
      c.int(next);
      return;
    }
  }
}

define("incr", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  incrBy(c, args[1], 1);
});

define("decr", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  incrBy(c, args[1], -1);
});

define("incrby", 3, (c: Client, args: Array<ArrayBuffer>): void => {
  if (!parseArg(args[2])) c.error(NOT_INTEGER);
  else incrBy(c, args[1], parsed);
});

define("decrby", 3, (c: Client, args: Array<ArrayBuffer>): void => {
  if (!parseArg(args[2])) c.error(NOT_INTEGER);
  else if (parsed == i64.MIN_VALUE) c.error("ERR decrement would overflow");
  else incrBy(c, args[1], -parsed);
});

define("expire", -3, (c: Client, args: Array<ArrayBuffer>): void => {
  // EXPIRE key seconds [NX|XX|GT|LT]
  if (!parseArg(args[2])) {
    c.error(NOT_INTEGER);
    return;
  }
  const seconds = parsed;
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let i = 3; i < args.length; i++) {
    const a = args[i];
    if (isWord(a, "nx")) nx = true;
    else if (isWord(a, "xx")) xx = true;
    else if (isWord(a, "gt")) gt = true;
    else if (isWord(a, "lt")) lt = true;
    else {
      c.error("ERR Unsupported option " + keyOf(a));
      return;
    }
  }
  if (nx && (xx || gt || lt)) {
    c.error("ERR NX and XX, GT or LT options at the same time are not compatible");
    return;
  }
  if (gt && lt) {
    c.error("ERR GT and LT options at the same time are not compatible");
    return;
  }
  const at = deadlineAfter(seconds, 1000);
  if (at == 0) {
    c.error("ERR invalid expire time in 'expire' command");
    return;
  }
  const sk = storeKey(args[1]);
  while (true) {
    const old = read(sk);
    if (old === null) {
      c.int(0);
      return;
    }
    const raw = changetype<ArrayBuffer>(old);
    const current = deadlineOf(raw); // 0: none, which counts as "never" (infinitely late)
    if ((nx && current != 0) || (xx && current == 0) ||
        (gt && (current == 0 || at <= current)) || (lt && current != 0 && at >= current)) {
      c.int(0);
      return;
    }
    const due = at <= now();
    const code = write(c, sk, raw, due ? null : encode(at, valueOf(raw)));
    if (code < 0) return;
    if (code == 1) {
      if (due) untrack(sk);
      else track(sk, at);
      c.int(1);
      return;
    }
  }
});

/** TTL and PTTL: time left in ms, or -1 (no expiry), -2 (no key). */
function timeLeft(key: ArrayBuffer): i64 {
  const old = read(storeKey(key));
  if (old === null) return -2;
  const at = deadlineOf(changetype<ArrayBuffer>(old));
  if (at == 0) return -1;
  const left = at - now();
  return left < 0 ? 0 : left;
}

define("ttl", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  const ms = timeLeft(args[1]);
  c.int(ms < 0 ? ms : (ms + 500) / 1000);
});

define("pttl", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  c.int(timeLeft(args[1]));
});

define("persist", 2, (c: Client, args: Array<ArrayBuffer>): void => {
  const sk = storeKey(args[1]);
  while (true) {
    const old = read(sk);
    if (old === null || deadlineOf(changetype<ArrayBuffer>(old)) == 0) {
      c.int(0);
      return;
    }
    const raw = changetype<ArrayBuffer>(old);
    const code = write(c, sk, raw, encode(0, valueOf(raw)));
    if (code < 0) return;
    if (code == 1) {
      untrack(sk);
      c.int(1);
      return;
    }
  }
});

/** Counts of the live keys: set by census. */
let liveKeys: i64 = 0;
let liveExpires: i64 = 0;
let liveBytes: i64 = 0;

/** Counts the keys not yet due, those with a deadline, and their bytes (O(keys in the store)). */
function census(): void {
  liveKeys = 0;
  liveExpires = 0;
  liveBytes = 0;
  const keys = allKeys();
  for (let i = 0; i < keys.length; i++) {
    const d = probe(keys[i]);
    if (d < 0 || isDue(d)) continue;
    liveKeys++;
    if (d != 0) liveExpires++;
    liveBytes += <i64>keys[i].byteLength + <i64>probedLength;
  }
}

define("dbsize", 1, (c: Client, args: Array<ArrayBuffer>): void => {
  census();
  c.int(liveKeys);
});

function flush(c: Client, args: Array<ArrayBuffer>): void {
  if (args.length > 2 || (args.length == 2 && !isWord(args[1], "sync") && !isWord(args[1], "async"))) {
    c.error(SYNTAX);
    return;
  }
  // Not one atomic step: a key another instance writes while the listing is deleted may stay.
  const keys = allKeys();
  for (let i = 0; i < keys.length; i++) Shared.remove(keys[i]);
  tracked.clear();
  deadlines.clear();
  c.ok();
}

define("flushdb", -1, flush);
define("flushall", -1, flush);

define("info", -1, (c: Client, args: Array<ArrayBuffer>): void => {
  census();
  let text = "# Server\r\nserver:wasm-socket-bridge kv guest\r\nredis_mode:standalone\r\nloading:0\r\n";
  text += "\r\n# Memory\r\nused_memory_dataset:" + liveBytes.toString() + "\r\nmaxmemory:" + maxMemory.toString() + "\r\n";
  text += "\r\n# Keyspace\r\n";
  if (liveKeys > 0) {
    text += "db0:keys=" + liveKeys.toString() + ",expires=" + liveExpires.toString() + ",avg_ttl=0\r\n";
  }
  c.bulkString(text);
});

define("hello", -1, (c: Client, args: Array<ArrayBuffer>): void => {
  // HELLO [protover]: this server speaks RESP2 only.
  if (args.length >= 2) {
    if (!parseArg(args[1])) {
      c.error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (parsed != 2) {
      c.error("NOPROTO unsupported protocol version");
      return;
    }
    if (args.length > 2) {
      c.error("ERR Syntax error in HELLO option '" + keyOf(args[2]) + "'");
      return;
    }
  }
  c.arrayOf(14);
  c.bulkString("server");
  c.bulkString("wasm-socket-bridge-kv");
  c.bulkString("version");
  c.bulkString("1.0.0");
  c.bulkString("proto");
  c.int(2);
  c.bulkString("id");
  c.int(c.id);
  c.bulkString("mode");
  c.bulkString("standalone");
  c.bulkString("role");
  c.bulkString("master");
  c.bulkString("modules");
  c.arrayOf(0);
});

define("quit", -1, (c: Client, args: Array<ArrayBuffer>): void => {
  c.ok();
  c.stopped = true;
});

function wrongArity(c: Client, name: string): void {
  c.error("ERR wrong number of arguments for '" + name + "' command");
}

/** Runs one command and appends its reply. */
function execute(c: Client, args: Array<ArrayBuffer>): void {
  const name = lowerName(args[0]);
  if (!commands.has(name)) {
    // As Redis 7 words it: the name as sent, then the first arguments (about 128 bytes).
    let rest = "";
    for (let i = 1; i < args.length && rest.length < 128; i++) {
      const arg = keyOf(args[i]);
      rest += "'" + arg.substring(0, 128 - rest.length) + "' ";
    }
    c.error("ERR unknown command '" + keyOf(args[0]).substring(0, 128) + "', with args beginning with: " + rest);
    return;
  }
  const cmd = commands.get(name);
  const n = args.length;
  if ((cmd.arity > 0 && n != cmd.arity) || (cmd.arity < 0 && n < -cmd.arity)) {
    wrongArity(c, cmd.name);
    return;
  }
  cmd.run(c, args);
}

// ---------------------------------------------------------------------------------------------
// The connection loop: run commands, write replies in slices, wait for onDrain when the client
// does not read, end the connection after QUIT or a protocol error.

/**
 * Hands pending replies to the socket in slices. False when a write said to wait (the client is
 * not reading): then reading pauses until onDrain.
 */
function send(c: Client): bool {
  const q = c.out;
  while (q.length > 0) {
    const n = q.length < OUT_HIGH ? q.length : OUT_HIGH;
    const ok = Socket.writeBytes(c.id, q.dataStart, <u32>n);
    q.skip(n);
    if (!ok) {
      c.blocked = true;
      Socket.pause(c.id);
      return false;
    }
  }
  return true;
}

/** Answers every whole command buffered for `c`, as far as the client reads the answers. */
function serve(c: Client): void {
  while (!c.blocked && !c.ended) {
    const r = c.reader;
    while (!c.stopped && c.out.length < OUT_HIGH && r.next()) execute(c, r.args);
    if (r.failed && !c.stopped) {
      c.error("ERR " + r.error);
      c.stopped = true;
    }
    const more = !c.stopped && c.out.length >= OUT_HIGH; // stopped for output, not for input
    if (!send(c)) return;
    if (more) continue;
    if (c.stopped || c.peerEnded) {
      c.ended = true;
      Socket.end(c.id);
    }
    return;
  }
}

export function onConnection(id: u32): void {
  configure();
  clients.set(id, new Client(id));
}

export function onData(id: u32, data: ArrayBuffer): void {
  if (!clients.has(id)) return;
  const c = clients.get(id);
  if (c.stopped || c.ended) return; // after QUIT or a protocol error, input is ignored
  c.reader.push(data);
  serve(c);
}

export function onDrain(id: u32): void {
  if (!clients.has(id)) return;
  const c = clients.get(id);
  if (!c.blocked) return;
  c.blocked = false;
  Socket.resume(id);
  serve(c);
}

export function onEnd(id: u32): void {
  if (!clients.has(id)) return;
  const c = clients.get(id);
  c.peerEnded = true;
  if (!c.blocked) serve(c);
}

export function onClose(id: u32): void {
  clients.delete(id);
}
