// clock: a test guest for timers, idle timeouts, addresses and configuration. Each line a client
// sends is one command; answers are lines:
//   after N / every N    Timer.after / Timer.every(N, this connection) -> "timer T" (or the code)
//   instance N           Timer.after(N, 0): an instance timer, reported to this connection
//   clear T              Timer.clear(T) -> "cleared"
//   idle N               Socket.setTimeout(this connection, N) -> "idle <code>"
//   who                  "<remoteAddress>:<remotePort> <localAddress>:<localPort>"
//   config               "config <Host.configString()>"
//   many N               N instance timers of an hour -> "many <set> <first refusal code>"
//   bad                  "bad <code for an unknown connection> <code for 2^31 ms> <idle code for unknown>"
//   trapnext N           a timer in N ms whose onTimer traps
//   spinnext N           a timer in N ms whose onTimer loops forever (for fuelPerEvent)
//   badptr               Socket.remoteAddress into a pointer outside memory (a trap)
//   sget K / sset K V / sdel K / sadd K N   the shared store -> "sget <value|null>",
//                        "sset <code>", "sdel <true|false>", "sadd <new value>"
//   skey N               Shared.set with a key of N bytes -> "skey <code>"
//   sbadptr              Shared.get into a pointer outside memory (a trap)
//   sif K E V            Shared.setIfString(K, E, V), "-" for null -> "sif <code>"
//   sincr K              a compare-and-set loop adding 1 to the decimal string under K ->
//                        "sincr <new value> <retries>"
//   skeys P              Shared.keys(P) -> "skeys <count> <keys joined by ,>"
//   sifraw kP kL eP eL vP vL     the raw Shared.setIf import -> "sifraw <code>"
//   skeysraw pP pL oP oC         the raw Shared.keys import -> "skeysraw <code> <entries>"
//                        (raw arguments: "S" is a scratch buffer starting "key", "O" 2 KiB of it
//                        for a listing, anything else a number, e.g. 4294967280); <entries> is
//                        how many whole entries the listing wrote at "O"
//   trap                 unreachable
//   busy N               runs for N ms inside the event, then "busy done"
//   call NAME DATA       "before", Host.call(NAME, DATA, this connection) -> "called <code>",
//                        "after"; its onReply writes "reply <call> <status> <data>" here
//   calls N NAME         N calls of NAME with data i -> "calls <handed out> <first refusal>"
// onMessage writes "msg <text>" (see below). onTimer writes "fired T" to the timer's connection (the instance timer's reporter), and logs
// "fired T <id>"; onTimeout writes "timeout"; onClose logs "closed <id>".
import { Socket, Timer, Host, Shared, LineReader } from "../../assembly/index";

const callers = new Map<i32, u32>();

// @ts-ignore: decorator
@external("Socket", "remoteAddress")
declare function raw_remote_address(id: u32, ptr: usize, cap: u32): i32;
// @ts-ignore: decorator
@external("Shared", "get")
declare function raw_shared_get(kPtr: usize, kLen: u32, outPtr: usize, outCap: u32): i32;
// @ts-ignore: decorator
@external("Shared", "setIf")
declare function raw_shared_set_if(kPtr: usize, kLen: i32, ePtr: usize, eLen: i32, vPtr: usize, vLen: i32): i32;
// @ts-ignore: decorator
@external("Shared", "keys")
declare function raw_shared_keys(pPtr: usize, pLen: i32, outPtr: usize, outCap: i32): i32;

const SCRATCH_BYTES = 4096;
const scratch = new ArrayBuffer(SCRATCH_BYTES);

/** A raw import argument: "S" is the scratch buffer, "O" its second half, else a number. */
function rawArg(word: string): i32 {
  if (word == "S") return <i32>changetype<usize>(scratch);
  if (word == "O") return <i32>(changetype<usize>(scratch) + 2048);
  return <i32>I64.parseInt(word);
}

function fillScratch(): void {
  const base = changetype<usize>(scratch);
  memory.fill(base, 0xee, SCRATCH_BYTES);
  store<u8>(base, 0x6b); // "key"
  store<u8>(base + 1, 0x65);
  store<u8>(base + 2, 0x79);
}

