// misbehave: a test guest that echoes, and misbehaves on command. A chunk that starts with one
// of these words makes it:
//   trap    execute `unreachable` (GuestError kind 'trap')
//   abort   throw (AssemblyScript abort: GuestError kind 'abort' with message and location)
//   oob     call Socket.write with a pointer far outside its memory (kind 'trap')
//   log     console.log the rest of the chunk, trace() a number, and echo
//   close   Socket.close its own connection, then try to write (the write returns false)
//   count   answer with the number of connections this instance has seen
//   flood   write 64 KiB a hundred times in one event, ignoring Socket.write's false
//   spin N  burn CPU for N milliseconds, then answer "spun"
//   hog N   allocate N MiB (kept for the instance's life), then answer "holding N MiB"
//   manylogs N      console.log a 60,000-character line N times, then answer "logged N"
//   dialflood N K P  dial N connections to 127.0.0.1:P and write K KiB to each, then answer
//                    "dialed N" (all in one event)
//   pauseflood N    call Socket.pause on its own connection N times, then answer "paused N"
// Anything else is echoed.
import { Socket } from "../../assembly/index";

let seen: u32 = 0;
const hoard: Array<Uint8Array> = [];

function startsWith(b: Uint8Array, word: string): bool {
  const w = String.UTF8.encode(word);
  const wb = Uint8Array.wrap(w);
  if (b.length < wb.length) return false;
  for (let i = 0; i < wb.length; i++) if (b[i] != wb[i]) return false;
  return true;
}

export function onConnection(id: u32): void {
  seen++;
}

export function onData(id: u32, data: ArrayBuffer): void {
  const b = Uint8Array.wrap(data);
  if (startsWith(b, "trap")) {
    unreachable();
  } else if (startsWith(b, "abort")) {
    throw new Error("guest gave up on connection " + id.toString());
  } else if (startsWith(b, "oob")) {
    Socket.writeBytes(id, 0xfffffff0, 64);
  } else if (startsWith(b, "log")) {
    console.log("guest says:" + String.UTF8.decode(data.slice(3)));
    trace("trace from guest", 2, 1.5, 42);
    Socket.write(id, data);
  } else if (startsWith(b, "close")) {
    Socket.close(id);
    const ok = Socket.write(id, "after close");
    console.log("write after close returned " + ok.toString());
  } else if (startsWith(b, "flood")) {
    const block = new Uint8Array(65536);
    let refused = 0;
    for (let i = 0; i < 100; i++) if (!Socket.write(id, block)) refused++;
    console.log("flood: " + refused.toString() + " writes returned false");
  } else if (startsWith(b, "spin ")) {
    const ms = I32.parseInt(String.UTF8.decode(data.slice(5)));
    const until = Date.now() + ms;
    let x: u64 = 1;
    while (Date.now() < until) for (let i = 0; i < 10000; i++) x = x * 6364136223846793005 + 1442695040888963407;
    Socket.write(id, x == 0 ? "never" : "spun");
  } else if (startsWith(b, "hog ")) {
    const mib = I32.parseInt(String.UTF8.decode(data.slice(4)));
    for (let i = 0; i < mib; i++) {
      const block = new Uint8Array(1 << 20);
      block[i] = 1;
      hoard.push(block);
    }
    Socket.write(id, "holding " + mib.toString() + " MiB");
  } else if (startsWith(b, "manylogs ")) {
    const n = I32.parseInt(String.UTF8.decode(data.slice(9)));
    const line = "x".repeat(60000);
    for (let i = 0; i < n; i++) console.log(line);
    Socket.write(id, "logged " + n.toString());
  } else if (startsWith(b, "dialflood ")) {
    const args = String.UTF8.decode(data.slice(10)).trim().split(" ");
    const n = I32.parseInt(args[0]);
    const block = new Uint8Array(I32.parseInt(args[1]) << 10);
    const port = <u32>I32.parseInt(args[2]);
    for (let i = 0; i < n; i++) {
      const conn = Socket.connect("127.0.0.1", port);
      if (conn > 0) Socket.write(<u32>conn, block);
    }
    Socket.write(id, "dialed " + n.toString());
  } else if (startsWith(b, "pauseflood ")) {
    const n = I32.parseInt(String.UTF8.decode(data.slice(11)));
    for (let i = 0; i < n; i++) Socket.pause(id);
    Socket.resume(id);
    Socket.write(id, "paused " + n.toString());
  } else if (startsWith(b, "count")) {
    Socket.write(id, seen.toString());
  } else {
    Socket.write(id, data);
  }
}

export function onClose(id: u32): void {}
