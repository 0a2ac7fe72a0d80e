// Types for the ES module entry of wasm-socket-bridge/testing (js/testing.mjs): as testing.d.ts.
export { Client, serveGuest } from './testing.js';
export type { ReadOptions, ServedGuest, ServeGuestOptions, Until } from './testing.js';
