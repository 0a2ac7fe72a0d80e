// Builds the guests written in C and Rust (called by build-guests.mjs):
//
//   examples/c/*.c, test/guests/c/*.c  ->  build/guests/c-<name>.wasm
//     zig cc from the `ziglang` package on PyPI (pinned below), as a WASI reactor, with the
//     header in sdk/c. When `python3 -m ziglang` is missing it is installed with pip into .tools/
//     (project-local; nothing outside the checkout changes). WSB_GUEST_CC="clang --target=..." or
//     wasi-sdk's clang may be used instead.
//   examples/rust/<name>/, test/guests/rust/<name>/  ->  build/guests/rust-<name>.wasm
//     cargo for wasm32-wasi, by default Debian's (/usr/bin/cargo and /usr/bin/rustc, packages
//     rustc cargo libstd-rust-dev-wasm32), so the project's own Rust toolchain is untouched;
//     WSB_GUEST_CARGO / WSB_GUEST_RUSTC and WSB_GUEST_RUST_TARGET (e.g. wasm32-wasip1 with rustup)
//     choose others. Cargo's target dir is build/rust-target.
//
// A missing toolchain is reported naming what to install. Under CI (the CI variable set) that is
// an error, so CI never skips these guests silently; elsewhere the build goes on without them and
// their tests say why they skip.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The zig release the C guests are built and tested with. */
export const ZIGLANG = 'ziglang==0.17.1';
const ZIG_FLAGS = ['--target=wasm32-wasi', '-mexec-model=reactor', '-O2', '-s', '-Wall', '-Werror'];

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });
const mtime = (f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0);
const newestUnder = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).reduce((newest, e) => {
    const p = path.join(dir, e.name);
    if (e.name === 'target') return newest;
    return Math.max(newest, e.isDirectory() ? newestUnder(p) : mtime(p));
  }, 0);

function missing(what, install) {
  const msg = `cannot build the ${what} guests: ${install}`;
  if (process.env.CI) {
    console.error(`error: ${msg}`);
    return false;
  }
  console.warn(`warning: ${msg}; building without them (their tests skip and say so)`);
  return true;
}

