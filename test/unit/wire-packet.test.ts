// The UDP pipelines (§1.3) and TCP stream helpers (§1.9): what goes out is layered in Go's order,
// what comes in is unwrapped in Go's order, and every way it can be wrong is a WireError code.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { makeCompound } from '../../src/cluster/wire/compound.js';
import { compressMessage } from '../../src/cluster/wire/compress.js';
import { wrapCrc } from '../../src/cluster/wire/crc.js';
import { lzwCompress } from '../../src/cluster/wire/lzw.js';
import { encodeAck, encodeAlive, encodeCompress, encodeDead, encodeErrResp, encodePing, encodeUser, type Vsn } from '../../src/cluster/wire/messages.js';
import { encode } from '../../src/cluster/wire/msgpack.js';
import {
  decodeCompleteStream, decodePacket, decodeStream, encodeAckStream, encodeErrStream, encodePacket, encodePingStream, encodePushPullStream,
  encodeStreamMessage, encodeUserStream, MAX_PACKET_EXPANSION,
} from '../../src/cluster/wire/packet.js';
import { decryptPacket, encryptPacket, encryptStream, Keyring } from '../../src/cluster/wire/security.js';

const vsn: Vsn = [1, 5, 2, 2, 5, 4];
const ping = encodePing({ node: 'b', seqNo: 9, sourceAddr: '10.0.0.1', sourcePort: 7946, sourceNode: 'a' });
const alive = (i: number) => encodeAlive({ node: `node-${i}`, addr: `10.0.0.${i}`, port: 7946, incarnation: i, meta: new Uint8Array(), vsn });
const nodes = [{ name: 'a', addr: '10.0.0.1', port: 7946, meta: Buffer.from([0xff, 0x80]), incarnation: 3, state: 0, vsn }];

t.test('outgoing UDP: compound, compression only if smaller, CRC for PMax >= 5, encryption, label', async (t) => {
  t.same(encodePacket([ping]), ping, 'a lone message goes bare');
  t.same(encodePacket([ping], { compress: true }), ping, 'a lone ping does not shrink, so it is not compressed');
  const gossip = [alive(1), alive(2), alive(3), alive(4)];
  const compound = makeCompound(gossip);
  t.same(encodePacket(gossip), compound);
  const small = encodePacket(gossip, { compress: true });
  t.same(small, compressMessage(compound), 'similar alives compress, and the smaller form is used');
  t.ok(small.length < compound.length);
  t.same(encodePacket([ping], { crc: true }), wrapCrc(ping));
  t.same(encodePacket([ping], { peerPMax: 5 }), wrapCrc(ping), 'a peer speaking protocol 5 gets a CRC');
  t.same(encodePacket([ping], { peerPMax: 4 }), ping, 'an older one does not');
  t.same(encodePacket(gossip, { compress: true, peerPMax: 5 }), wrapCrc(small), 'CRC over the compressed form');
  const ring = new Keyring([randomBytes(32)]);
  const sealed = encodePacket(gossip, { compress: true, crc: true, keyring: ring });
  t.same(decryptPacket(ring, sealed), wrapCrc(small), 'encryption last (before the label)');
  t.same(encodePacket([ping], { keyring: ring, verifyOutgoing: false }), ping, 'verifyOutgoing off sends plaintext');
  const labelled = encodePacket([ping], { label: 'lab' });
  t.same(labelled, Buffer.concat([Buffer.from([244, 3]), Buffer.from('lab'), ping]));
  const both = encodePacket([ping], { label: 'lab', keyring: ring });
  t.same(both.subarray(0, 5), Buffer.from([244, 3, 0x6c, 0x61, 0x62]), 'the label stays outside the encryption');
  t.same(decryptPacket(ring, both.subarray(5), Buffer.from('lab')), ping, 'and is its AAD');
  t.throws(() => encodePacket([]), { code: 'BAD_FIELD' });
  t.throws(() => encodePacket([ping], { label: 'x'.repeat(256) }), { code: 'BAD_LABEL' });
});

