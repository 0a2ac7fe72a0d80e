'use strict';
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { root } = require('./helpers');

describe('TypeScript types', function () {
  it('type-checks a consumer script and the example server with tsc --strict --noEmit', async function () {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const project = path.join(__dirname, 'consumer', 'tsconfig.json');
    const result = await new Promise((resolve) => {
      execFile(process.execPath, [tsc, '-p', project], { cwd: root }, (error, stdout, stderr) =>
        resolve({ code: error ? error.code : 0, out: stdout + stderr }),
      );
    });
    assert.equal(result.code, 0, result.out);
  });
});
