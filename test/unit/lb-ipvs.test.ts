// The IPVS load-balancer backend against the fake IPVS kernel (which refuses what ip_vs_ctl.c
// refuses: a destination before its service is ESRCH, a missing destination ENOENT, ...) and a
// recording nft: what a task's and the sandbox's namespace get, that a second sync with nothing
// changed sends no change, that the plan comes from what the kernel holds (drift is repaired, a
// foreign service is removed, a half-applied plan is finished), weight 0 before a backend goes,
// Docker's sysctls in every namespace it uses, and how the backend is chosen.
import t from 'tap';
import { chooseLoadBalancer, probeIpvs } from '../../src/controllers/lb/choose.js';
import { IpvsLb, planIpvs, type IpvsActual } from '../../src/controllers/lb/ipvs.js';
import { portMark, vipMark } from '../../src/controllers/lb/lb.js';
import { KernelError } from '../../src/kernel/errors.js';
import { IpvsUnavailableError, type Ipvs, type IpvsDestination, type IpvsService } from '../../src/kernel/ipvs.js';
import { FakeIpvsKernel, openFakeIpvs } from '../../src/kernel/ipvs-fake.js';
import { IPVS_CMD } from '../../src/kernel/ipvs-wire.js';
import { describeNetns, type NetnsRef } from '../../src/kernel/netns.js';
import type { Transaction } from '../../src/kernel/nftables.js';
import { FakeNft } from '../lib/nft-fake.js';

/** One fake kernel per namespace, nft scripts recorded per namespace, sysctls that exist only where ip_vs is loaded. */
function rig(opts: { now?: () => number } = {}) {
  const kernels = new Map<string, FakeIpvsKernel>();
  const kernelOf = (ns: NetnsRef) => {
    const k = describeNetns(ns);
    if (!kernels.has(k)) kernels.set(k, new FakeIpvsKernel());
    return kernels.get(k)!;
  };
  const nft: { ns: string; script: string }[] = [];
  const fakeNft = new FakeNft();
  const sysctls = new Map<string, Map<string, string>>();
  /** lo's /32 addresses per namespace, as rtnetlink would hold them. */
  const lo = new Map<string, Set<string>>();
  const lb = new IpvsLb({
    open: (ns) => openFakeIpvs(kernelOf(ns), describeNetns(ns)),
    applyNft: async (ns, tx: Transaction) => {
      await fakeNft.apply(ns, tx);
      nft.push({ ns: describeNetns(ns), script: tx.render() });
    },
    readNft: fakeNft.read,
    sysctls: async (ns, fn) => {
      const k = describeNetns(ns);
      fn({
        writeSysctl: (key, value) => {
          if (key.startsWith('net.ipv4.vs.') && !kernelOf(ns).loaded) throw new KernelError('ENOENT', `write sysctl ${key}`, 'no such file');
          if (!sysctls.has(k)) sysctls.set(k, new Map());
          sysctls.get(k)!.set(key, String(value));
        },
      });
    },
    loopback: async (ns, vips) => {
      const held = lo.get(describeNetns(ns)) ?? new Set<string>();
      lo.set(describeNetns(ns), new Set(vips));
      return 1 + vips.filter((v) => !held.has(v)).length + [...held].filter((h) => !vips.includes(h)).length;
    },
    ...(opts.now ? { now: opts.now } : {}),
  });
  const look = async (ns: NetnsRef) => {
    const ipvs = await openFakeIpvs(kernelOf(ns));
    const out: Record<string, { address: string; weight: number; forward: string; port: number }[]> = {};
    for (const s of await ipvs.listServices()) {
      const key = 'fwmark' in s ? `fwmark ${s.fwmark} ${s.scheduler}` : `${s.protocol} ${s.address}:${s.port}`;
      out[key] = ('fwmark' in s ? await ipvs.listDestinations({ fwmark: s.fwmark }) : []).map((d) => ({ address: d.address, weight: d.weight, forward: d.forward, port: d.port })).sort((a, b) => a.address.localeCompare(b.address));
    }
    ipvs.close();
    return out;
  };
  return { lb, kernelOf, nft, sysctls, lo, look, other: (ns: NetnsRef): Promise<Ipvs> => openFakeIpvs(kernelOf(ns)) };
}

const TASK: NetnsRef = { pid: 4242 };
const VIP = '10.0.1.2';
const MARK = vipMark(VIP);
const dest = (address: string, weight: number, activeConnections = 0): IpvsDestination => ({ address, port: 0, family: 4, forward: 'masquerade', weight, upperThreshold: 0, lowerThreshold: 0, activeConnections, inactiveConnections: 0, persistentConnections: 0 });
const fwService = (fwmark: number): IpvsService => ({ fwmark, family: 4, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff });

