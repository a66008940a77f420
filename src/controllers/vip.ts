// The node's VIP load balancer: inside each running local task, a new connection to the VIP of any
// service on the task's networks goes to one of that service's backends (backends.ts, the same set
// DNS answers for tasks.<service>), round robin, and a connection to a VIP that has no backend is
// refused at once instead of timing out. This controller computes what each task's namespace should
// hold (its VIPs with their backends, and the redirects of the ports its service publishes, arriving
// from the routing mesh on its ingress interface); the node's load-balancer backend (lb/: nftables
// DNAT, or IPVS) makes the namespace hold it, before the task is reported running and at every
// change or resync (../shared/reference/dataplane.md step 5; docs/decisions/0014, 0021).
import type { NetnsRef } from '../kernel/netns.js';
import type { TaskRecord } from '../model/task.js';
import { backendsOn, ingressNetworkId, servicesOn, vipOn } from './backends.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { byAddress, type LoadBalancer, type Redirect, type VipRoute } from './lb/lb.js';
import { Reconciler } from './reconciler.js';
import type { TaskNetnsListener } from './tasks/tasks.js';
import { tunables } from '../config/tunables.js';

export type { Redirect, VipRoute } from './lb/lb.js';
export { VIP_TABLE, vipTransaction } from './lb/nftables.js';

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

interface Programmed {
  task: TaskRecord;
  netns: NetnsRef;
  /** Work on one task's namespace runs one at a time. */
  queue: Promise<void>;
}

export class VipController implements TaskNetnsListener {
  private readonly loop: Reconciler;
  private readonly tasks = new Map<string, Programmed>();
  private unsubscribe: (() => void)[] = [];
  /** Syncs that changed the kernel, syncs that failed, backends removed, kernel calls or processes: for tests and metrics. */
  readonly stats = { applied: 0, failed: 0, backendsRemoved: 0, calls: 0 };

  constructor(
    private readonly view: ClusterView,
    private readonly lb: LoadBalancer,
  ) {
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
    for (const id of this.tasks.keys()) this.lb.forget(id);
    this.tasks.clear();
    await Promise.all(pending);
  }

  /** Programs the task's namespace before it is reported running (called by the task controller). */
  async taskRunning(task: TaskRecord, netns: NetnsRef): Promise<void> {
    const p: Programmed = { task, netns, queue: Promise.resolve() };
    this.lb.forget(task.id);
    this.tasks.set(task.id, p);
    await this.enqueue(p, this.routeCache());
  }

  taskStopped(taskId: string): void {
    this.tasks.delete(taskId);
    this.lb.forget(taskId);
  }

  /** Waits until every task's namespace reflects the tables as they are now. */
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
    const vips = routesOf(p.task.networks.map((n) => n.networkId).filter((id) => id !== ingress));
    const redirects = taskRedirects(this.view, p.task);
    try {
      const r = await this.lb.syncTask(p.task.id, p.netns, { vips, redirects });
      this.stats.calls += r.calls;
      this.stats.backendsRemoved += r.removed.length;
      if (r.changed) this.stats.applied++;
    } catch (err) {
      if (this.tasks.get(p.task.id) !== p) return; // its namespace went with it
      this.stats.failed++;
      this.view.log.warn({ task: p.task.id, lb: this.lb.kind, err: (err as Error).message }, 'could not program the task\'s load balancer; retrying at the next pass');
    }
  }
}
