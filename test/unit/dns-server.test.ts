// src/dns server semantics over real sockets on 127.0.0.1: name search order in a view, the
// `<name>.<network>` form, case, no-data answers, PTR, SRV, shuffling, TTL, truncation over UDP and
// full answers over TCP, EDNS0 sizes, and answers that follow zone changes at once. Replies are
// decoded with dns-packet, not with the server's own code. A fake upstream on loopback tells a
// forwarded query from a local one.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { probe, exchange, type ProbeTarget } from '../../src/dns/client.js';
import { DnsServer, type DnsServerOptions } from '../../src/dns/server.js';
import type { RecordSet, Zone } from '../../src/dns/zones.js';

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** Answers every query with A 192.0.2.99, so a forwarded name is recognisable. */
async function fakeUpstream(t: Teardown): Promise<{ port: number; seen: string[] }> {
  const socket = dgram.createSocket('udp4');
  const seen: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    seen.push(`${q.questions?.[0]?.name} ${q.questions?.[0]?.type}`);
    const reply = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.99' }] });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
  return { port: socket.address().port, seen };
}

function zone(id: string, name: string, names: Record<string, RecordSet>, ptr: Record<string, string> = {}): Zone {
  return { id, name, names: new Map(Object.entries(names)), ptr: new Map(Object.entries(ptr)) };
}

async function start(t: Teardown, view: string[], zones: Zone[], opts: DnsServerOptions = {}): Promise<{ server: DnsServer; target: ProbeTarget; upstreamSeen: string[] }> {
  const upstream = await fakeUpstream(t);
  const server = new DnsServer({ forwarder: { upstreams: [`127.0.0.1:${upstream.port}`], upstreamTimeoutMs: 500 }, ...opts });
  t.teardown(() => server.close());
  for (const z of zones) server.zones.set(z);
  const l = await server.listen({ address: '127.0.0.1', port: 0, view });
  return { server, target: { address: '127.0.0.1', port: l.port }, upstreamSeen: upstream.seen };
}

function addresses(p: dnsPacket.DecodedPacket): string[] {
  return (p.answers ?? []).filter((a) => a.type === 'A').map((a) => (a as dnsPacket.StringAnswer).data);
}

/** dns-packet decodes the rcode but its types do not declare it. */
function rcode(p: dnsPacket.DecodedPacket): string | undefined {
  return (p as { rcode?: string }).rcode;
}

function ttls(p: dnsPacket.DecodedPacket): (number | undefined)[] {
  return (p.answers ?? []).map((a) => (a as dnsPacket.StringAnswer).ttl);
}

const frontend = zone('net-front', 'frontend', {
  web: { a: ['10.0.1.2'] },
  'tasks.web': { a: ['10.0.1.10', '10.0.1.11', '10.0.1.12'], shuffle: true },
  shared: { a: ['10.0.1.50'] },
}, { '10.0.1.10': 'web.1.aaaa.frontend' });
const backend = zone('net-back', 'backend', {
  db: { a: ['10.0.2.2'] },
  shared: { a: ['10.0.2.50'] },
  web: { a: ['10.0.2.77'] },
});

t.test('names resolve in view order; <name>.<network> picks the network; case does not matter', async (t) => {
  const { target, upstreamSeen } = await start(t, ['net-front', 'net-back'], [frontend, backend]);
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2'], 'the first network of the view wins');
  t.same(addresses((await probe(target, 'shared', 'A')).packet), ['10.0.1.50'], 'same for a name both networks have');
  t.same(addresses((await probe(target, 'db', 'A')).packet), ['10.0.2.2'], 'a name only the second network has');
  t.same(addresses((await probe(target, 'web.backend', 'A')).packet), ['10.0.2.77'], '<name>.<network> answers from that network');
  t.same(addresses((await probe(target, 'shared.frontend', 'A')).packet), ['10.0.1.50']);
  const upper = await probe(target, 'WeB.BackEnd', 'A');
  t.same(addresses(upper.packet), ['10.0.2.77'], 'case-insensitive, network part too');
  t.equal(upper.packet.questions?.[0]?.name, 'WeB.BackEnd', 'the question comes back as the client wrote it');
  t.equal(upper.packet.answers?.[0]?.name, 'WeB.BackEnd', 'and so does the owner name (a pointer to it)');
  t.same(addresses((await probe(target, 'web.', 'A')).packet), ['10.0.1.2'], 'a trailing dot is the same name');
  t.same(upstreamSeen, [], 'none of these went upstream');

  t.same(addresses((await probe(target, 'db.frontend', 'A')).packet), ['192.0.2.99'], 'a name not in the named network is forwarded');
  t.same(addresses((await probe(target, 'nothing.here', 'A')).packet), ['192.0.2.99'], 'an unknown name is forwarded');
  t.same(upstreamSeen, ['db.frontend A', 'nothing.here A']);
});

