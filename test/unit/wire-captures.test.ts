// The wire layer against real traffic between two Serf 0.9.4 agents (memberlist 0.2.2, go-msgpack
// 0.5.5): every UDP packet and TCP stream in the captures decodes with no failure, the packets
// hand-decoded in shared/reference/memberlist.md §6.5 decode to exactly that, and what we encode
// from the decoded messages is byte-for-byte what Go sent (LZW and encryption included).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { decodeCompound, makeCompound } from '../../src/cluster/wire/compound.js';
import { compressMessage, decompressMessage } from '../../src/cluster/wire/compress.js';
import { unwrapCrc, wrapCrc } from '../../src/cluster/wire/crc.js';
import { WireError } from '../../src/cluster/wire/errors.js';
import { lzwCompress, lzwDecompress } from '../../src/cluster/wire/lzw.js';
import { decodeCompress, decodeMessage, encodeMessage, MsgType, type Message } from '../../src/cluster/wire/messages.js';
import { decodeAt } from '../../src/cluster/wire/msgpack.js';
import { decodeCompleteStream, decodePacket, encodePacket, encodePushPullStream, type PushPull } from '../../src/cluster/wire/packet.js';
import { decryptPacket, decryptStream, encryptPacket, encryptStream, Keyring } from '../../src/cluster/wire/security.js';
import { projectRoot } from '../../src/util/paths.js';
import { LINKTYPE_ETHERNET, readPcap, type Datagram } from '../lib/pcap.js';

const dir = join(projectRoot, 'test', 'fixtures', 'memberlist');
const serf = readPcap(join(dir, 'serf.pcap'));
const enc = readPcap(join(dir, 'enc.pcap'));
const ring = Keyring.fromBase64([readFileSync(join(dir, 'enc.key'), 'utf8').trim()]);
const wrongRing = new Keyring([Buffer.alloc(32, 7)]);

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
/** Asserts that `buf` starts with the bytes `want`. */
const prefix = (t: Test, buf: Uint8Array, want: Buffer, message?: string) => t.same(Buffer.from(buf.subarray(0, want.length)), want, message ?? 'starts with the expected bytes');
const frame = (n: number): Datagram => {
  const d = serf.udp.find((x) => x.frame === n);
  if (!d) throw new Error(`no UDP datagram in frame ${n}`);
  return d;
};

/** Re-encodes a plaintext UDP payload layer by layer from what we decoded, with our encoders. */
function reencode(buf: Uint8Array): Buffer {
  switch (buf[0]) {
    case MsgType.hasCrc: return wrapCrc(reencode(unwrapCrc(buf)));
    case MsgType.compress: return compressMessage(reencode(decompressMessage(buf)));
    case MsgType.compound: return makeCompound(decodeCompound(buf).parts.map(reencode));
    default: return encodeMessage(decodeMessage(buf));
  }
}

/** What Go handed to its send path for a plaintext UDP payload: the messages and whether a CRC was added. */
function sentMessages(buf: Uint8Array): { messages: Buffer[]; crc: boolean } {
  const crc = buf[0] === MsgType.hasCrc;
  let inner = crc ? unwrapCrc(buf) : buf;
  if (inner[0] === MsgType.compress) inner = decompressMessage(inner);
  const parts = inner[0] === MsgType.compound ? decodeCompound(inner).parts : [inner];
  return { messages: parts.map((p) => encodeMessage(decodeMessage(p))), crc };
}

/** Every LZW Buf in a plaintext UDP payload (under a CRC wrapper or not). */
function lzwBufs(buf: Uint8Array): Uint8Array[] {
  const inner = buf[0] === MsgType.hasCrc ? unwrapCrc(buf) : buf;
  return inner[0] === MsgType.compress ? [decodeCompress(decodeAt(inner, 1).value).buf] : [];
}

t.test('the captures are what the reader expects', async (t) => {
  t.equal(serf.linkType, LINKTYPE_ETHERNET, 'tcpdump on lo writes Ethernet frames (link type 1)');
  t.equal(enc.linkType, LINKTYPE_ETHERNET);
  t.equal(serf.udp.length, 204, 'UDP datagrams in serf.pcap');
  t.equal(serf.tcp.length, 12, 'TCP directions in serf.pcap: 6 push/pull connections');
  t.equal(enc.udp.length, 15, 'UDP datagrams in enc.pcap');
  t.equal(enc.tcp.length, 2, 'TCP directions in enc.pcap: 1 push/pull connection');
});

