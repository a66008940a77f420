// src/dns forwarding against fake upstreams on 127.0.0.1 (UDP and TCP on one port, each told how to
// behave): order of upstreams, SERVFAIL/REFUSED/timeouts/dead ports -> the next, SERVFAIL within the
// budget when all fail, truncated UDP replies retried over TCP, TCP clients forwarded over TCP, the
// client's ID and question kept, replies to someone else ignored, REFUSED past the in-flight bound;
// and resolv.conf parsing (systemd stub, our own address, at most 3).
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { probe, type ProbeTarget } from '../../src/dns/client.js';
import { Forwarder } from '../../src/dns/forwarder.js';
import { DnsServer, type DnsServerOptions } from '../../src/dns/server.js';
import { parseResolvConf, parseUpstream, upstreamsFromResolvConf } from '../../src/dns/upstreams.js';

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

type Behaviour = 'answer' | 'servfail' | 'refused' | 'nxdomain' | 'silent' | 'truncate-udp' | 'spoof-first';

interface Fake {
  port: number;
  spec: string;
  /** 'udp ID name' / 'tcp ID name' for every query seen. */
  seen: { transport: 'udp' | 'tcp'; id: number; name: string }[];
}

const MANY = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);

function replyTo(query: Buffer, behaviour: Behaviour, transport: 'udp' | 'tcp', marker: string): Buffer | undefined {
  const q = dnsPacket.decode(query);
  const base = { type: 'response' as const, id: q.id, questions: q.questions };
  const name = q.questions![0]!.name;
  switch (behaviour) {
    case 'silent': return undefined;
    case 'servfail': return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | 2 });
    case 'refused': return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | 5 });
    case 'nxdomain': return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | 3 });
    case 'truncate-udp':
      if (transport === 'udp') return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE });
      return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE, answers: MANY.map((data) => ({ type: 'A', name, ttl: 60, data })) });
    default: return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE, answers: [{ type: 'A', name, ttl: 60, data: marker }] });
  }
}

/** A fake upstream, UDP and TCP on one loopback port. */
async function fake(t: Teardown, behaviour: Behaviour, marker = '192.0.2.1'): Promise<Fake> {
  const seen: Fake['seen'] = [];
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    seen.push({ transport: 'udp', id: q.id!, name: q.questions![0]!.name });
    if (behaviour === 'spoof-first') {
      const wrong = Buffer.from(replyTo(msg, 'answer', 'udp', '203.0.113.66')!);
      wrong.writeUInt16BE((q.id! + 1) & 0xffff, 0);
      udp.send(wrong, rinfo.port, rinfo.address);
    }
    const reply = replyTo(msg, behaviour, 'udp', marker);
    if (reply) setTimeout(() => udp.send(reply, rinfo.port, rinfo.address), behaviour === 'spoof-first' ? 20 : 0);
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const port = udp.address().port;
  const tcp = net.createServer((c) => {
    let pending = Buffer.alloc(0);
    c.on('error', () => undefined);
    c.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + msg.length);
        const q = dnsPacket.decode(msg);
        seen.push({ transport: 'tcp', id: q.id!, name: q.questions![0]!.name });
        const reply = replyTo(msg, behaviour, 'tcp', marker);
        if (reply) {
          const frame = Buffer.alloc(2 + reply.length);
          frame.writeUInt16BE(reply.length, 0);
          reply.copy(frame, 2);
          c.write(frame);
        }
      }
    });
  });
  await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
  t.teardown(async () => {
    await new Promise<void>((r) => udp.close(() => r()));
    tcp.close();
  });
  return { port, spec: `127.0.0.1:${port}`, seen };
}

/** A loopback port where nothing listens (ICMP port unreachable, ECONNREFUSED). */
async function deadPort(): Promise<string> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return `127.0.0.1:${port}`;
}

async function serve(t: Teardown, upstreams: string[], opts: DnsServerOptions & { timeoutMs?: number; budgetMs?: number; maxInFlight?: number } = {}): Promise<{ server: DnsServer; target: ProbeTarget }> {
  const server = new DnsServer({
    ...opts,
    forwarder: { upstreams, upstreamTimeoutMs: opts.timeoutMs ?? 300, forwardBudgetMs: opts.budgetMs ?? 2000, maxInFlight: opts.maxInFlight ?? 1024 },
  });
  t.teardown(() => server.close());
  const l = await server.listen({ address: '127.0.0.1', port: 0, view: [] });
  return { server, target: { address: '127.0.0.1', port: l.port } };
}

function rcode(p: dnsPacket.DecodedPacket): string | undefined {
  return (p as { rcode?: string }).rcode;
}

function addresses(p: dnsPacket.DecodedPacket): string[] {
  return (p.answers ?? []).filter((a) => a.type === 'A').map((a) => (a as dnsPacket.StringAnswer).data);
}

