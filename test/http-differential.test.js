'use strict';
// Differential test of the SDK's HTTP request parser (assembly/http.ts, run in V8 through the
// test module test/guests/framing-unit.ts) against llhttp, the parser of Node's own http server,
// driven as _http_server.js drives it (node:_http_common's HTTPParser, no lenient flags).
//
// Requests come from the seeded PRNG: valid ones (methods, target forms, header sets,
// Content-Length and chunked bodies with extensions and trailers, pipelined pairs and triples),
// and mutations of them (byte flips, CR/LF/space/";"/quote insertion and deletion, duplicated,
// inserted and oversized header lines, Content-Length and chunk framing edits, truncation). Each
// is fed to both parsers in the same random pieces. They must agree on which requests are
// accepted and on whether the input is then rejected, still incomplete, or done; and on each
// accepted request's method, target, version, header fields, body and keep-alive.
//
// The deliberate differences (docs/http-parser.md) are listed in DIFFERENCES below. A case that
// disagrees is excluded only when one of them explains it, and each checks the SDK's own answer
// (its status or message) as well as llhttp's, so no other disagreement can hide behind it.
//
// Run it alone: npx mocha --no-config --timeout 120000 test/http-differential.test.js
// Another seed or size: HTTP_DIFF_SEED=7 HTTP_DIFF_CASES=100000 (same command); with
// HTTP_DIFF_DUMP=file.json, every disagreeing case is written there.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { METHODS } = require('node:http');
const { HTTPParser, methods: llhttpMethods } = require('node:_http_common');
const { prng } = require('./prng');
const { loadFramingUnit, runReader, HTTP } = require('./framing-unit');

const SEED = Number(process.env.HTTP_DIFF_SEED || 20240611);
const CASES = Number(process.env.HTTP_DIFF_CASES || 30000);

/** Both parsers' header limit: the SDK's and Node's default, 16 KiB (each counts differently). */
const MAX_HEADER = 16384;
/** The SDK's body limit, as high as it goes: llhttp has none. */
const MAX_BODY = 0x7fffffff;

const CR = 0x0d;
const LF = 0x0a;

// --- The two parsers, with results in one shape -------------------------------------------------
//
// { requests: [{ method, target, version, headers: [[name, value]], body (hex), keepAlive }],
//   end: 'idle' | 'incomplete' | 'closed' | 'error' | 'upgrade', ...details }

/** The SDK's parser on `input` pushed in pieces ending at `cuts`. */
function sdkParse(u, input, cuts) {
  const records = JSON.parse(runReader(u, HTTP, MAX_HEADER, MAX_BODY, input, cuts));
  const state = records.pop();
  let end = 'incomplete';
  if (state.failed) end = 'error';
  else if (state.closed) end = 'closed';
  else if (state.idle) end = 'idle';
  return {
    requests: records.map((r) => ({
      method: r.method,
      target: r.target,
      version: r.version,
      headers: r.headers,
      body: r.body,
      keepAlive: r.keepAlive,
    })),
    end,
    status: state.status,
    error: state.error,
  };
}

/** Method names by llhttp's method number (Node's list stops before QUERY, which is 46). */
const llhttpMethodName = (n) => llhttpMethods[n] ?? (n === 46 ? 'QUERY' : `#${n}`);