t.test('every UDP packet in serf.pcap decodes, with no failure and no part lost', async (t) => {
  const counts: Record<string, number> = {};
  let failures = 0;
  for (const d of serf.udp) {
    try {
      const r = decodePacket(d.payload);
      if (r.errors.length > 0 || r.truncatedParts > 0) failures++;
      for (const m of r.messages) counts[m.type] = (counts[m.type] ?? 0) + 1;
    } catch (err) {
      t.fail(`frame ${d.frame}: ${(err as Error).message}`);
      failures++;
    }
  }
  t.equal(failures, 0, 'zero failures over 204 packets');
  t.same(counts, { alive: 96, user: 48, ping: 61, ack: 46, suspect: 33, dead: 24 });
});

t.test('every TCP stream in serf.pcap decodes as one whole push/pull', async (t) => {
  let failures = 0;
  for (const f of serf.tcp) {
    try {
      const r = decodeCompleteStream(f.payload);
      if (r.end !== f.payload.length || r.message.type !== 'pushPull') failures++;
      else if (r.message.pushPull.nodes.length !== r.message.pushPull.header.nodes) failures++;
    } catch (err) {
      t.fail(`${f.key}: ${(err as Error).message}`);
      failures++;
    }
  }
  t.equal(failures, 0, 'zero failures over 12 streams');
  t.ok(serf.tcp.every((f) => f.payload[0] === MsgType.compress), 'Serf compresses every TCP push/pull');
});

t.test('§6.5 ping: beta pings alpha, no CRC, no compression', async (t) => {
  const d = frame(20);
  t.match(d, { src: '127.0.0.12', sport: 7946, dst: '127.0.0.11', dport: 7946 });
  t.equal(d.payload.length, 66);
  prefix(t, d.payload, hex(`00 85 a4 ${ascii('Node')} a5 ${ascii('alpha')}`));
  t.same(decodePacket(d.payload), { messages: [{ type: 'ping', node: 'alpha', seqNo: 1, sourceAddr: '127.0.0.12', sourcePort: 7946, sourceNode: 'beta' }], errors: [], truncatedParts: 0 });
});

t.test('§6.5 gossip compound with CRC: two alives, alpha with its Meta and Vsn', async (t) => {
  const d = frame(11);
  t.equal(d.payload.length, 152);
  prefix(t, d.payload, hex('0c aaef29e7 07 02 004f 003e'), 'hasCrc aaef29e7, compound of 2 parts (79 and 62 bytes)');
  const { messages } = decodePacket(d.payload);
  t.equal(messages.length, 2);
  const [a, b] = messages as Extract<Message, { type: 'alive' }>[];
  t.match(a, { type: 'alive', node: 'alpha', addr: '127.0.0.11', port: 7946, incarnation: 1, vsn: [1, 5, 2, 2, 5, 5] });
  t.same(Buffer.from(a!.meta), hex(`ff 82 a4 ${ascii('role')} a3 ${ascii('web')} a2 ${ascii('dc')} a3 ${ascii('lab')}`), "alpha's Meta: serf's tag magic + {role: web, dc: lab}");
  t.match(b, { type: 'alive', node: 'beta', addr: '127.0.0.12', port: 7946, incarnation: 1, vsn: [1, 5, 2, 2, 5, 5] });
  t.same(Buffer.from(b!.meta), hex('ff 80'), "beta's Meta: magic + empty map");
});

t.test('§6.5 serf join intent: a CRC-wrapped user message', async (t) => {
  const d = frame(18);
  t.same(d.payload, hex(`0c aada2b16 08 01 82 a5 ${ascii('LTime')} 01 a4 ${ascii('Node')} a4 ${ascii('beta')}`));
  t.same(decodePacket(d.payload).messages, [{ type: 'user', payload: d.payload.subarray(6) }]);
});

t.test('§6.5 compressed ack: an ack with a 130-byte Serf coordinate and the join intent', async (t) => {
  const d = frame(21);
  t.equal(d.payload.length, 140);
  prefix(t, d.payload, hex(`09 82 a4 ${ascii('Algo')} 00 a3 ${ascii('Buf')} da 007d 000f`), 'compress{Algo 0, Buf: 125 bytes starting with a clear code}');
  const plain = decompressMessage(d.payload);
  t.equal(plain.length, 176);
  prefix(t, plain, hex('07 02 0096 0014'));
  const messages = decodePacket(d.payload).messages;
  t.match(messages, [{ type: 'ack', seqNo: 1 }, { type: 'user' }]);
  const ack = messages[0] as Extract<Message, { type: 'ack' }>;
  t.equal(ack.payload?.length, 130, 'Payload is raw(130), written da 00 82');
  t.equal(ack.payload?.[0], 1, "Serf's ping version byte, then its msgpack coordinate");
  t.ok(plain.includes(hex(`a7 ${ascii('Payload')} da 0082 01 84`)));
});

