// LZW as Go's compress/lzw (LSB, 8-bit literals) and the [9] compress wrapper around it.
// (That our writer reproduces Go's bytes is shown on the captured packets in wire-captures.)
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { compressMessage, decompressMessage } from '../../src/cluster/wire/compress.js';
import { lzwCompress, lzwDecompress, MAX_DECOMPRESSED } from '../../src/cluster/wire/lzw.js';
import { encodeCompress } from '../../src/cluster/wire/messages.js';

const CLEAR = 256;
const EOF = 257;

/** Packs codes LSB-first with the given widths. */
function pack(codes: readonly [code: number, width: number][]): Buffer {
  const out: number[] = [];
  let bits = 0;
  let n = 0;
  for (const [code, width] of codes) {
    bits |= code << n;
    n += width;
    while (n >= 8) { out.push(bits & 0xff); bits >>>= 8; n -= 8; }
  }
  if (n > 0) out.push(bits & 0xff);
  return Buffer.from(out);
}

/** Reads back the codes of a stream, widening as the table grows (the format's rules, for inspection). */
function codes(stream: Uint8Array): number[] {
  const out: number[] = [];
  let width = 9;
  let next = 258;
  let first = true;
  let bits = 0;
  let n = 0;
  let pos = 0;
  for (;;) {
    while (n < width) { bits |= stream[pos++]! << n; n += 8; }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    n -= width;
    out.push(code);
    if (code === EOF) return out;
    if (code === CLEAR) { width = 9; next = 258; first = true; continue; }
    if (!first && next < 4096) { next++; if (next === 1 << width && width < 12) width++; }
    first = false;
  }
}

t.test('round trips, through the KwKwK case and table resets', async (t) => {
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['a run (KwKwK on every step)', Buffer.alloc(5000, 0x61)],
    ['all byte values', Buffer.from(Array.from({ length: 2048 }, (_, i) => i & 0xff))],
    ['random 20 000 bytes (table resets)', randomBytes(20_000)],
    ['text', Buffer.from('TOBEORNOTTOBEORTOBEORNOT#'.repeat(4000))],
    ['1 MiB of mixed runs', Buffer.concat(Array.from({ length: 256 }, (_, i) => Buffer.concat([randomBytes(i * 7), Buffer.alloc(4096 - i * 7, i)])))],
  ];
  for (const [name, input] of inputs) t.same(lzwDecompress(lzwCompress(input)), input, name);
});

t.test("the writer's stream: a clear code first, EOF last, a clear code when the table is full", async (t) => {
  const empty = lzwCompress(Buffer.alloc(0));
  t.same(codes(empty), [CLEAR, EOF], 'even an empty input');
  t.same(empty, pack([[CLEAR, 9], [EOF, 9]]));
  const abc = lzwCompress(Buffer.from('abab'));
  t.same(codes(abc), [CLEAR, 0x61, 0x62, 258, EOF], "'ab' becomes code 258");
  t.equal(abc[0], 0x00, 'first byte of the clear code (captured Bufs start 00 0f / 00 0d)');
  t.equal(abc[1]! & 1, 1);
  const random = codes(lzwCompress(randomBytes(20_000)));
  const clears = random.filter((c) => c === CLEAR).length;
  t.ok(clears >= 5, `${clears} clear codes: the table filled and was reset`);
  t.ok(random.every((c) => c < 4096), 'codes stay within 12 bits');
  const text = codes(lzwCompress(Buffer.from('TOBEORNOTTOBEORTOBEORNOT#'.repeat(4000))));
  t.ok(text.some((c) => c >= 2048), 'compressible input reaches the 12-bit codes');
});

