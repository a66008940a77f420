// The node's VIP load balancer: inside each running local task, one nft table (`shoal_vip`) that
// sends a new connection to the VIP of any service on the task's networks to one of that service's
// backends (backends.ts, the same set DNS answers for tasks.<service>), round robin, and refuses a
// connection to a VIP that has no backend at once instead of letting it time out. DNAT in the task's
// own output hook needs no address, no ARP and no hairpin, and a task reaching its own service
// works (../shared/reference/dataplane.md step 5; docs/decisions/0014). A task's table is replaced
// in one transaction when what it should hold changes; a backend that leaves also has the task's
// tracked flows to it forgotten, so that a client reusing its source port is balanced afresh.
// The same table redirects the ports the task's service publishes, arriving from the routing mesh
// (ingress.ts) on its ingress interface, to their target ports.
import { forgetFlowsTo } from '../kernel/conntrack.js';
import { applyNft, Transaction } from '../kernel/nftables.js';
import type { NetnsRef } from '../kernel/netns.js';
import type { TaskRecord } from '../model/task.js';
import { backendsOn, ingressNetworkId, servicesOn, vipOn } from './backends.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { Reconciler } from './reconciler.js';
import type { TaskNetnsListener } from './tasks/tasks.js';
import { tunables } from '../config/tunables.js';

export const VIP_TABLE = 'shoal_vip';
/** Docker's DNAT priority; nft 1.0.6 refuses the name dstnat on the output hook. */
const DSTNAT = -100;

/** One VIP and the addresses that serve it, sorted; no backends means refuse. */
export interface VipRoute {
  vip: string;
  backends: string[];
}

/** A port the task's service publishes through the routing mesh, arriving on the task's ingress interface. */
export interface Redirect {
  ifname: string;
  protocol: 'tcp' | 'udp';
  published: number;
  target: number;
}

/** The task's published ports as they arrive from the ingress sandboxes, to be sent to the target port (pure). */
export function taskRedirects(view: ClusterView, task: TaskRecord): Redirect[] {
  const ingress = ingressNetworkId(view);
  const i = task.networks.findIndex((n) => n.networkId === ingress);
  if (i < 0) return [];
  const ports = view.tables.serviceEndpoints.get(task.serviceId)?.value.ports ?? [];
  return ports.filter((p) => p.PublishMode === 'ingress' && p.PublishedPort > 0).map((p) => ({ ifname: `eth${i}`, protocol: p.Protocol, published: p.PublishedPort, target: p.TargetPort }));
}

/** The VIPs of every vip-mode service on the networks, in address order (pure). */
export function vipRoutes(view: ClusterView, networkIds: readonly string[]): VipRoute[] {
  const routes = new Map<string, VipRoute>();
  for (const networkId of networkIds) {
    const backends = backendsOn(view, networkId);
    for (const { svc } of servicesOn(view, networkId)) {
      if (svc.spec.EndpointSpec.Mode !== 'vip') continue;
      const vip = vipOn(view, svc.id, networkId);
      if (vip === undefined) continue;
      routes.set(vip, { vip, backends: [...new Set((backends.get(svc.id) ?? []).map((b) => b.ip))].sort(byAddress) });
    }
  }
  return [...routes.values()].sort((a, b) => byAddress(a.vip, b.vip));
}

function byAddress(a: string, b: string): number {
  const n = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}

/**
 * The whole table in one transaction: `add` then `delete` then `add` again replaces it atomically
 * whether or not it existed. A verdict map sends each VIP to its own chain, so the cost of a new
 * connection does not grow with the number of services.
 */
export function vipTransaction(routes: readonly VipRoute[], redirects: readonly Redirect[] = []): Transaction {
  const tx = new Transaction('ip', VIP_TABLE).addTable().deleteTable().addTable();
  if (redirects.length > 0) {
    tx.addChain('published', { type: 'nat', hook: 'prerouting', priority: DSTNAT });
    for (const r of redirects) tx.addRule('published', `iifname "${r.ifname}" ${r.protocol} dport ${r.published} redirect to :${r.target}`);
  }
  tx.addChain('vips', { type: 'nat', hook: 'output', priority: DSTNAT });
  const served = routes.filter((r) => r.backends.length > 0);
  for (const r of served) {
    const chain = chainFor(r.vip);
    tx.addChain(chain);
    const to = r.backends.length === 1 ? r.backends[0]! : `numgen inc mod ${r.backends.length} map { ${r.backends.map((ip, i) => `${i} : ${ip}`).join(', ')} }`;
    tx.addRule(chain, `dnat to ${to}`);
  }
  if (served.length > 0) tx.addRule('vips', `ip daddr vmap { ${served.map((r) => `${r.vip} : goto ${chainFor(r.vip)}`).join(', ')} }`);
  const empty = routes.filter((r) => r.backends.length === 0).map((r) => r.vip);
  if (empty.length > 0) {
    // The filter hook runs after DNAT, so only VIPs nothing translated are still addressed here.
    tx.addChain('refuse', { type: 'filter', hook: 'output', priority: 0 });
    tx.addRule('refuse', `ip daddr { ${empty.join(', ')} } meta l4proto tcp reject with tcp reset`);
    tx.addRule('refuse', `ip daddr { ${empty.join(', ')} } reject`);
  }
  return tx;
}

