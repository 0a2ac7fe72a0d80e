'use strict';
// Loads the prebuilt addon that matches this platform, or says how to build one.
const fs = require('node:fs');
const path = require('node:path');
const { platformKey, binaryName } = require('./platform');

function load() {
  const file = path.join(__dirname, '..', binaryName());
  if (!fs.existsSync(file)) {
    const err = new Error(
      `wasm-socket-bridge has no prebuilt binary for ${platformKey()} (looked for ${path.basename(file)}). ` +
        'Build it from source: install Rust (cargo, https://rustup.rs), then run `npm run build` ' +
        `in ${path.join(__dirname, '..')}.`,
    );
    err.code = 'ERR_WSB_NO_BINARY';
    throw err;
  }
  return require(file);
}

module.exports = load();