/** The entries (u32 length, bytes) at scratch + 2048 up to the untouched fill. */
function entriesWritten(): i32 {
  const base = changetype<usize>(scratch) + 2048;
  let at: usize = 0;
  let n = 0;
  while (at + 4 <= 2048) {
    const len = load<u32>(base + at);
    if (len == 0xeeeeeeee || at + 4 + <usize>len > 2048) break;
    at += 4 + <usize>len;
    n++;
  }
  return n;
}

/** Adds 1 to the decimal string under `key` with a compare-and-set loop: "<new value> <retries>". */
function casIncrement(key: string): string {
  let retries = 0;
  while (true) {
    const old = Shared.get(key);
    const n = old === null ? <i64>0 : I64.parseInt(String.UTF8.decode(changetype<ArrayBuffer>(old)));
    const next = (n + 1).toString();
    const code = Shared.setIf(key, old, String.UTF8.encode(next));
    if (code == 1) return next + " " + retries.toString();
    if (code < 0) return code.toString() + " " + retries.toString();
    retries++;
  }
}

const readers = new Map<u32, LineReader>();
let reporter: u32 = 0;
let trapTimer: i32 = 0;
let spinTimer: i32 = 0;

function say(id: u32, line: string): void {
  Socket.write(id, line + "\n");
}

export function onConnection(id: u32): void {
  readers.set(id, new LineReader());
}