t.test('a network outside the view is not searched, by name or by suffix', async (t) => {
  const { target, upstreamSeen } = await start(t, ['net-front'], [frontend, backend]);
  t.same(addresses((await probe(target, 'db', 'A')).packet), ['192.0.2.99']);
  t.same(addresses((await probe(target, 'db.backend', 'A')).packet), ['192.0.2.99']);
  t.equal(upstreamSeen.length, 2);
});

t.test('known names: other types get NOERROR with no data, flags and ID as a resolver sets them', async (t) => {
  const { target, upstreamSeen, server } = await start(t, ['net-front'], [frontend]);
  for (const type of ['AAAA', 'MX', 'TXT', 'CNAME', 'SRV'] as const) {
    const r = await probe(target, 'web', type, { id: 4242 });
    t.equal(rcode(r.packet), 'NOERROR', `${type}: NOERROR`);
    t.equal(r.packet.answers?.length, 0, `${type}: no answers`);
    t.equal(r.packet.id, 4242, `${type}: the query ID`);
    t.ok(r.packet.flag_aa && r.packet.flag_rd && r.packet.flag_ra, `${type}: aa, rd copied, ra`);
  }
  t.same(upstreamSeen, [], 'not forwarded');
  t.equal(server.stats.udp.local, 5);
  t.equal(server.stats.udp.forwarded, 0);
});

t.test('PTR answers task addresses and forwards the rest', async (t) => {
  const { target, upstreamSeen } = await start(t, ['net-front'], [frontend]);
  const r = await probe(target, '10.1.0.10.in-addr.arpa', 'PTR');
  t.same(r.packet.answers?.map((a) => [a.type, (a as dnsPacket.StringAnswer).data]), [['PTR', 'web.1.aaaa.frontend']]);
  t.ok(r.packet.flag_aa);
  await probe(target, '2.1.0.10.in-addr.arpa', 'PTR');
  t.same(upstreamSeen, ['2.1.0.10.in-addr.arpa PTR'], 'an address with no PTR record (e.g. a VIP) is forwarded');
});

t.test('SRV records, with the targets the view knows as additional A records', async (t) => {
  const z = zone('n', 'net', {
    web: { a: ['10.0.0.5'] },
    '_http._tcp.web': { a: [], srv: [{ priority: 0, weight: 10, port: 8080, target: 'web' }, { priority: 1, weight: 5, port: 8081, target: 'elsewhere.example' }] },
  });
  const { target } = await start(t, ['n'], [z]);
  const r = await probe(target, '_http._tcp.web', 'SRV');
  t.same(r.packet.answers?.map((a) => (a as dnsPacket.SrvAnswer).data), [
    { priority: 0, weight: 10, port: 8080, target: 'web' },
    { priority: 1, weight: 5, port: 8081, target: 'elsewhere.example' },
  ]);
  t.same(r.packet.additionals?.map((a) => [a.name, a.type, (a as dnsPacket.StringAnswer).data]), [['web', 'A', '10.0.0.5']]);
  const a = await probe(target, '_http._tcp.web', 'A');
  t.equal(a.packet.answers?.length, 0, 'an SRV-only name has no A data');
});

t.test('shuffled names come back in varying orders, always the same set; others keep their order', async (t) => {
  const many = Array.from({ length: 8 }, (_, i) => `10.0.5.${i + 1}`);
  const z = zone('n', 'net', { 'tasks.api': { a: many, shuffle: true }, fixed: { a: many } });
  const { target } = await start(t, ['n'], [z]);
  const orders = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const got = addresses((await probe(target, 'tasks.api', 'A')).packet);
    t.same([...got].sort(), [...many].sort(), 'all addresses, each once');
    orders.add(got.join(','));
  }
  t.ok(orders.size > 20, `40 queries gave ${orders.size} different orders`);
  const fixed = new Set<string>();
  for (let i = 0; i < 10; i++) fixed.add(addresses((await probe(target, 'fixed', 'A')).packet).join(','));
  t.same([...fixed], [many.join(',')], 'without shuffle the order is the zone\'s');
});

t.test('duplicates are answered once; invalid addresses are skipped', async (t) => {
  const z = zone('n', 'net', { dup: { a: ['10.0.0.1', '10.0.0.1', '10.0.0.2', 'not-an-ip', '10.0.0.300'] } });
  const { target } = await start(t, ['n'], [z]);
  t.same(addresses((await probe(target, 'dup', 'A')).packet), ['10.0.0.1', '10.0.0.2']);
});

