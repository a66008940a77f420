// The IPVS load balancer, as Docker builds it: nftables marks a new connection to a VIP (in the
// task's output hook) or to a published port (in the ingress sandbox's prerouting hook) with a
// firewall mark derived from it (lb.ts), and an IPVS virtual service on that mark sends it round
// robin to the backends, masqueraded, and SNATed to the namespace's own address on the way out.
// In a task, each served VIP is also a /32 address on lo (as Docker's first IPVS design put it on
// the container): IPVS keeps a connection's original route when the backend it picks is the task
// itself, so without a local VIP a task could not reach itself through its service (decision 0021). Each sync reads the namespace's IPVS services and
// destinations back over generic netlink, plans the difference (planIpvs, pure) and sends only
// that. A backend that leaves is first given weight 0 (no new connections, established ones
// stay) and deleted once it has no active connection or lbQuiesceMs has passed; with
// expire_nodest_conn its remaining flows then end at their next packet. The nftables table of the
// namespace (marks, redirects, refusals, the sandbox's SNAT) is nftables.ts's NftTables.
import { tunables } from '../../config/tunables.js';
import { Ipvs, IPVS_SYSCTLS, setIpvsSysctls, type IpvsDestination, type IpvsService, type IpvsServiceKey, type SysctlWriter } from '../../kernel/ipvs.js';
import { withNetns, type NetnsRef } from '../../kernel/netns.js';
import { Transaction } from '../../kernel/nftables.js';
import { syncLoopbackVips, type LoopbackVips } from './loopback.js';
import { portMark, vipMark, type LoadBalancer, type PublishedPort, type SandboxLbState, type SyncReport, type TaskLbState, type VipRoute } from './lb.js';
import { INGRESS_TABLE, MANGLE, NftTables, portKey, refusePorts, refuseVips, SRCNAT, taskTableStart, type ApplyNft, type ReadNft } from './nftables.js';

/** One IPVS virtual service a namespace should hold: a firewall mark and its backends' addresses. */
export interface IpvsFront {
  fwmark: number;
  backends: readonly string[];
}

/** What the kernel holds for one service, as read back. */
export interface IpvsActual {
  service: IpvsService;
  destinations: IpvsDestination[];
}

export type IpvsOp =
  | { op: 'add-service'; fwmark: number }
  | { op: 'update-service'; fwmark: number }
  | { op: 'delete-service'; service: IpvsService }
  | { op: 'add-destination'; fwmark: number; address: string }
  | { op: 'restore-destination'; fwmark: number; address: string }
  | { op: 'quiesce-destination'; fwmark: number; address: string }
  | { op: 'delete-destination'; fwmark: number; address: string };

/** Every service is an fwmark service, round robin, no persistence; every destination masquerades with weight 1 on the packet's own port. */
const SERVICE = { scheduler: 'rr', flags: 0, timeout: 0 } as const;
const DEST = { port: 0, forward: 'masquerade', weight: 1, upperThreshold: 0, lowerThreshold: 0 } as const;

const isOurs = (s: IpvsService): s is IpvsService & { fwmark: number } => 'fwmark' in s && s.family === 4;

/**
 * The operations that turn `actual` into `desired`, in an order the kernel accepts (a service
 * before its destinations). `drained(fwmark, address)` says whether a weight-0 destination may go.
 * Services in the namespace that are not desired (or not ours in shape) are deleted: the
 * namespace is the load balancer's alone.
 */
export function planIpvs(actual: readonly IpvsActual[], desired: readonly IpvsFront[], drained: (fwmark: number, d: IpvsDestination) => boolean): IpvsOp[] {
  const ops: IpvsOp[] = [];
  const want = new Map(desired.map((f) => [f.fwmark, f]));
  const have = new Map<number, IpvsActual>();
  for (const a of actual) {
    if (isOurs(a.service) && want.has(a.service.fwmark)) have.set(a.service.fwmark, a);
    else ops.push({ op: 'delete-service', service: a.service });
  }
  for (const f of desired) {
    const a = have.get(f.fwmark);
    if (!a) {
      ops.push({ op: 'add-service', fwmark: f.fwmark });
      for (const address of f.backends) ops.push({ op: 'add-destination', fwmark: f.fwmark, address });
      continue;
    }
    const s = a.service;
    if (s.scheduler !== SERVICE.scheduler || s.flags !== SERVICE.flags || s.timeout !== SERVICE.timeout) ops.push({ op: 'update-service', fwmark: f.fwmark });
    const wanted = new Set(f.backends);
    const held = new Map(a.destinations.map((d) => [d.address, d]));
    for (const address of f.backends) {
      const d = held.get(address);
      if (!d) ops.push({ op: 'add-destination', fwmark: f.fwmark, address });
      else if (d.port !== 0) {
        // The port is part of a destination's identity: a wrong one is replaced, not edited.
        ops.push({ op: 'delete-destination', fwmark: f.fwmark, address }, { op: 'add-destination', fwmark: f.fwmark, address });
      } else if (d.weight !== DEST.weight || d.forward !== DEST.forward || d.upperThreshold !== 0 || d.lowerThreshold !== 0) {
        ops.push({ op: 'restore-destination', fwmark: f.fwmark, address });
      }
    }
    for (const d of a.destinations) {
      if (wanted.has(d.address)) continue;
      if (d.weight > 0) ops.push({ op: 'quiesce-destination', fwmark: f.fwmark, address: d.address });
      else if (drained(f.fwmark, d)) ops.push({ op: 'delete-destination', fwmark: f.fwmark, address: d.address });
    }
  }
  return ops;
}