/** How to call zig cc: [command, ...leading args], or null when it cannot be had. */
function findZigCc(root) {
  if (process.env.WSB_GUEST_CC) {
    const [cmd, ...args] = process.env.WSB_GUEST_CC.split(' ').filter(Boolean);
    return { cmd, args, env: process.env };
  }
  const local = path.join(root, '.tools', 'ziglang');
  const withLocal = {
    ...process.env,
    PYTHONPATH: [local, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
  };
  const works = (env) => run('python3', ['-m', 'ziglang', 'version'], { env }).status === 0;
  if (works(withLocal)) return { cmd: 'python3', args: ['-m', 'ziglang', 'cc'], env: withLocal };
  console.log(`guests: installing ${ZIGLANG} into .tools/ziglang (pip) for the C guests`);
  const pip = run('python3', ['-m', 'pip', 'install', '--quiet', '--target', local, ZIGLANG], {
    stdio: 'inherit',
  });
  if (pip.status === 0 && works(withLocal)) {
    return { cmd: 'python3', args: ['-m', 'ziglang', 'cc'], env: withLocal };
  }
  return null;
}

function buildC(root, out) {
  const sources = ['examples/c', 'test/guests/c']
    .filter((d) => fs.existsSync(path.join(root, d)))
    .flatMap((d) =>
      fs
        .readdirSync(path.join(root, d))
        .filter((f) => f.endsWith('.c'))
        .sort()
        .map((f) => path.join(d, f)),
    );
  const header = mtime(path.join(root, 'sdk', 'c', 'wasm_socket_bridge.h'));
  const stale = sources.filter((src) => {
    const dest = path.join(out, `c-${path.basename(src, '.c')}.wasm`);
    return mtime(dest) <= Math.max(mtime(path.join(root, src)), header);
  });
  if (stale.length === 0) return true;
  const zig = findZigCc(root);
  if (!zig) {
    return missing(
      'C',
      `python3 -m ziglang is not available and pip could not install it - install Python 3 with pip ` +
        `(then \`pip install ${ZIGLANG}\`), or set WSB_GUEST_CC to a clang that targets wasm32-wasi (wasi-sdk)`,
    );
  }
  let ok = true;
  for (const src of stale) {
    const dest = path.join(out, `c-${path.basename(src, '.c')}.wasm`);
    const args = [...zig.args, ...ZIG_FLAGS, '-I', path.join(root, 'sdk', 'c'), path.join(root, src), '-o', dest];
    const r = run(zig.cmd, args, { env: zig.env, stdio: 'inherit' });
    if (r.status === 0) console.log(`guest: ${path.relative(root, dest)}`);
    else {
      console.error(`guest ${src}: zig cc failed (${r.error ? r.error.message : `exit ${r.status}`})`);
      ok = false;
    }
  }
  return ok;
}

/** The Rust workspaces: each member <name> becomes build/guests/rust-<name>.wasm. */
const RUST_WORKSPACES = ['examples/rust', 'test/guests/rust'];

function buildRust(root, out) {
  const workspaces = RUST_WORKSPACES.map((w) => path.join(root, w)).filter((w) => fs.existsSync(path.join(w, 'Cargo.toml')));
  const members = (workspace) =>
    fs
      .readdirSync(workspace, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(workspace, e.name, 'Cargo.toml')))
      .map((e) => e.name)
      .sort();
  const sdk = newestUnder(path.join(root, 'sdk', 'rust'));
  const stale = workspaces.filter((w) => {
    const newest = Math.max(newestUnder(w), sdk);
    return members(w).some((m) => mtime(path.join(out, `rust-${m}.wasm`)) <= newest);
  });
  if (stale.length === 0) return true;
  const cargo = process.env.WSB_GUEST_CARGO || '/usr/bin/cargo';
  const rustc = process.env.WSB_GUEST_RUSTC || '/usr/bin/rustc';
  const target = process.env.WSB_GUEST_RUST_TARGET || 'wasm32-wasi';
  const sysroot = run(rustc, ['--print', 'sysroot']);
  const std = sysroot.status === 0 && fs.existsSync(path.join(sysroot.stdout.trim(), 'lib', 'rustlib', target));
  if (run(cargo, ['--version']).status !== 0 || !std) {
    return missing(
      'Rust',
      `${cargo} / ${rustc} with the ${target} standard library are not available - on Debian/Ubuntu ` +
        '`apt-get install rustc cargo libstd-rust-dev-wasm32`; with rustup set WSB_GUEST_CARGO=cargo ' +
        'WSB_GUEST_RUSTC=rustc WSB_GUEST_RUST_TARGET=wasm32-wasip1 after `rustup target add wasm32-wasip1`',
    );
  }
  const targetDir = path.join(root, 'build', 'rust-target');
  let ok = true;
  for (const workspace of stale) {
    const r = run(
      cargo,
      ['build', '--offline', '--release', '--target', target, '--manifest-path', path.join(workspace, 'Cargo.toml'), '--target-dir', targetDir],
      { env: { ...process.env, RUSTC: rustc }, stdio: 'inherit' },
    );
    if (r.status !== 0) {
      console.error(`Rust guests in ${path.relative(root, workspace)}: cargo build failed (${r.error ? r.error.message : `exit ${r.status}`})`);
      ok = false;
      continue;
    }
    for (const m of members(workspace)) {
      const dest = path.join(out, `rust-${m}.wasm`);
      fs.copyFileSync(path.join(targetDir, target, 'release', `${m.replace(/-/g, '_')}.wasm`), dest);
      console.log(`guest: ${path.relative(root, dest)}`);
    }
  }
  return ok;
}

/** Builds the C and Rust guests into `out`; false when one failed (or a toolchain is missing under CI). */
export async function buildOtherGuests(root, out) {
  const c = buildC(root, out);
  const rust = buildRust(root, out);
  return c && rust;
}