t.test('an answer larger than a DNS message is cut at a whole record, with TC, on every path', async (t) => {
  // 5,000 records; and 4,100, whose end lies just past 65,535 (where a 16-bit offset would wrap to a small number).
  for (const count of [5000, 4100]) await t.test(`${count} addresses`, async (t) => {
    const huge = Array.from({ length: count }, (_, i) => `10.8.${i >> 8}.${i & 0xff}`);
    const z = zone('n', 'net', { 'tasks.huge': { a: huge, shuffle: true } });
    const { target } = await start(t, ['n'], [z]);
    for (const [what, opts] of [['TCP', { tcp: true }], ['UDP with EDNS 65000', { edns: 65000 }], ['UDP with EDNS 1232', { edns: 1232 }], ['UDP with EDNS 1232, again (the native path answers repeats)', { edns: 1232 }], ['UDP without EDNS', {}]] as const) {
      const r = await probe(target, 'tasks.huge', 'A', opts);
      const n = r.packet.answers?.length ?? 0;
      t.ok(r.packet.flag_tc, `${what}: TC`);
      t.ok(n > 0 && n < huge.length, `${what}: ${n} whole records`);
      t.ok(r.size <= 0xffff, `${what}: ${r.size} bytes, within a DNS message`);
      t.equal(new Set(addresses(r.packet)).size, n, `${what}: every record decodes, none twice`);
    }
  });
});

t.test('TTL: 5 s by default, the constructor option otherwise', async (t) => {
  const a = await start(t, ['net-front'], [frontend]);
  t.same(ttls((await probe(a.target, 'tasks.web', 'A')).packet), [5, 5, 5]);
  const b = await start(t, ['net-front'], [frontend], { ttlSeconds: 30 });
  t.same(ttls((await probe(b.target, 'web', 'A')).packet), [30]);
});

t.test('truncation: TC over UDP within 512 bytes or the EDNS size, the full answer over TCP', async (t) => {
  const big = Array.from({ length: 200 }, (_, i) => `10.9.${i >> 8}.${i & 0xff}`);
  const z = zone('n', 'net', { 'tasks.big': { a: big, shuffle: true } });
  const { target, server } = await start(t, ['n'], [z]);

  const plain = await probe(target, 'tasks.big', 'A');
  t.ok(plain.packet.flag_tc, 'TC without EDNS');
  t.ok(plain.size <= 512, `at most 512 bytes (got ${plain.size})`);
  const fit = Math.floor((512 - 12 - (11 + 4)) / 16);
  t.equal(plain.packet.answers?.length, fit, `as many whole records as fit (${fit})`);
  t.equal(new Set(addresses(plain.packet)).size, fit, 'all distinct');

  const e1232 = await probe(target, 'tasks.big', 'A', { edns: 1232 });
  t.ok(e1232.packet.flag_tc, 'still TC with EDNS 1232');
  t.ok(e1232.size <= 1232 && e1232.size > 1200, `filled up to the client's 1232 bytes (got ${e1232.size})`);
  t.equal(e1232.packet.additionals?.filter((a) => a.type === 'OPT').length, 1, 'OPT echoed');

  const e4096 = await probe(target, 'tasks.big', 'A', { edns: 4096 });
  t.notOk(e4096.packet.flag_tc, 'EDNS 4096 takes the whole answer');
  t.equal(e4096.packet.answers?.length, 200);
  t.equal(e4096.size, 12 + 15 + 200 * 16 + 11);
  const opt = e4096.packet.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  t.equal(opt?.udpPayloadSize, 1232, 'our OPT says what we accept');

  const tcp = await probe(target, 'tasks.big', 'A', { tcp: true });
  t.notOk(tcp.packet.flag_tc, 'no TC over TCP');
  t.same([...addresses(tcp.packet)].sort(), [...big].sort(), 'every address over TCP');
  t.equal(server.stats.udp.truncated, 2);
  t.equal(server.stats.tcp.truncated, 0);
  t.equal(server.stats.tcp.local, 1);

  const small = await probe(target, 'tasks.big', 'A', { edns: 100 });
  t.ok(small.size <= 512 && small.packet.flag_tc, 'an EDNS size below 512 counts as 512');
});

t.test('answers follow zone changes at once: set, delete, another view', async (t) => {
  const { server, target, upstreamSeen } = await start(t, ['net-front'], [frontend]);
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2']);
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2'], 'cached');
  server.zones.set(zone('net-front', 'frontend', { web: { a: ['10.0.1.3', '10.0.1.4'] } }));
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.3', '10.0.1.4'], 'the new records right after set()');
  t.same(addresses((await probe(target, 'web.frontend', 'A')).packet), ['10.0.1.3', '10.0.1.4']);
  server.zones.set(zone('net-front', 'renamed', { web: { a: ['10.0.1.3'] } }));
  t.same(addresses((await probe(target, 'web.renamed', 'A')).packet), ['10.0.1.3'], 'a renamed network answers under its new name');
  server.zones.delete('net-front');
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['192.0.2.99'], 'after delete() the name is forwarded');
  server.zones.set(backend);
  t.same(addresses((await probe(target, 'db', 'A')).packet), ['192.0.2.99'], 'a zone outside the view changes nothing');
  t.equal(upstreamSeen.length, 2);
  server.zones.set(frontend);
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2'], 'a zone set again answers again');
});

