// dialer: a test guest that dials on command and reports every event of the connections it
// dialed, so test/dial.test.js can check Socket.connect the same way in every execution mode.
// A client sends lines (one command each) and gets one line back per command or event:
//   dial HOST PORT          Socket.connect(HOST, PORT)             -> "dial <result>"
//   dial HOST PORT close    the same, then Socket.close(result) in the same event
//                                                                  -> "dial <result> closed"
//   dial HOST PORT write TEXT  the same, then Socket.write(result, TEXT) in the same event
//                                                                  -> "dial <result> wrote <ok>"
//   write ID TEXT           Socket.write(ID, TEXT)                 -> "wrote ID <true|false>"
//   close ID                Socket.close(ID)                       -> "closed ID"
//   dialonend HOST PORT     dial HOST PORT when this client's onEnd comes -> "armed"
// For each connection it dialed, its client gets "connect ID ADDRESS PORT" (onConnect), "data ID
// TEXT" (onData), "message ID TEXT" (onMessage), "error ID" (onError), "end ID" (onEnd), and
// "close ID LETTERS" (onClose), where LETTERS are that connection's events in order: K onConnect,
// D onData, M onMessage, E onEnd, R onError, X onClose. onClose also logs "dialed ID LETTERS".
import { Socket } from "../../assembly/index";

/** Dialed connection -> the client that asked for it. */
const owner = new Map<u32, u32>();
/** Dialed connection -> its events so far. */
const seqs = new Map<u32, string>();
/** Client -> the part of a line not ended yet. */
const partial = new Map<u32, string>();
/** Client -> "HOST PORT" to dial at its onEnd. */
const onEndDial = new Map<u32, string>();

function rec(id: u32, c: string): void {
  seqs.set(id, (seqs.has(id) ? seqs.get(id) : "") + c);
}

function tell(id: u32, line: string): void {
  if (owner.has(id)) Socket.write(owner.get(id), line + "\n");
}

function dial(client: u32, host: string, port: u32): i32 {
  const result = Socket.connect(host, port);
  if (result > 0) {
    owner.set(<u32>result, client);
    seqs.set(<u32>result, "");
  }
  return result;
}

function command(client: u32, line: string): void {
  const words = line.split(" ");
  const cmd = words[0];
  if (cmd == "dial" && words.length >= 3) {
    const result = dial(client, words[1], <u32>I32.parseInt(words[2]));
    if (words.length >= 4 && words[3] == "close" && result > 0) {
      Socket.close(<u32>result);
      Socket.write(client, "dial " + result.toString() + " closed\n");
    } else if (words.length >= 5 && words[3] == "write" && result > 0) {
      const text = line.substring(line.indexOf(" write ") + 7);
      const ok = Socket.write(<u32>result, text);
      Socket.write(client, "dial " + result.toString() + " wrote " + ok.toString() + "\n");
    } else {
      Socket.write(client, "dial " + result.toString() + "\n");
    }
  } else if (cmd == "write" && words.length >= 3) {
    const id = <u32>I32.parseInt(words[1]);
    const ok = Socket.write(id, line.substring(cmd.length + words[1].length + 2));
    Socket.write(client, "wrote " + id.toString() + " " + ok.toString() + "\n");
  } else if (cmd == "close" && words.length >= 2) {
    const id = <u32>I32.parseInt(words[1]);
    Socket.close(id);
    Socket.write(client, "closed " + id.toString() + "\n");
  } else if (cmd == "dialonend" && words.length >= 3) {
    onEndDial.set(client, words[1] + " " + words[2]);
    Socket.write(client, "armed\n");
  } else {
    Socket.write(client, "unknown command\n");
  }
}

export function onConnection(id: u32): void {
  partial.set(id, "");
}

export function onConnect(id: u32): void {
  rec(id, "K");
  tell(id, "connect " + id.toString() + " " + Socket.remoteAddress(id) + " " + Socket.remotePort(id).toString());
}

export function onData(id: u32, data: ArrayBuffer): void {
  const text = String.UTF8.decode(data);
  if (owner.has(id)) {
    rec(id, "D");
    tell(id, "data " + id.toString() + " " + text);
    return;
  }
  if (!partial.has(id)) return;
  let buf = partial.get(id) + text;
  for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
    command(id, buf.substring(0, nl));
    buf = buf.substring(nl + 1);
  }
  partial.set(id, buf);
}

export function onMessage(id: u32, data: ArrayBuffer): void {
  if (!owner.has(id)) return;
  rec(id, "M");
  tell(id, "message " + id.toString() + " " + String.UTF8.decode(data));
}

export function onEnd(id: u32): void {
  if (owner.has(id)) {
    rec(id, "E");
    tell(id, "end " + id.toString());
    return;
  }
  if (onEndDial.has(id)) {
    const words = onEndDial.get(id).split(" ");
    onEndDial.delete(id);
    dial(id, words[0], <u32>I32.parseInt(words[1]));
  }
  Socket.end(id);
}

export function onError(id: u32): void {
  if (!owner.has(id)) return;
  rec(id, "R");
  tell(id, "error " + id.toString());
}

export function onClose(id: u32): void {
  partial.delete(id);
  onEndDial.delete(id);
  if (!owner.has(id)) return;
  rec(id, "X");
  const letters = seqs.get(id);
  console.log("dialed " + id.toString() + " " + letters);
  tell(id, "close " + id.toString() + " " + letters);
  owner.delete(id);
  seqs.delete(id);
}
