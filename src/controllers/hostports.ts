// Host-mode publishing (`--publish published=P,target=T,mode=host`): P answers only on the nodes
// that run a task of the service, and goes straight to the local task, with the client's source
// address kept (Docker binds the port on the task's docker_gwbridge endpoint; see
// ../shared/reference/libnetwork.md "Publish modes" and docs/decisions/0023). One nft table in the
// node's own namespace, `shoal_hostports`: a connection to P on any local address is DNATed to the
// task's address on the egress bridge and port T, from outside (prerouting) and from the node itself
// (output; route_localnet and masquerade make 127.0.0.1 work). No sandbox, no second NAT.
//
// A task's ports are claimed when its namespace is ready, before it is reported running (this is a
// TaskNetnsListener, first in the task controller's list): a port already held on this node — by
// another local task, by the routing mesh, or by a socket listening in the node's namespace — makes
// the claim throw, and the task controller rejects the task with that message (`service ps` ERROR).
// The leader keeps host-mode tasks of the cluster apart before that (scheduler.ts); this is the
// node's own check, the only one that can see its sockets.
import { forgetFlowsTo } from '../kernel/conntrack.js';
import { withNetns, type NetnsRef } from '../kernel/netns.js';
import { applyNft, listTables, Transaction } from '../kernel/nftables.js';
import { boundSockets, type BoundSocket } from '../kernel/sockets.js';
import { portKey } from '../model/ports.js';
import type { PortConfig } from '../model/service.js';
import { isTerminal, taskName, type TaskRecord } from '../model/task.js';
import { RuntimeError } from '../runtime/runtime.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { EGRESS_BRIDGE, type EgressBridge } from './egress.js';
import type { TaskNetnsListener } from './tasks/tasks.js';

export const HOST_PORTS_TABLE = 'shoal_hostports';
const DSTNAT = -100;
const SRCNAT = 100;

/** One host-mode port of a local task: P on this node goes to addr:target. */
export interface HostBinding {
  taskId: string;
  protocol: PortConfig['Protocol'];
  port: number;
  target: number;
  /** The task's address on the egress bridge. */
  addr: string;
}

/** What else may hold a port on this node. */
export interface PortHolders {
  /** Bindings of other local tasks, by `8080/tcp`. */
  claims: ReadonlyMap<string, HostBinding>;
  /** Ingress-mode ports of the cluster's services (the routing mesh takes them on every node). */
  ingress: readonly { service: string; port: PortConfig }[];
  sockets: readonly BoundSocket[];
  /** A task's name for messages. */
  nameOf: (taskId: string) => string;
}

/** Why the task cannot have its host-mode ports on this node, or undefined (pure). */
export function hostPortProblem(taskId: string, ports: readonly PortConfig[], node: string, h: PortHolders): string | undefined {
  for (const p of ports) {
    const what = `host-mode port ${portKey(p)} is already in use on ${node}`;
    const other = h.claims.get(portKey(p));
    if (other && other.taskId !== taskId) return `${what}: task ${h.nameOf(other.taskId)} publishes it`;
    const mesh = h.ingress.find((x) => x.port.PublishedPort === p.PublishedPort && x.port.Protocol === p.Protocol);
    if (mesh) return `${what}: service '${mesh.service}' publishes it through the routing mesh`;
    const socket = h.sockets.find((s) => s.protocol === p.Protocol && s.port === p.PublishedPort);
    if (socket) return `${what}: a process on the node ${p.Protocol === 'tcp' ? 'listens on' : 'is bound to'} ${socket.address.includes(':') ? `[${socket.address}]` : socket.address}:${socket.port}`;
  }
  return undefined;
}

/** The whole table, replaced in one transaction (it holds only this node's few host-mode ports). */
export function hostPortsTransaction(bindings: readonly HostBinding[]): Transaction {
  const tx = new Transaction('ip', HOST_PORTS_TABLE).addTable().deleteTable().addTable();
  tx.addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: DSTNAT });
  tx.addChain('output', { type: 'nat', hook: 'output', priority: DSTNAT });
  tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT });
  for (const b of bindings) {
    const dnat = `fib daddr type local ${b.protocol} dport ${b.port} dnat to ${b.addr}:${b.target}`;
    tx.addRule('prerouting', dnat).addRule('output', dnat);
    const toTask = `oifname "${EGRESS_BRIDGE}" ip daddr ${b.addr} ${b.protocol} dport ${b.target} ct status dnat`;
    // From the node itself (127.0.0.1 or its own address), and from a task on the same bridge (hairpin),
    // the task must see a source it answers through the node; clients from outside keep their address.
    tx.addRule('postrouting', `${toTask} fib saddr type local masquerade`);
    tx.addRule('postrouting', `${toTask} iifname "${EGRESS_BRIDGE}" masquerade`);
  }
  return tx;
}

const byPort = (a: HostBinding, b: HostBinding) => a.port - b.port || a.protocol.localeCompare(b.protocol);

export class HostPortController implements TaskNetnsListener {
  private readonly claims = new Map<string, HostBinding>();
  private queue: Promise<void> = Promise.resolve();
  /** The table's text as last applied; undefined until the first apply (whatever a previous run left is unknown). */
  private applied: string | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  readonly stats = { applied: 0, refused: 0, flowsForgotten: 0 };

  constructor(
    private readonly view: ClusterView,
    private readonly opts: { egress: EgressBridge },
  ) {}

