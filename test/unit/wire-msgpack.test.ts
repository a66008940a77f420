// msgpack as go-msgpack writes it for memberlist (old-spec raw strings, sorted keys, unsigned
// integers) and as anyone may write it (every format decodes), with lengths and depth checked.
import t from 'tap';
import { WireError } from '../../src/cluster/wire/errors.js';
import { decode, decodeAt, encode, Encoder, MAX_DEPTH, MsgExt } from '../../src/cluster/wire/msgpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const enc = (v: Parameters<typeof encode>[0]) => encode(v).toString('hex');

t.test('strings and byte arrays are old-spec raw: fixstr, str16, str32, never str8 or bin', async (t) => {
  t.equal(enc(new Uint8Array(130)).slice(0, 6), 'da0082', 'a 130-byte array -> da 00 82');
  t.equal(enc('x'.repeat(40)).slice(0, 6), 'da0028', 'a 40-char string -> da, not d9');
  t.equal(enc(new Uint8Array(223)).slice(0, 6), 'da00df', "the 223-byte compress Buf of the captured push/pull");
  t.equal(enc('abc'), 'a3616263');
  t.equal(enc(''), 'a0');
  t.equal(enc(new Uint8Array(31)).slice(0, 2), 'bf', '31 bytes is the longest fixstr');
  t.equal(enc(new Uint8Array(32)).slice(0, 6), 'da0020', '32 bytes is str16 already');
  t.equal(enc(new Uint8Array(65535)).slice(0, 6), 'daffff');
  t.equal(enc(new Uint8Array(65536)).slice(0, 10), 'db00010000', 'str32');
  t.equal(enc(Uint8Array.of(127, 0, 0, 12)), 'a47f00000c', 'an IPv4 address is raw(4)');
  t.equal(enc('é'), 'a2c3a9', 'UTF-8 bytes');
});

t.test('integers: unsigned forms for non-negative values, signed only for negative ones', async (t) => {
  t.equal(enc(0), '00');
  t.equal(enc(127), '7f', 'positive fixint');
  t.equal(enc(128), 'cc80');
  t.equal(enc(255), 'ccff');
  t.equal(enc(256), 'cd0100');
  t.equal(enc(7946), 'cd1f0a', 'the gossip port');
  t.equal(enc(589), 'cd024d', 'UserStateLen as go-msgpack 0.5 writes a Go int');
  t.equal(enc(65536), 'ce00010000');
  t.equal(enc(2 ** 32 - 1), 'ceffffffff');
  t.equal(enc(2 ** 32), 'cf0000000100000000');
  t.equal(enc(2n ** 64n - 1n), 'cfffffffffffffffff', 'a bigint keeps all 64 bits');
  t.equal(enc(-1), 'ff', 'negative fixint');
  t.equal(enc(-32), 'e0');
  t.equal(enc(-33), 'd0df');
  t.equal(enc(-200), 'd1ff38');
  t.equal(enc(-70000), 'd2fffeee90');
  t.equal(enc(-(2n ** 40n)), 'd3ffffff0000000000');
  t.throws(() => new Encoder().uint(-1), { code: 'BAD_FIELD' });
  t.throws(() => new Encoder().uint(2n ** 64n), { code: 'BAD_FIELD' });
  t.throws(() => new Encoder().uint(1.5), { code: 'BAD_FIELD' });
});

