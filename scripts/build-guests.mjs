// Compiles every AssemblyScript guest (assembly/examples/*.ts, test/guests/*.ts, bench/guests/*.ts) to
// build/guests/<name>.wasm, skipping those whose output is newer than every source; then the C
// guests (examples/c/*.c, test/guests/c/*.c -> build/guests/c-<name>.wasm) and the Rust guests
// (examples/rust/*/ -> build/guests/rust-<name>.wasm), see scripts/other-guests.mjs.
import asc from 'assemblyscript/asc';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOtherGuests } from './other-guests.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'build', 'guests');
const dirs = ['assembly/examples', 'test/guests', 'bench/guests'];
// The guest build options (exportRuntime, exportStart _initialize, -O3) live in asconfig.json.
const flags = ['--config', path.join(root, 'asconfig.json'), '--target', 'release'];

const mtime = (f) => fs.statSync(f).mtimeMs;
// Newest modification time of any file under `dir`: a change anywhere in the SDK rebuilds guests.
const newestUnder = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).reduce((newest, e) => {
    const p = path.join(dir, e.name);
    return Math.max(newest, e.isDirectory() ? newestUnder(p) : mtime(p));
  }, 0);
const sdk = newestUnder(path.join(root, 'assembly'));
fs.mkdirSync(out, { recursive: true });
let failed = false;
for (const dir of dirs) {
  for (const file of fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.ts')).sort()) {
    const src = path.join(dir, file);
    const dest = path.join(out, file.replace(/\.ts$/, '.wasm'));
    const newest = Math.max(mtime(path.join(root, src)), sdk, mtime(path.join(root, 'asconfig.json')));
    if (fs.existsSync(dest) && mtime(dest) > newest) continue;
    const { error, stderr } = await asc.main([src, '-o', path.relative(root, dest), ...flags], {
      stdout: process.stdout,
      stderr: process.stderr,
    });
    if (error) {
      console.error(`guest ${src}: ${error.message}\n${stderr.toString()}`);
      failed = true;
    } else {
      console.log(`guest: ${path.relative(root, dest)}`);
    }
  }
}
if (!(await buildOtherGuests(root, out))) failed = true;
if (failed) process.exit(1);
