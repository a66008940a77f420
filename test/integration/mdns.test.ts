// Joining without an address, in the netns lab: node2 runs `swarm join --token T` alone and finds
// node1 by mDNS; a joiner ignores a manager advertising another CA digest and a malformed advert
// (both from the lab's client namespace, which also sends garbage all along: no agent may crash), and
// says what to do when no manager of its swarm answers.
// Captures on the lab's underlay check what the adverts carry (the address, the digest, no secret;
// a goodbye when the manager stops) and a capture in the host's namespace that none of it left the lab.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import t from 'tap';
import { caDigest, formatToken, newSecret } from '../../src/cluster/token.js';
import { newId } from '../../src/cluster/ids.js';
import { projectRoot } from '../../src/util/paths.js';
import { tempDir } from '../lib/agent.js';
import type { Teardown } from '../lib/kernel.js';
import { Lab } from '../lib/lab.js';
import { readPcap, type Datagram } from '../lib/pcap.js';
import { until } from '../lib/wait.js';

const SERVICE_LABEL = '_shoal-manager';

/** tcpdump of mDNS into `file`, in `netns` (undefined: the host's namespace, all interfaces). */
async function capture(t: Teardown, file: string, netns?: string, iface = 'any'): Promise<() => Promise<void>> {
  // --immediate-mode: a packet is written as it comes, not when the kernel's buffer timeout (1 s) fires.
  const args = ['tcpdump', '-i', iface, '--immediate-mode', '-U', '-n', '-w', file, 'udp port 5353'];
  const dump = spawn(netns ? 'ip' : args[0]!, netns ? ['netns', 'exec', netns, ...args] : args.slice(1), { stdio: 'ignore' });
  const stop = async () => {
    if (dump.exitCode !== null || dump.signalCode !== null) return;
    dump.kill('SIGINT');
    await new Promise((r) => dump.once('exit', r));
  };
  t.teardown(stop);
  await new Promise((r) => setTimeout(r, 1000)); // tcpdump needs a moment before it captures
  return stop;
}

