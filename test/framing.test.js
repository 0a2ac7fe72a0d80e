'use strict';
// The SDK's framing helpers (assembly/framing.ts) and HTTP parser (assembly/http.ts), run by
// Node's own WebAssembly through the test module test/guests/framing-unit.ts. TCP may split a
// message anywhere, so every input is fed whole, split at every byte position, one byte at a
// time, (for short inputs) split at every pair of positions, and in random chunks: the parsed
// results must be identical every time, and the whole-input result must be the expected one.
const assert = require('node:assert/strict');
const { prng } = require('./prng');
const { loadFramingUnit: load, runReader, LINES, U16, U32, HTTP } = require('./framing-unit');

/**
 * Feeds `input` to a new reader of `kind` with limits `a`, `b` in every way described at the
 * top, checks every way gives the same result, and returns that result (parsed JSON).
 */
function everySplit(u, kind, a, b, input, { pairs = input.length <= 160, random = 200 } = {}) {
  const data = Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1');
  const n = data.length;
  const run = (cuts) => runReader(u, kind, a, b, data, cuts);
  const whole = run([]);
  const same = (cuts) => {
    const got = run(cuts);
    if (got !== whole) {
      assert.fail(`split at [${cuts.join(', ')}] of ${n} bytes gives\n${got}\ninstead of\n${whole}`);
    }
  };
  for (let p = 1; p < n; p++) same([p]);
  same(Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1));
  if (pairs) for (let p = 1; p < n; p++) for (let q = p + 1; q < n; q++) same([p, q]);
  const rand = prng(n * 7919 + kind);
  for (let r = 0; r < random; r++) {
    const cuts = [];
    for (let p = 1; p < n; p++) if (rand() < 0.1) cuts.push(p);
    same(cuts);
  }
  return JSON.parse(whole);
}

const hex = (s) => Buffer.from(s, 'latin1').toString('hex');
const text = (h) => Buffer.from(h, 'hex').toString('latin1');
/** The records of requests, without the final state record. */
const requests = (result) => result.filter((r) => 'method' in r);
const final = (result) => result[result.length - 1];
const brief = (r) => ({ method: r.method, target: r.target, keepAlive: r.keepAlive, body: text(r.body) });

