'use strict';
// The numbers and names JS shares with the addon (outbox ops, error kinds, log levels, load error
// codes, option limits and defaults), read from the addon itself: src/napi/constants.rs defines
// them once, so the two sides cannot drift.
const native = require('./native');

module.exports = Object.freeze(native.constants());
