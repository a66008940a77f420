// A DNS server for bench/dns.ts to measure, run as its own process so that the benchmark's own work
// does not share its event loop: `embedded` is src/dns (DnsServer), `naive` the plain design it
// replaced (dgram + dns-packet decode and encode on every query, the same lookup semantics), kept
// only as the "before" figure, and `floor` a dgram socket that answers every query with one fixed
// A record and does nothing else: what Node's dgram itself costs, below which no design can go. Listens inside a named namespace, prints `ready PORT` on stdout, and
// prints its counters as JSON and exits on SIGTERM.
//
//   node dist/bench/dns-serve.js --netns NAME --address 127.0.0.11 --port 5301 --services 100 --tasks 4 --mode embedded
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { DnsServer } from '../src/dns/server.js';
import { lookup, TYPE_A } from '../src/dns/lookup.js';
import { ZoneSet } from '../src/dns/zones.js';
import { Netns } from '../src/kernel/netns.js';
import { benchRecords, BENCH_NETWORK_ID } from './dns-records.js';

function arg(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  const v = at >= 0 ? process.argv[at + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

async function serveEmbedded(ns: Netns, zones: ZoneSet, address: string, port: number): Promise<{ port: number; stats: () => unknown }> {
  const server = new DnsServer({ zones });
  const l = await server.listen({ netns: ns, address, port, view: [BENCH_NETWORK_ID] });
  return { port: l.port, stats: () => server.stats };
}

/** The "before": every query decoded and every answer encoded by dns-packet. */
async function serveNaive(ns: Netns, zones: ZoneSet, address: string, port: number): Promise<{ port: number; stats: () => unknown }> {
  const socket = dgram.createSocket('udp4');
  const stats = { queries: 0, malformed: 0 };
  socket.on('message', (msg, rinfo) => {
    let packet: dnsPacket.DecodedPacket;
    try {
      packet = dnsPacket.decode(msg);
    } catch {
      stats.malformed++;
      return;
    }
    const q = packet.questions?.[0];
    if (packet.type !== 'query' || packet.questions?.length !== 1 || q === undefined) return;
    stats.queries++;
    const answer = lookup(zones, [BENCH_NETWORK_ID], q.name.toLowerCase(), q.type === 'A' ? TYPE_A : 0, 1);
    const answers: dnsPacket.Answer[] = answer.kind === 'a' ? answer.addresses.map((data) => ({ type: 'A', name: q.name, ttl: 5, data })) : [];
    if (answer.kind === 'a' && answer.shuffle) answers.sort(() => Math.random() - 0.5);
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | ((packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
    let out = dnsPacket.encode({ type: 'response', id: packet.id, flags, questions: packet.questions, answers });
    if (out.length > 512) out = dnsPacket.encode({ type: 'response', id: packet.id, flags: flags | dnsPacket.TRUNCATED_RESPONSE, questions: packet.questions });
    socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind({ fd: ns.socket('udp', address, port) }, resolve));
  return { port: socket.address().port, stats: () => stats };
}

/** The floor: the query echoed back as a response with one A record; no parsing, no lookup. */
async function serveFloor(ns: Netns, _zones: ZoneSet, address: string, port: number): Promise<{ port: number; stats: () => unknown }> {
  const socket = dgram.createSocket('udp4');
  const stats = { queries: 0 };
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 10, 0, 0]);
  socket.on('message', (msg, rinfo) => {
    stats.queries++;
    const out = Buffer.allocUnsafe(msg.length + answer.length);
    msg.copy(out);
    answer.copy(out, msg.length);
    out[2] = out[2]! | 0x84;
    out[7] = 1;
    socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind({ fd: ns.socket('udp', address, port) }, resolve));
  return { port: socket.address().port, stats: () => stats };
}

async function main(): Promise<void> {
  const ns = Netns.open({ name: arg('netns') });
  const address = arg('address', '127.0.0.11');
  const port = Number(arg('port', '0'));
  const records = benchRecords(Number(arg('services', '100')), Number(arg('tasks', '4')));
  const zones = new ZoneSet();
  zones.set(records.zone);
  const mode = arg('mode', 'embedded');
  const modes: Record<string, typeof serveEmbedded> = { embedded: serveEmbedded, naive: serveNaive, floor: serveFloor };
  const serve = modes[mode];
  if (serve === undefined) throw new Error(`--mode must be one of ${Object.keys(modes).join(', ')}, not ${mode}`);
  const running = await serve(ns, zones, address, port);
  process.once('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify(running.stats())}\n`, () => process.exit(0));
  });
  process.stdout.write(`ready ${running.port}\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
