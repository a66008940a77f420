// The nftables load balancer (decisions 0014, 0015): in a task, DNAT in the output hook to one of a
// VIP's backends, round robin by `numgen inc`, through a verdict map on the VIP; in the ingress
// sandbox, the same over (protocol, port) with SNAT to the sandbox's ingress address. Each
// namespace holds one table, replaced whole in one transaction when what it should hold changes or
// when it no longer reads back as it did once applied (NftTables), and the namespace's tracked flows to a backend that left are forgotten (conntrack -D), which
// IPVS's expire_nodest_conn does for the other backend. Also the parts both backends share:
// the redirect of published ports inside tasks, and refusing a VIP or port that has no backend.
import { forgetFlowsTo } from '../../kernel/conntrack.js';
import { tunables } from '../../config/tunables.js';
import { isKernelError } from '../../kernel/errors.js';
import { applyNft, readTable, Transaction } from '../../kernel/nftables.js';
import type { NetnsRef } from '../../kernel/netns.js';
import { syncLoopbackVips, type LoopbackVips } from './loopback.js';
import type { LoadBalancer, PublishedPort, Redirect, SandboxLbState, SyncReport, TaskLbState, VipRoute } from './lb.js';

export const VIP_TABLE = 'shoal_vip';
export const INGRESS_TABLE = 'shoal_ingress';
/** Docker's DNAT priority; nft 1.0.6 refuses the name dstnat on the output hook. */
export const DSTNAT = -100;
export const SRCNAT = 100;
/** iptables' mangle priority: marks are set before IPVS looks at a packet (LOCAL_OUT -99, LOCAL_IN 98). */
export const MANGLE = -150;

export const portKey = (p: { protocol: string; port: number }) => `${p.protocol} . ${p.port}`;

/** A new task table: replaced whole (add, delete, add), with the redirects of published ports. */
export function taskTableStart(redirects: readonly Redirect[]): Transaction {
  const tx = new Transaction('ip', VIP_TABLE).addTable().deleteTable().addTable();
  if (redirects.length > 0) {
    tx.addChain('published', { type: 'nat', hook: 'prerouting', priority: DSTNAT });
    for (const r of redirects) tx.addRule('published', `iifname "${r.ifname}" ${r.protocol} dport ${r.published} redirect to :${r.target}`);
  }
  return tx;
}

/** VIPs without backends are refused at once (TCP reset, else port unreachable); the filter hook runs after DNAT and IPVS. */
export function refuseVips(tx: Transaction, routes: readonly VipRoute[]): void {
  const empty = routes.filter((r) => r.backends.length === 0).map((r) => r.vip);
  if (empty.length === 0) return;
  tx.addChain('refuse', { type: 'filter', hook: 'output', priority: 0 });
  tx.addRule('refuse', `ip daddr { ${empty.join(', ')} } meta l4proto tcp reject with tcp reset`);
  tx.addRule('refuse', `ip daddr { ${empty.join(', ')} } reject`);
}

/** A published port without tasks is refused at once in the sandbox. */
export function refusePorts(tx: Transaction, ports: readonly PublishedPort[]): void {
  const empty = ports.filter((p) => p.backends.length === 0);
  if (empty.length === 0) return;
  tx.addChain('refuse', { type: 'filter', hook: 'forward', priority: 0 });
  tx.addRule('refuse', `iifname "eth1" meta l4proto . th dport { ${empty.map(portKey).join(', ')} } meta l4proto tcp reject with tcp reset`);
  tx.addRule('refuse', `iifname "eth1" meta l4proto . th dport { ${empty.map(portKey).join(', ')} } reject`);
}

function roundRobin(backends: readonly string[]): string {
  return backends.length === 1 ? backends[0]! : `numgen inc mod ${backends.length} map { ${backends.map((ip, i) => `${i} : ${ip}`).join(', ')} }`;
}

/**
 * The whole task table in one transaction: `add` then `delete` then `add` again replaces it atomically
 * whether or not it existed. A verdict map sends each VIP to its own chain, so the cost of a new
 * connection does not grow with the number of services.
 */
export function vipTransaction(routes: readonly VipRoute[], redirects: readonly Redirect[] = []): Transaction {
  const tx = taskTableStart(redirects);
  tx.addChain('vips', { type: 'nat', hook: 'output', priority: DSTNAT });
  const served = routes.filter((r) => r.backends.length > 0);
  for (const r of served) {
    const chain = chainFor(r.vip);
    tx.addChain(chain);
    tx.addRule(chain, `dnat to ${roundRobin(r.backends)}`);
  }
  if (served.length > 0) tx.addRule('vips', `ip daddr vmap { ${served.map((r) => `${r.vip} : goto ${chainFor(r.vip)}`).join(', ')} }`);
  refuseVips(tx, routes);
  return tx;
}

function chainFor(vip: string): string {
  return `vip_${vip.replaceAll('.', '_')}`;
}

/** The sandbox's table: round robin to the tasks, SNAT to the sandbox's ingress address, refuse when none. */
export function sandboxTransaction(ports: readonly PublishedPort[], ingressIp: string): Transaction {
  const tx = new Transaction('ip', INGRESS_TABLE).addTable().deleteTable().addTable();
  tx.addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: DSTNAT });
  const served = ports.filter((p) => p.backends.length > 0);
  for (const p of served) {
    const chain = `to_${p.protocol}_${p.port}`;
    tx.addChain(chain);
    tx.addRule(chain, `dnat to ${roundRobin(p.backends)}`);
  }
  if (served.length > 0) tx.addRule('prerouting', `iifname "eth1" meta l4proto . th dport vmap { ${served.map((p) => `${portKey(p)} : goto to_${p.protocol}_${p.port}`).join(', ')} }`);
  tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT }).addRule('postrouting', `oifname "eth0" ct status dnat snat to ${ingressIp}`);
  refusePorts(tx, ports);
  return tx;
}