/** llhttp on `input` pushed in the same pieces, as Node's http server runs it. */
function llhttpParse(parser, input, cuts) {
  parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER, HTTPParser.kLenientNone);
  const requests = [];
  // Past 32 fields, Node hands the fields (and the URL) over in batches before headers-complete.
  let flushedHeaders = [];
  let flushedUrl = '';
  let current = null;
  let upgrade = false;
  parser[HTTPParser.kOnHeaders] = (headers, url) => {
    flushedHeaders.push(...headers);
    flushedUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, _code, _reason, up, keepAlive) => {
    const flat = headers ?? flushedHeaders;
    const pairs = [];
    for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
    current = {
      method: llhttpMethodName(method),
      target: url || flushedUrl,
      version: `HTTP/${major}.${minor}`,
      headers: pairs,
      body: [],
      keepAlive: Boolean(keepAlive),
    };
    flushedHeaders = [];
    flushedUrl = '';
    upgrade = Boolean(up);
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk) => current.body.push(Buffer.from(chunk));
  parser[HTTPParser.kOnMessageComplete] = () => {
    requests.push({ ...current, body: Buffer.concat(current.body).toString('hex') });
    current = null;
    flushedHeaders = []; // trailer fields
    flushedUrl = '';
  };
  let error = null;
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    if (c > prev) {
      const r = parser.execute(input.subarray(prev, c));
      if (r instanceof Error) {
        error = r;
        break;
      }
      if (upgrade) break;
    }
    prev = c;
  }
  let end;
  if (error) end = error.code === 'HPE_CLOSED_CONNECTION' ? 'closed' : 'error';
  else if (upgrade) end = 'upgrade';
  else if (parser.finish() instanceof Error) end = 'incomplete';
  // Between requests: one more byte tells whether llhttp would read another (a Connection
  // trailer field can close the connection after the keep-alive its header section announced).
  else end = parser.execute(Buffer.from('G')) instanceof Error ? 'closed' : 'idle';
  // Whether llhttp keeps the connection after the last request is what it did, not what it
  // announced before the trailer section.
  if (end === 'closed' && requests.length > 0) requests[requests.length - 1].keepAlive = false;
  return { requests, end, code: error ? error.code : '', reason: error ? error.reason : '' };
}

// --- Deliberate differences ------------------------------------------------------------------------
//
// Each explains a case where the parsers part at request `k`: it gets { k, sdk, ll, input } and
// tells whether that difference is the cause, checking both sides.

/** Whether llhttp did not refuse request k: it returned it, or was still reading it at the end. */
const llhttpTook = (d) => d.ll.requests.length > d.k || (d.ll.requests.length === d.k && d.ll.end !== 'error');
/** Whether the SDK refused request k with `test(status, error)` true. */
const sdkRefused = (d, test) =>
  d.sdk.requests.length === d.k && d.sdk.end === 'error' && test(d.sdk.status, d.sdk.error);

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
/** A chunk-size line as the SDK reads it: extensions `;token[=(token|quoted-string)]`. */
const SDK_CHUNK_LINE = new RegExp(`^[0-9a-fA-F]+(?:;${TOKEN}+(?:=(?:${TOKEN}+|${QUOTED}))?)*$`);
/** A chunk-size line as llhttp reads it: names and values may be empty, a value may end quoted. */
const LLHTTP_CHUNK_LINE = new RegExp(`^[0-9a-fA-F]+(?:;(?![ \\r])${TOKEN}*(?:=${TOKEN}*(?:${QUOTED})?)?)*$`);

/**
 * The lines of `input` (split at CRLF), each as the list of its possible whole forms: itself
 * when a CRLF ends it; when the input ends inside it, also the ways to end an extension it may
 * have been cut in (a name or value, a quoted string, a quoted pair).
 */
function chunkLines(input) {
  const lines = input.toString('latin1').split('\r\n');
  const last = lines.pop().replace(/\r$/, '');
  return [...lines.map((l) => [l]), [last, last + 'x', last + '"', last + 'x"']];
}