function command(id: u32, line: string): void {
  const space = line.indexOf(" ");
  const word = space < 0 ? line : line.substring(0, space);
  const arg = space < 0 ? "" : line.substring(space + 1);
  const n = <u32>I64.parseInt(arg);
  if (word == "after") say(id, "timer " + Timer.after(n, id).toString());
  else if (word == "every") say(id, "timer " + Timer.every(n, id).toString());
  else if (word == "instance") {
    reporter = id;
    say(id, "timer " + Timer.after(n, 0).toString());
  } else if (word == "clear") {
    Timer.clear(I32.parseInt(arg));
    say(id, "cleared");
  } else if (word == "idle") say(id, "idle " + Socket.setTimeout(id, n).toString());
  else if (word == "who") {
    say(id, Socket.remoteAddress(id) + ":" + Socket.remotePort(id).toString() + " " +
      Socket.localAddress(id) + ":" + Socket.localPort(id).toString());
  } else if (word == "config") say(id, "config " + Host.configString());
  else if (word == "many") {
    let set = 0;
    let refusal = 0;
    for (let i: u32 = 0; i < n; i++) {
      const t = Timer.after(3600000, 0);
      if (t > 0) set++;
      else if (refusal == 0) refusal = t;
    }
    say(id, "many " + set.toString() + " " + refusal.toString());
  } else if (word == "bad") {
    say(id, "bad " + Timer.after(10, 987654).toString() + " " + Timer.after(0x80000000, id).toString() +
      " " + Socket.setTimeout(987654, 10).toString());
  } else if (word == "trapnext") {
    trapTimer = Timer.after(n, id);
    say(id, "timer " + trapTimer.toString());
  } else if (word == "spinnext") {
    spinTimer = Timer.after(n, id);
    say(id, "timer " + spinTimer.toString());
  } else if (word == "badptr") {
    raw_remote_address(id, 0xfffffff0, 64);
  } else if (word == "sget") {
    const v = Shared.getString(arg);
    say(id, "sget " + (v === null ? "null" : v));
  } else if (word == "sset") {
    const sp = arg.indexOf(" ");
    say(id, "sset " + Shared.set(arg.substring(0, sp), arg.substring(sp + 1)).toString());
  } else if (word == "sdel") say(id, "sdel " + Shared.remove(arg).toString());
  else if (word == "sadd") {
    const sp = arg.indexOf(" ");
    say(id, "sadd " + Shared.add(arg.substring(0, sp), I64.parseInt(arg.substring(sp + 1))).toString());
  } else if (word == "skey") say(id, "skey " + Shared.set("k".repeat(<i32>n), "v").toString());
  else if (word == "sbadptr") {
    Shared.set("x", "value");
    const k = String.UTF8.encode("x");
    raw_shared_get(changetype<usize>(k), 1, 0xfffffff0, 64);
  } else if (word == "sif") {
    const parts = arg.split(" ");
    const e: string | null = parts[1] == "-" ? null : parts[1];
    const v: string | null = parts[2] == "-" ? null : parts[2];
    say(id, "sif " + Shared.setIfString(parts[0], e, v).toString());
  } else if (word == "sincr") say(id, "sincr " + casIncrement(arg));
  else if (word == "skeys") {
    const list = Shared.keys(arg);
    say(id, "skeys " + list.length.toString() + " " + list.join(","));
  } else if (word == "sifraw") {
    const a = arg.split(" ");
    fillScratch();
    const code = raw_shared_set_if(rawArg(a[0]), rawArg(a[1]), rawArg(a[2]), rawArg(a[3]), rawArg(a[4]), rawArg(a[5]));
    say(id, "sifraw " + code.toString());
  } else if (word == "skeysraw") {
    const a = arg.split(" ");
    fillScratch();
    const code = raw_shared_keys(rawArg(a[0]), rawArg(a[1]), rawArg(a[2]), rawArg(a[3]));
    say(id, "skeysraw " + code.toString() + " " + entriesWritten().toString());
  } else if (word == "trap") unreachable();
  else if (word == "busy") {
    // Runs for N ms inside this one event (a guest stuck in a long event).
    const until = Date.now() + <i64>n;
    while (Date.now() < until) {}
    say(id, "busy done");
  }
  else if (word == "call") {
    const sp = arg.indexOf(" ");
    const name = sp < 0 ? arg : arg.substring(0, sp);
    const data = sp < 0 ? "" : arg.substring(sp + 1);
    say(id, "before");
    const call = Host.call(name, data, id);
    if (call > 0) callers.set(call, id);
    say(id, "called " + call.toString());
    say(id, "after");
  } else if (word == "calls") {
    const sp = arg.indexOf(" ");
    const count = I32.parseInt(arg.substring(0, sp));
    const name = arg.substring(sp + 1);
    let made = 0;
    let refusal = 0;
    for (let i = 0; i < count; i++) {
      const call = Host.call(name, i.toString(), id);
      if (call > 0) {
        callers.set(call, id);
        made++;
      } else if (refusal == 0) refusal = call;
    }
    say(id, "calls " + made.toString() + " " + refusal.toString());
  }
  else say(id, "unknown " + word);
}

export function onData(id: u32, data: ArrayBuffer): void {
  const r = readers.get(id);
  r.push(data);
  while (r.next()) command(id, r.line);
}

export function onTimer(timer: i32, id: u32): void {
  if (timer == trapTimer) unreachable();
  if (timer == spinTimer) {
    let x: u64 = 1;
    while (x != 0) x = x * 6364136223846793005 + 1;
  }
  console.log("fired " + timer.toString() + " " + id.toString());
  say(id == 0 ? reporter : id, "fired " + timer.toString());
}

// onMessage: "msg <text>" to connection `id`, or to every connection of this instance for a
// broadcast (id 0).
export function onMessage(id: u32, data: ArrayBuffer): void {
  const line = "msg " + String.UTF8.decode(data);
  if (id != 0) {
    say(id, line);
    return;
  }
  const ids = readers.keys();
  for (let i = 0; i < ids.length; i++) say(ids[i], line);
}

export function onReply(call: i32, status: i32, data: ArrayBuffer): void {
  if (!callers.has(call)) return;
  const id = callers.get(call);
  callers.delete(call);
  say(id, "reply " + call.toString() + " " + status.toString() + " " + String.UTF8.decode(data));
}

export function onTimeout(id: u32): void {
  say(id, "timeout");
}

export function onClose(id: u32): void {
  readers.delete(id);
  console.log("closed " + id.toString());
}
