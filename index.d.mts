// Types for the ES module entry (js/index.mjs): the same API as index.d.ts.
export { Bridge, createServer, GuestError } from './index.js';
export type { BridgeOptions, BridgeStats, CacheInfo, GuestErrorKind, LogLevel, ReloadOptions, SharedStore } from './index.js';
