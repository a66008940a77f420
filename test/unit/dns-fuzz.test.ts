// Fuzz: 100 000+ malformed and random packets sent over UDP to a running src/dns server on
// 127.0.0.1 (and a few thousand frames over TCP): truncated headers, compression loops, counts that
// lie, oversized names and labels, QR=1, wrong qdcount, random bytes and mutated valid queries.
// Every packet must end up counted (as a query or as malformed), the categories that are never a
// valid query must all be counted malformed, nothing may throw inside the server, and afterwards it
// still answers a valid query correctly over both transports. Seeded, so a failure replays.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { probe } from '../../src/dns/client.js';
import { DnsServer } from '../../src/dns/server.js';
import { ParsedQuery, parseQuery, PARSE_MALFORMED } from '../../src/dns/wire.js';

/** xorshift32: the same inputs on every run. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

type Gen = (r: (n: number) => number) => Buffer;

const NAMES = ['web', 'tasks.web', 'db.backend', 'unknown.example', 'a.b.c.d.e', ''];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'SRV', 'PTR', 'MX', 'TXT', 'NS'];

function validQuery(r: (n: number) => number): Buffer {
  const name = NAMES[r(NAMES.length)]!;
  const edns = r(2) === 0;
  return dnsPacket.encode({
    type: 'query', id: r(65536), flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: TYPES[r(TYPES.length)]!, name: name === '' ? '.' : name }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 512 + r(4000) } as dnsPacket.Answer] : [],
  });
}

/** A valid query without EDNS: nothing follows the question. */
function plainQuery(r: (n: number) => number): Buffer {
  return Buffer.from(dnsPacket.encode({ type: 'query', id: r(65536), flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: TYPES[r(TYPES.length)]!, name: NAMES[r(NAMES.length - 1)]! }] }));
}

function header(r: (n: number) => number, counts: [number, number, number, number], flags = 0x0100): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(r(65536), 0);
  h.writeUInt16BE(flags, 2);
  counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
  return h;
}

/** Categories that can never be a valid query: every one must be counted malformed. */
const ALWAYS_MALFORMED: Record<string, Gen> = {
  'truncated header': (r) => Buffer.from(Array.from({ length: r(12) }, () => r(256))),
  'header only, qdcount 1': (r) => header(r, [1, 0, 0, 0]),
  'question name runs off the end': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([10, 0x61, 0x62])]),
  'question without type and class': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([3, 0x77, 0x65, 0x62, 0, 0, 1])]),
  'pointer to itself in the question': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
  'pointer loop a -> b -> a': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([1, 0x61, 0xc0, 15, 0xc0, 12, 0, 1, 0, 1])]),
  'pointer into the header': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([0xc0, r(12), 0, 1, 0, 1])]),
  'forward pointer in an additional record': (r) => {
    const body = Buffer.from([3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1]);
    const self = 12 + body.length;
    return Buffer.concat([header(r, [1, 0, 0, 1]), body, Buffer.from([0xc0 | (self >> 8), self & 0xff, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])]);
  },
  'counts that lie (more records than bytes)': (r) => {
    const q = plainQuery(r);
    q.writeUInt16BE(1 + r(65535), 6 + 2 * r(3));
    return q;
  },
  'all counts 0xffff': (r) => header(r, [0xffff, 0xffff, 0xffff, 0xffff]),
  'qdcount 0': (r) => { const q = Buffer.from(validQuery(r)); q.writeUInt16BE(0, 4); return q; },
  'qdcount 2..65535': (r) => { const q = Buffer.from(validQuery(r)); q.writeUInt16BE(2 + r(65534), 4); return q; },
  'QR=1 (a response)': (r) => { const q = Buffer.from(validQuery(r)); q[2] = q[2]! | 0x80; return q; },
  'label longer than 63 (reserved label types)': (r) => Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from([0x40 + r(0x80), 0x61, 0x62, 0, 0, 1, 0, 1])]),
  'name longer than 255 bytes': (r) => {
    const labels: number[] = [];
    while (labels.length < 256 + r(200)) labels.push(63, ...Array.from({ length: 63 }, () => 0x61 + r(26)));
    return Buffer.concat([header(r, [1, 0, 0, 0]), Buffer.from(labels), Buffer.from([0, 0, 1, 0, 1])]);
  },
  'record data longer than the packet': (r) => {
    const q = plainQuery(r);
    return Buffer.concat([q.subarray(0, 10), Buffer.from([0, 1]), q.subarray(12), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 1, 2])]);
  },
  'two OPT records': (r) => {
    const q = Buffer.from(dnsPacket.encode({ type: 'query', id: r(65536), questions: [{ type: 'A', name: 'web' }] }));
    const opt = Buffer.from([0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    q.writeUInt16BE(2, 10);
    return Buffer.concat([q, opt, opt]);
  },
  'OPT outside the additional section': (r) => {
    const q = Buffer.from(dnsPacket.encode({ type: 'query', id: r(65536), questions: [{ type: 'A', name: 'web' }] }));
    q.writeUInt16BE(1, 6);
    return Buffer.concat([q, Buffer.from([0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0])]);
  },
};

const INTERESTING = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xff];