export type ApplyNft = (ns: NetnsRef, tx: Transaction) => Promise<void>;
/** The table as the kernel holds it, in a form that compares equal when the contents do; undefined when there is none. */
export type ReadNft = (ns: NetnsRef, table: string) => Promise<string | undefined>;
export type ForgetFlows = (ns: NetnsRef, ip: string) => Promise<number>;

/** `nft -j list table`, without the handles (which change at every replacement). */
export async function readNftTable(ns: NetnsRef, table: string): Promise<string | undefined> {
  let t;
  try {
    t = await readTable(ns, 'ip', table);
  } catch (err) {
    if (isKernelError(err, 'ENOENT')) return undefined;
    throw err;
  }
  const strip = ({ handle: _h, ...rest }: { handle: number }) => rest;
  return JSON.stringify({ chains: t.chains.map(strip), rules: t.rules.map(strip), sets: t.sets.map(strip), maps: t.maps.map(strip) });
}

/** What was applied to one namespace's table, what the kernel showed right after, and the backends it balanced to. */
interface Applied {
  text: string;
  held: string | undefined;
  verifiedAt: number;
  backends: Set<string>;
}

export interface NftTablesDeps {
  apply?: ApplyNft;
  read?: ReadNft;
  /** undefined: flows are not forgotten (IPVS expires its own). */
  forgetFlows?: ForgetFlows | undefined;
  now?: () => number;
}

/**
 * One table per namespace, replaced whole in one transaction when what it should hold changes. The
 * reference for "holds what it should" is the kernel's own listing of the table read right after it
 * was applied (so nft's way of printing a rule back never has to be predicted): a later listing that
 * differs, or no table at all, means the namespace changed behind our back, and the table is
 * applied again. The desired text unchanged, the listing is compared at most every lbVerifyMs, so
 * an unchanged namespace costs no process between checks. An agent restart (nothing remembered)
 * applies each table once.
 */
export class NftTables {
  private readonly applied = new Map<string, Applied>();
  /** Flows forgotten and tables found changed behind our back, for tests and metrics. */
  flowsForgotten = 0;
  drifted = 0;
  private readonly apply: ApplyNft;
  private readonly read: ReadNft;
  private readonly forgetFlows: ForgetFlows | undefined;
  private readonly now: () => number;

  constructor(deps: NftTablesDeps = {}) {
    this.apply = deps.apply ?? applyNft;
    this.read = deps.read ?? readNftTable;
    this.forgetFlows = 'forgetFlows' in deps ? deps.forgetFlows : forgetFlowsTo;
    this.now = deps.now ?? Date.now;
  }

  /** Applies tx when its text changed or the table no longer reads back as applied; forgets the flows to backends that left. */
  async sync(key: string, ns: NetnsRef, tx: Transaction, backends: Iterable<string>): Promise<SyncReport> {
    const text = tx.render();
    const before = this.applied.get(key);
    const now = this.now();
    let calls = 0;
    if (before?.text === text) {
      if (now - before.verifiedAt < tunables.lbVerifyMs) return { changed: false, removed: [], calls };
      calls++;
      if ((await this.read(ns, tx.table)) === before.held) {
        before.verifiedAt = now;
        return { changed: false, removed: [], calls };
      }
      this.drifted++;
    }
    await this.apply(ns, tx);
    const held = await this.read(ns, tx.table);
    calls += 2;
    const next = new Set(backends);
    this.applied.set(key, { text, held, verifiedAt: now, backends: next });
    const removed = [...(before?.backends ?? [])].filter((ip) => !next.has(ip));
    if (this.forgetFlows) {
      for (const ip of removed) {
        calls++;
        this.flowsForgotten += await this.forgetFlows(ns, ip).catch(() => 0);
      }
    }
    return { changed: true, removed, calls };
  }

  forget(key: string): void {
    this.applied.delete(key);
  }
}

export class NftablesLb implements LoadBalancer {
  readonly kind = 'nftables' as const;
  private readonly tables: NftTables;
  private readonly loopback: LoopbackVips;
  /** Tasks whose lo has been cleared of VIPs the IPVS backend may have left there (an agent that ran with it before). */
  private readonly cleared = new Set<string>();

  constructor(deps: NftTablesDeps & { loopback?: LoopbackVips } = {}) {
    this.tables = new NftTables(deps);
    this.loopback = deps.loopback ?? syncLoopbackVips;
  }

  async syncTask(key: string, ns: NetnsRef, desired: TaskLbState): Promise<SyncReport> {
    // A VIP left on lo would make connections to it local, and refused: once per task, none there.
    let calls = 0;
    if (!this.cleared.has(key)) {
      calls += await this.loopback(ns, []);
      this.cleared.add(key);
    }
    const r = await this.tables.sync(key, ns, vipTransaction(desired.vips, desired.redirects), desired.vips.flatMap((v) => v.backends));
    return { ...r, calls: r.calls + calls };
  }

  syncSandbox(key: string, ns: NetnsRef, desired: SandboxLbState): Promise<SyncReport> {
    return this.tables.sync(key, ns, sandboxTransaction(desired.ports, desired.ingressIp), desired.ports.flatMap((p) => p.backends));
  }

  forget(key: string): void {
    this.tables.forget(key);
    this.cleared.delete(key);
  }
}