t.test('marks are derived, not allocated', async (t) => {
  t.equal(vipMark('10.0.1.2'), 0x0a000102, 'a VIP\'s mark is its address');
  t.equal(portMark('tcp', 8080), 0x61f90, 'tcp 8080: protocol 6 << 16 | port');
  t.equal(portMark('udp', 8080), 0x111f90, 'udp differs from tcp on the same port');
});

t.test('plan: pure, from what the kernel holds', async (t) => {
  const never = () => false;
  t.same(planIpvs([], [{ fwmark: 7, backends: ['10.0.0.5', '10.0.0.6'] }], never), [
    { op: 'add-service', fwmark: 7 },
    { op: 'add-destination', fwmark: 7, address: '10.0.0.5' },
    { op: 'add-destination', fwmark: 7, address: '10.0.0.6' },
  ], 'nothing held: the service, then its destinations');
  const held: IpvsActual[] = [{ service: fwService(7), destinations: [dest('10.0.0.5', 1), dest('10.0.0.6', 1)] }];
  t.same(planIpvs(held, [{ fwmark: 7, backends: ['10.0.0.5', '10.0.0.6'] }], never), [], 'held as desired: nothing to do');
  t.same(planIpvs(held, [{ fwmark: 7, backends: ['10.0.0.5'] }], never), [{ op: 'quiesce-destination', fwmark: 7, address: '10.0.0.6' }], 'a backend that left: weight 0 first');
  const quiesced: IpvsActual[] = [{ service: fwService(7), destinations: [dest('10.0.0.5', 1), dest('10.0.0.6', 0, 3)] }];
  t.same(planIpvs(quiesced, [{ fwmark: 7, backends: ['10.0.0.5'] }], never), [], 'at weight 0 with connections, not drained: it stays');
  t.same(planIpvs(quiesced, [{ fwmark: 7, backends: ['10.0.0.5'] }], () => true), [{ op: 'delete-destination', fwmark: 7, address: '10.0.0.6' }], 'drained: deleted');
  t.same(planIpvs(quiesced, [{ fwmark: 7, backends: ['10.0.0.5', '10.0.0.6'] }], never), [{ op: 'restore-destination', fwmark: 7, address: '10.0.0.6' }], 'a quiesced backend that is wanted again gets its weight back');
  const foreign: IpvsActual[] = [{ service: { protocol: 'tcp', address: '10.9.9.9', port: 80, family: 4, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff }, destinations: [] }, { service: { ...fwService(7), scheduler: 'wlc' }, destinations: [dest('10.0.0.5', 1)] }, { service: fwService(8), destinations: [] }];
  t.same(planIpvs(foreign, [{ fwmark: 7, backends: ['10.0.0.5'] }], never), [
    { op: 'delete-service', service: foreign[0]!.service },
    { op: 'delete-service', service: foreign[2]!.service },
    { op: 'update-service', fwmark: 7 },
  ], 'services not desired go (the namespace is the load balancer\'s), a wrong scheduler is put right');
});