const DIFFERENCES = [
  {
    // RFC 9110 lets a server accept any token as a method; llhttp knows a fixed list.
    name: 'methods llhttp does not know',
    // A request the SDK is still reading counts too: it has read only tokens so far (it fails at
    // the first byte out of the grammar), where llhttp stops at the first byte of no known method.
    applies: (d) =>
      d.ll.requests.length === d.k && ['HPE_INVALID_METHOD', 'HPE_INVALID_CONSTANT'].includes(d.ll.code) &&
      (d.sdk.requests.length > d.k ? !METHODS.includes(d.sdk.requests[d.k].method) : d.sdk.end === 'incomplete'),
  },
  {
    // llhttp takes HTTP/0.9 request lines (no version) and versions 0.9 and 2.0; the SDK speaks
    // HTTP/1.0 and 1.1 only: 400 for a line without a version, 505 for the others.
    // (A request line that ends after the target is HTTP/0.9 for llhttp, which may still be
    // reading its header section when the input ends.)
    name: 'HTTP/0.9 and HTTP/2.0 request lines',
    applies: (d) =>
      (d.ll.requests.length > d.k && ['HTTP/0.9', 'HTTP/2.0'].includes(d.ll.requests[d.k].version) &&
        sdkRefused(d, (status, error) => status === 505 || error.includes('HTTP/0.9'))) ||
      (llhttpTook(d) && sdkRefused(d, (_s, error) => error.includes('HTTP/0.9'))),
  },
  {
    // llhttp hands codings before chunked (gzip, chunked) to the application undecoded; the SDK
    // does not decode them and answers 501.
    name: 'transfer codings other than chunked',
    applies: (d) => llhttpTook(d) && sdkRefused(d, (status) => status === 501),
  },
  {
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; llhttp reads
    // it as chunked, the SDK refuses it.
    name: 'Transfer-Encoding in HTTP/1.0',
    applies: (d) => llhttpTook(d) && sdkRefused(d, (_s, error) => error === 'Transfer-Encoding in an HTTP/1.0 request'),
  },
  {
    // Limits: the SDK counts every byte of the header section against maxHeaderBytes where Node
    // counts the target, names and values; it caps bodies (maxBodyBytes), lengths and chunk sizes
    // (2^53 - 1, llhttp 2^64 - 1) and chunk-size lines (4 KiB, llhttp 16 KiB of extensions).
    name: 'limits counted differently',
    applies: (d) =>
      llhttpTook(d) &&
      sdkRefused(d, (status, error) =>
        (status === 431 && d.input.length > MAX_HEADER) ||
        status === 413 ||
        (/out of range/.test(error) && /[0-9a-fA-F]{14}/.test(d.input.toString('latin1'))) ||
        (/chunk size line longer/.test(error) && d.input.length > 4096)),
  },
  {
    // llhttp accepts chunk extensions without a name or a value (";=x", ";;", ";a=") and a token
    // value followed by a quoted string; RFC 9112 7.1.1 requires tokens, and so does the SDK.
    name: 'chunk extensions without a name or value',
    applies: (d) =>
      llhttpTook(d) && sdkRefused(d, (_s, error) => error === 'bad chunk extension') &&
      chunkLines(d.input).some((forms) => forms.some((l) => LLHTTP_CHUNK_LINE.test(l)) && !forms.some((l) => SDK_CHUNK_LINE.test(l))),
  },
  {
    // Keep-alive: for HTTP/1.0, "Connection: keep-alive, close" closes in the SDK (close wins,
    // RFC 9112 9.3) and keeps in llhttp; and llhttp 9.3.1 misses a close or keep-alive token
    // followed by a tab (fixed in llhttp 9.4.2). The streams part after that request.
    name: 'Connection tokens llhttp reads otherwise',
    applies: (d) => {
      const s = d.sdk.requests[d.k];
      const l = d.ll.requests[d.k];
      if (!s || !l || s.keepAlive === l.keepAlive || !sameRequest(s, l, false)) return false;
      const connection = s.headers.filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v).join(',');
      const both = /(^|,)\s*close\s*(,|$)/i.test(connection) && /(^|,)\s*keep-alive\s*(,|$)/i.test(connection);
      return (s.version === 'HTTP/1.0' && both) || /connection:[^\r\n]*(close|keep-alive)\t/i.test(d.input.toString('latin1'));
    },
  },
  {
    // CONNECT and Upgrade requests make llhttp stop and hand the connection over; the SDK returns
    // them as requests and lets the guest decide.
    name: 'CONNECT and Upgrade hand-offs',
    applies: (d) => d.ll.end === 'upgrade' && d.ll.requests.length === d.k + 1 && d.sdk.requests.length > d.k &&
      sameRequest(d.sdk.requests[d.k], d.ll.requests[d.k], true),
  },
];

