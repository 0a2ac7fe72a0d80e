'use strict';
// Builds the Rust addon (release) and places it where js/native.js loads it from.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { binaryName } = require('../js/platform');

const root = path.join(__dirname, '..');
execFileSync('cargo', ['build', '--release', '--lib'], { cwd: root, stdio: 'inherit' });
const lib = process.platform === 'darwin' ? 'libwasm_socket_bridge.dylib' : 'libwasm_socket_bridge.so';
// Cargo puts it under CARGO_TARGET_DIR when that is set (a shared target folder), else target/.
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
const from = path.join(targetDir, 'release', lib);
const to = path.join(root, binaryName());
// Copy to a temporary name and rename, so a running process never sees a half-written file.
fs.copyFileSync(from, `${to}.tmp`);
// The release profile keeps line tables for profiling (target/release keeps them); the copy that
// is loaded and packed drops them (134 MB -> 23 MB) but keeps the symbols, so perf still names
// functions.
const stripFlag = process.platform === 'darwin' ? '-S' : '--strip-debug';
try {
  execFileSync('strip', [stripFlag, `${to}.tmp`], { stdio: 'inherit' });
} catch {
  console.warn('addon: `strip` is not available; the addon keeps its debug info');
}
fs.renameSync(`${to}.tmp`, to);
console.log(`addon: ${path.relative(root, to)}`);