t.test('a task: fwmark services, masquerade, weight 0 then delete, nothing sent when nothing changed', async (t) => {
  const r = rig();
  const desired = { vips: [{ vip: VIP, backends: ['10.0.1.3', '10.0.1.4', '10.0.1.5'] }, { vip: '10.0.1.9', backends: [] }], redirects: [{ ifname: 'eth1', protocol: 'tcp' as const, published: 8080, target: 80 }] };
  const first = await r.lb.syncTask('task1', TASK, desired);
  t.ok(first.changed);
  t.same(await r.look(TASK), { [`fwmark ${MARK} rr`]: ['10.0.1.3', '10.0.1.4', '10.0.1.5'].map((address) => ({ address, weight: 1, forward: 'masquerade', port: 0 })) }, 'one round-robin fwmark service, its three backends masqueraded on the packet\'s port; none for the VIP without backends');
  t.equal(r.nft.length, 1);
  const script = r.nft[0]!.script.split('\n');
  t.ok(script.includes('add chain ip shoal_vip lb_mark { type filter hook output priority -150 ; }'), 'marks in the output hook, before IPVS (-99)');
  t.ok(script.includes(`add rule ip shoal_vip lb_mark meta mark set ip daddr map { ${VIP} : 0x0a000102 }`), 'the VIP\'s packets get its mark');
  t.ok(script.includes('add rule ip shoal_vip refuse ip daddr { 10.0.1.9 } meta l4proto tcp reject with tcp reset'), 'a VIP without backends is refused as with nftables');
  t.ok(script.includes('add rule ip shoal_vip published iifname "eth1" tcp dport 8080 redirect to :80'), 'published ports still redirected');
  t.notMatch(r.nft[0]!.script, /dnat/, 'no DNAT: IPVS does the balancing');
  t.ok(script.includes('add rule ip shoal_vip postrouting oifname != "lo" meta mark != 0 masquerade'), 'what IPVS sends to another task leaves from the task\'s own address, not the VIP');
  t.same([...r.lo.get('pid 4242')!], [VIP], 'the served VIP is on lo (so the task can be its own backend); the one without backends is not');
  t.same(Object.fromEntries(r.sysctls.get('pid 4242')!), {
    'net.ipv4.vs.conn_reuse_mode': '0', 'net.ipv4.vs.expire_nodest_conn': '1', 'net.ipv4.vs.expire_quiescent_template': '1',
    'net.ipv4.vs.conntrack': '1', 'net.ipv4.conf.all.arp_ignore': '1', 'net.ipv4.conf.all.arp_announce': '2',
  }, 'Docker\'s three sysctls in the task\'s namespace, conntrack for the masquerade, no ARP for the VIPs on lo');

  const k = r.kernelOf(TASK);
  const callsBefore = k.calls.length;
  const again = await r.lb.syncTask('task1', TASK, desired);
  t.notOk(again.changed, 'the same desired state again: no change');
  t.same(k.calls.slice(callsBefore).map((c) => c.dump), [true, true], 'only read back: one dump of services, one of the service\'s destinations');
  t.equal(again.calls, 3, 'and one address dump of lo');
  t.equal(r.nft.length, 1, 'and no nft run');

  const fewer = { ...desired, vips: [{ vip: VIP, backends: ['10.0.1.3', '10.0.1.5'] }, desired.vips[1]!] };
  const q = await r.lb.syncTask('task1', TASK, fewer);
  t.same(q.removed, [], 'a backend that left is not deleted at once');
  t.match((await r.look(TASK))[`fwmark ${MARK} rr`], [{ address: '10.0.1.3', weight: 1 }, { address: '10.0.1.4', weight: 0 }, { address: '10.0.1.5', weight: 1 }], 'it is quiesced: weight 0, no new connections');
  const d = await r.lb.syncTask('task1', TASK, fewer);
  t.same(d.removed, ['10.0.1.4'], 'with no active connection, it is deleted at the next sync');
  t.same((await r.look(TASK))[`fwmark ${MARK} rr`]!.map((x) => x.address), ['10.0.1.3', '10.0.1.5']);

  await r.lb.syncTask('task1', TASK, { ...desired, vips: [{ vip: VIP, backends: [] }] });
  t.same(await r.look(TASK), {}, 'scaled to none: the service goes');
  t.same([...r.lo.get('pid 4242')!], [], 'and its address leaves lo');
  t.match(r.nft.at(-1)!.script, /refuse ip daddr \{ 10\.0\.1\.2 \}/, 'and the VIP is refused');
});

t.test('the plan comes from what the kernel holds', async (t) => {
  const r = rig();
  const desired = { vips: [{ vip: VIP, backends: ['10.0.1.3', '10.0.1.4'] }], redirects: [] };
  await r.lb.syncTask('task1', TASK, desired);
  const other = await r.other(TASK);
  await other.deleteDestination({ fwmark: MARK }, { address: '10.0.1.3', port: 0 });
  await other.updateDestination({ fwmark: MARK }, { address: '10.0.1.4', port: 0, weight: 5 });
  await other.addService({ protocol: 'tcp', address: '10.0.1.77', port: 80 });
  const fixed = await r.lb.syncTask('task1', TASK, desired);
  t.ok(fixed.changed, 'changes made behind its back are seen');
  t.same(await r.look(TASK), { [`fwmark ${MARK} rr`]: ['10.0.1.3', '10.0.1.4'].map((address) => ({ address, weight: 1, forward: 'masquerade', port: 0 })) }, 'a deleted destination is added again, a changed weight put back, a foreign service removed');

  // A refusal half way: the next sync finishes the job from what the kernel then holds.
  const r2 = rig();
  r2.kernelOf(TASK).failNext(IPVS_CMD.NEW_DEST, 12);
  await t.rejects(r2.lb.syncTask('task1', TASK, desired), { code: 'ENOMEM' }, 'the kernel\'s refusal comes back as a KernelError');
  t.same(Object.values(await r2.look(TASK)), [[]], 'the service was made before it, no destination');
  await r2.lb.syncTask('task1', TASK, desired);
  t.same(Object.values(await r2.look(TASK))[0]!.map((x) => x.address), ['10.0.1.3', '10.0.1.4'], 'the next sync adds only what is missing');
});