t.test('other values: nil, bools, float64, arrays, maps with byte-wise sorted keys', async (t) => {
  t.equal(enc(null), 'c0');
  t.equal(enc(false), 'c2');
  t.equal(enc(true), 'c3');
  t.equal(enc(1.5), 'cb3ff8000000000000', 'float64, as Serf writes coordinates');
  t.equal(enc([1, 2]), '920102');
  t.equal(enc(new Array(16).fill(null)).slice(0, 6), 'dc0010', 'array16');
  t.equal(enc(new Array(512).fill(null)).slice(0, 6), 'dc0200', "serf's 512 Events");
  t.equal(new Encoder().map({ b: 1, a: 2, B: 3, skip: undefined }).finish().toString('hex'), '83a14203a16102a16201', 'keys sorted byte-wise (B < a < b), undefined fields left out');
  t.equal(new Encoder().map({ SourcePort: 1, SourceAddr: 2, SourceNode: 3, SeqNo: 4, Node: 5 }).finish().toString('hex'),
    Buffer.concat([hex('85'), ...['Node', 'SeqNo', 'SourceAddr', 'SourceNode', 'SourcePort'].map((k, i) => Buffer.concat([Uint8Array.of(0xa0 | k.length), Buffer.from(k), Uint8Array.of([5, 4, 2, 3, 1][i]!)]))]).toString('hex'),
    "the ping's key order");
  const big: Record<string, number> = {};
  for (let i = 0; i < 16; i++) big[`k${i.toString().padStart(2, '0')}`] = i;
  t.equal(new Encoder().map(big).finish().subarray(0, 3).toString('hex'), 'de0010', 'map16');
  t.equal(enc(new MsgExt(5, Uint8Array.of(1, 2))), 'd5050102', 'fixext 2');
  t.equal(enc(new MsgExt(-1, new Uint8Array(3))), 'c703ff000000', 'ext8');
});

t.test('the decoder reads every msgpack format, raw strings as bytes', async (t) => {
  t.same(decode(hex('a3616263')), Buffer.from('abc'), 'fixstr -> bytes, not a JS string');
  t.same(decode(hex('d9026869')), Buffer.from('hi'), 'str8');
  t.same(decode(hex('da00026869')), Buffer.from('hi'), 'str16');
  t.same(decode(hex('db000000026869')), Buffer.from('hi'), 'str32');
  t.same(decode(hex('c4026869')), Buffer.from('hi'), 'bin8');
  t.same(decode(hex('c500026869')), Buffer.from('hi'), 'bin16');
  t.same(decode(hex('c6000000026869')), Buffer.from('hi'), 'bin32');
  t.equal(decode(hex('7f')), 127);
  t.equal(decode(hex('ff')), -1);
  t.equal(decode(hex('cc80')), 128);
  t.equal(decode(hex('cd1f0a')), 7946);
  t.equal(decode(hex('ce00010000')), 65536);
  t.equal(decode(hex('cf0000000100000000')), 2 ** 32);
  t.equal(decode(hex('cfffffffffffffffff')), 2n ** 64n - 1n, 'beyond 2^53 a bigint');
  t.equal(decode(hex('d0df')), -33);
  t.equal(decode(hex('d1ff38')), -200, 'go-msgpack v2 writes ints above 127 signed');
  t.equal(decode(hex('d1024d')), 589);
  t.equal(decode(hex('d2fffeee90')), -70000);
  t.equal(decode(hex('d3ffffffffffffffff')), -1);
  t.equal(decode(hex('d38000000000000000')), -(2n ** 63n));
  t.equal(decode(hex('ca3fc00000')), 1.5, 'float32');
  t.equal(decode(hex('cb3ff8000000000000')), 1.5, 'float64');
  t.equal(decode(hex('c0')), null);
  t.equal(decode(hex('c2')), false);
  t.equal(decode(hex('c3')), true);
  t.same(decode(hex('920102')), [1, 2]);
  t.same(decode(hex('dc000101')), [1]);
  t.same(decode(hex('dd0000000101')), [1]);
  t.same(decode(hex('81a16101')), { a: 1 });
  t.same(decode(hex('de0001a16101')), { a: 1 });
  t.same(decode(hex('df00000001a16101')), { a: 1 });
  t.same(decode(hex('810102')), { 1: 2 }, 'a number key becomes its text');
  t.same(decode(hex('d4010a')), new MsgExt(1, Uint8Array.of(10)), 'fixext 1');
  for (const [b, n] of [['d5', 2], ['d6', 4], ['d7', 8], ['d8', 16]] as const) t.same(decode(hex(`${b}07${'00'.repeat(n)}`)), new MsgExt(7, new Uint8Array(n)), `fixext ${n}`);
  t.same(decode(hex('c70203abcd')), new MsgExt(3, hex('abcd')), 'ext8');
  t.same(decode(hex('c8000203abcd')), new MsgExt(3, hex('abcd')), 'ext16');
  t.same(decode(hex('c90000000203abcd')), new MsgExt(3, hex('abcd')), 'ext32');
  const m = decode(hex('81a95f5f70726f746f5f5f01')) as Record<string, unknown>;
  t.equal(m['__proto__'], 1, '__proto__ is an ordinary key');
  t.equal(Object.getPrototypeOf(m), null);
});

