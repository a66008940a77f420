// The wire layer against real traffic between two Serf 0.9.4 agents (memberlist 0.2.2): every UDP
// packet and TCP stream in the captures decodes, known packets decode to what memberlist.md §6.5
// says, and what we encode is byte-for-byte what Go sent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { decodeCompound } from '../../src/cluster/wire/compound.js';
import { compressMessage, decompressMessage } from '../../src/cluster/wire/compress.js';
import { unwrapCrc } from '../../src/cluster/wire/crc.js';
import { lzwCompress } from '../../src/cluster/wire/lzw.js';
import { decodeCompress, encodeMessage, type Message } from '../../src/cluster/wire/messages.js';
import { decodeAt } from '../../src/cluster/wire/msgpack.js';
import { decodePacket, decodeStream, encodePacket, encodePushPullStream } from '../../src/cluster/wire/packet.js';
import { Keyring } from '../../src/cluster/wire/security.js';
import { projectRoot } from '../../src/util/paths.js';
import { readPcap } from '../lib/pcap.js';

const dir = join(projectRoot, 'test', 'fixtures', 'memberlist');
const serf = readPcap(join(dir, 'serf.pcap'));
const enc = readPcap(join(dir, 'enc.pcap'));
const key = readFileSync(join(dir, 'enc.key'), 'utf8').trim();

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Re-encodes a plaintext UDP payload from its decoded messages, the way Go built it. */
function reencode(payload: Buffer, messages: Message[]): Buffer {
  if (payload[0] === 9) return compressMessage(reencode(decompressMessage(payload), messages));
  if (payload[0] === 12) return encodePacket([reencode(Buffer.from(unwrapCrc(payload)), messages)], { crc: true });
  if (payload[0] === 7) {
    const parts = decodeCompound(payload).parts;
    let i = 0;
    return encodePacket(parts.map((p) => {
      const n = p[0] === 7 ? decodeCompound(p).parts.length : 1;
      const out = reencode(Buffer.from(p), messages.slice(i, i + n));
      i += n;
      return out;
    }));
  }
  return encodeMessage(messages[0]!);
}

t.test('every UDP packet in serf.pcap decodes, with no part lost', async (t) => {
  const counts: Record<string, number> = {};
  for (const d of serf.udp) {
    const r = decodePacket(d.payload);
    t.same([r.errors, r.truncatedParts], [[], 0], `frame ${d.frame}`);
    for (const m of r.messages) counts[m.type] = (counts[m.type] ?? 0) + 1;
  }
  t.equal(serf.udp.length, 204);
  t.same(counts, { alive: 96, user: 48, ping: 61, ack: 46, suspect: 33, dead: 24 });
});

t.test('what we encode is byte-for-byte what Go sent (plain, compound, CRC, compressed)', async (t) => {
  let compared = 0;
  let compressed = 0;
  let lzwIdentical = 0;
  for (const d of serf.udp) {
    const { messages } = decodePacket(d.payload);
    t.same(reencode(d.payload, messages), d.payload, `frame ${d.frame}`);
    const wrapped = d.payload[0] === 12 ? Buffer.from(unwrapCrc(d.payload)) : d.payload;
    if (wrapped[0] === 9) {
      compressed++;
      const original = decodeCompress(decodeAt(wrapped, 1).value).buf;
      if (Buffer.compare(lzwCompress(decompressMessage(wrapped)), Buffer.from(original)) === 0) lzwIdentical++;
    }
    compared++;
  }
  t.equal(compared, 204);
  t.ok(compressed > 0, `${compressed} compressed packets`);
  t.equal(lzwIdentical, compressed, "our LZW writer reproduces Go's compressed bytes exactly");
});

t.test('known packets decode to what the reference says', async (t) => {
  const ping = serf.udp.find((d) => d.payload.length === 66 && d.payload[0] === 0)!;
  t.match(decodePacket(ping.payload).messages, [{ type: 'ping', node: 'alpha', seqNo: 1, sourceAddr: '127.0.0.12', sourcePort: 7946, sourceNode: 'beta' }]);

  const crcCompound = serf.udp.find((d) => d.payload.length === 152 && d.payload[0] === 12)!;
  t.equal(crcCompound.payload.subarray(0, 5).toString('hex'), '0caaef29e7', 'the 152-byte gossip packet with CRC aaef29e7');
  const [a, b] = decodePacket(crcCompound.payload).messages as Extract<Message, { type: 'alive' }>[];
  t.match(a, { type: 'alive', node: 'alpha', addr: '127.0.0.11', port: 7946, incarnation: 1, vsn: [1, 5, 2, 2, 5, 5] });
  t.same(Buffer.from(a!.meta), hex('ff 82 a4 726f6c65 a3 776562 a2 6463 a3 6c6162'), "alpha's Meta: serf tag magic + {role: web, dc: lab}");
  t.match(b, { type: 'alive', node: 'beta', addr: '127.0.0.12' });
  t.same(Buffer.from(b!.meta), hex('ff80'));

  const join = serf.tcp.find((f) => f.dport === 7946)!;
  const r = decodeStream(join.payload)!;
  t.equal(join.payload[0], 9, 'Serf compresses every TCP push/pull');
  t.equal(r.end, join.payload.length, 'the whole stream is one message');
  t.match(r.message, { type: 'pushPull', pushPull: { header: { join: true, nodes: 1, userStateLen: 588 }, nodes: [{ name: 'beta', addr: '127.0.0.12', port: 7946, state: 0, vsn: [1, 5, 2, 2, 5, 5] }] } });
  const reply = serf.tcp.find((f) => f.sport === 7946 && f.payload.length === 282)!;
  t.match(decodeStream(reply.payload)!.message, { type: 'pushPull', pushPull: { header: { join: true, nodes: 2 } } });
});

t.test('push-pull streams re-encode to what Go sent', async (t) => {
  for (const f of serf.tcp) {
    const { message } = decodeStream(f.payload)!;
    if (message.type !== 'pushPull') continue;
    const p = message.pushPull;
    t.same(encodePushPullStream({ join: p.header.join, nodes: p.nodes, userState: p.userState }, { compress: true }), f.payload, f.key);
  }
});

t.test('the encrypted capture decrypts with its key and decodes; a wrong key does not', async (t) => {
  const ring = Keyring.fromBase64([key]);
  let messages = 0;
  for (const d of enc.udp) {
    t.equal(d.payload[0], 1, `frame ${d.frame}: encryption version 1`);
    const r = decodePacket(d.payload, { keyring: ring });
    t.same(r.errors, []);
    messages += r.messages.length;
  }
  t.equal(messages, 32);
  for (const f of enc.tcp) {
    t.equal(f.payload[0], 10, 'TCP: encrypt message type');
    t.match(decodeStream(f.payload, { keyring: ring })!.message, { type: 'pushPull' });
  }
  const wrong = Keyring.fromBase64([Buffer.alloc(32, 7).toString('base64')]);
  t.throws(() => decodePacket(enc.udp[0]!.payload, { keyring: wrong }), { code: 'DECRYPT' });
  t.throws(() => decodeStream(enc.tcp[0]!.payload, { keyring: wrong }), { code: 'DECRYPT' });
  t.throws(() => decodePacket(serf.udp[0]!.payload, { keyring: ring }), { code: 'DECRYPT' }, 'plaintext is refused when a key is set');
  t.ok(decodePacket(serf.udp[0]!.payload, { keyring: ring, verifyIncoming: false }).messages.length > 0, 'unless verifyIncoming is off (key roll-in)');
});