t.test('§6.5 TCP join push/pull, frames 4 and 6', async (t) => {
  const request = serf.tcp.find((f) => f.firstFrame === 4)!;
  const reply = serf.tcp.find((f) => f.firstFrame === 6)!;
  t.match(request, { src: '127.0.0.1', sport: 53600, dst: '127.0.0.11', dport: 7946 }, 'beta dials alpha from an ephemeral port');
  t.match(reply, { src: '127.0.0.11', sport: 7946, dport: 53600 });

  const q = decodeCompleteStream(request.payload).message as { type: 'pushPull'; pushPull: PushPull };
  t.match(q.pushPull, { header: { join: true, nodes: 1, userStateLen: 588 }, nodes: [{ name: 'beta', addr: '127.0.0.12', port: 7946, state: 0, incarnation: 1, vsn: [1, 5, 2, 2, 5, 5] }] });

  t.equal(reply.payload.length, 238);
  prefix(t, reply.payload, hex(`09 82 a4 ${ascii('Algo')} 00 a3 ${ascii('Buf')} da 00df`), 'compress with a 223-byte Buf');
  const plain = decompressMessage(reply.payload);
  t.equal(plain.length, 705);
  prefix(t, plain, hex(`06 83 a4 ${ascii('Join')} c3 a5 ${ascii('Nodes')} 01 ac ${ascii('UserStateLen')} cd 024d 87`));
  const r = decodeCompleteStream(reply.payload);
  t.equal(r.end, reply.payload.length);
  const p = (r.message as { type: 'pushPull'; pushPull: PushPull }).pushPull;
  t.same(p.header, { join: true, nodes: 1, userStateLen: 589 }, 'Join=true, Nodes=1, UserStateLen=589');
  t.match(p.nodes, [{ name: 'alpha', addr: '127.0.0.11', port: 7946, state: 0, incarnation: 1, vsn: [1, 5, 2, 2, 5, 5] }]);
  t.same(Buffer.from(p.nodes[0]!.meta), hex(`ff 82 a4 ${ascii('role')} a3 ${ascii('web')} a2 ${ascii('dc')} a3 ${ascii('lab')}`));
  t.equal(p.userState.length, 589);
  t.same(Buffer.from(p.userState.subarray(0, 14)), hex(`02 86 aa ${ascii('EventLTime')} 01`), "serf's push/pull state");
  t.ok(Buffer.from(p.userState).includes(hex(`a6 ${ascii('Events')} dc 0200 ${'c0'.repeat(512)}`)), 'Events: array16 of 512 nils');
  const tail = hex(`81 a5 ${ascii('alpha')} 00`);
  t.same(Buffer.from(p.userState.subarray(-tail.length)), tail, 'ends with StatusLTimes {alpha: 0}');
});

t.test('what we encode is byte-for-byte what Go sent, over every UDP packet', async (t) => {
  let layered = 0;
  let pipeline = 0;
  let bufs = 0;
  let lzwIdentical = 0;
  for (const d of serf.udp) {
    if (Buffer.compare(reencode(d.payload), d.payload) === 0) layered++;
    else t.fail(`frame ${d.frame}: layer-by-layer re-encoding differs`);
    // Go's send path: messages -> compound -> compression only if smaller -> CRC.
    const { messages, crc } = sentMessages(d.payload);
    if (Buffer.compare(encodePacket(messages, { compress: true, crc }), d.payload) === 0) pipeline++;
    else t.fail(`frame ${d.frame}: encodePacket differs`);
    for (const buf of lzwBufs(d.payload)) {
      bufs++;
      if (Buffer.compare(lzwCompress(lzwDecompress(buf)), Buffer.from(buf)) === 0) lzwIdentical++;
    }
  }
  t.equal(layered, 204, 'every packet re-encoded layer by layer (messages, compounds, CRC, compress)');
  t.equal(pipeline, 204, 'every packet rebuilt by encodePacket from its messages, Go deciding to compress exactly when we do');
  t.ok(bufs >= 1, `${bufs} LZW payloads in UDP packets`);
  t.equal(lzwIdentical, bufs, "our LZW writer reproduces Go's Buf exactly");
});

