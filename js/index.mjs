// ES module entry: the same API as the CommonJS entry (./index.js), which it re-exports.
import api from './index.js';

export const { Bridge, createServer, GuestError } = api;
export default api;