t.test('a forwarded reply keeps the client\'s ID and question; the upstream sees a fresh ID', async (t) => {
  const up = await fake(t, 'answer');
  const { target, server } = await serve(t, [up.spec]);
  const r = await probe(target, 'Example.ORG', 'A', { id: 1234 });
  t.equal(r.packet.id, 1234);
  t.equal(r.packet.questions?.[0]?.name, 'Example.ORG');
  t.same(addresses(r.packet), ['192.0.2.1']);
  t.equal(up.seen.length, 1);
  t.equal(up.seen[0]!.name, 'Example.ORG', 'the question goes up as the client wrote it');
  t.not(up.seen[0]!.id, 1234, 'with an ID of ours');
  t.match(server.stats.udp, { queries: 1, forwarded: 1, local: 0, servfail: 0 });
});

t.test('SERVFAIL and REFUSED go on to the next upstream; NXDOMAIN is relayed', async (t) => {
  const a = await fake(t, 'servfail');
  const b = await fake(t, 'refused');
  const c = await fake(t, 'answer', '192.0.2.3');
  const { target, server } = await serve(t, [a.spec, b.spec, c.spec]);
  t.same(addresses((await probe(target, 'x.example', 'A')).packet), ['192.0.2.3']);
  t.same([a.seen.length, b.seen.length, c.seen.length], [1, 1, 1], 'tried in order');
  t.equal(server.forwarder?.stats.rejected, 2);

  const nx = await fake(t, 'nxdomain');
  const after = await fake(t, 'answer');
  const s2 = await serve(t, [nx.spec, after.spec]);
  t.equal(rcode((await probe(s2.target, 'nope.example', 'A')).packet), 'NXDOMAIN', 'NXDOMAIN is an answer');
  t.equal(after.seen.length, 0, 'the next upstream is not asked');
});

t.test('at most 3 upstreams are used', async (t) => {
  const fails = await Promise.all([fake(t, 'servfail'), fake(t, 'servfail'), fake(t, 'servfail')]);
  const fourth = await fake(t, 'answer');
  const { target, server } = await serve(t, [...fails.map((f) => f.spec), fourth.spec]);
  t.equal(server.forwarder?.upstreams.length, 3);
  t.equal(rcode((await probe(target, 'x.example', 'A')).packet), 'SERVFAIL');
  t.equal(fourth.seen.length, 0);
});

t.test('a silent upstream times out, a dead port fails at once; the next one answers', async (t) => {
  const silent = await fake(t, 'silent');
  const good = await fake(t, 'answer');
  const { target, server } = await serve(t, [silent.spec, good.spec], { timeoutMs: 250 });
  const t0 = Date.now();
  t.same(addresses((await probe(target, 'slow.example', 'A')).packet), ['192.0.2.1']);
  const ms = Date.now() - t0;
  t.ok(ms >= 240 && ms < 1000, `answered after the 250 ms timeout (${ms} ms)`);
  t.equal(server.forwarder?.stats.timeouts, 1);

  const dead = await deadPort();
  const s2 = await serve(t, [dead, good.spec], { timeoutMs: 1000 });
  const t1 = Date.now();
  t.same(addresses((await probe(s2.target, 'dead.example', 'A')).packet), ['192.0.2.1']);
  t.ok(Date.now() - t1 < 500, `a refused port costs no timeout (${Date.now() - t1} ms)`);
  t.equal(s2.server.forwarder?.stats.errors, 1);
});

t.test('all upstreams failing -> SERVFAIL within the budget', async (t) => {
  const silent = await Promise.all([fake(t, 'silent'), fake(t, 'silent'), fake(t, 'silent')]);
  const { target, server } = await serve(t, silent.map((s) => s.spec), { timeoutMs: 300, budgetMs: 500 });
  const t0 = Date.now();
  const r = await probe(target, 'x.example', 'A', { id: 77, edns: 1232, timeoutMs: 3000 });
  const ms = Date.now() - t0;
  t.equal(rcode(r.packet), 'SERVFAIL');
  t.equal(r.packet.id, 77);
  t.equal(r.packet.questions?.[0]?.name, 'x.example');
  t.ok(r.packet.additionals?.some((a) => a.type === 'OPT'), 'OPT echoed on SERVFAIL too');
  t.ok(ms >= 450 && ms < 800, `after the 500 ms budget (${ms} ms)`);
  t.same(silent.map((s) => s.seen.length), [1, 1, 0], 'the budget ran out during the second');
  t.equal(server.stats.udp.servfail, 1);

  const none = new DnsServer({});
  t.teardown(() => none.close());
  const l = await none.listen({ address: '127.0.0.1', port: 0, view: [] });
  t.equal(rcode((await probe({ address: '127.0.0.1', port: l.port }, 'x.example', 'A')).packet), 'SERVFAIL', 'no forwarder -> SERVFAIL');
});