t.test('two listeners with different views on one server; setView moves one', async (t) => {
  const { server, target } = await start(t, ['net-front'], [frontend, backend]);
  const other = await server.listen({ address: '127.0.0.1', port: 0, view: ['net-back'] });
  const target2 = { address: '127.0.0.1', port: other.port };
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2']);
  t.same(addresses((await probe(target2, 'web', 'A')).packet), ['10.0.2.77']);
  other.setView(['net-front']);
  t.same(other.view, ['net-front']);
  t.same(addresses((await probe(target2, 'web', 'A')).packet), ['10.0.1.2'], 'the new view answers');
  await other.close();
  t.equal(await exchange(target2, dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'web' }] }), { timeoutMs: 200 }), undefined, 'a closed listener answers nothing');
  t.same(addresses((await probe(target, 'web', 'A')).packet), ['10.0.1.2'], 'the other listener still does');
});

t.test('TCP: several queries on one connection, split across writes', async (t) => {
  const { target } = await start(t, ['net-front'], [frontend]);
  const q = (id: number, name: string): Buffer => {
    const m = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
    const f = Buffer.alloc(2 + m.length);
    f.writeUInt16BE(m.length, 0);
    m.copy(f, 2);
    return f;
  };
  const net = await import('node:net');
  const socket = net.connect(target.port, target.address);
  t.teardown(() => socket.destroy());
  const all = Buffer.concat([q(1, 'web'), q(2, 'tasks.web'), q(3, 'shared')]);
  const replies = new Map<number, dnsPacket.DecodedPacket>();
  let pending = Buffer.alloc(0);
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const p = dnsPacket.decode(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        replies.set(p.id!, p);
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.size === 3) resolve();
    });
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  // One byte, then the rest in uneven pieces that cut through lengths and messages.
  const cuts = [0, 1, 5, 20, 41, all.length];
  for (let i = 1; i < cuts.length; i++) {
    socket.write(all.subarray(cuts[i - 1], cuts[i]));
    await new Promise((r) => setTimeout(r, 5));
  }
  await done;
  t.same(addresses(replies.get(1)!), ['10.0.1.2']);
  t.equal(addresses(replies.get(2)!).length, 3);
  t.same(addresses(replies.get(3)!), ['10.0.1.50']);
});

t.test('TCP connections idle for too long are closed', async (t) => {
  const { target } = await start(t, ['net-front'], [frontend], { tcpIdleTimeoutMs: 150 });
  const net = await import('node:net');
  const socket = net.connect(target.port, target.address);
  t.teardown(() => socket.destroy());
  const t0 = Date.now();
  await new Promise<void>((r) => socket.once('close', () => r()));
  const ms = Date.now() - t0;
  t.ok(ms >= 100 && ms < 2000, `closed after ${ms} ms`);
});

t.test('EDNS version 1 gets BADVERS; a non-QUERY opcode gets NOTIMP', async (t) => {
  const { target } = await start(t, ['net-front'], [frontend]);
  const v1 = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'web' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: 1 } as dnsPacket.Answer] });
  const r1 = dnsPacket.decode((await exchange(target, v1))!);
  const opt = r1.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  t.equal(opt?.extendedRcode, 1, 'extended rcode 1 with header rcode 0 = BADVERS (16)');
  t.equal(r1.answers?.length, 0);
  const notify = Buffer.from(dnsPacket.encode({ type: 'query', id: 8, questions: [{ type: 'A', name: 'web' }] }));
  notify[2] = (notify[2]! & 0x87) | (4 << 3); // opcode NOTIFY
  const r2 = (await exchange(target, notify))!;
  t.equal(r2[3]! & 0x0f, 4, 'NOTIMP');
  t.equal((r2[2]! >> 3) & 0x0f, 4, 'opcode echoed');
});

t.test('a full answer cache starts over and keeps answering right', async (t) => {
  const names: Record<string, RecordSet> = {};
  for (let i = 0; i < 20; i++) names[`n${i}`] = { a: [`10.3.0.${i + 1}`] };
  const { target } = await start(t, ['n'], [zone('n', 'net', names)], { maxCachedAnswersPerView: 4 });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 20; i++) t.same(addresses((await probe(target, `n${i}`, 'A')).packet), [`10.3.0.${i + 1}`]);
  }
});
