'use strict';
// Guests in C and Rust are built only where their toolchains are (scripts/other-guests.mjs).
const fs = require('node:fs');
const { guest } = require('./helpers');

const INSTALL = {
  C: 'python3 with pip (the build installs ziglang into .tools/), or WSB_GUEST_CC',
  Rust: 'apt-get install rustc cargo libstd-rust-dev-wasm32 (or WSB_GUEST_CARGO with a wasm32-wasip1 target)',
};

/**
 * Makes sure build/guests/<name>.wasm exists. Without it: under CI the test fails (CI installs
 * the toolchains, .ci/run); elsewhere the test is skipped with a message naming what to install.
 */
function requireBuilt(ctx, name, language) {
  if (fs.existsSync(guest(name))) return;
  const msg = `build/guests/${name}.wasm is missing: npm run build:guests builds the ${language} guests when ${INSTALL[language]} is installed`;
  if (process.env.CI) throw new Error(msg);
  console.warn(`      skipped: ${msg}`);
  ctx.skip();
}

module.exports = { requireBuilt };