t.test('a quiesced backend with connections waits for lbQuiesceMs', async (t) => {
  let now = 1000;
  const r = rig({ now: () => now });
  // The fake reports no connections; the drain rule is what planIpvs is given: see the pure test. Here: the clock.
  const desired = { vips: [{ vip: VIP, backends: ['10.0.1.3', '10.0.1.4'] }], redirects: [] };
  await r.lb.syncTask('t', TASK, desired);
  await r.lb.syncTask('t', TASK, { ...desired, vips: [{ vip: VIP, backends: ['10.0.1.3'] }] });
  now += 10;
  const gone = await r.lb.syncTask('t', TASK, { ...desired, vips: [{ vip: VIP, backends: ['10.0.1.3'] }] });
  t.same(gone.removed, ['10.0.1.4'], 'no active connections: deleted at the next sync');
});

t.test('the ingress sandbox: port marks, SNAT of what IPVS forwards, conntrack on', async (t) => {
  const r = rig();
  const SB: NetnsRef = { name: 'si-abcdef12' };
  await r.lb.syncSandbox('sb', SB, { ports: [{ protocol: 'tcp', port: 8080, backends: ['10.0.0.5', '10.0.0.6'] }, { protocol: 'udp', port: 5300, backends: ['10.0.0.5'] }, { protocol: 'tcp', port: 9000, backends: [] }], ingressIp: '10.0.0.2' });
  t.same(Object.keys(await r.look(SB)).sort(), [`fwmark ${portMark('tcp', 8080)} rr`, `fwmark ${portMark('udp', 5300)} rr`].sort(), 'one service per published port with tasks');
  const script = r.nft[0]!.script.split('\n');
  t.ok(script.includes('add rule ip shoal_ingress lb_mark iifname "eth1" meta mark set meta l4proto . th dport map { tcp . 8080 : 0x00061f90, udp . 5300 : 0x001114b4 }'), 'what the node sends in for a served port is marked');
  t.ok(script.includes('add rule ip shoal_ingress postrouting oifname "eth0" meta mark != 0 snat to 10.0.0.2'), 'what IPVS sends to the tasks leaves from the sandbox\'s ingress address');
  t.ok(script.some((l) => l.includes('refuse iifname "eth1" meta l4proto . th dport { tcp . 9000 }')), 'a port without tasks is refused');
  t.equal(r.sysctls.get('si-abcdef12')!.get('net.ipv4.vs.conntrack'), '1', 'IPVS connections tracked, so SNAT applies to them');
});

t.test('choosing the backend', async (t) => {
  const none = async () => 'this kernel has no ip_vs (modprobe ip_vs failed: FATAL: Module ip_vs not found)';
  const auto = await chooseLoadBalancer('auto', none);
  t.equal(auto.kind, 'nftables');
  t.equal(auto.reason, 'nftables (ip_vs not available: this kernel has no ip_vs (modprobe ip_vs failed: FATAL: Module ip_vs not found))', 'auto without ip_vs says why it is nftables');
  await t.rejects(chooseLoadBalancer('ipvs', none), /--lb-backend ipvs: IPVS is not available on this kernel \(this kernel has no ip_vs.*\); use --lb-backend auto or nftables/, 'an explicit ipvs without it is an error naming the reason');
  t.match(await chooseLoadBalancer('auto', async () => true), { kind: 'ipvs', reason: 'ipvs' });
  t.match(await chooseLoadBalancer('nftables', async () => true), { kind: 'nftables', reason: 'nftables (--lb-backend nftables)' }, 'nftables when asked, even with IPVS there');
  const fake = new FakeIpvsKernel({ loaded: false });
  t.match(await probeIpvs(() => openFakeIpvs(fake), true), /^this kernel has no ip_vs \(the IPVS generic netlink family is not registered\)/, 'no IPVS family: the reason, without the operation');
  t.match(await probeIpvs(async () => { throw new IpvsUnavailableError('resolve generic netlink family IPVS in self', 'x'); }, false), /cannot load modules/, 'a kernel without module support is named as such');
  t.equal(await probeIpvs(() => openFakeIpvs(new FakeIpvsKernel()), true), true, 'IPVS that answers: true');
});