/** Only the identity of a service as read back (what a delete sends). */
function serviceKey(s: IpvsService): IpvsServiceKey {
  return 'fwmark' in s ? { fwmark: s.fwmark, family: s.family } : { protocol: s.protocol, address: s.address, port: s.port };
}

/** The task's IPVS services: one per VIP that has backends (a VIP without any is refused by nftables). */
export function taskFronts(vips: readonly VipRoute[]): IpvsFront[] {
  return vips.filter((r) => r.backends.length > 0).map((r) => ({ fwmark: vipMark(r.vip), backends: r.backends }));
}

export function sandboxFronts(ports: readonly PublishedPort[]): IpvsFront[] {
  return ports.filter((p) => p.backends.length > 0).map((p) => ({ fwmark: portMark(p.protocol, p.port), backends: p.backends }));
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * The task's table with IPVS: redirects, a mark on new connections to a served VIP, the masquerade
 * of what IPVS sends to another task (its source would be the VIP, which is on lo), refusals.
 */
export function ipvsTaskTransaction(vips: readonly VipRoute[], redirects: TaskLbState['redirects']): Transaction {
  const tx = taskTableStart(redirects);
  const served = vips.filter((r) => r.backends.length > 0);
  if (served.length > 0) {
    tx.addChain('lb_mark', { type: 'filter', hook: 'output', priority: MANGLE });
    tx.addRule('lb_mark', `meta mark set ip daddr map { ${served.map((r) => `${r.vip} : ${hex(vipMark(r.vip))}`).join(', ')} }`);
    tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT });
    tx.addRule('postrouting', 'oifname != "lo" meta mark != 0 masquerade');
  }
  refuseVips(tx, vips);
  return tx;
}

/**
 * The sandbox's table with IPVS: a mark on what arrives from the node for a served published port
 * (IPVS takes it in LOCAL_IN, the port being the sandbox's own address), SNAT of what IPVS sends
 * on to the tasks (marked), refusals.
 */
export function ipvsSandboxTransaction(ports: readonly PublishedPort[], ingressIp: string): Transaction {
  const tx = new Transaction('ip', INGRESS_TABLE).addTable().deleteTable().addTable();
  const served = ports.filter((p) => p.backends.length > 0);
  if (served.length > 0) {
    tx.addChain('lb_mark', { type: 'filter', hook: 'prerouting', priority: MANGLE });
    tx.addRule('lb_mark', `iifname "eth1" meta mark set meta l4proto . th dport map { ${served.map((p) => `${portKey(p)} : ${hex(portMark(p.protocol, p.port))}`).join(', ')} }`);
  }
  tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT }).addRule('postrouting', `oifname "eth0" meta mark != 0 snat to ${ingressIp}`);
  refusePorts(tx, ports);
  return tx;
}

/**
 * Sysctls of the ingress sandbox besides Docker's three: conntrack=1 keeps IPVS's connections in
 * netfilter's conntrack, so that the SNAT in postrouting applies to them (Docker's ingress sandbox
 * sets it for its `-m ipvs --ipvs ... -j SNAT` rule).
 */
export const SANDBOX_SYSCTLS = [{ key: 'net.ipv4.vs.conntrack', value: 1, why: 'IPVS connections go through conntrack, so the sandbox can SNAT them' }];

/**
 * And in a task: conntrack for its masquerade, and ARP that neither answers for the VIPs on lo
 * (arp_ignore=1: only for addresses of the interface asked on) nor uses them as a source
 * (arp_announce=2), since every task on the network holds the same VIPs.
 */
export const TASK_SYSCTLS = [
  SANDBOX_SYSCTLS[0]!,
  { key: 'net.ipv4.conf.all.arp_ignore', value: 1, why: 'do not answer ARP for the VIPs on lo' },
  { key: 'net.ipv4.conf.all.arp_announce', value: 2, why: 'never use a VIP on lo as the source of an ARP request' },
];

export interface IpvsLbDeps {
  /** IPVS in the namespace; closed after each sync. */
  open: (ns: NetnsRef) => Promise<Ipvs>;
  applyNft?: ApplyNft;
  readNft?: ReadNft;
  /** Writes sysctls in the namespace (default: through a handle on it). */
  sysctls?: (ns: NetnsRef, fn: (w: SysctlWriter) => void) => Promise<void>;
  /** Default: syncLoopbackVips over rtnetlink. */
  loopback?: LoopbackVips;
  now?: () => number;
}