function mutate(src: Buffer, r: (n: number) => number): Buffer {
  let b = Buffer.from(src);
  for (let k = 0, ops = 1 + r(4); k < ops && b.length > 0; k++) {
    const at = r(b.length);
    switch (r(6)) {
      case 0: b[at] = r(256); break;
      case 1: b[at] = INTERESTING[r(INTERESTING.length)]!; break;
      case 2: b = b.subarray(0, at); break;
      case 3: b = Buffer.concat([b.subarray(0, at), Buffer.from([0xc0, r(256)]), b.subarray(at)]); break;
      case 4: b = Buffer.concat([b.subarray(0, at), b.subarray(r(b.length))]); break;
      default: b[at] = b[at]! ^ (1 << r(8));
    }
  }
  return b;
}

/** Anything at all: counted either way, and never a crash. */
const ANYTHING: Record<string, Gen> = {
  'random bytes': (r) => Buffer.from(Array.from({ length: 1 + r(600) }, () => r(256))),
  'random bytes after a plausible header': (r) => Buffer.concat([header(r, [1, r(3), r(3), r(3)]), Buffer.from(Array.from({ length: r(300) }, () => r(256)))]),
  'mutated valid query': (r) => mutate(validQuery(r), r),
};

const server = new DnsServer({ tcpIdleTimeoutMs: 2000 });
server.zones.set({ id: 'n1', name: 'frontend', names: new Map([['web', { a: ['10.0.0.2'] }], ['tasks.web', { a: ['10.0.0.3', '10.0.0.4'], shuffle: true }]]), ptr: new Map() });
const listener = await server.listen({ address: '127.0.0.1', port: 0, view: ['n1'] });
t.teardown(() => server.close());
const target = { address: '127.0.0.1', port: listener.port };

const client = dgram.createSocket('udp4');
client.on('message', () => undefined);
await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => client.close(() => r())));

const counted = (): number => server.stats.udp.queries + server.stats.udp.malformed;

/** Sends packets in small batches (the receive buffer never overflows) and waits until each is counted. */
async function sendAll(packets: Buffer[]): Promise<void> {
  const BATCH = 64;
  for (let i = 0; i < packets.length; i += BATCH) {
    const expected = counted() + Math.min(BATCH, packets.length - i);
    for (const p of packets.slice(i, i + BATCH)) client.send(p, target.port, target.address);
    const deadline = Date.now() + 3000;
    while (counted() < expected) {
      if (Date.now() > deadline) throw new Error(`server counted ${counted()} packets, expected ${expected}: some were lost or not counted`);
      await new Promise((r) => setImmediate(r));
    }
  }
}

