// Wire building blocks: Go-compatible msgpack forms, CRC, LZW, compounds, keyring rotation, and a
// fuzz run proving that malformed input only ever raises WireError.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { decodeCompound, makeCompound, packMessages } from '../../src/cluster/wire/compound.js';
import { crc32, unwrapCrc, wrapCrc } from '../../src/cluster/wire/crc.js';
import { WireError } from '../../src/cluster/wire/errors.js';
import { lzwCompress, lzwDecompress } from '../../src/cluster/wire/lzw.js';
import { bytesToIp, decodeMessage, encodeAlive, encodePing, ipToBytes } from '../../src/cluster/wire/messages.js';
import { decode, decodeAt, encode, Encoder } from '../../src/cluster/wire/msgpack.js';
import { decodePacket, decodeStream, encodePacket, encodePushPullStream } from '../../src/cluster/wire/packet.js';
import { decryptPacket, encryptPacket, Keyring } from '../../src/cluster/wire/security.js';

t.test("msgpack writes Go's old-spec forms and reads every form", async (t) => {
  t.equal(encode(new Uint8Array(130)).subarray(0, 3).toString('hex'), 'da0082', '130 bytes -> str16, never bin');
  t.equal(encode('x'.repeat(40)).subarray(0, 3).toString('hex'), 'da0028', '40-char string -> str16, never str8');
  t.equal(encode('abc').toString('hex'), 'a3616263');
  t.equal(encode(7946).toString('hex'), 'cd1f0a');
  t.equal(encode(200).toString('hex'), 'ccc8');
  t.equal(encode(2 ** 32).toString('hex'), 'cf0000000100000000');
  t.equal(new Encoder().map({ b: 1, a: 2, B: 3, skip: undefined }).finish().toString('hex'), '83a142' + '03' + 'a161' + '02' + 'a162' + '01', 'keys sorted byte-wise, undefined left out');
  t.same(decode(Buffer.from('c4026869', 'hex')), Buffer.from('hi'), 'bin8 is read as bytes');
  t.same(decode(Buffer.from('d9026869', 'hex')), Buffer.from('hi'), 'str8 too');
  t.equal(decode(Buffer.from('d1ff38', 'hex')), -200, 'signed int16 (go-msgpack v2 writes ints this way)');
  t.equal(decode(Buffer.from('ca3fc00000', 'hex')), 1.5);
  const two = Buffer.concat([encode(1), encode('z')]);
  t.same(decodeAt(two, 0), { value: 1, end: 1 }, 'streaming: one value at a time');
  t.throws(() => decode(Buffer.from('da00ff41', 'hex')), { code: 'TRUNCATED' });
  t.throws(() => decode(Buffer.from('dc ffff'.replace(' ', ''), 'hex')), { code: 'TRUNCATED' }, 'a lying array length is caught before allocating');
  t.throws(() => decode(Buffer.alloc(40, 0x91)), { code: 'TOO_DEEP' });
  t.throws(() => decode(Buffer.from('c1', 'hex')), { code: 'BAD_FIELD' });
});

t.test('CRC-32/IEEE and the hasCrc wrapper', async (t) => {
  t.equal(crc32(Buffer.from('123456789')).toString(16), 'cbf43926');
  const w = wrapCrc(Buffer.from('hello'));
  t.same(Buffer.from(unwrapCrc(w)), Buffer.from('hello'));
  w[w.length - 1]! ^= 1;
  t.throws(() => unwrapCrc(w), { code: 'BAD_CRC' });
});

t.test('LZW round-trips, through table resets and the KwKwK case', async (t) => {
  for (const input of [Buffer.alloc(0), Buffer.from('aaaaaaaaaaaaaaaa'), randomBytes(20_000), Buffer.from('TOBEORNOT'.repeat(5000))]) {
    t.same(lzwDecompress(lzwCompress(input)), input, `${input.length} bytes`);
  }
  t.throws(() => lzwDecompress(Buffer.from([0x00, 0x01])), { code: 'TRUNCATED' }, 'no EOF');
  t.throws(() => lzwDecompress(lzwCompress(Buffer.alloc(100_000, 1)), 1000), { code: 'TOO_LARGE' }, 'output is capped');
});

t.test('compounds keep complete parts and report cut ones; packing respects the budget', async (t) => {
  const c = makeCompound([Buffer.from('aa'), Buffer.from('bbb'), Buffer.from('c')]);
  t.same(decodeCompound(c).parts.map((p) => Buffer.from(p).toString()), ['aa', 'bbb', 'c']);
  t.same(decodeCompound(c.subarray(0, c.length - 2)), { parts: [Buffer.from('aa')], truncated: 2 });
  const msgs = Array.from({ length: 10 }, () => Buffer.alloc(300));
  const packed = packMessages(msgs, 1400);
  t.ok(packed.every((p) => p.length <= 1400));
  t.equal(packed.reduce((n, p) => n + (p[0] === 7 ? decodeCompound(p).parts.length : 1), 0), 10);
});