/** In the client namespace: a manager of another swarm (a real advert, another CA digest) and a malformed advert. */
function startRogues(t: Teardown, lab: Lab, otherDigest: string): ChildProcess {
  const script = `
    import { advertiseManager } from ${JSON.stringify(join(projectRoot, 'dist', 'src', 'cluster', 'discovery.js'))};
    import Bonjour from ${JSON.stringify(join(projectRoot, 'node_modules', 'bonjour-service', 'dist', 'index.js'))};
    const log = { info() {}, warn() {}, debug() {}, child() { return log; } };
    await advertiseManager({ addr: '192.168.56.200', port: 2377, caDigest: ${JSON.stringify(otherDigest)}, nodeId: ${JSON.stringify(newId())}, log });
    const b = new Bonjour({ interface: '192.168.56.200', bind: '0.0.0.0' }, () => {});
    b.publish({ name: 'shoal-manager-junk', type: 'shoal-manager', port: 2377, host: 'junk.local', disableIPv6: true,
      txt: { v: '1', ca: 'not-a-digest', addr: 'node1', id: 'x' } });
    // Garbage for every listener, ten times a second: random bytes, and records of our type in odd shapes.
    const { createSocket } = await import('node:dgram');
    const { randomBytes } = await import('node:crypto');
    const dnsPacket = (await import(${JSON.stringify(join(projectRoot, 'node_modules', 'dns-packet', 'index.js'))})).default;
    const type = '_shoal-manager._tcp.local';
    const odd = [
      { type: 'response', answers: [{ type: 'PTR', name: type, ttl: 120, data: 'a.b.c.' + type }, { type: 'SRV', name: 'a.b.c.' + type, ttl: 120, data: { port: 0, target: '' } }, { type: 'TXT', name: 'a.b.c.' + type, ttl: 120, data: [Buffer.from([0xff, 0x3d]), Buffer.from('=x'), Buffer.from('__proto__=1')] }] },
      { type: 'response', answers: [{ type: 'PTR', name: type, ttl: 120, data: type }, { type: 'SRV', name: type, ttl: 1, data: { port: 65535, target: '.' } }] },
      { type: 'response', answers: [{ type: 'PTR', name: type, ttl: 0, data: 'nobody.' + type }] },
      { type: 'query', questions: [{ type: 'ANY', name: '' }, { type: 'PTR', name: type }, { type: 'SRV', name: '.' }] },
    ].map((p) => dnsPacket.encode(p));
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.bind(0, '192.168.56.200', () => {
      s.setMulticastInterface('192.168.56.200');
      let i = 0;
      setInterval(() => {
        s.send(randomBytes(1 + (i % 300)), 5353, '224.0.0.251');
        s.send(odd[i++ % odd.length], 5353, '224.0.0.251');
      }, 100);
      console.log('advertising');
    });
  `;
  const proc = spawn('nsenter', [`--net=/run/netns/${lab.prefix}client`, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { proc.kill('SIGKILL'); });
  return proc;
}

/** The records of a packet, as plain objects (dns-packet's union types name `data` and `ttl` on most, not all). */
type Rr = { type: string; ttl?: number; data?: unknown };
const rrs = (p: dnsPacket.Packet): Rr[] => [...(p.answers ?? []), ...(p.additionals ?? [])] as Rr[];

/** mDNS datagrams that decode (the rogue's garbage does not). */
function mdnsPackets(file: string): { d: Datagram; p: dnsPacket.Packet }[] {
  return readPcap(file).udp.filter((d) => d.dport === 5353 || d.sport === 5353).flatMap((d) => {
    try {
      return [{ d, p: dnsPacket.decode(d.payload) }];
    } catch {
      return [];
    }
  });
}

const agentLog = (lab: Lab, node: string) => readFileSync(`/run/shoal/${lab.prefix}${node}/agent.log`, 'utf8');

t.test('a node joins with only a token; other swarms\' and malformed adverts are ignored; nothing leaves the lab', async (t) => {
  const lab = new Lab('md');
  lab.up(t, '--nodes', '3', '--no-swarm', '--runtime', 'exec');
  const dir = tempDir(t, 'mdns');
  const stopHost = await capture(t, join(dir, 'host.pcap'));
  const stopUnderlay = await capture(t, join(dir, 'underlay.pcap'), `${lab.prefix}underlay`, 'br0');

  const otherDigest = caDigest(Buffer.from('the CA of another swarm'));
  const rogues = startRogues(t, lab, otherDigest);
  let rogueOut = '';
  rogues.stdout!.on('data', (c: Buffer) => (rogueOut += c.toString()));
  rogues.stderr!.on('data', (c: Buffer) => (rogueOut += c.toString()));
  await until('the rogue advertisers to start', () => rogueOut.includes('advertising') || rogues.exitCode !== null, 10_000);
  t.equal(rogues.exitCode, null, `the rogue advertisers run: ${rogueOut}`);

  // No manager of the token's swarm on the network: node3 hears only the rogues, ignores them, and says what to do.
  const lonely = formatToken(caDigest(Buffer.from('a swarm with no manager here')), newSecret());
  const started = Date.now();
  const none = lab.shoal('node3', 'swarm', 'join', '--token', lonely);
  const waited = Date.now() - started;
  t.equal(none.status, 1, 'the join fails');
  t.match(none.err, /no manager of this swarm answered on the local network within 10 s: give the manager's address, `shoal swarm join --token T 192\.168\.56\.101:2377`/);
  t.ok(waited >= 10_000 && waited < 15_000, `it gave up after the 10 s timeout (${waited} ms)`);
  t.match(lab.shoal('node3', 'info').out, /Swarm: inactive/, 'node3 joined nothing');
  const log3 = agentLog(lab, 'node3');
  t.match(log3, /ignoring an mDNS advert: a manager of another swarm \(CA digest [0-9a-z]{12}\.\.\./, 'the manager of another swarm was heard and ignored');
  t.match(log3, /ignoring an mDNS advert: malformed advert: the CA digest/, 'so was the malformed advert');
  t.equal(log3.match(/a manager of another swarm/g)?.length, 1, 'logged once, though it answered every query');

  // The real thing: node1 creates a swarm; node2 joins with the token alone.
  t.equal(lab.shoal('node1', 'swarm', 'init', '--advertise-addr', '192.168.56.101').status, 0);
  const worker = lab.shoal('node1', 'swarm', 'join-token', '-q', 'worker').out;
  const manager = lab.shoal('node1', 'swarm', 'join-token', '-q', 'manager').out;
  const joinStarted = Date.now();
  const joined = lab.shoal('node2', 'swarm', 'join', '--token', worker);
  const joinMs = Date.now() - joinStarted;
  t.equal(joined.status, 0, joined.err);
  t.equal(joined.out, 'found manager 192.168.56.101:2377 by mDNS\nThis node joined a swarm as a worker.');
  const found = /"ms":(\d+)[^\n]*"msg":"found a manager by mDNS"/.exec(agentLog(lab, 'node2'));
  t.ok(found, 'node2 logged the manager it found');
  t.comment(`discovery took ${found?.[1]} ms; the whole \`swarm join --token T\` ${joinMs} ms`);
  await until('node2 Ready in node ls on node1', () => /node2\s+Ready/.test(lab.shoal('node1', 'node', 'ls').out), 15_000);
  t.pass('node2 is in node ls on node1');

  for (const node of ['node1', 'node2', 'node3']) t.equal(lab.shoal(node, 'info').status, 0, `${node}'s agent lived through the rogue's garbage`);

  // The manager stops advertising when it stops: a goodbye, every record with TTL 0.
  lab.kill('node1', 'TERM');
  await new Promise((r) => setTimeout(r, 500)); // the goodbye is sent; let the captures read it
  await stopUnderlay();
  await stopHost();

  const lan = mdnsPackets(join(dir, 'underlay.pcap'));
  t.ok(lan.length > 0, `mDNS on the lab's underlay (${lan.length} packets)`);
  const garbage = readPcap(join(dir, 'underlay.pcap')).udp.filter((d) => d.src === '192.168.56.200').length - lan.filter(({ d }) => d.src === '192.168.56.200').length;
  t.ok(garbage > 50, `the rogue's garbage was on the wire all along (${garbage} undecodable datagrams)`);
  t.same([...new Set(lan.map(({ d }) => d.dst))], ['224.0.0.251'], 'all of it to the mDNS group, none unicast');
  t.same([...new Set(lan.map(({ d }) => d.src))].sort(), ['192.168.56.101', '192.168.56.102', '192.168.56.103', '192.168.56.200'], 'sent from the nodes\' advertise addresses and the rogue only');
  const fromNode1 = lan.filter(({ d, p }) => d.src === '192.168.56.101' && p.type === 'response');
  const records = fromNode1.flatMap(({ p }) => rrs(p));
  t.ok(records.length > 0, 'node1 answered');
  t.same([...new Set(records.filter((r) => r.type === 'A').map((r) => r.data))], ['192.168.56.101'], 'its only A record is its advertise address');
  const txt = records.find((r) => r.type === 'TXT');
  const keys = ((txt?.data ?? []) as Buffer[]).map((b) => b.toString().split('=')[0]).sort();
  t.same(keys, ['addr', 'ca', 'id', 'v'], 'its TXT record: address, CA digest, node ID, version');
  const secrets = [worker, manager].map((tok) => tok.split('-')[3]!);
  t.notOk(lan.some(({ d }) => secrets.some((s) => d.payload.includes(s))), 'no join secret in any mDNS packet');
  const goodbye = fromNode1.at(-1)!.p;
  t.ok(rrs(goodbye).length > 0 && rrs(goodbye).every((r) => r.ttl === 0), 'node1\'s last packet is a goodbye (TTL 0)');

  const host = readPcap(join(dir, 'host.pcap')).udp.filter((d) => d.payload.includes(SERVICE_LABEL));
  t.same(host.map((d) => `${d.src} > ${d.dst}`), [], 'not one of these packets appeared in the host\'s namespace');
  t.equal(spawnSync('ip', ['netns', 'exec', `${lab.prefix}node1`, 'true']).status, 0, '(the lab was still up while capturing)');
});