describe('framing helpers (assembly/framing.ts) under every split of the input', function () {
  let u;
  before(function () {
    u = load();
  });

  describe('LineReader', function () {
    it('returns lines split on LF with an optional CR removed, keeping a CR inside a line and empty lines', function () {
      const result = everySplit(u, LINES, 64, 0, 'hello\nworld\r\nsplit\rinside\n\n\r\ncaf\xc3\xa9\nlast-without-newline');
      const lines = result.filter((r) => 'line' in r).map((r) => text(r.line));
      assert.deepEqual(lines, ['hello', 'world', 'split\rinside', '', '', 'caf\xc3\xa9']);
      assert.equal(text(result.find((r) => 'last' in r).last), 'last-without-newline');
      assert.deepEqual(final(result), { failed: false, error: '', buffered: 20 });
    });

    it('accepts a line of exactly the maximum length and fails on the first longer one, after the lines before it', function () {
      const result = everySplit(u, LINES, 8, 0, 'short\n12345678\r\n12345678\n123456789\nafter\n');
      assert.deepEqual(result, [
        { line: hex('short') },
        { line: hex('12345678') },
        { line: hex('12345678') },
        { failed: true, error: 'line longer than 8 bytes', buffered: 0 },
      ]);
    });

    it('fails on an unterminated line as soon as it cannot fit, and drops what it buffered', function () {
      const result = everySplit(u, LINES, 8, 0, `ok\n${'x'.repeat(40)}`);
      assert.deepEqual(result, [{ line: hex('ok') }, { failed: true, error: 'line longer than 8 bytes', buffered: 0 }]);
      // Nine bytes ending with CR may still be an 8-byte line ending with CRLF: they stay
      // buffered (9), and only finish() at the end of the stream refuses them as a last line.
      const waiting = everySplit(u, LINES, 8, 0, 'abcdefgh\r');
      assert.deepEqual(waiting, [{ failed: true, error: 'line longer than 8 bytes', buffered: 9 }]);
      assert.deepEqual(everySplit(u, LINES, 8, 0, 'abcdefgh\r\n'), [{ line: hex('abcdefgh') }, { failed: false, error: '', buffered: 0 }]);
    });

    it('returns 1.5 KiB of random binary lines, CR inside lines included, exactly as they were written', function () {
      const rand = prng(42);
      const parts = [];
      const expected = [];
      while (parts.join('').length < 1500) {
        const len = Math.floor(rand() * 30);
        let line = '';
        for (let i = 0; i < len; i++) {
          const c = Math.floor(rand() * 256);
          line += String.fromCharCode(c === 10 ? 32 : c);
        }
        if (line.endsWith('\r')) line += 'z';
        expected.push(line);
        parts.push(line + (rand() < 0.5 ? '\r\n' : '\n'));
      }
      const result = everySplit(u, LINES, 64, 0, parts.join(''), { random: 50 });
      assert.deepEqual(result.slice(0, -1).map((r) => text(r.line)), expected);
      assert.deepEqual(final(result), { failed: false, error: '', buffered: 0 });
    });
  });

  describe('LengthPrefixedReader', function () {
    const u16 = (s) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 255]), Buffer.from(s, 'latin1')]);
    const u32 = (s) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(s.length);
      return Buffer.concat([b, Buffer.from(s, 'latin1')]);
    };

    it('returns u16 big-endian frames, empty ones included, and keeps a partial frame buffered', function () {
      const big = 'B'.repeat(300); // 0x012c: both prefix bytes count
      const input = Buffer.concat([u16(''), u16('a'), u16('hello'), u16(big), Buffer.from([0, 10]), Buffer.from('part')]);
      const result = everySplit(u, U16, 1000, 0, input, { random: 50 });
      assert.deepEqual(result, [
        { frame: '' },
        { frame: hex('a') },
        { frame: hex('hello') },
        { frame: hex(big) },
        { failed: false, error: '', buffered: 6 },
      ]);
    });

    it('returns u32 big-endian frames', function () {
      const big = 'C'.repeat(258); // 0x00000102
      const input = Buffer.concat([u32('dns?'), u32(''), u32(big), u32('end')]);
      const result = everySplit(u, U32, 1 << 20, 0, input, { random: 50 });
      assert.deepEqual(result, [
        { frame: hex('dns?') },
        { frame: '' },
        { frame: hex(big) },
        { frame: hex('end') },
        { failed: false, error: '', buffered: 0 },
      ]);
    });

    it('fails on a u16 prefix over the maximum frame size, after the frames before it, without waiting for the frame', function () {
      const input = Buffer.concat([u16('abc'), u16('0123456789abcdef'), Buffer.from([0, 17]), Buffer.from('x')]);
      const result = everySplit(u, U16, 16, 0, input);
      assert.deepEqual(result, [
        { frame: hex('abc') },
        { frame: hex('0123456789abcdef') },
        { failed: true, error: 'frame too large: 17 bytes, the limit is 16', buffered: 0 },
      ]);
    });

    it('fails on a u32 prefix whose high byte alone makes it too large', function () {
      const input = Buffer.concat([u32('ok'), Buffer.from([1, 0, 0, 0]), Buffer.from('yyyy')]);
      const result = everySplit(u, U32, 1 << 20, 0, input);
      assert.deepEqual(result, [
        { frame: hex('ok') },
        { failed: true, error: 'frame too large: 16777216 bytes, the limit is 1048576', buffered: 0 },
      ]);
    });

    it('writes u16 and u32 prefixes with lengthPrefixed', function () {
      assert.equal(u.str(u.x.sample(6)), '\x00\x03abc');
      assert.equal(u.str(u.x.sample(7)), '\x00\x00\x00\x03abc');
    });
  });

  it('offers pushBytes, reset, decoded lines, frame views and header lists besides the loop', function () {
    assert.deepEqual(u.str(u.x.misc()).split(' '), [
      'true:h\u00e9llo:6', // the line decoded from UTF-8; its bytes without CRLF
      'false:true:0', // 21 bytes without LF: failed, and nothing kept
      'false:0', // pushes after a failure are ignored
      'true:again:false:', // reset() forgets the failure
      'true:3:xyz',
      '1:0',
      'false:true:400',
      'true:GET:false:false',
      '2:1|2:false:true',
      '98:2:-1:bc:3',
      '0:0',
    ]);
  });

  describe('ByteQueue', function () {
    it('keeps every byte in order and its capacity bounded while data streams through it', function () {
      // 10,000 pushes of 100 bytes with 50 left unread after each: capacity stays small.
      const small = u.x.queueSteady(10000, 100, 50);
      assert.ok(small > 0 && small <= 1024, `capacity ${small}`);
      // 3,000 pushes of 1,000 bytes with 5,000 left unread: bounded by a few times what is held.
      const large = u.x.queueSteady(3000, 1000, 5000);
      assert.ok(large > 0 && large <= 4 * 6000, `capacity ${large}`);
    });
  });
});