t.test('a truncated UDP reply is retried over TCP; what does not fit the client is truncated for it', async (t) => {
  const up = await fake(t, 'truncate-udp');
  const { target, server } = await serve(t, [up.spec]);
  const big = await probe(target, 'big.example', 'A', { edns: 4096 });
  t.notOk(big.packet.flag_tc, 'the TCP answer fits the client\'s 4096');
  t.equal(addresses(big.packet).length, 100);
  t.same(up.seen.map((s) => s.transport), ['udp', 'tcp']);
  t.equal(server.forwarder?.stats.tcpRetries, 1);

  const small = await probe(target, 'big.example', 'A');
  t.ok(small.packet.flag_tc, 'a client without EDNS gets TC');
  t.ok(small.size <= 512);
  t.equal(small.packet.questions?.[0]?.name, 'big.example');
  t.equal(server.stats.udp.truncated, 1);
});

t.test('a query over TCP is forwarded over TCP', async (t) => {
  const up = await fake(t, 'truncate-udp');
  const { target, server } = await serve(t, [up.spec]);
  const r = await probe(target, 'big.example', 'A', { tcp: true, id: 999 });
  t.equal(r.packet.id, 999);
  t.equal(addresses(r.packet).length, 100);
  t.same(up.seen.map((s) => s.transport), ['tcp']);
  t.equal(server.stats.tcp.forwarded, 1);
});

t.test('replies that are not ours (wrong ID) are ignored', async (t) => {
  const up = await fake(t, 'spoof-first', '192.0.2.50');
  const { target } = await serve(t, [up.spec]);
  t.same(addresses((await probe(target, 'x.example', 'A')).packet), ['192.0.2.50']);
});

t.test('past maxInFlight forwarded queries the client gets REFUSED at once', async (t) => {
  const silent = await fake(t, 'silent');
  const { target, server } = await serve(t, [silent.spec], { timeoutMs: 1000, budgetMs: 1000, maxInFlight: 2 });
  const started = Date.now();
  const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => probe(target, `q${i}.example`, 'A', { timeoutMs: 3000 }).then((r) => ({ code: rcode(r.packet), ms: Date.now() - started }))));
  const refused = replies.filter((r) => r.code === 'REFUSED');
  t.equal(refused.length, 3);
  t.ok(refused.every((r) => r.ms < 500), 'without waiting');
  t.equal(replies.filter((r) => r.code === 'SERVFAIL').length, 2);
  t.equal(server.stats.udp.refused, 3);
  t.equal(server.forwarder?.stats.peakInFlight, 2);
});

t.test('closing the forwarder ends what is in flight', async (t) => {
  const silent = await fake(t, 'silent');
  const fwd = new Forwarder({ upstreams: [silent.spec], upstreamTimeoutMs: 5000 });
  const q = dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'x.example' }] });
  const pending = fwd.forward(q, false);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  fwd.close();
  t.same(await pending, { kind: 'failed' });
  t.ok(Date.now() - t0 < 200);
});

t.test('resolv.conf: nameserver lines in order, at most 3, our own address and comments left out', async (t) => {
  t.same(parseResolvConf('# comment\nsearch example\nnameserver 10.0.0.2\nnameserver  fd00::1 \n;nameserver 10.9.9.9\nnameserver bogus\noptions ndots:0\nnameserver 10.0.0.3 # trailing\n'), ['10.0.0.2', 'fd00::1', '10.0.0.3']);
  const files: Record<string, string> = {
    '/a': 'nameserver 127.0.0.11\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\nnameserver 10.0.0.5\n',
    '/stub': 'nameserver 127.0.0.53\noptions edns0 trust-ad\n',
    '/systemd': 'nameserver 192.168.1.1\nnameserver 127.0.0.53\nnameserver 192.168.1.2\n',
    '/empty': '',
  };
  const read = (p: string): string => {
    const v = files[p];
    if (v === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return v;
  };
  t.same(upstreamsFromResolvConf('/a', { max: 3, read }).map((u) => u.address), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  t.same(upstreamsFromResolvConf('/stub', { max: 3, read, systemdResolvConf: '/systemd' }).map((u) => u.address), ['192.168.1.1', '192.168.1.2'], 'systemd-resolved\'s stub -> its upstreams');
  t.same(upstreamsFromResolvConf('/stub', { max: 3, read, systemdResolvConf: '/missing' }), [{ address: '127.0.0.53', port: 53 }], 'the stub itself when its upstreams are unknown');
  t.same(upstreamsFromResolvConf('/missing', { max: 3, read }), []);
  t.same(upstreamsFromResolvConf('/empty', { max: 3, read }), []);
  t.same(parseUpstream('10.0.0.2'), { address: '10.0.0.2', port: 53 });
  t.same(parseUpstream('10.0.0.2:5353'), { address: '10.0.0.2', port: 5353 });
  t.same(parseUpstream('[fd00::1]:5353'), { address: 'fd00::1', port: 5353 });
  t.same(parseUpstream('fe80::1%eth0'), { address: 'fe80::1%eth0', port: 53 });
  t.throws(() => parseUpstream('dns.example'), TypeError);
  t.throws(() => parseUpstream('10.0.0.2:0'), TypeError);
});