t.test('push/pull streams re-encode to what Go sent, LZW included', async (t) => {
  let same = 0;
  for (const f of serf.tcp) {
    const p = (decodeCompleteStream(f.payload).message as { type: 'pushPull'; pushPull: PushPull }).pushPull;
    if (Buffer.compare(encodePushPullStream({ join: p.header.join, nodes: p.nodes, userState: p.userState }, { compress: true }), f.payload) === 0) same++;
    else t.fail(`${f.key} differs`);
  }
  t.equal(same, 12, 'all 12 streams, compressed Buf included');
});

t.test('enc.pcap: every packet and stream decrypts with the key, decodes, and re-encrypts to the same bytes', async (t) => {
  t.equal(ring.primary?.length, 32, 'the key of `serf agent -encrypt` is AES-256');
  const ping = enc.udp.find((d) => d.payload.length === 95)!;
  prefix(t, ping.payload, hex('01 4d739d95c193ca0241b22dd5'), '§6.5: version 1, then the nonce');
  t.match(decodePacket(ping.payload, { keyring: ring }).messages, [{ type: 'ping', seqNo: 1 }]);

  let messages = 0;
  let failures = 0;
  let resealed = 0;
  let reencoded = 0;
  for (const d of enc.udp) {
    try {
      const r = decodePacket(d.payload, { keyring: ring });
      if (r.errors.length > 0 || r.truncatedParts > 0) failures++;
      messages += r.messages.length;
    } catch (err) {
      t.fail(`frame ${d.frame}: ${(err as Error).message}`);
      failures++;
      continue;
    }
    const plain = decryptPacket(ring, d.payload);
    t.equal(plain.length, d.payload.length - 29, `frame ${d.frame}: version 1 adds exactly 29 bytes`);
    if (Buffer.compare(reencode(plain), plain) === 0) reencoded++;
    if (Buffer.compare(encryptPacket(ring, plain, undefined, { nonce: d.payload.subarray(1, 13) }), d.payload) === 0) resealed++;
    t.throws(() => decodePacket(d.payload, { keyring: wrongRing }), { code: 'DECRYPT' });
  }
  t.equal(failures, 0, 'zero failures over 15 encrypted packets');
  t.equal(messages, 32);
  t.equal(reencoded, 15, 'decrypted plaintexts re-encode byte for byte');
  t.equal(resealed, 15, 'AES-256-GCM with the captured nonce and no AAD gives the captured packet');

  for (const f of enc.tcp) {
    prefix(t, f.payload, hex('0a'), 'TCP: the encrypt message type');
    const r = decodeCompleteStream(f.payload, { keyring: ring });
    t.equal(r.end, f.payload.length);
    t.equal(r.message.type, 'pushPull');
    const { plain } = decryptStream(ring, f.payload);
    t.equal(plain[0], MsgType.compress, 'inside: the compress wrapper');
    const nonce = f.payload.subarray(6, 18);
    t.same(encryptStream(ring, plain, undefined, { nonce }), f.payload, `${f.key}: AAD = the 5 header bytes, same bytes`);
    const p = (r.message as { type: 'pushPull'; pushPull: PushPull }).pushPull;
    const again = encodePushPullStream({ join: p.header.join, nodes: p.nodes, userState: p.userState }, { compress: true, keyring: ring });
    t.same(decryptStream(ring, again).plain, plain, `${f.key}: our encrypted push/pull carries the same plaintext`);
    t.throws(() => decodeCompleteStream(f.payload, { keyring: wrongRing }), { code: 'DECRYPT' });
  }
  prefix(t, enc.tcp[0]!.payload, hex('0a 000000f6 01'), '§6.5: [10][len 246][version 1]');
});

t.test('a keyring refuses plaintext unless verifyIncoming is off', async (t) => {
  const plain = frame(20).payload;
  t.throws(() => decodePacket(plain, { keyring: ring }), { code: 'DECRYPT' });
  t.match(decodePacket(plain, { keyring: ring, verifyIncoming: false }).messages, [{ type: 'ping' }], 'accepted while keys are being rolled in');
  t.throws(() => decodeCompleteStream(serf.tcp[0]!.payload, { keyring: ring }), { code: 'DECRYPT' });
  t.equal(decodeCompleteStream(serf.tcp[0]!.payload, { keyring: ring, verifyIncoming: false }).message.type, 'pushPull');
  try {
    decodePacket(enc.udp[0]!.payload, { keyring: wrongRing });
  } catch (err) {
    t.ok(err instanceof WireError && /no key in the keyring/.test(err.message), 'the message says why');
  }
});