t.test('incoming UDP: every layer unwrapped, round trips with all options', async (t) => {
  const ring = new Keyring([randomBytes(16)]);
  const msgs = [ping, encodeDead({ node: 'x', incarnation: 2, from: 'y' }), encodeUser(Buffer.from('hi'))];
  for (const o of [{}, { compress: true }, { crc: true }, { keyring: ring }, { compress: true, crc: true, keyring: ring, label: 'lab' }]) {
    const r = decodePacket(encodePacket(msgs, o), o);
    t.match(r, { messages: [{ type: 'ping', node: 'b', seqNo: 9, sourceAddr: '10.0.0.1' }, { type: 'dead', node: 'x' }, { type: 'user', payload: Buffer.from('hi') }], errors: [], truncatedParts: 0 }, JSON.stringify(Object.keys(o)));
  }
  const nested = makeCompound([compressMessage(makeCompound([ping, ping])), encodeAck({ seqNo: 1, payload: null })]);
  t.equal(decodePacket(nested).messages.length, 3, 'compress inside compound, compound inside compress');
});

t.test('incoming UDP: labels', async (t) => {
  const labelled = encodePacket([ping], { label: 'lab' });
  t.throws(() => decodePacket(labelled), { code: 'BAD_LABEL', message: /labelled 'lab'/ }, 'a labelled packet in an unlabelled pool');
  t.throws(() => decodePacket(ping, { label: 'lab' }), { code: 'BAD_LABEL', message: /unlabelled/ });
  t.throws(() => decodePacket(labelled, { label: 'other' }), { code: 'BAD_LABEL' });
  t.throws(() => decodePacket(Buffer.from([244, 0, 0]), { label: 'lab' }), { code: 'BAD_LABEL', message: /empty/ });
  t.throws(() => decodePacket(Buffer.from([244, 9, 0x61])), { code: 'TRUNCATED' });
  t.throws(() => decodePacket(Buffer.from([244])), { code: 'TRUNCATED' });
});

t.test('incoming UDP: decryption and verifyIncoming', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const sealed = encodePacket([ping], { keyring: ring });
  t.match(decodePacket(sealed, { keyring: ring }).messages, [{ type: 'ping' }]);
  t.throws(() => decodePacket(sealed, { keyring: new Keyring([randomBytes(32)]) }), { code: 'DECRYPT' });
  t.throws(() => decodePacket(ping, { keyring: ring }), { code: 'DECRYPT' }, 'plaintext refused by default');
  t.match(decodePacket(ping, { keyring: ring, verifyIncoming: false }).messages, [{ type: 'ping' }], 'accepted when verifyIncoming is off');
  t.match(decodePacket(sealed, { keyring: ring, verifyIncoming: false }).messages, [{ type: 'ping' }], 'and encrypted still works then');
  t.throws(() => decodePacket(sealed), { name: 'WireError' }, 'without a keyring, an encrypted packet is garbage (its version byte reads as a message type)');
  const label = Buffer.from('lab');
  const wrongAad = Buffer.concat([Buffer.from([244, 3]), label, encryptPacket(ring, ping)]);
  t.throws(() => decodePacket(wrongAad, { keyring: ring, label: 'lab' }), { code: 'DECRYPT' }, 'encrypted without the label as AAD');
});

