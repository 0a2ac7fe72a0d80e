'use strict';
// npm run new-guest NAME: writes assembly/examples/NAME.ts, a guest to start from, which
// `npm run build:guests` compiles to build/guests/NAME.wasm.
const fs = require('node:fs');
const path = require('node:path');

const name = process.argv[2];
if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
  console.error('usage: npm run new-guest NAME   (NAME: lowercase letters, digits and dashes)');
  process.exit(2);
}
const file = path.join(__dirname, '..', 'assembly', 'examples', `${name}.ts`);
if (fs.existsSync(file)) {
  console.error(`${path.relative(process.cwd(), file)} exists already`);
  process.exit(1);
}
fs.writeFileSync(
  file,
  `// ${name}: describe what this guest does for each connection.
// Build: npm run build:guests (or: npx asc assembly/examples/${name}.ts -o ${name}.wasm --target release)
import { Socket } from "../index"; // outside this repo: from "wasm-socket-bridge/assembly"

export function onConnection(id: u32): void {}

export function onData(id: u32, data: ArrayBuffer): void {
  Socket.write(id, data);
}

// Optional: onEnd(id) when the client half-closes, onError(id), onDrain(id).

export function onClose(id: u32): void {}
`,
);
console.log(`wrote ${path.relative(process.cwd(), file)}; build it with npm run build:guests`);
