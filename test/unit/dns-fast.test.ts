// The native UDP path (native/src/dns_fast.cc) against the JavaScript one: the same raw queries to a
// server with it and a server without it give byte-identical replies (shuffled A records compared
// as sets), the native side really answers the repeats itself, a zone change is seen at once (no
// stale native answer), and what the native side does not take (EDNS version 1, extra records,
// compression in the question, garbage) still gets the JavaScript answer.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { fastUdpAvailable } from '../../src/dns/fast-udp.js';
import { DnsServer } from '../../src/dns/server.js';
import type { RecordSet, Zone } from '../../src/dns/zones.js';

const zoneOf = (names: Record<string, RecordSet>, ptr: Record<string, string> = {}): Zone => ({ id: 'net1', name: 'appnet', names: new Map(Object.entries(names)), ptr: new Map(Object.entries(ptr)) });
const records: Record<string, RecordSet> = {
  web: { a: ['10.0.1.2'] },
  'tasks.web': { a: ['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13'], shuffle: true },
  big: { a: Array.from({ length: 60 }, (_, i) => `10.0.2.${i + 1}`) },
  '_80._tcp.web': { a: [], srv: [{ priority: 0, weight: 0, port: 80, target: 'web' }] },
};

async function serverOn(fast: boolean): Promise<{ server: DnsServer; port: number }> {
  const server = new DnsServer({ forwarder: false, udpFastPath: fast });
  server.zones.set(zoneOf(records, { '10.0.1.10': 'web.1.abc.appnet' }));
  const l = await server.listen({ address: '127.0.0.1', port: 0, view: ['net1'] });
  return { server, port: l.port };
}

function ask(port: number, query: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => { s.close(); resolve(undefined); }, 1000);
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m); });
    s.send(query, port, '127.0.0.1');
  });
}

/** A reply with its A records in a fixed order, so shuffled answers compare. */
function canonical(reply: Buffer | undefined): string {
  if (!reply) return 'no reply';
  const p = dnsPacket.decode(reply);
  p.answers?.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return JSON.stringify(p) + ` len=${reply.length} tc=${(reply[2]! & 2) !== 0}`;
}

const q = (name: string, type: dnsPacket.RecordType, extra: Partial<dnsPacket.Packet> = {}) => dnsPacket.encode({ type: 'query', id: 0x1234, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }], ...extra });
const edns = (size: number, flags = 0) => ({ additionals: [{ type: 'OPT' as const, name: '.', udpPayloadSize: size, flags, extendedRcode: 0, ednsVersion: 0, options: [] }] } as unknown as Partial<dnsPacket.Packet>);

t.test('native and JavaScript replies are the same', { skip: !fastUdpAvailable() && 'the addon has no fast path' }, async (t) => {
  const fast = await serverOn(true);
  const slow = await serverOn(false);
  t.teardown(async () => { await fast.server.close(); await slow.server.close(); });
  const cases: [string, Buffer][] = [
    ['A', q('web', 'A')],
    ['A in another case', q('WeB.AppNet', 'A')],
    ['shuffled tasks', q('tasks.web', 'A')],
    ['AAAA: no data', q('web', 'AAAA')],
    ['a big answer truncated at 512', q('big', 'A')],
    ['a big answer with EDNS 4096', q('big', 'A', edns(4096))],
    ['EDNS with DO', q('web', 'A', edns(1232, dnsPacket.DNSSEC_OK))],
    ['SRV with its target as additional', q('_80._tcp.web', 'SRV')],
    ['PTR', q('10.1.0.10.in-addr.arpa', 'PTR')],
    ['unknown (SERVFAIL, no forwarder)', q('nosuch', 'A')],
  ];
  for (const [what, query] of cases) {
    for (const round of ['first (JavaScript builds it)', 'again (native answers)']) {
      const [a, b] = await Promise.all([ask(fast.port, query), ask(slow.port, query)]);
      t.equal(canonical(a), canonical(b), `${what}, ${round}`);
    }
  }
  const hitsBefore = fast.server.stats.udp.local;
  for (let i = 0; i < 50; i++) await ask(fast.port, q('web', 'A'));
  t.equal(fast.server.stats.udp.local - hitsBefore, 50, 'the native answers are counted as local answers');
  t.equal(slow.server.stats.udp.local, cases.length * 2 - 2, 'the other server answered everything in JavaScript (all but the two SERVFAILs)');

  // A zone change is seen at once: the native copy of the cache is dropped with the JavaScript one.
  fast.server.zones.set(zoneOf({ ...records, web: { a: ['10.0.9.9'] } }));
  const changed = dnsPacket.decode((await ask(fast.port, q('web', 'A')))!);
  t.same(changed.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['10.0.9.9'], 'after the change, the new address at once');

  // What the native side does not take still gets JavaScript's answer.
  const badvers = q('web', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, ednsVersion: 1 } as unknown as dnsPacket.Answer] });
  t.equal(canonical(await ask(fast.port, badvers)), canonical(await ask(slow.port, badvers)), 'EDNS version 1: BADVERS from JavaScript');
  const garbage = Buffer.from('this is not a DNS message at all');
  const malformedBefore = fast.server.stats.udp.malformed;
  t.equal(await ask(fast.port, garbage), undefined, 'garbage gets no reply');
  t.equal(fast.server.stats.udp.malformed, malformedBefore + 1, 'and is counted as malformed');
});