function chainFor(vip: string): string {
  return `vip_${vip.replaceAll('.', '_')}`;
}

interface Programmed {
  task: TaskRecord;
  netns: NetnsRef;
  /** The routes last applied (as text), undefined until the first success. */
  applied?: string;
  backends: Set<string>;
  /** Work on one task's table runs one at a time. */
  queue: Promise<void>;
}

export class VipController implements TaskNetnsListener {
  private readonly loop: Reconciler;
  private readonly tasks = new Map<string, Programmed>();
  private unsubscribe: (() => void)[] = [];
  /** Table replacements and forgotten flows, for tests and metrics. */
  readonly stats = { applied: 0, failed: 0, flowsForgotten: 0 };

  constructor(private readonly view: ClusterView) {
    this.loop = new Reconciler('vip', async () => this.reconcileAll(), { log: view.log, resyncMs: tunables.vipResyncMs });
  }

  start(): void {
    this.unsubscribe.push(watchCluster(this.view, (t) => [t.networks, t.services, t.serviceEndpoints, t.tasks, t.taskStatus, t.endpoints], () => this.loop.trigger()));
    this.loop.start();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    const pending = [...this.tasks.values()].map((p) => p.queue);
    this.tasks.clear();
    await Promise.all(pending);
  }

  /** Programs the task's table before it is reported running (called by the task controller). */
  async taskRunning(task: TaskRecord, netns: NetnsRef): Promise<void> {
    const p: Programmed = { task, netns, backends: new Set(), queue: Promise.resolve() };
    this.tasks.set(task.id, p);
    await this.enqueue(p, this.routeCache());
  }

  taskStopped(taskId: string): void {
    this.tasks.delete(taskId);
  }

  /** Waits until every task's table reflects the tables as they are now. */
  async settle(): Promise<void> {
    await this.loop.settle();
  }

  private async reconcileAll(): Promise<void> {
    const routes = this.routeCache();
    const all = [...this.tasks.values()];
    for (let i = 0; i < all.length; i += tunables.vipParallelTasks) await Promise.all(all.slice(i, i + tunables.vipParallelTasks).map((p) => this.enqueue(p, routes)));
  }

  /** Routes per network, computed once per pass and shared by the tasks on that network. */
  private routeCache(): (networkIds: string[]) => VipRoute[] {
    const perNetwork = new Map<string, VipRoute[]>();
    return (networkIds) => networkIds.flatMap((id) => {
      if (!perNetwork.has(id)) perNetwork.set(id, vipRoutes(this.view, [id]));
      return perNetwork.get(id)!;
    });
  }

  private enqueue(p: Programmed, routesOf: (networkIds: string[]) => VipRoute[]): Promise<void> {
    p.queue = p.queue.then(() => this.program(p, routesOf));
    return p.queue;
  }

  private async program(p: Programmed, routesOf: (networkIds: string[]) => VipRoute[]): Promise<void> {
    if (this.tasks.get(p.task.id) !== p) return; // stopped meanwhile
    const ingress = ingressNetworkId(this.view);
    const routes = routesOf(p.task.networks.map((n) => n.networkId).filter((id) => id !== ingress));
    const redirects = taskRedirects(this.view, p.task);
    const text = JSON.stringify([routes, redirects]);
    if (p.applied === text) return;
    try {
      await applyNft(p.netns, vipTransaction(routes, redirects));
    } catch (err) {
      if (this.tasks.get(p.task.id) !== p) return; // its namespace went with it
      this.stats.failed++;
      this.view.log.warn({ task: p.task.id, err: (err as Error).message }, 'could not program the task\'s VIP table; retrying at the next pass');
      return;
    }
    this.stats.applied++;
    p.applied = text;
    const now = new Set(routes.flatMap((r) => r.backends));
    const gone = [...p.backends].filter((ip) => !now.has(ip));
    p.backends = now;
    for (const ip of gone) {
      try {
        this.stats.flowsForgotten += await forgetFlowsTo(p.netns, ip);
      } catch (err) {
        this.view.log.debug({ task: p.task.id, ip, err: (err as Error).message }, 'could not forget flows to a removed backend');
      }
    }
  }
}