t.test('incoming UDP: CRC, compounds with bad or cut parts, nesting, types, bombs', async (t) => {
  const crc = wrapCrc(ping);
  crc[crc.length - 1]! ^= 0xff;
  t.throws(() => decodePacket(crc), { code: 'BAD_CRC' });
  t.throws(() => decodePacket(wrapCrc(ping).subarray(0, 4)), { code: 'BAD_TYPE' }, 'under 5 bytes it is not a CRC header, and 12 is no message');
  const withBad = makeCompound([ping, Buffer.from([0x04, 0x91, 0x01]), Buffer.from([200, 0x80]), ping]);
  const r = decodePacket(withBad);
  t.equal(r.messages.length, 2, 'good parts still delivered');
  t.same(r.errors.map((e) => e.code), ['BAD_FIELD', 'BAD_TYPE'], 'bad parts reported by code');
  const cut = makeCompound([ping, ping, ping]);
  const cutShort = decodePacket(cut.subarray(0, cut.length - 10));
  t.equal(cutShort.truncatedParts, 1);
  t.equal(cutShort.messages.length, 2, 'the complete parts are still delivered');
  t.same(cutShort.errors.map((e) => e.code), ['TRUNCATED'], 'and the cut one is reported, so it can be counted');
  t.match(cutShort.errors[0]!.message, /3 parts: the last 1 cut short/);
  let deep: Buffer = ping;
  for (let i = 0; i < 6; i++) deep = makeCompound([deep]);
  t.match(decodePacket(deep), { messages: [], errors: [{ code: 'TOO_DEEP' }] }, 'nesting is bounded');
  t.throws(() => decodePacket(Buffer.from([6, 0x80])), { code: 'BAD_TYPE' }, 'push/pull is TCP only');
  t.throws(() => decodePacket(encodeErrResp({ error: 'x' })), { code: 'BAD_TYPE' }, 'errResp is TCP only');
  t.throws(() => decodePacket(Buffer.alloc(0)), { code: 'TRUNCATED' });
  const bomb = encodeCompress({ algo: 0, buf: lzwCompress(Buffer.alloc(MAX_PACKET_EXPANSION + 1, 8)) });
  t.throws(() => decodePacket(bomb), { code: 'TOO_LARGE' }, 'a UDP packet expands to at most 1 MiB');
  const half = encodeCompress({ algo: 0, buf: lzwCompress(Buffer.concat([Buffer.alloc(MAX_PACKET_EXPANSION / 2, 8)])) });
  const shared = makeCompound([half, half, half]);
  t.match(decodePacket(shared).errors.map((e) => e.code), ['TOO_LARGE'], 'the budget is shared by all compress parts of a packet');
});

t.test('TCP with a label: only the dialled side writes the header, both sides put the label in the AAD', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const o = { keyring: ring, compress: true, label: 'lab' };
  const request = encodePushPullStream({ join: true, nodes }, o);
  t.same(request.subarray(0, 6), Buffer.from([244, 3, 0x6c, 0x61, 0x62, 10]), 'the request: label header, then the encrypted frame');
  t.equal(decodeCompleteStream(request, o).message.type, 'pushPull', 'read on the accepting side, header expected');
  const reply = encodePushPullStream({ join: true, nodes }, { ...o, labelHeader: false });
  t.equal(reply[0], 10, 'the reply on the accepted connection starts with the frame, no header');
  t.equal(decodeCompleteStream(reply, { ...o, labelHeader: false }).message.type, 'pushPull', 'read by the dialler');
  t.throws(() => decodeCompleteStream(reply, o), { code: 'BAD_LABEL' }, 'a header-less stream on an accepted connection is refused');
  t.throws(() => decodeCompleteStream(reply, { keyring: ring, labelHeader: false }), { code: 'DECRYPT' }, 'the label is in the AAD of the reply too');
  t.throws(() => decodeCompleteStream(request, { ...o, labelHeader: false }), { code: 'DECRYPT' }, 'a header where none belongs is not a frame');
  const plainReply = encodeAckStream({ seqNo: 1, payload: null }, { label: 'lab', labelHeader: false });
  t.same(plainReply, encodeAck({ seqNo: 1, payload: null }), 'unencrypted, a reply is exactly the message');
  t.match(decodeCompleteStream(plainReply, { label: 'lab', labelHeader: false }).message, { type: 'ack', seqNo: 1 });
  t.equal(decodeStream(request.subarray(0, 3), o), undefined, 'a header still arriving: wait');
});

t.test('TCP: push/pull built and read back, plain, compressed, encrypted, labelled', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  for (const o of [{}, { compress: true }, { keyring: ring }, { keyring: ring, compress: true, label: 'lab' }]) {
    const s = encodePushPullStream({ join: true, nodes, userState: Buffer.from('state') }, o);
    const r = decodeCompleteStream(s, o);
    t.equal(r.end, s.length);
    t.match(r.message, { type: 'pushPull', pushPull: { header: { join: true, nodes: 1, userStateLen: 5 }, nodes: [{ name: 'a', incarnation: 3, vsn }], userState: Buffer.from('state') } }, JSON.stringify(Object.keys(o)));
  }
  const plain = encodePushPullStream({ join: false, nodes: [] });
  t.same(plain, Buffer.concat([Buffer.from([6]), encode({ Join: false, Nodes: 0, UserStateLen: 0 })]), 'an empty push/pull');
  t.equal(encodePushPullStream({ join: false, nodes }, { compress: true })[0], 9, 'TCP is always compressed when enabled');
});

