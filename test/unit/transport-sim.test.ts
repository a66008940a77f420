// The simulated transport (src/cluster/transport-sim.ts): datagrams, loss, refused and hanging dials,
// ordered streams; then a handful of real Memberlist nodes on it, which must join into one view,
// hand a user message out its retransmit budget and declare a hard-stopped member dead on every survivor.
import { once } from 'node:events';
import { pino } from 'pino';
import t from 'tap';
import { Memberlist } from '../../src/cluster/memberlist.js';
import { SimNetwork } from '../../src/cluster/transport-sim.js';
import type { MembershipConfig } from '../../src/cluster/config.js';
import type { Stream, TransportHandlers } from '../../src/cluster/transport.js';
import { until } from '../lib/wait.js';

const log = pino({ level: 'silent' });

function collector() {
  const packets: { data: string; from: string }[] = [];
  const streams: Stream[] = [];
  const handlers: TransportHandlers = {
    packet: (buf, from) => packets.push({ data: buf.toString(), from: `${from.address}:${from.port}` }),
    stream: (s) => streams.push(s),
    error: () => {},
  };
  return { packets, streams, handlers };
}

t.test('datagrams arrive after the latency, from the sender\'s bound address; a closed port swallows them', async (t) => {
  const net = new SimNetwork({ latencyMs: 20 });
  const a = net.transport();
  const b = net.transport();
  const rb = collector();
  await a.listen('10.0.0.1', 7946, collector().handlers);
  await b.listen('10.0.0.2', 7946, rb.handlers);
  const sent = Date.now();
  a.sendPacket(Buffer.from('hello'), '10.0.0.2', 7946);
  t.same(rb.packets, [], 'nothing arrives synchronously');
  await until('the datagram', () => rb.packets.length === 1, 1000, 2);
  t.ok(Date.now() - sent >= 19, 'not before the latency');
  t.same(rb.packets, [{ data: 'hello', from: '10.0.0.1:7946' }]);
  a.sendPacket(Buffer.from('lost'), '10.0.0.3', 7946);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(net.stats.packetsDropped, 1, 'nobody listens on 10.0.0.3');
  await b.close();
  a.sendPacket(Buffer.from('late'), '10.0.0.2', 7946);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(rb.packets.length, 1, 'a closed transport receives nothing');
  await t.rejects(Promise.resolve().then(() => a.listen('10.0.0.1', 7946, collector().handlers)), { code: 'EADDRINUSE' }, 'one listener per address and port');
  await a.close();
});

t.test('loss drops a share of datagrams, the same share for the same seed', async (t) => {
  const runOnce = async () => {
    const net = new SimNetwork({ loss: 0.3, seed: 7 });
    const a = net.transport();
    const b = net.transport();
    const rb = collector();
    await a.listen('10.0.0.1', 7946, collector().handlers);
    await b.listen('10.0.0.2', 7946, rb.handlers);
    for (let i = 0; i < 1000; i++) a.sendPacket(Buffer.from(String(i)), '10.0.0.2', 7946);
    await new Promise((r) => setTimeout(r, 20));
    await a.close();
    await b.close();
    return rb.packets.length;
  };
  const first = await runOnce();
  t.ok(first > 600 && first < 800, `about 70 % arrive (${first})`);
  t.equal(await runOnce(), first, 'deterministic for a seed');
});