t.test('streaming: one value at an offset, reporting where it ended', async (t) => {
  const stream = Buffer.concat([encode({ Join: true }), encode(7946), encode('z'), hex('ffff')]);
  let r = decodeAt(stream, 0);
  t.same(r.value, { Join: true });
  r = decodeAt(stream, r.end);
  t.same(r, { value: 7946, end: 10 });
  r = decodeAt(stream, r.end);
  t.same(r, { value: Buffer.from('z'), end: 12 });
  t.equal(decodeAt(stream, 12).value, -1, 'what follows is left alone');
  t.throws(() => decode(hex('0102')), { code: 'BAD_FIELD', message: /1 bytes after/ }, 'decode() wants exactly one value');
  t.throws(() => decodeAt(stream, stream.length), { code: 'TRUNCATED' });
});

t.test('hostile input: lengths checked before use, depth bounded, only WireError thrown', async (t) => {
  t.throws(() => decode(hex('da00ff41')), { code: 'TRUNCATED', message: /needs 255 more bytes/ });
  t.throws(() => decode(hex('dbffffffff')), { code: 'TRUNCATED' }, 'a 4 GiB string claim is refused, not allocated');
  t.throws(() => decode(hex('ddffffffff')), { code: 'TRUNCATED', message: /claims 4294967295 elements/ }, 'so is a 4 G-element array');
  t.throws(() => decode(hex('dfffffffff')), { code: 'TRUNCATED' }, 'and map');
  t.throws(() => decode(hex('c9ffffffff01')), { code: 'TRUNCATED' }, 'and ext');
  t.throws(() => decode(hex('82a161')), { code: 'TRUNCATED' });
  t.throws(() => decode(hex('cd01')), { code: 'TRUNCATED' });
  t.throws(() => decode(hex('')), { code: 'TRUNCATED' });
  t.throws(() => decode(Buffer.alloc(MAX_DEPTH + 2, 0x91)), { code: 'TOO_DEEP' });
  t.throws(() => decode(hex('818000')), { code: 'BAD_FIELD' }, 'a map as a map key');
  t.same(decode(Buffer.concat([Buffer.alloc(MAX_DEPTH, 0x91), hex('01')])), JSON.parse('['.repeat(MAX_DEPTH) + '1' + ']'.repeat(MAX_DEPTH)), `${MAX_DEPTH} levels are fine`);
  t.throws(() => decode(hex('c1')), { code: 'BAD_FIELD', message: /0xc1/ }, 'the never-used byte');
  t.throws(() => decode(hex('8192a16100')), { code: 'BAD_FIELD' }, 'an array is not a map key');
  let other = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.alloc(1 + (i % 24));
    for (let k = 0; k < b.length; k++) b[k] = (i * 131 + k * 71 + ((i >> 3) & 0xff)) & 0xff;
    try {
      decodeAt(b, 0);
    } catch (err) {
      if (!(err instanceof WireError)) other++;
    }
  }
  t.equal(other, 0, '3000 odd inputs raise nothing but WireError');
});