t.test('TCP: ping, ack, reliable user message, errResp', async (t) => {
  t.match(decodeCompleteStream(encodePingStream({ node: 'b', seqNo: 4 })).message, { type: 'ping', node: 'b', seqNo: 4 });
  t.same(encodePingStream({ node: 'b', seqNo: 4 }), encodePing({ node: 'b', seqNo: 4 }));
  t.match(decodeCompleteStream(encodeAckStream({ seqNo: 4, payload: null })).message, { type: 'ack', seqNo: 4, payload: null });
  t.same(encodeStreamMessage(encodeAck({ seqNo: 4, payload: null })), encodeAckStream({ seqNo: 4, payload: null }));
  const user = encodeUserStream(Buffer.from('bulk sync'), { compress: true });
  t.match(decodeCompleteStream(user, {}).message, { type: 'user', payload: Buffer.from('bulk sync') });
  const rawUser = encodeUserStream(Buffer.from('x'));
  t.same(rawUser, Buffer.concat([Buffer.from([8]), encode({ UserMsgLen: 1 }), Buffer.from('x')]), '[8] + userMsgHeader + bytes');
  t.same(decodeCompleteStream(encodeErrStream('bad state')).message, { type: 'err', error: 'bad state' });
  t.throws(() => decodeCompleteStream(Buffer.from([3, 0x80])), { code: 'BAD_TYPE' }, 'suspect is not a stream message');
});

t.test('TCP: partial streams wait for more, malformed ones fail', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const s = encodePushPullStream({ join: true, nodes, userState: Buffer.alloc(300, 1) }, { compress: true });
  for (const n of [0, 1, 5, 20, s.length - 1]) t.equal(decodeStream(s.subarray(0, n)), undefined, `${n} of ${s.length} bytes: more needed`);
  t.throws(() => decodeCompleteStream(s.subarray(0, s.length - 1)), { code: 'TRUNCATED' }, 'a whole-buffer decode reports it');
  t.equal(decodeStream(Buffer.concat([s, Buffer.from('xyz')]))?.end, s.length, 'bytes after the exchange are left');
  const enc = encodePushPullStream({ join: true, nodes }, { keyring: ring });
  t.equal(decodeStream(enc.subarray(0, enc.length - 1), { keyring: ring }), undefined, 'an encrypted frame still arriving');
  const cutInside = encryptStream(ring, encodePushPullStream({ join: true, nodes }).subarray(0, 20));
  t.throws(() => decodeStream(cutInside, { keyring: ring }), { code: 'TRUNCATED' }, 'a complete frame with a cut message inside will never complete: an error, not a wait');
  const cutCompressed = compressMessage(encodePushPullStream({ join: true, nodes }).subarray(0, 20));
  t.throws(() => decodeStream(cutCompressed), { code: 'TRUNCATED' });
  t.throws(() => decodeStream(enc), { code: 'DECRYPT', message: /no key/ });
  t.throws(() => decodeStream(s, { keyring: ring }), { code: 'DECRYPT', message: /not encrypted/ });
  t.equal(decodeStream(s, { keyring: ring, verifyIncoming: false })?.message.type, 'pushPull');
  t.throws(() => decodeStream(Buffer.concat([Buffer.from([6]), encode({ Join: true, Nodes: 1, UserStateLen: 0 }), encode({ Addr: Buffer.from([10, 0, 0, 1]), Name: 'a', Vsn: Buffer.from([1, 5, 2]) })])), { code: 'BAD_VSN' });
  t.throws(() => decodeStream(Buffer.concat([Buffer.from([6]), encode({ Nodes: 2 ** 21 })])), { code: 'BAD_FIELD' });
  t.throws(() => decodeStream(encodeCompress({ algo: 3, buf: Buffer.from([0]) })), { code: 'BAD_FIELD' });
});
