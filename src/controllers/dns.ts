// The node's DNS controller: turns the tables into one zone per overlay network (ingress has none,
// as in Docker) and keeps the embedded DNS server answering from them: `<service>` (its VIP, or its
// running tasks' addresses in dnsrr mode), `tasks.<service>`, network aliases, task names and
// hostnames, SRV for published ports, PTR for task addresses, counting the tasks backends.ts counts
// as serving. Every node builds the same zones from the same tables, so answers agree everywhere
// once gossip has converged.
// Listeners: one at 127.0.0.11:53 inside each running task, answering for that task's networks;
// one operator listener on the node (loopback unless configured) answering for all of them.
import { Netns, type NetnsRef } from '../kernel/netns.js';
import type { DnsListener, DnsServer, RecordSet, Zone } from '../dns/index.js';
import type { ServiceRecord } from '../model/service.js';
import { taskName, type TaskRecord } from '../model/task.js';
import { backendsOn, ingressNetworkId, servicesOn, vipOn } from './backends.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { Reconciler } from './reconciler.js';
import type { TaskNetnsListener } from './tasks/tasks.js';
import { tunables } from '../config/tunables.js';

/** Where every task finds its resolver, as in Docker. */
export const TASK_DNS = { address: '127.0.0.11', port: 53 };

export interface DnsControllerOptions {
  server: DnsServer;
  /** The operator listener ("ip:port"), in the agent's own namespace; undefined for none. */
  operatorListen?: string;
}

/** The zone of one network from the tables (pure; exported for tests). */
export function buildZone(view: ClusterView, networkId: string, networkName: string): Zone {
  const names = new Map<string, RecordSet>();
  const ptr = new Map<string, string>();
  const add = (name: string, rs: RecordSet) => {
    const key = name.toLowerCase();
    const cur = names.get(key);
    if (!cur) names.set(key, rs);
    else names.set(key, { a: [...new Set([...cur.a, ...rs.a])].sort(), srv: [...(cur.srv ?? []), ...(rs.srv ?? [])], shuffle: cur.shuffle || rs.shuffle });
  };
  const backends = backendsOn(view, networkId);
  for (const { svc, aliases } of servicesOn(view, networkId)) {
    const running = backends.get(svc.id) ?? [];
    const tasks = running.map((b) => b.task);
    const ips = [...new Set(running.map((b) => b.ip))].sort();
    const vip = vipOn(view, svc.id, networkId);
    const serviceRecords: RecordSet = svc.spec.EndpointSpec.Mode === 'vip' ? { a: vip ? [vip] : [] } : { a: ips, shuffle: true };
    const srv = srvRecords(view, svc, tasks);
    for (const name of [svc.spec.Name, ...aliases]) {
      add(name, serviceRecords);
      add(`tasks.${name}`, { a: ips, shuffle: true });
      for (const s of srv) add(`_${s.label}._${s.protocol}.${name}`, { a: [], srv: s.records });
    }
    for (const { task, ip } of running) {
      const name = taskName(task);
      add(name, { a: [ip] });
      add(task.spec.ContainerSpec.Hostname ?? task.id.slice(0, 12), { a: [ip] });
      ptr.set(ip, `${name}.${networkName}`);
    }
  }
  return { id: networkId, name: networkName, names, ptr };
}

/**
 * SRV for each published port, under `_<port name or target port>._<protocol>.<service>`: in vip
 * mode one record pointing at the service name (the VIP) on the target port, in dnsrr mode one per
 * task pointing at its task name.
 */
function srvRecords(view: ClusterView, svc: ServiceRecord, tasks: TaskRecord[]): { label: string; protocol: string; records: NonNullable<RecordSet['srv']> }[] {
  const ports = view.tables.serviceEndpoints.get(svc.id)?.value.ports ?? [];
  return ports.filter((p) => p.PublishedPort > 0).map((p) => ({
    label: p.Name ?? String(p.TargetPort),
    protocol: p.Protocol,
    records: svc.spec.EndpointSpec.Mode === 'vip'
      ? [{ priority: 0, weight: 0, port: p.TargetPort, target: svc.spec.Name }]
      : tasks.map((x) => ({ priority: 0, weight: 0, port: p.TargetPort, target: taskName(x) })),
  }));
}

