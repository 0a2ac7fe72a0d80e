// echo: the echo guest of the AssemblyScript TCP server article ("A TCP Server Example in
// AssemblyScript"), which hosts it with Node's own WebAssembly.
// Every byte a client sends is written back to it, in order, on the same connection.
// Run it: `npm start`, then `nc 127.0.0.1 7000`.
import { Socket } from "../index";

export function onConnection(id: u32): void {}

export function onData(id: u32, data: ArrayBuffer): void {
  Socket.write(id, data);
}

export function onClose(id: u32): void {}
