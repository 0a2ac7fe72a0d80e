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
