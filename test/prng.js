'use strict';
// Shared by the random tests; no addon needed (the framing tests run in V8 alone).

/**
 * mulberry32: a small, fast, seedable PRNG returning floats in [0, 1), so a failing random test
 * can be replayed from its seed.
 */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { prng };