t.test('never-valid packets are all dropped and counted malformed', async (t) => {
  const r = rng(0xd15ea5e);
  for (const [name, gen] of Object.entries(ALWAYS_MALFORMED)) {
    const packets = Array.from({ length: 3000 }, () => gen(r));
    const scratch = new ParsedQuery();
    const local = packets.filter((p) => parseQuery(p, p.length, scratch) === PARSE_MALFORMED).length;
    t.equal(local, packets.length, `${name}: the scanner rejects all ${packets.length}`);
    const before = { ...server.stats.udp };
    await sendAll(packets);
    t.equal(server.stats.udp.malformed - before.malformed, packets.length, `${name}: ${packets.length} counted malformed`);
    t.equal(server.stats.udp.queries - before.queries, 0, `${name}: none taken for a query`);
  }
});

t.test('random and mutated packets: each counted once, nothing thrown', async (t) => {
  const r = rng(0xbadc0de);
  let sent = 0;
  for (const [name, gen] of Object.entries(ANYTHING)) {
    const packets = Array.from({ length: 20_000 }, () => gen(r));
    const before = counted();
    await sendAll(packets);
    sent += packets.length;
    t.equal(counted() - before, packets.length, `${name}: ${packets.length} counted`);
  }
  t.ok(server.stats.udp.malformed > 0 && server.stats.udp.queries > 0, `some were queries (${server.stats.udp.queries}), most malformed (${server.stats.udp.malformed})`);
  t.ok(sent + 3000 * Object.keys(ALWAYS_MALFORMED).length >= 100_000, 'at least 100 000 packets over UDP in all');
});

t.test('garbage over TCP: frames counted, connections survive or close, nothing thrown', async (t) => {
  const r = rng(0x7cb);
  const before = server.stats.tcp.malformed;
  let frames = 0;
  for (let c = 0; c < 20; c++) {
    const socket = net.connect(target.port, target.address);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    await new Promise<void>((res) => socket.once('connect', () => res()));
    const parts: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const gens = Object.values(ALWAYS_MALFORMED);
      const body = gens[r(gens.length)]!(r);
      const frame = Buffer.alloc(2 + body.length);
      frame.writeUInt16BE(body.length, 0);
      body.copy(frame, 2);
      parts.push(frame);
      frames++;
    }
    const all = Buffer.concat(parts);
    for (let at = 0; at < all.length; ) {
      const n = 1 + r(700);
      socket.write(all.subarray(at, at + n));
      at += n;
    }
    // A connection that ends in the middle of a frame, and one with a length that never arrives.
    socket.end(Buffer.from([0xff, 0xff, 1, 2, 3]));
    await new Promise<void>((res) => socket.once('close', () => res()));
  }
  t.equal(server.stats.tcp.malformed - before, frames, `${frames} malformed frames over TCP, all counted`);
});

t.test('afterwards the server answers correctly over UDP and TCP, and nothing failed inside it', async (t) => {
  const udp = await probe(target, 'Tasks.Web', 'A');
  t.same((udp.packet.answers ?? []).map((a) => (a as dnsPacket.StringAnswer).data).sort(), ['10.0.0.3', '10.0.0.4']);
  const tcp = await probe(target, 'web', 'A', { tcp: true });
  t.same((tcp.packet.answers ?? []).map((a) => (a as dnsPacket.StringAnswer).data), ['10.0.0.2']);
  t.equal(server.stats.udp.errors, 0, 'no handler errors over UDP');
  t.equal(server.stats.tcp.errors, 0, 'no handler errors over TCP');
  t.ok(server.stats.udp.malformed >= 54_000, `malformed over UDP: ${server.stats.udp.malformed}`);
});

t.test('the worst packets cost microseconds to reject', async (t) => {
  const worst = [
    Buffer.from([0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1]), Buffer.alloc(480, 0)]),
  ];
  const q = new ParsedQuery();
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) parseQuery(worst[i & 1]!, worst[i & 1]!.length, q);
  const us = ((performance.now() - t0) * 1000) / 100_000;
  t.ok(us < 20, `${us.toFixed(2)} µs per packet`);
});