t.test('IPs are raw 4 or 16 bytes, IPv4-mapped read as IPv4', async (t) => {
  t.same([...ipToBytes('127.0.0.12')], [127, 0, 0, 12]);
  t.equal(bytesToIp(ipToBytes('fd00::5'), 'x'), 'fd00::5');
  t.equal(bytesToIp(ipToBytes('::ffff:10.0.0.1'), 'x'), '10.0.0.1');
  t.throws(() => bytesToIp(new Uint8Array(5), 'Addr'), { code: 'BAD_FIELD', message: /Addr holds 5 bytes/ });
  t.throws(() => decodeMessage(Buffer.concat([encodeAlive({ node: 'n', addr: '1.2.3.4', port: 1, incarnation: 1, meta: new Uint8Array(), vsn: [1, 5, 2, 2, 5, 4] })].map((b) => Buffer.from(b.toString('hex').replace('a6010502020504', 'a3010502'), 'hex')))), { code: 'BAD_VSN' }, 'a 3-byte Vsn is refused (it crashes memberlist 0.2.2)');
});

t.test('keyring rotation: the old key decrypts until removed', async (t) => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(16);
  const ring = new Keyring([k1]);
  const old = encryptPacket(ring, Buffer.from('before'));
  ring.add(k2);
  ring.use(k2);
  const fresh = encryptPacket(ring, Buffer.from('after'));
  t.same(decryptPacket(new Keyring([k2]), fresh).toString(), 'after', 'new packets use the new primary');
  t.same(decryptPacket(ring, old).toString(), 'before', 'old packets still decrypt');
  ring.remove(k1);
  t.throws(() => decryptPacket(ring, old), { code: 'DECRYPT' });
  t.throws(() => ring.remove(k2), { code: 'BAD_FIELD', message: /primary/ });
  t.throws(() => new Keyring([randomBytes(10)]), { code: 'BAD_FIELD' });
});

t.test('packets and streams round-trip with compression, CRC, encryption and a label', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const o = { keyring: ring, compress: true, label: 'lab' };
  const msgs = [encodePing({ node: 'a', seqNo: 9, sourceAddr: '10.0.0.1', sourcePort: 7946, sourceNode: 'b' }), encodePing({ node: 'c', seqNo: 10 })];
  const pkt = encodePacket(msgs, { ...o, crc: true });
  t.match(decodePacket(pkt, o).messages, [{ node: 'a', seqNo: 9, sourceNode: 'b' }, { node: 'c', seqNo: 10 }]);
  t.throws(() => decodePacket(pkt, { ...o, label: 'other' }), { code: 'BAD_LABEL' });
  const nodes = [{ name: 'a', addr: '10.0.0.1', port: 7946, meta: new Uint8Array([1]), incarnation: 3, state: 0, vsn: [1, 5, 2, 2, 5, 4] as [number, number, number, number, number, number] }];
  const s = encodePushPullStream({ join: true, nodes, userState: Buffer.from('state') }, o);
  const r = decodeStream(s, o)!;
  t.match(r.message, { type: 'pushPull', pushPull: { header: { join: true, nodes: 1, userStateLen: 5 }, nodes: [{ name: 'a', incarnation: 3 }] } });
  t.equal(decodeStream(s.subarray(0, s.length - 3), o), undefined, 'a partial stream asks for more bytes');
});

t.test('fuzz: 20 000 malformed packets raise only WireError', async (t) => {
  const ring = new Keyring([randomBytes(16)]);
  const seeds = [
    encodePacket([encodePing({ node: 'a', seqNo: 1 }), encodePing({ node: 'b', seqNo: 2 })], { crc: true }),
    encodePacket([encodeAlive({ node: 'n', addr: '1.2.3.4', port: 7946, incarnation: 1, meta: Buffer.alloc(40, 1), vsn: [1, 5, 2, 2, 5, 4] })], { compress: true }),
    encodePushPullStream({ join: false, nodes: [] }, { compress: true }),
  ];
  let other = 0;
  let wire = 0;
  const started = Date.now();
  for (let i = 0; i < 20_000; i++) {
    let p: Buffer;
    if (i % 3 === 0) p = randomBytes(1 + (i % 300));
    else {
      p = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 1 + (i % 4); k++) p[(i * 7 + k * 13) % p.length] = (i * 31 + k) & 0xff;
      if (i % 5 === 0) p = p.subarray(0, i % p.length);
    }
    for (const run of [() => decodePacket(p), () => decodeStream(p), () => decodePacket(p, { keyring: ring, verifyIncoming: false })]) {
      try {
        run();
      } catch (err) {
        if (err instanceof WireError) wire++;
        else other++;
      }
    }
  }
  t.equal(other, 0, 'no exception other than WireError');
  t.ok(wire > 10_000, `${wire} inputs rejected with a WireError`);
  t.ok(Date.now() - started < 20_000, 'and quickly');
});
