'use strict';
// The AssemblyScript TCP server article's way of hosting a guest ("A TCP Server Example in
// AssemblyScript"): Node's own WebAssembly (V8), a Map of sockets, and the bytes copied in with the
// guest's allocator. Written as that article does it, for the modern AssemblyScript runtime
// (__new/__pin/__unpin instead of __alloc/__retain/__release); no tricks.
const fs = require('node:fs');
const net = require('node:net');

function createV8Server(wasmPath) {
  const connMap = new Map();
  let socketID = 1;
  let exports;
  let U8 = null;
  const mem = () => {
    if (U8 === null || U8.buffer !== exports.memory.buffer) U8 = new Uint8Array(exports.memory.buffer);
    return U8;
  };
  const readString = (ptr) => {
    if (!ptr) return 'null';
    const len = new Uint32Array(exports.memory.buffer, ptr - 4, 1)[0];
    return Buffer.from(exports.memory.buffer, ptr, len).toString('utf16le');
  };
  const onSocket = (method) => (id) => {
    const socket = connMap.get(id >>> 0);
    if (socket) socket[method]();
  };
  const imports = {
    Socket: {
      write(id, pointer, length) {
        const socket = connMap.get(id >>> 0);
        if (!socket) return 0;
        return socket.write(mem().slice(pointer >>> 0, (pointer >>> 0) + (length >>> 0))) ? 1 : 0;
      },
      end: onSocket('end'),
      close: onSocket('destroy'),
      pause: onSocket('pause'),
      resume: onSocket('resume'),
    },
    env: {
      abort(msg, file, line, col) {
        throw new Error(`${readString(msg)} at ${readString(file)}:${line}:${col}`);
      },
      'console.log': (p) => console.log(readString(p)),
      seed: () => Date.now() * Math.random(),
      'Date.now': () => Date.now(),
    },
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)), imports);
  exports = instance.exports;
  if (exports._initialize) exports._initialize();

  return net.createServer((socket) => {
    const id = socketID++;
    connMap.set(id, socket);
    exports.onConnection(id);
    socket.on('data', (data) => {
      const pointer = exports.__new(data.length, 1); // an ArrayBuffer
      exports.__pin(pointer);
      mem().set(data, pointer);
      exports.onData(id, pointer);
      exports.__unpin(pointer);
    });
    socket.on('error', () => {
      if (exports.onError) exports.onError(id);
    });
    socket.on('close', () => {
      connMap.delete(id);
      exports.onClose(id);
    });
  });
}

module.exports = { createV8Server };
