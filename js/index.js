'use strict';
// The public JS API: Bridge, createServer, GuestError. Types: ../index.d.ts. The pieces:
// bridge.js (the Bridge class), options.js (option checks), flow.js (when a socket is read),
// batch.js (carrying out what the guest asked for), errors.js, constants.js (shared with the
// addon), native.js (loading the addon).

const net = require('node:net');
const { Bridge } = require('./bridge');
const { GuestError } = require('./errors');

/**
 * A net.Server whose every accepted socket is attached to `bridge`. Takes the options of
 * net.createServer, and an optional listener called with (socket, id) after attaching.
 */
function createServer(bridge, options, connectionListener) {
  if (!(bridge instanceof Bridge)) throw new TypeError('createServer takes a Bridge as its first argument');
  if (typeof options === 'function') {
    connectionListener = options;
    options = undefined;
  }
  const server = net.createServer(options || {}, (socket) => {
    let id;
    try {
      id = bridge.attach(socket);
    } catch (err) {
      socket.destroy();
      server.emit('attachError', err, socket);
      return;
    }
    if (connectionListener) connectionListener(socket, id);
  });
  return server;
}

module.exports = { Bridge, createServer, GuestError };