export class IpvsLb implements LoadBalancer {
  readonly kind = 'ipvs' as const;
  private readonly tables: NftTables;
  /** When each weight-0 destination was first seen so, per namespace key: "fwmark/address" -> ms. */
  private readonly quiescedSince = new Map<string, Map<string, number>>();
  /** Namespaces whose sysctls are set. */
  private readonly prepared = new Set<string>();
  private readonly now: () => number;
  private readonly sysctls: NonNullable<IpvsLbDeps['sysctls']>;
  private readonly loopback: LoopbackVips;

  constructor(private readonly deps: IpvsLbDeps) {
    // IPVS expires the flows of a deleted destination (expire_nodest_conn); no conntrack -D.
    this.tables = new NftTables({ ...(deps.applyNft ? { apply: deps.applyNft } : {}), ...(deps.readNft ? { read: deps.readNft } : {}), forgetFlows: undefined, ...(deps.now ? { now: deps.now } : {}) });
    this.now = deps.now ?? Date.now;
    this.sysctls = deps.sysctls ?? ((ns, fn) => withNetns(ns, (h) => fn(h)));
    this.loopback = deps.loopback ?? syncLoopbackVips;
  }

  async syncTask(key: string, ns: NetnsRef, desired: TaskLbState): Promise<SyncReport> {
    const ipvs = await this.syncIpvs(key, ns, taskFronts(desired.vips), TASK_SYSCTLS);
    const nft = await this.tables.sync(key, ns, ipvsTaskTransaction(desired.vips, desired.redirects), []);
    const lo = await this.loopback(ns, desired.vips.filter((r) => r.backends.length > 0).map((r) => r.vip));
    return { changed: ipvs.changed || nft.changed || lo > 1, removed: ipvs.removed, calls: ipvs.calls + nft.calls + lo };
  }

  async syncSandbox(key: string, ns: NetnsRef, desired: SandboxLbState): Promise<SyncReport> {
    const ipvs = await this.syncIpvs(key, ns, sandboxFronts(desired.ports), SANDBOX_SYSCTLS);
    const nft = await this.tables.sync(key, ns, ipvsSandboxTransaction(desired.ports, desired.ingressIp), []);
    return { changed: ipvs.changed || nft.changed, removed: ipvs.removed, calls: ipvs.calls + nft.calls };
  }

  forget(key: string): void {
    this.tables.forget(key);
    this.quiescedSince.delete(key);
    this.prepared.delete(key);
  }

  /** Reads the namespace's IPVS back, plans, applies the plan. */
  private async syncIpvs(key: string, ns: NetnsRef, desired: IpvsFront[], extraSysctls: typeof SANDBOX_SYSCTLS): Promise<SyncReport> {
    if (!this.prepared.has(key) && desired.length > 0) {
      await this.sysctls(ns, (w) => setIpvsSysctls(w, [...IPVS_SYSCTLS, ...extraSysctls]));
      this.prepared.add(key);
    }
    const ipvs = await this.deps.open(ns);
    try {
      let calls = 1;
      const actual: IpvsActual[] = [];
      for (const service of await ipvs.listServices()) {
        calls++;
        actual.push({ service, destinations: 'fwmark' in service ? await ipvs.listDestinations({ fwmark: service.fwmark }) : [] });
      }
      // Weight-0 destinations still held, and since when: what is not seen again is dropped.
      const before = this.quiescedSince.get(key) ?? new Map<string, number>();
      const since = new Map<string, number>();
      this.quiescedSince.set(key, since);
      const now = this.now();
      const drained = (fwmark: number, d: IpvsDestination) => {
        const id = `${fwmark}/${d.address}`;
        since.set(id, before.get(id) ?? now);
        return d.activeConnections === 0 || now - since.get(id)! >= tunables.lbQuiesceMs;
      };
      const ops = planIpvs(actual, desired, drained);
      const removed: string[] = [];
      for (const o of ops) {
        calls++;
        switch (o.op) {
          case 'add-service': await ipvs.addService({ fwmark: o.fwmark, ...SERVICE }); break;
          case 'update-service': await ipvs.updateService({ fwmark: o.fwmark, ...SERVICE }); break;
          case 'delete-service': await ipvs.deleteService(serviceKey(o.service)); break;
          case 'add-destination': await ipvs.addDestination({ fwmark: o.fwmark }, { address: o.address, ...DEST }); break;
          case 'restore-destination': await ipvs.updateDestination({ fwmark: o.fwmark }, { address: o.address, ...DEST }); break;
          case 'quiesce-destination': await ipvs.updateDestination({ fwmark: o.fwmark }, { address: o.address, ...DEST, weight: 0 }); since.set(`${o.fwmark}/${o.address}`, now); break;
          case 'delete-destination': await ipvs.deleteDestination({ fwmark: o.fwmark }, { address: o.address, port: 0 }); since.delete(`${o.fwmark}/${o.address}`); removed.push(o.address); break;
        }
      }
      return { changed: ops.length > 0, removed, calls };
    } finally {
      ipvs.close();
    }
  }
}
