// quit-on-q: the echo server of the TCP server chapter of "Build Your Own Web Server From Scratch
// In Node.JS", which ends the connection when the data contains `q`.
// Echoes what the client sends; once a chunk contains the letter `q`, it echoes that chunk and
// then ends the connection (flush, then FIN), so the client sees its bytes and then end-of-stream.
import { Socket } from "../index";

const Q: u8 = 0x71; // 'q'

export function onConnection(id: u32): void {}

export function onData(id: u32, data: ArrayBuffer): void {
  Socket.write(id, data);
  const bytes = Uint8Array.wrap(data);
  if (bytes.includes(Q)) Socket.end(id);
}

export function onClose(id: u32): void {}
