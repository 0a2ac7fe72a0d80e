// Type-checks a guest author's test written with wasm-socket-bridge/testing (tsc --strict).
import assert from 'node:assert/strict';
import { serveGuest, type ServedGuest } from 'wasm-socket-bridge/testing';

export async function echoes(path: string): Promise<void> {
  const g: ServedGuest = await serveGuest(path, { threads: 2, server: { allowHalfOpen: true } });
  const reply: Buffer = await g.exchange('hi\n', { until: '\n', timeout: 1000 });
  assert.equal(reply.toString(), 'hi\n');
  const c = await g.connect();
  c.send(new Uint8Array([1, 2]));
  const two: Buffer = await c.read({ until: 2 });
  assert.equal(two.length, 2);
  c.close();
  const line = await g.waitForLog(/^connection/);
  assert.equal(line.level, 'log');
  assert.equal(g.errors.length, 0);
  await g.close();
}