/** A zone's content as text, to skip set() (and cache invalidation) when nothing changed. */
function fingerprint(z: Zone): string {
  return JSON.stringify([z.name, [...z.names.entries()].sort(), [...z.ptr.entries()].sort()]);
}

export class DnsController implements TaskNetnsListener {
  private readonly loop: Reconciler;
  private readonly prints = new Map<string, string>();
  private readonly taskListeners = new Map<string, Promise<DnsListener | undefined>>();
  private operator: DnsListener | undefined;
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly view: ClusterView,
    private readonly opts: DnsControllerOptions,
  ) {
    this.loop = new Reconciler('dns', async () => this.rebuild(), { log: view.log, resyncMs: tunables.dnsResyncMs });
  }

  async start(): Promise<void> {
    this.unsubscribe.push(watchCluster(this.view, (t) => [t.networks, t.services, t.serviceEndpoints, t.tasks, t.taskStatus, t.endpoints], () => this.loop.trigger()));
    this.loop.start();
    await this.loop.settle();
    if (this.opts.operatorListen) {
      const i = this.opts.operatorListen.lastIndexOf(':');
      this.operator = await this.opts.server.listen({ address: this.opts.operatorListen.slice(0, i), port: Number(this.opts.operatorListen.slice(i + 1)), view: this.operatorView() });
      this.view.log.info({ listen: this.opts.operatorListen }, 'operator DNS listener ready');
    }
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    const all = [...this.taskListeners.values()];
    this.taskListeners.clear();
    for (const l of await Promise.all(all)) await l?.close();
    await this.operator?.close();
    this.operator = undefined;
  }

  /** Opens the task's resolver inside its namespace (called by the task controller once it is plumbed). */
  async taskRunning(task: TaskRecord, netns: NetnsRef): Promise<void> {
    this.taskStopped(task.id);
    const opening = (async () => {
      const ns = Netns.open(netns);
      try {
        return await this.opts.server.listen({ netns: ns, address: TASK_DNS.address, port: TASK_DNS.port, view: this.taskView(task) });
      } finally {
        ns.close();
      }
    })();
    const kept = opening.catch((err: Error) => {
      this.view.log.warn({ task: task.id, err: err.message }, 'could not open the task\'s DNS listener');
      return undefined;
    });
    this.taskListeners.set(task.id, kept);
    await kept;
  }

  taskStopped(taskId: string): void {
    const l = this.taskListeners.get(taskId);
    if (!l) return;
    this.taskListeners.delete(taskId);
    void l.then((x) => x?.close());
  }

  /** Waits until the zones reflect the tables as they are now. */
  settle(): Promise<void> {
    return this.loop.settle();
  }

  private taskView(task: TaskRecord): string[] {
    const ingress = this.ingressId();
    return task.networks.map((n) => n.networkId).filter((id) => id !== ingress);
  }

  private operatorView(): string[] {
    const ingress = this.ingressId();
    return this.view.tables.networks.list().map((e) => e.value).filter((n) => n.id !== ingress).sort((a, b) => a.name.localeCompare(b.name)).map((n) => n.id);
  }

  private ingressId(): string | undefined {
    return ingressNetworkId(this.view);
  }

  private rebuild(): void {
    const zones = this.opts.server.zones;
    const nets = this.view.tables.networks.list().map((e) => e.value).filter((n) => !n.ingress);
    const keep = new Set(nets.map((n) => n.id));
    for (const id of [...this.prints.keys()]) {
      if (keep.has(id)) continue;
      zones.delete(id);
      this.prints.delete(id);
    }
    for (const n of nets) {
      const zone = buildZone(this.view, n.id, n.name);
      const print = fingerprint(zone);
      if (this.prints.get(n.id) === print) continue;
      zones.set(zone);
      this.prints.set(n.id, print);
    }
    this.operator?.setView(this.operatorView());
  }
}
