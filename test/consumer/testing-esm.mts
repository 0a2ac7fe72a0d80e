// Type-checks the ES module entry of wasm-socket-bridge/testing (testing.d.mts) under tsc --strict.
import { serveGuest, type ServedGuest } from 'wasm-socket-bridge/testing';
export async function f(p: string): Promise<number> {
  const g: ServedGuest = await serveGuest(p, { server: { allowHalfOpen: true } });
  const b: Buffer = await g.exchange('x', { until: 1 });
  await g.close();
  return b.length;
}
