// ES module entry of wasm-socket-bridge/testing (./testing.js).
import api from './testing.js';

export const { serveGuest, Client } = api;
export default api;