function sameRequest(a, b, withKeepAlive) {
  return a.method === b.method && a.target === b.target && a.version === b.version && a.body === b.body &&
    JSON.stringify(a.headers) === JSON.stringify(b.headers) && (!withKeepAlive || a.keepAlive === b.keepAlive);
}

/**
 * Compares the two results: { agreed: true }, or { excluded: name } when a deliberate difference
 * explains where they part, or { detail } when nothing does.
 */
function compare(sdk, ll, input) {
  const n = Math.min(sdk.requests.length, ll.requests.length);
  let k = 0;
  while (k < n && sameRequest(sdk.requests[k], ll.requests[k], true)) k++;
  if (k === sdk.requests.length && k === ll.requests.length && sdk.end === ll.end) return { agreed: true };
  const d = { k, sdk, ll, input };
  const difference = DIFFERENCES.find((diff) => diff.applies(d));
  if (difference) return { excluded: difference.name };
  return { detail: { atRequest: k, sdk: { ...sdk, requests: sdk.requests.slice(k) }, llhttp: { ...ll, requests: ll.requests.slice(k) } } };
}

// --- Valid requests ------------------------------------------------------------------------------

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PCHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%";
const METHODS_USED = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'POST', 'PUT', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PURGE', 'SEARCH', 'M-SEARCH'];
const BODY_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const FIELD_NAMES = ['Host', 'User-Agent', 'Accept', 'Accept-Encoding', 'Cookie', 'X-Request-Id', 'Cache-Control', 'Authorization', 'If-None-Match', 'Content-Type', 'X-Forwarded-For'];