describe('HTTP request parser (assembly/http.ts) under every split of the input', function () {
  let u;
  before(function () {
    u = load();
  });
  const http = (input, maxHeader = 16384, maxBody = 1 << 20, opts) => everySplit(u, HTTP, maxHeader, maxBody, input, opts);

  it('parses pipelined GET, Content-Length POST and chunked PUT requests, and stops after Connection: close', function () {
    const input =
      'GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Multi: a\r\nx-multi:  b \r\n\r\n' +
      'POST /submit HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world' +
      '\r\n' + // an empty line between requests is skipped
      'PUT /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n' +
      'GET /last HTTP/1.1\r\nConnection: close\r\n\r\n' +
      'GET /ignored HTTP/1.1\r\n\r\n';
    const result = http(input);
    const reqs = requests(result);
    assert.deepEqual(reqs.map(brief), [
      { method: 'GET', target: '/index.html?x=1', keepAlive: true, body: '' },
      { method: 'POST', target: '/submit', keepAlive: true, body: 'hello world' },
      { method: 'PUT', target: '/chunked', keepAlive: true, body: 'hello world' },
      { method: 'GET', target: '/last', keepAlive: false, body: '' },
    ]);
    const [get, post, put] = reqs;
    assert.deepEqual(get.headers, [['Host', 'example.com'], ['X-Multi', 'a'], ['x-multi', 'b']]);
    assert.equal(get.host, 'example.com');
    assert.equal(get.multi, 'a, b');
    assert.equal(get.path, '/index.html');
    assert.equal(get.query, 'x=1');
    assert.equal(get.version, 'HTTP/1.1');
    assert.equal(get.contentType, null);
    assert.equal(post.contentType, 'text/plain');
    assert.equal(put.chunked, true);
    assert.deepEqual(put.headers.map((h) => h[0]), ['Host', 'Transfer-Encoding'], 'trailer fields are not headers');
    assert.deepEqual(final(result), { failed: false, status: 0, error: '', closed: true, idle: false, buffered: 0 });
  });

  it('decodes a chunked body with extensions, uppercase hex sizes and trailers at every pair of split points', function () {
    const input =
      'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' +
      'A;name="v";flag\r\n0123456789\r\n1;q="a \\"b\\"";x=y\r\n!\r\n0\r\nX-Sum: 11\r\nY: z\r\n\r\n';
    const result = http(input);
    assert.deepEqual(requests(result).map(brief), [{ method: 'POST', target: '/c', keepAlive: true, body: '0123456789!' }]);
    assert.deepEqual(final(result), { failed: false, status: 0, error: '', closed: false, idle: true, buffered: 0 });
  });

  it('applies HTTP/1.0 and HTTP/1.1 keep-alive rules from the Connection tokens', function () {
    const input =
      'GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n' +
      'GET /b HTTP/1.1\r\nConnection: upgrade, keep-alive\r\n\r\n' +
      'GET /c HTTP/1.0\r\n\r\n' +
      'GET /never HTTP/1.1\r\n\r\n';
    const result = http(input);
    assert.deepEqual(requests(result).map((r) => [r.target, r.version, r.keepAlive]), [
      ['/a', 'HTTP/1.0', true],
      ['/b', 'HTTP/1.1', true],
      ['/c', 'HTTP/1.0', false],
    ]);
    assert.equal(final(result).closed, true);
    const close = http('GET /x HTTP/1.1\r\nConnection: foo, Close\r\n\r\nGET /y HTTP/1.1\r\n\r\n');
    assert.deepEqual(requests(close).map((r) => [r.target, r.keepAlive]), [['/x', false]]);
    const v10 = http('GET /z HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n');
    assert.deepEqual(requests(v10).map((r) => r.keepAlive), [false]);
  });

  it('accepts the request targets and request lines llhttp accepts', function () {
    const input =
      '\r\r\n\nOPTIONS * HTTP/1.1\r\n\r\n' + // stray CR and LF bytes before a request are skipped
      'GET http://user@host@x:80/p?q=1#f HTTP/1.1\r\n\r\n' + // "@" twice, but not "@@"
      'GET   /spaced   HTTP/1.1\r\n\r\n' +
      'GET /a#b?c?#{}|^"<> HTTP/1.1\r\n\r\n' +
      'CONNECT example.com:443 HTTP/1.1\r\n\r\n' +
      'M-SEARCH *x/y HTTP/1.0\r\n\r\n';
    assert.deepEqual(requests(http(input)).map((r) => [r.method, r.target, r.version]), [
      ['OPTIONS', '*', 'HTTP/1.1'],
      ['GET', 'http://user@host@x:80/p?q=1#f', 'HTTP/1.1'],
      ['GET', '/spaced', 'HTTP/1.1'],
      ['GET', '/a#b?c?#{}|^"<>', 'HTTP/1.1'],
      ['CONNECT', 'example.com:443', 'HTTP/1.1'],
      ['M-SEARCH', '*x/y', 'HTTP/1.0'],
    ]);
  });

  it('closes the connection after a chunked request whose trailer section lists Connection: close', function () {
    const input = 'POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n';
    const result = http(input);
    assert.deepEqual(requests(result).map(brief), [{ method: 'POST', target: '/t', keepAlive: false, body: 'ab' }]);
    assert.equal(final(result).closed, true);
  });

  it('leaves an incomplete request buffered', function () {
    const result = http('POST /r HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /next HTTP/1.1\r\nContent-Length: 10\r\n\r\nonly5');
    assert.deepEqual(requests(result).map(brief), [{ method: 'POST', target: '/r', keepAlive: true, body: 'abc' }]);
    assert.deepEqual(final(result), { failed: false, status: 0, error: '', closed: false, idle: false, buffered: 5 });
  });

  const TE = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
  const errors = [
    // The request line.
    ['a request line that is not HTTP', 'NOT A REQUEST\r\n\r\n', 400, 'bad request target'],
    ['a request line without a version (HTTP/0.9)', 'GET /\r\n\r\n', 400, 'request line without an HTTP version (HTTP/0.9 is not supported)'],
    ['a method with a non-token character', 'G@T / HTTP/1.1\r\n\r\n', 400, 'bad method'],
    ['a target with a control character', 'GET /\x01 HTTP/1.1\r\n\r\n', 400, 'bad request target'],
    ['a target that is neither a path, "*" nor an absolute URI', 'GET index.html HTTP/1.1\r\n\r\n', 400, 'bad request target'],
    ['an absolute URI with "@@" in its authority', 'GET http://a@@c/ HTTP/1.1\r\n\r\n', 400, 'bad request target'],
    ['a lowercase version', 'GET / http/1.1\r\n\r\n', 400, 'bad HTTP version'],
    ['a space after the version', 'GET / HTTP/1.1 \r\n\r\n', 400, 'bad HTTP version'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 505, 'only HTTP/1.0 and HTTP/1.1 are supported'],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 505, 'only HTTP/1.0 and HTTP/1.1 are supported'],
    ['a request line ended by a bare LF', 'GET / HTTP/1.1\nHost: a\r\n\r\n', 400, 'request line ended by a bare LF'],
    ['a request line ended by a bare CR', 'GET / HTTP/1.1\rHost: a\r\n\r\n', 400, 'CR not followed by LF'],
    // Field lines.
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost example\r\n\r\n', 400, 'bad header field name'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400, 'bad header field name'],
    ['an empty field name', 'GET / HTTP/1.1\r\n: a\r\n\r\n', 400, 'bad header field name'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n', 400, 'field line starting with whitespace (obsolete line folding)'],
    ['a header value with a bare CR', 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n', 400, 'CR not followed by LF'],
    ['a header value with a control character', 'GET / HTTP/1.1\r\nX-A: a\x7fb\r\n\r\n', 400, 'bad header field value'],
    ['a header line ended by a bare LF (request smuggling)', 'POST / HTTP/1.1\r\nDummy: x\nContent-Length: 3\r\n\r\nabc', 400, 'field line ended by a bare LF'],
    ['a header section ended by bare LFs', 'GET / HTTP/1.1\r\nHost: a\n\n', 400, 'field line ended by a bare LF'],
    ['a blank line ended by a bare LF', 'GET / HTTP/1.1\r\nHost: a\r\n\n', 400, 'field line ended by a bare LF'],
    // Content-Length and Transfer-Encoding.
    ['a Content-Length that is not a number', 'POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n', 400, 'bad Content-Length'],
    ['a Content-Length with a sign', 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n', 400, 'bad Content-Length'],
    ['a Content-Length with a space inside', 'POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n', 400, 'bad Content-Length'],
    ['a Content-Length list', 'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc', 400, 'bad Content-Length'],
    ['an empty Content-Length', 'POST / HTTP/1.1\r\nContent-Length: \r\n\r\n', 400, 'bad Content-Length'],
    ['conflicting Content-Length values', 'POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 400, 'more than one Content-Length'],
    ['identical repeated Content-Length fields', 'POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc', 400, 'more than one Content-Length'],
    ['a Content-Length past 2^53', 'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n', 400, 'Content-Length out of range'],
    ['Transfer-Encoding with Content-Length', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n', 400, 'both Transfer-Encoding and Content-Length'],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'both Transfer-Encoding and Content-Length'],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'Transfer-Encoding in an HTTP/1.0 request'],
    ['chunked that is not the last coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400, 'Transfer-Encoding does not end with chunked'],
    ['a Transfer-Encoding field after one ending with chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'Transfer-Encoding does not end with chunked'],
    ['a Transfer-Encoding without chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n', 400, 'Transfer-Encoding does not end with chunked'],
    ['a coding other than chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501, 'transfer coding other than chunked'],
    // Chunked bodies.
    ['a bad chunk size', `${TE}zz\r\n`, 400, 'bad chunk size'],
    ['a chunk size followed by a space', `${TE}a \r\n0123456789\r\n0\r\n\r\n`, 400, 'bad chunk size'],
    ['a chunk size with a sign', `${TE}+a\r\n0123456789\r\n0\r\n\r\n`, 400, 'bad chunk size'],
    ['a chunk size past 2^53', `${TE}${'f'.repeat(14)}\r\n`, 400, 'chunk size out of range'],
    ['a chunk size line ended by a bare LF', `${TE}2\nab\r\n0\r\n\r\n`, 400, 'chunk size line ended by a bare LF'],
    ['a chunk extension with nothing after ";"', `${TE}2;\r\nab\r\n0\r\n\r\n`, 400, 'bad chunk extension'],
    ['a chunk extension with a space after ";"', `${TE}2; a=b\r\nab\r\n0\r\n\r\n`, 400, 'bad chunk extension'],
    ['a chunk extension with nothing after "="', `${TE}2;a=\r\nab\r\n0\r\n\r\n`, 400, 'bad chunk extension'],
    ['a chunk extension with an unterminated quote', `${TE}2;a="b\r\nab\r\n0\r\n\r\n`, 400, 'unterminated quoted string in a chunk extension'],
    ['a chunk extension with a stray quote', `${TE}2;a=b"\r\nab\r\n0\r\n\r\n`, 400, 'bad chunk extension'],
    ['chunk data longer than its size', `${TE}3\r\nabcd\r\n0\r\n\r\n`, 400, 'chunk data longer than its chunk size'],
    ['chunk data followed by a bare LF', `${TE}3\r\nabc\n0\r\n\r\n`, 400, 'chunk data not followed by CRLF'],
    ['a Content-Length among the trailers', `${TE}0\r\nContent-Length: 1\r\n\r\n`, 400, 'Content-Length in the trailer section'],
    ['a trailer field with a bare LF', `${TE}0\r\nX-T: 1\n\r\n`, 400, 'field line ended by a bare LF'],
    // Limits.
    ['a Content-Length over the body limit', 'POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n', 413, 'body of 101 bytes, the limit is 100'],
    ['chunks adding up over the body limit', `${TE}32\r\n${'x'.repeat(50)}\r\n33\r\n`, 413, 'chunked body over the limit of 100 bytes'],
    ['a request line over the header limit', `GET /${'a'.repeat(200)} HTTP/1.1\r\n\r\n`, 431, 'request line longer than 128 bytes'],
    ['header fields over the header limit', `GET / HTTP/1.1\r\nX-A: ${'b'.repeat(60)}\r\nX-B: ${'c'.repeat(60)}\r\n\r\n`, 431, 'request header longer than 128 bytes'],
    ['a trailer section over the header limit', `${TE}0\r\nX-T: ${'t'.repeat(150)}\r\n\r\n`, 431, 'trailer section longer than 128 bytes'],
    ['a chunk size line over 4 KiB', `${TE}1;x=${'y'.repeat(5000)}\r\n`, 400, 'chunk size line longer than 4096 bytes'],
  ];
  for (const [what, bad, status, message] of errors) {
    it(`answers ${status} to ${what}, after returning the request before it`, function () {
      const input = `GET /ok HTTP/1.1\r\nHost: a\r\n\r\n${bad}GET /after HTTP/1.1\r\n\r\n`;
      const result = http(input, 128, 100, { pairs: false, random: 20 });
      assert.deepEqual(requests(result).map((r) => r.target), ['/ok']);
      const end = final(result);
      assert.equal(end.failed, true, JSON.stringify(end));
      assert.equal(end.status, status, JSON.stringify(end));
      if (message !== null) assert.equal(end.error, message);
      assert.equal(end.buffered, 0, 'a failed parser keeps nothing');
    });
  }

  // Each input ends with the first byte the grammar cannot accept: the push that brings it must
  // fail the parser, without waiting for the end of the line or of the header section.
  const firstBadByte = [
    ['a control character in the method', 'GE\x01'],
    ['a control character in the target', 'GET /a\x01'],
    ['a request line ended by a bare LF', 'GET / HTTP/1.1\n'],
    ['a header line ended by a bare LF', 'POST / HTTP/1.1\r\nDummy: x\n'],
    ['a header section ended by a bare LF', 'GET / HTTP/1.1\r\nHost: a\r\n\n'],
    ['a control character in a header value', 'GET / HTTP/1.1\r\nX-A: a\x00'],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nX-A: a\r\n '],
    ['a comma in Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 1,'],
    ['a coding after chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked,'],
    ['a second Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1'],
    ['a space after a chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na '],
    ['an empty chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;\r'],
    ['an unterminated quote in a chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;a="b\r'],
  ];
  for (const [what, input] of firstBadByte) {
    it(`fails on ${what} during the push that brings that byte, not later`, function () {
      const before = final(http(input.slice(0, -1)));
      assert.equal(before.failed, false, `without its last byte the input is still acceptable: ${JSON.stringify(before)}`);
      const end = final(http(input));
      assert.equal(end.failed, true, JSON.stringify(end));
      assert.equal(end.status, 400);
    });
  }

  it('reports a 100 Continue once, only while the body of an Expect: 100-continue request is awaited', function () {
    assert.equal(u.str(u.x.continueSequence()), 'false:false false:true false:false false:false true:false:abc');
    assert.equal(u.str(u.x.sample(8)), 'HTTP/1.1 100 Continue\r\n\r\n');
  });
});

describe('HTTP response writer (assembly/http.ts)', function () {
  let u;
  before(function () {
    u = load();
  });
  const sample = (n) => u.str(u.x.sample(n));

  it('writes the status line, Content-Length, Content-Type and the body', function () {
    assert.equal(sample(0), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi');
  });

  it('adds Connection: close, replaces or adds fields, and drops fields that could split the response', function () {
    assert.equal(
      sample(1),
      'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\nx-a: 2\r\nSet: a\r\nSet: b\r\n\r\nnope',
    );
  });

  it('answers HEAD with Content-Length and no body, and an HTTP/1.0 keep-alive client with Connection: keep-alive', function () {
    assert.equal(sample(2), 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n');
  });

  it('sends neither Content-Length nor body with 204', function () {
    assert.equal(sample(3), 'HTTP/1.1 204 No Content\r\n\r\n');
  });

  it('sends Uint8Array bodies byte-exact and omits Content-Type when asked', function () {
    assert.equal(sample(4), 'HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n\xc3\xa9');
  });

  it('builds an error response with the status, Connection: close and the reason', function () {
    const body = '431 Request Header Fields Too Large: request line longer than 64 bytes\n';
    assert.equal(
      sample(5),
      `HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: ${body.length}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
    );
  });
});