  /**
   * Makes the table match what this node runs. After an agent restart the tasks it reported running
   * keep their ports while the task controller adopts them, so the table is never emptied under
   * them; ports of tasks that are gone go.
   */
  async start(): Promise<void> {
    const addressed = new Set(this.opts.egress.taskIds());
    for (const { value: t } of this.view.tables.tasks.list()) {
      if (t.nodeId !== this.view.nodeId || t.desiredState !== 'running' || !t.hostPorts?.length || !addressed.has(t.id)) continue;
      const st = this.view.tables.taskStatus.get(t.id)?.value;
      if (st?.nodeId !== this.view.nodeId || st.state !== 'running') continue;
      const addr = (await this.opts.egress.attachmentFor(t.id)).address.split('/')[0]!;
      for (const p of t.hostPorts) if (!this.claims.has(portKey(p))) this.claims.set(portKey(p), { taskId: t.id, protocol: p.Protocol, port: p.PublishedPort, target: p.TargetPort, addr });
    }
    this.unsubscribe = watchCluster(this.view, (tables) => [tables.tasks, tables.taskStatus], () => this.prune());
    await this.enqueue();
  }

  /** 'leave' removes the table; 'shutdown' leaves it, so the tasks kept running stay reachable. */
  async stop(reason: 'leave' | 'shutdown'): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.queue;
    if (reason === 'leave') await removeHostPorts();
  }

  /** Claims the task's host-mode ports, or throws why it cannot have them; programs them before it runs. */
  async taskRunning(task: TaskRecord, _netns: NetnsRef): Promise<void> {
    const ports = task.hostPorts ?? [];
    if (ports.length === 0) return;
    const addr = (await this.opts.egress.attachmentFor(task.id)).address.split('/')[0]!;
    // Checked and claimed with no await in between: two tasks starting at once cannot both get a port.
    const problem = hostPortProblem(task.id, ports, this.view.node(this.view.nodeId)?.hostname ?? this.view.nodeId, this.holders());
    if (problem) {
      this.stats.refused++;
      throw new HostPortInUse(problem);
    }
    for (const p of ports) this.claims.set(portKey(p), { taskId: task.id, protocol: p.Protocol, port: p.PublishedPort, target: p.TargetPort, addr });
    await this.enqueue();
  }

  taskStopped(taskId: string): void {
    const gone = [...this.claims].filter(([, b]) => b.taskId === taskId);
    if (gone.length === 0) return;
    for (const [key] of gone) this.claims.delete(key);
    void this.enqueue(gone[0]![1].addr).catch(() => undefined);
  }

  /**
   * Releases the ports of tasks the tables say no longer run here (removed, to be stopped, or reported
   * ended, e.g. gone while the agent was down), whether or not the task controller says so.
   */
  private prune(): void {
    const mine = (id: string) => {
      const t = this.view.tables.tasks.get(id)?.value;
      const st = this.view.tables.taskStatus.get(id)?.value;
      return t !== undefined && t.nodeId === this.view.nodeId && t.desiredState === 'running' && !(st?.nodeId === this.view.nodeId && isTerminal(st.state));
    };
    for (const id of new Set([...this.claims.values()].map((b) => b.taskId))) if (!mine(id)) this.taskStopped(id);
  }

  /** The bindings this node holds now, sorted (tests, inspection). */
  bindings(): HostBinding[] {
    return [...this.claims.values()].sort(byPort);
  }

  private holders(): PortHolders {
    const ingress: { service: string; port: PortConfig }[] = [];
    for (const { value: ep } of this.view.tables.serviceEndpoints.list()) {
      const svc = this.view.tables.services.get(ep.id)?.value;
      if (!svc) continue;
      for (const p of ep.ports) if (p.PublishMode === 'ingress' && p.PublishedPort > 0) ingress.push({ service: svc.spec.Name, port: p });
    }
    const nameOf = (id: string) => {
      const t = this.view.tables.tasks.get(id)?.value;
      return t ? taskName(t) : id;
    };
    return { claims: this.claims, ingress, sockets: boundSockets(), nameOf };
  }

  /** Applies the claims as they are when its turn comes, one apply at a time; then forgets flows to a released task. */
  private enqueue(released?: string): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (this.stopped) return;
      await this.apply();
      if (released && ![...this.claims.values()].some((b) => b.addr === released)) {
        this.stats.flowsForgotten += await forgetFlowsTo('self', released).catch(() => 0);
      }
    });
    return this.queue;
  }

  private async apply(): Promise<void> {
    const bindings = this.bindings();
    if (bindings.length === 0) {
      if (this.applied !== '') await removeHostPorts();
      this.applied = '';
      return;
    }
    const text = hostPortsTransaction(bindings).render();
    if (text === this.applied) return;
    await withNetns('self', (ns) => ns.writeSysctl(`net.ipv4.conf.${EGRESS_BRIDGE}.route_localnet`, 1));
    await applyNft('self', text);
    this.applied = text;
    this.stats.applied++;
  }
}

/** A host-mode port this node cannot give the task: the task controller rejects the task with this message as it is. */
export class HostPortInUse extends RuntimeError {
  constructor(message: string) {
    super(message, 'CONFLICT');
  }
}

/** Removes the node's host-mode port table (also for `shoal agent --cleanup`). */
export async function removeHostPorts(): Promise<void> {
  if ((await listTables('self')).some((t) => t.family === 'ip' && t.name === HOST_PORTS_TABLE)) await applyNft('self', new Transaction('ip', HOST_PORTS_TABLE).deleteTable());
}