/** Generators over one PRNG. */
function generators(rand) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (list) => list[int(list.length)];
  const chance = (p) => rand() < p;
  const word = (chars, min, max) => {
    let s = '';
    for (let i = min + int(max - min + 1); i > 0; i--) s += chars[int(chars.length)];
    return s;
  };
  const ows = () => pick(['', '', '', ' ', '  ', '\t', ' \t']);

  function target(method) {
    if (method === 'OPTIONS' && chance(0.3)) return '*';
    let path = '';
    for (let i = 1 + int(3); i > 0; i--) path += '/' + word(PCHARS, 0, 8);
    if (chance(0.3)) path += '?' + word(PCHARS + '/?', 0, 12);
    if (chance(0.05)) path += '#' + word(PCHARS + '/?#', 0, 6);
    if (chance(0.1)) {
      const userinfo = chance(0.2) ? word(PCHARS.replace('@', ''), 1, 6) + '@' : '';
      const port = chance(0.3) ? ':' + int(65536) : '';
      return `${pick(['http', 'https', 'HTTP'])}://${userinfo}${word('abcdefghijklmnopqrstuvwxyz0123456789.-', 1, 12)}${port}${path}`;
    }
    return path;
  }

  /** A field value: visible ASCII, inner spaces and tabs, sometimes obs-text bytes. */
  function fieldValue() {
    if (chance(0.05)) return '';
    let s = '';
    for (let i = int(24); i > 0; i--) {
      const r = rand();
      if (r < 0.08) s += pick([' ', '\t']);
      else if (r < 0.11) s += String.fromCharCode(0x80 + int(128));
      else s += String.fromCharCode(0x21 + int(94));
    }
    return s.replace(/^[ \t]+|[ \t]+$/g, '');
  }

  function fields(count) {
    const out = [];
    for (let i = 0; i < count; i++) {
      const name = chance(0.7) ? pick(FIELD_NAMES) : 'X-' + word(TCHARS, 1, 10);
      out.push(`${name}:${ows()}${fieldValue()}${ows()}`);
    }
    return out;
  }

  function connection(version) {
    const r = rand();
    if (version === 'HTTP/1.0' && r < 0.5) return [`Connection: ${pick(['keep-alive', 'Keep-Alive', 'keep-alive, foo'])}`];
    if (r < 0.1) return [`Connection: ${pick(['close', 'Close', 'foo, close', 'close ,x'])}`];
    if (r < 0.15) return ['Connection: keep-alive'];
    return [];
  }

  function hexSize(n) {
    const hex = n.toString(16);
    const r = rand();
    if (r < 0.2) return hex.toUpperCase();
    if (r < 0.3) return '0'.repeat(1 + int(3)) + hex;
    return hex;
  }

  function extensions() {
    let s = '';
    for (let i = chance(0.7) ? 0 : 1 + int(2); i > 0; i--) {
      s += ';' + word(TCHARS, 1, 6);
      const r = rand();
      if (r < 0.3) s += '=' + word(TCHARS, 1, 6);
      else if (r < 0.5) s += `="${word(' abc\t;=,xyz', 0, 6)}${chance(0.3) ? '\\"' : ''}"`;
    }
    return s;
  }

  function randomBytes(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(int(256));
    return s;
  }

  /** A body: [framing fields, body bytes], as Latin-1 strings. */
  function body(method, version) {
    const r = rand();
    if (!BODY_METHODS.includes(method) && r < 0.85) return [[], ''];
    if (version === 'HTTP/1.1' && r < 0.45) {
      let data = '';
      for (let i = int(4); i > 0; i--) {
        const n = 1 + int(20);
        data += `${hexSize(n)}${extensions()}\r\n${randomBytes(n)}\r\n`;
      }
      data += `${pick(['0', '0', '00'])}${extensions()}\r\n`;
      for (const line of fields(chance(0.7) ? 0 : 1 + int(2))) data += line + '\r\n';
      data += '\r\n';
      return [[`Transfer-Encoding:${ows()}${pick(['chunked', 'chunked', 'Chunked', 'CHUNKED', 'chunked '])}`], data];
    }
    const data = randomBytes(int(40));
    return [[`Content-Length:${ows()}${data.length}${pick(['', '', ' '])}`], data];
  }

  /** One valid request, as a Latin-1 string. */
  function request() {
    const method = pick(METHODS_USED);
    const version = chance(0.15) ? 'HTTP/1.0' : 'HTTP/1.1';
    const [framing, data] = body(method, version);
    // Now and then more than 32 fields, which Node hands over in batches.
    const lines = [...fields(chance(0.02) ? 30 + int(20) : int(6)), ...connection(version), ...framing];
    if (version === 'HTTP/1.1' && framing.length > 0 && chance(0.1)) lines.push('Expect: 100-continue');
    for (let i = lines.length - 1; i > 0; i--) {
      const j = int(i + 1);
      [lines[i], lines[j]] = [lines[j], lines[i]];
    }
    const sp = chance(0.03) ? '  ' : ' ';
    return `${method}${sp}${target(method)}${sp}${version}\r\n${lines.map((l) => l + '\r\n').join('')}\r\n${data}`;
  }

  /** One to three pipelined requests, sometimes with empty lines between them. */
  function valid() {
    let s = '';
    for (let i = 1 + (chance(0.6) ? 0 : 1 + int(2)); i > 0; i--) {
      if (s.length > 0 && chance(0.1)) s += pick(['\r\n', '\n', '\r\n\r\n']);
      s += request();
    }
    return s;
  }

  return { int, pick, chance, word, valid };
}

// --- Mutations ---------------------------------------------------------------------------------

