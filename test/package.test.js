'use strict';
// The package as its users get it: `npm pack`, installed into a fresh project with no Rust
// toolchain on PATH, used from TypeScript, CommonJS and ES modules, with a guest compiled by the
// consumer's own asc.
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { root, exchange } = require('./helpers');

// PATH without cargo/rustup: the consumer side must not need Rust.
const NO_RUST_ENV = {
  ...process.env,
  PATH: process.env.PATH.split(path.delimiter)
    .filter((p) => !/cargo|rustup/.test(p))
    .join(path.delimiter),
};

function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, env: NO_RUST_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${e.stdout}\n${e.stderr}`, { cause: e });
  }
}

const GUEST = `// A consumer's guest: echoes, prefixed, through the SDK from the package.
import { Socket } from "wasm-socket-bridge/assembly";

export function onConnection(id: u32): void {}

export function onData(id: u32, data: ArrayBuffer): void {
  Socket.write(id, "consumer:");
  Socket.write(id, data);
}

export function onClose(id: u32): void {}
`;

const SERVER = `import { Bridge, createServer, type GuestError } from "wasm-socket-bridge";

async function main(): Promise<void> {
  const bridge = await Bridge.load("guest.wasm", { threads: Number(process.env.THREADS ?? 0) });
  bridge.on("error", (e: GuestError) => console.error(e.kind, e.message));
  const server = createServer(bridge);
  server.listen(0, "127.0.0.1", () => {
    const addr = server.address();
    if (addr && typeof addr === "object") console.log("port " + addr.port);
  });
  process.once("SIGTERM", () => {
    server.close();
    void bridge.close();
  });
}

void main();
`;

const TSCONFIG = {
  compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] },
  files: ['server.ts'],
};

describe('the npm package, installed from its tarball', function () {
  this.timeout(300000);
  let dir;
  let project;
  let files;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsb-package-'));
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], root));
    files = packed[0].files.map((f) => f.path);
    const tarball = path.join(dir, packed[0].filename);
    project = path.join(dir, 'consumer');
    fs.mkdirSync(path.join(project, 'assembly'), { recursive: true });
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', tarball, 'assemblyscript@0.28', 'tsx', 'typescript', '@types/node@20'], project);
  });

  after(function () {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('holds the addon, js/, the types, the AssemblyScript, C and Rust SDKs and the docs, and nothing else', function () {
    const allowed = /^(wasm-socket-bridge\.[a-z0-9-]+\.node|js\/[a-z.-]+\.m?js|index\.d\.m?ts|testing\.d\.m?ts|sdk\/c\/[a-z_]+\.h|sdk\/rust\/(Cargo\.toml|src\/[a-z_]+\.rs)|assembly\/.+\.(ts|json)|README\.md|docs\/[A-Za-z-]+\.md|LICENSE|CHANGELOG\.md|package\.json)$/;
    for (const f of files) assert.match(f, allowed, `unexpected file in the package: ${f}`);
    for (const needed of ['wasm-socket-bridge.linux-x64-gnu.node', 'js/index.js', 'js/index.mjs', 'index.d.ts', 'assembly/index.ts', 'assembly/examples/echo.ts', 'js/testing.js', 'testing.d.ts', 'sdk/c/wasm_socket_bridge.h', 'sdk/rust/src/lib.rs', 'README.md', 'docs/README.md', 'docs/api.md', 'LICENSE', 'CHANGELOG.md']) {
      assert.ok(files.includes(needed), `the package lacks ${needed}`);
    }
  });

  it('compiles a guest that imports "wasm-socket-bridge/assembly" with the consumer\'s own asc', function () {
    fs.writeFileSync(path.join(project, 'assembly', 'guest.ts'), GUEST);
    run(process.execPath, [path.join(project, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), 'assembly/guest.ts', '-o', 'guest.wasm', '--exportRuntime', '--exportStart', '_initialize'], project);
    assert.ok(fs.statSync(path.join(project, 'guest.wasm')).size > 0);
  });

  it('type-checks a TypeScript server with tsc --strict, then runs it with tsx and echoes through it', async function () {
    fs.writeFileSync(path.join(project, 'server.ts'), SERVER);
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
    for (const threads of ['0', '2']) {
      const child = spawn(process.execPath, [path.join(project, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'server.ts'], {
        cwd: project,
        env: { ...NO_RUST_ENV, THREADS: threads },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
      try {
        const port = await new Promise((resolve, reject) => {
          const t = setInterval(() => {
            const m = /port (\d+)/.exec(out);
            if (m) {
              clearInterval(t);
              resolve(Number(m[1]));
            }
          }, 20);
          exited.then(() => reject(new Error(`the server exited:\n${out}`)));
        });
        assert.equal((await exchange(port, 'hello', 14)).toString(), 'consumer:hello');
      } finally {
        child.kill('SIGTERM');
      }
      const { code, signal } = await exited;
      assert.ok(code === 0 || signal === 'SIGTERM', out);
    }
  });

  it('loads with require() from CommonJS and with import from an ES module', function () {
    const cjs = run(process.execPath, ['-e', "const w = require('wasm-socket-bridge'); console.log(typeof w.Bridge.load, typeof w.createServer, typeof w.GuestError)"], project);
    assert.equal(cjs.trim(), 'function function function');
    const esm = run(
      process.execPath,
      ['--input-type=module', '-e', "import { Bridge, createServer, GuestError } from 'wasm-socket-bridge'; import def from 'wasm-socket-bridge'; console.log(typeof Bridge.loadSync, typeof createServer, typeof GuestError, def.Bridge === Bridge)"],
      project,
    );
    assert.equal(esm.trim(), 'function function function true');
  });
});

describe('an unsupported platform', function () {
  it('gets an error that names the platform and how to build from source', function () {
    const script = `Object.defineProperty(process, 'arch', { value: 'riscv64' });
      try { require(${JSON.stringify(root)}); console.log('loaded?'); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.match(out, /^ERR_WSB_NO_BINARY: wasm-socket-bridge has no prebuilt binary for linux-riscv64-gnu/);
    assert.match(out, /install Rust \(cargo/);
    assert.match(out, /npm run build/);
  });
});