t.test('the reader: hand-made streams, KwKwK, a full table', async (t) => {
  t.same(lzwDecompress(pack([[CLEAR, 9], [0x61, 9], [258, 9], [EOF, 9]])), Buffer.from('aaa'), 'code 258 used as it is being defined (KwKwK)');
  t.same(lzwDecompress(pack([[0x61, 9], [0x62, 9], [258, 9], [EOF, 9]])), Buffer.from('abab'), 'no leading clear code is fine');
  t.same(lzwDecompress(pack([[0x61, 9], [CLEAR, 9], [0x62, 9], [EOF, 9]])), Buffer.from('ab'), 'a clear code mid-stream');
  t.same(lzwDecompress(Buffer.concat([pack([[CLEAR, 9], [EOF, 9]]), Buffer.from('junk')])), Buffer.alloc(0), 'bytes after EOF are ignored');
  // A stream that fills the table without clearing: 3838 literals define codes 258..4095, after which nothing is added.
  const seq: [number, number][] = [];
  let next = 258;
  let width = 9;
  for (let i = 0; i < 3839; i++) {
    seq.push([i & 0xff, width]);
    if (i > 0 && next < 4096) { next++; if (next === 1 << width && width < 12) width++; }
  }
  seq.push([4095, 12], [EOF, 12]);
  const expected = Buffer.concat([Buffer.from(Array.from({ length: 3839 }, (_, i) => i & 0xff)), Buffer.from([3837 & 0xff, 3838 & 0xff])]);
  t.same(lzwDecompress(pack(seq)), expected, 'a full table keeps working, code 4095 included');
});

t.test('malformed streams and output caps', async (t) => {
  t.throws(() => lzwDecompress(pack([[CLEAR, 9], [0x61, 9]])), { code: 'TRUNCATED', message: /EOF/ });
  t.throws(() => lzwDecompress(Buffer.alloc(0)), { code: 'TRUNCATED' });
  t.throws(() => lzwDecompress(pack([[CLEAR, 9], [300, 9], [EOF, 9]])), { code: 'BAD_FIELD', message: /300/ }, 'a code not yet defined');
  t.throws(() => lzwDecompress(pack([[CLEAR, 9], [258, 9], [EOF, 9]])), { code: 'BAD_FIELD' }, 'KwKwK needs a previous code');
  t.throws(() => lzwDecompress(lzwCompress(Buffer.alloc(100_000, 1)), 1000), { code: 'TOO_LARGE' });
  t.equal(MAX_DECOMPRESSED, 40 * 1024 * 1024, 'the default cap is 40 MiB, as memberlist HEAD');
  const bomb = lzwCompress(Buffer.alloc(MAX_DECOMPRESSED + 1));
  t.ok(bomb.length < 64 * 1024, `40 MiB of zeros compresses to ${bomb.length} bytes`);
  t.throws(() => lzwDecompress(bomb), { code: 'TOO_LARGE', message: /41943040/ });
  t.equal(lzwDecompress(lzwCompress(Buffer.alloc(MAX_DECOMPRESSED))).length, MAX_DECOMPRESSED, 'exactly 40 MiB is allowed');
});

t.test('the compress wrapper: [9] + {Algo: 0, Buf}', async (t) => {
  const msg = Buffer.from('0085a44e6f6465a5616c706861'.repeat(10), 'hex');
  const c = compressMessage(msg);
  t.same(c.subarray(0, 12), Buffer.from('0982a4416c676f00a3427566', 'hex'));
  t.same(decompressMessage(c), msg);
  t.throws(() => decompressMessage(encodeCompress({ algo: 1, buf: lzwCompress(msg) })), { code: 'BAD_FIELD', message: /algorithm 1/ });
  t.throws(() => decompressMessage(msg), { code: 'BAD_TYPE' });
  t.throws(() => decompressMessage(Buffer.alloc(0)), { code: 'TRUNCATED' });
  t.throws(() => decompressMessage(c.subarray(0, c.length - 4)), { code: 'TRUNCATED' });
  t.throws(() => decompressMessage(c, 10), { code: 'TOO_LARGE' });
});