const INTERESTING = [CR, LF, 0x20, 0x09, 0x3b, 0x22, 0x3a, 0x2c, 0x3d, 0x5c, 0x00, 0x01, 0x7f, 0x80, 0xff, 0x2f, 0x3f, 0x23, 0x40, 0x61, 0x30, 0x2b];
const INSERTED_LINES = [
  'Content-Length: 5', 'Content-Length: 0', 'Content-Length: 3, 3', 'Content-Length: -1',
  'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: chunked\t', 'Transfer-Encoding:', 'Transfer-Encoding: identity',
  'Connection: close', 'Connection: keep-alive, close', ' folded', '\tfolded', 'X-Nul: a\x00b',
  'Host : spaced', ': empty-name', 'X-Obs: \x80\xff',
];

/** Offsets of the CRLFs in `s`. */
function crlfs(s) {
  const out = [];
  for (let i = s.indexOf('\r\n'); i >= 0; i = s.indexOf('\r\n', i + 1)) out.push(i);
  return out;
}

/** Mutations of a valid input (a Latin-1 string), each returning the mutated string. */
function mutations(g) {
  const { int, pick, chance } = g;
  const at = (s) => int(s.length + 1);
  const byte = () => String.fromCharCode(chance(0.7) ? pick(INTERESTING) : int(256));
  const atCrlf = (s, f) => {
    const all = crlfs(s);
    return all.length === 0 ? s : f(pick(all));
  };
  const lineStart = (s) => {
    const all = crlfs(s);
    return all.length === 0 ? 0 : pick(all) + 2;
  };
  return [
    // Byte flips, insertions and deletions.
    (s) => { const i = int(s.length); return s.slice(0, i) + byte() + s.slice(i + 1); },
    (s) => { const i = at(s); return s.slice(0, i) + byte() + s.slice(i); },
    (s) => { const i = int(s.length); return s.slice(0, i) + s.slice(i + 1); },
    // Line endings: a bare LF, a bare CR, a doubled or a lone LF ending.
    (s) => atCrlf(s, (i) => s.slice(0, i) + s.slice(i + 1)),
    (s) => atCrlf(s, (i) => s.slice(0, i + 1) + s.slice(i + 2)),
    (s) => atCrlf(s, (i) => s.slice(0, i) + '\r\r\n' + s.slice(i + 2)),
    (s) => atCrlf(s, (i) => s.slice(0, i) + '\n\n' + s.slice(i + 2)),
    // Whitespace and separators where lines end or tokens meet.
    (s) => atCrlf(s, (i) => s.slice(0, i) + pick([' ', '\t', ';', '"', ' ;', ';a', ';a=', ';a="b', '=']) + s.slice(i)),
    (s) => { const i = at(s); return s.slice(0, i) + pick([' ', ';', '"', '\\"', ',']) + s.slice(i); },
    (s) => { const i = s.indexOf(pick([' ', ';', '"', ':', '='])); return i < 0 ? s : s.slice(0, i) + s.slice(i + 1); },
    // Whole lines: duplicated, deleted, inserted (framing fields, folds, bad names), oversized.
    (s) => { const a = lineStart(s); const b = s.indexOf('\r\n', a); return b < 0 ? s : s.slice(0, b + 2) + s.slice(a, b + 2) + s.slice(b + 2); },
    (s) => { const a = lineStart(s); const b = s.indexOf('\r\n', a); return b < 0 ? s : s.slice(0, a) + s.slice(b + 2); },
    (s) => { const a = lineStart(s); return s.slice(0, a) + pick(INSERTED_LINES) + '\r\n' + s.slice(a); },
    (s) => {
      if (!chance(0.1)) return s; // one time in ten: each costs 16 KiB
      const a = lineStart(s);
      return s.slice(0, a) + `X-Big: ${'v'.repeat(MAX_HEADER - 200 + int(400))}\r\n` + s.slice(a);
    },
    // Content-Length values and chunk-size lines.
    (s) => s.replace(/(Content-Length:[ \t]*)(\d+)/i, (_m, head, n) => head + pick([`${Number(n) + 1}`, `${Math.max(0, Number(n) - 1)}`, `+${n}`, `${n} ${n}`, `${n},${n}`, `0${n}`, `${n}\t`, '99999999999999999999'])),
    (s) => s.replace(/\r\n([0-9a-fA-F]+)((?:;[^\r\n]*)?)\r\n/, (_m, size, ext) =>
      `\r\n${pick([`${size} `, ` ${size}`, `${size}\t`, `+${size}`, `${size};`, `${size};;x`, `${size};=x`, `${size};x=`, `${size}; x`, `${size};x ="y"`, `${size};x="y`, `${size};x=y"z"`, (parseInt(size, 16) + 1).toString(16), 'fffffffffffffffff'])}${ext}\r\n`),
    // The end of the input moves: a truncated request.
    (s) => s.slice(0, int(s.length)),
  ];
}

// --- The test ----------------------------------------------------------------------------------

describe('HTTP request parser (assembly/http.ts) against llhttp, Node\'s own parser', function () {
  this.timeout(120000);

  it(`agrees with llhttp on ${CASES.toLocaleString('en')} generated and mutated requests, deliberate differences aside`, function () {
    const u = loadFramingUnit();
    const parser = new HTTPParser();
    const rand = prng(SEED);
    const g = generators(rand);
    const mutate = mutations(g);
    const tally = { cases: 0, accepted: 0, rejected: 0, agreed: 0, excluded: {}, disagreed: [] };
    const started = process.hrtime.bigint();
    for (let i = 0; i < CASES; i++) {
      let text = g.valid();
      if (rand() < 0.8) for (let m = 1 + (g.chance(0.7) ? 0 : 1); m > 0; m--) text = g.pick(mutate)(text);
      const input = Buffer.from(text, 'latin1');
      const cuts = [];
      for (let c = g.int(3); c > 0; c--) cuts.push(g.int(input.length + 1));
      cuts.sort((a, b) => a - b);
      const sdk = sdkParse(u, input, cuts);
      const ll = llhttpParse(parser, input, cuts);
      tally.cases++;
      if (ll.end === 'error') tally.rejected++;
      else tally.accepted++;
      const verdict = compare(sdk, ll, input);
      if (verdict.agreed) tally.agreed++;
      else if (verdict.excluded) tally.excluded[verdict.excluded] = (tally.excluded[verdict.excluded] ?? 0) + 1;
      else tally.disagreed.push({ case: i, input: text, cuts, ...verdict.detail });
    }
    parser.close();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const excluded = Object.values(tally.excluded).reduce((a, b) => a + b, 0);
    console.log(
      `      differential (seed ${SEED}): ${tally.cases} cases in ${seconds.toFixed(1)} s; llhttp accepted ${tally.accepted}, ` +
        `rejected ${tally.rejected}; agreed ${tally.agreed}, deliberate differences ${excluded}, disagreed ${tally.disagreed.length}`,
    );
    for (const [name, count] of Object.entries(tally.excluded)) console.log(`        ${count} x ${name}`);

    if (process.env.HTTP_DIFF_DUMP) fs.writeFileSync(process.env.HTTP_DIFF_DUMP, JSON.stringify(tally.disagreed, null, 1));
    assert.deepEqual(tally.disagreed.slice(0, 5), [], `${tally.disagreed.length} cases disagree; the first ones are shown`);
    assert.equal(tally.cases, CASES);
    // The corpus must exercise both sides, and the differences must stay the exception.
    assert.ok(tally.accepted > CASES / 4 && tally.rejected > CASES / 4, JSON.stringify(tally));
    assert.ok(tally.agreed > CASES * 0.9, `only ${tally.agreed} cases agreed outright`);
  });
});