t.test('streams: refused without a listener, hang when cut off, deliver in order then end', async (t) => {
  const net = new SimNetwork({ latencyMs: 2 });
  const a = net.transport();
  const b = net.transport();
  const rb = collector();
  await a.listen('10.0.0.1', 7946, collector().handlers);

  const refused = a.dial('10.0.0.2', 7946);
  const [err] = (await once(refused as unknown as NodeJS.EventEmitter, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNREFUSED');

  await b.listen('10.0.0.2', 7946, rb.handlers);
  const c = a.dial('10.0.0.2', 7946);
  await once(c as unknown as NodeJS.EventEmitter, 'connect');
  t.equal(rb.streams.length, 1, 'the listener got the connection');
  const server = rb.streams[0]!;
  t.equal(server.remoteAddress, '10.0.0.1');
  let got = '';
  server.on('data', (d) => (got += d.toString()));
  const ended = once(server as unknown as NodeJS.EventEmitter, 'end');
  for (let i = 0; i < 50; i++) c.write(Buffer.from(`${i},`));
  c.end(Buffer.from('done'));
  await ended;
  t.equal(got, `${Array.from({ length: 50 }, (_, i) => `${i},`).join('')}done`, 'every chunk, in order, before the end');
  let reply = '';
  c.on('data', (d) => (reply += d.toString()));
  const clientEnded = once(c as unknown as NodeJS.EventEmitter, 'end');
  server.end(Buffer.from('ok'));
  await clientEnded;
  t.equal(reply, 'ok', 'the reply comes back the other way');

  net.isolate('10.0.0.2');
  const hung = a.dial('10.0.0.2', 7946);
  let event = '';
  hung.on('connect', () => (event = 'connect'));
  hung.on('error', () => (event = 'error'));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(event, '', 'a dial to a cut-off host neither connects nor fails');
  hung.destroy();
  await a.close();
  await b.close();
});

/** Fast timings so the test takes a second or two; the behaviour is the LAN one scaled down. */
const FAST: Partial<MembershipConfig> = {
  probeIntervalMs: 100, probeTimeoutMs: 40, gossipIntervalMs: 20, pushPullIntervalMs: 2000, tcpTimeoutMs: 1000, gossipToTheDeadMs: 5000,
};

t.test('memberlists on the simulated network: join, user messages, failure of a stopped member', async (t) => {
  const net = new SimNetwork({ latencyMs: 1, jitterMs: 1, seed: 3 });
  const names = ['a', 'b', 'c', 'd', 'e'];
  const nodes = names.map((name, i) => new Memberlist({ name, addr: `10.0.0.${i + 1}`, port: 7946, transport: net.transport(), config: FAST, log }));
  t.teardown(() => Promise.all(nodes.map((n) => n.shutdown())));
  for (const n of nodes) await n.start();
  for (const n of nodes.slice(1)) t.equal(await n.join(['10.0.0.1:7946']), 1, `${n.members.selfName} joined through a`);

  const view = (n: Memberlist) => n.members.list().filter((m) => m.state === 'alive').map((m) => m.name).sort().join(',');
  await until('every node to see all five alive', () => nodes.every((n) => view(n) === names.join(',')), 5000, 20);
  t.pass('one view of five alive members');

  // memberlist semantics: a user broadcast is handed out retransmitMult * ceil(log10(n + 1)) times in
  // total (4 for 5 nodes), to random members, and nobody relays it; without loss each hand-out is one
  // delivery, mostly to different members (a gossip round picks distinct ones).
  const deliveries: string[] = [];
  for (const n of nodes.slice(1)) n.on('user', (p) => deliveries.push(`${n.members.selfName}:${Buffer.from(p).toString()}`));
  t.ok(nodes[0]!.broadcastUser(Buffer.from('table write 1')), 'queued');
  t.notOk(nodes[0]!.broadcastUser(Buffer.alloc(1400)), 'a message larger than a packet is refused (push-pull carries those)');
  await until('the broadcast to use up its transmissions', () => deliveries.length >= 4, 5000, 20);
  await new Promise((r) => setTimeout(r, 300)); // ten more gossip rounds: nothing more may arrive
  t.equal(deliveries.length, 4, 'delivered exactly retransmitLimit (4) times in total');
  t.ok(deliveries.every((d) => d.endsWith(':table write 1')), 'the same bytes every time');
  t.ok(new Set(deliveries.map((d) => d.split(':')[0])).size >= 2, `to more than one member (${deliveries.join(', ')})`);

  const [victim, ...survivors] = [nodes[4]!, ...nodes.slice(0, 4)];
  const declared = new Set<string>();
  for (const s of survivors) s.on('leave', (m) => { if (m.name === 'e' && m.state === 'dead') declared.add(s.members.selfName); });
  await victim.shutdown(); // a hard stop: no leave message
  await until('every survivor to declare e dead', () => declared.size === 4, 15_000, 20);
  t.same([...declared].sort(), ['a', 'b', 'c', 'd'], 'dead (not left) on all four survivors');
  for (const s of survivors) t.equal(s.members.get('e')?.state, 'dead');
  t.ok(survivors.every((s) => view(s) === 'a,b,c,d'), 'the others stay alive');
});
