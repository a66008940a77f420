// The node's part of the ingress routing mesh: a port a service publishes answers on every node,
// whether or not it runs a task there (Docker's design with nftables in place of IPVS; see
// ../shared/reference/dataplane.md step 4 and docs/decisions/0015). While any service publishes an
// ingress port, this node keeps an ingress sandbox, a namespace `si-<node id[:8]>` with eth0 on
// the ingress overlay (the node's address there, written to the endpoints table so that every
// other node can reach it) and eth1 on the egress bridge. Three tables do the work:
// - in the node's namespace (`shoal_ingress`): a connection to a published port of any local
//   address is DNATed to the sandbox's egress address, also from the node itself (output hook,
//   route_localnet and masquerade make 127.0.0.1 work);
// - in the sandbox: the port is sent round robin to the service's tasks' ingress addresses
//   (backends.ts) and SNATed to the sandbox's own ingress address, so replies come back through
//   the node the client came in by, wherever the task runs; the node's load-balancer backend (lb/:
//   nftables DNAT, or IPVS) programs this part (decision 0021);
// - in each task (vip.ts): the published port is redirected to the target port.
import { createNetns, deleteNetns, netnsExists, withNetns } from '../kernel/netns.js';
import { applyNft, listTables, Transaction } from '../kernel/nftables.js';
import { macForIp, endpointId } from '../model/endpoint.js';
import { attach } from '../runtime/plumbing.js';
import { backendsOn, ingressNetworkId } from './backends.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { EGRESS_BRIDGE, INGRESS_SANDBOX_OWNER, type EgressBridge } from './egress.js';
import type { OverlayController } from './overlay/overlay.js';
import type { LoadBalancer, PublishedPort } from './lb/lb.js';
import { INGRESS_TABLE } from './lb/nftables.js';
import { Reconciler } from './reconciler.js';
import { tunables } from '../config/tunables.js';

export type { PublishedPort } from './lb/lb.js';
export { INGRESS_TABLE, sandboxTransaction } from './lb/nftables.js';
const DSTNAT = -100;
const SRCNAT = 100;

export function ingressSandboxName(nodeId: string): string {
  return `si-${nodeId.slice(0, 8)}`;
}

/** Every ingress-mode published port in the cluster, with its service's running tasks (pure). */
export function publishedPorts(view: ClusterView): PublishedPort[] {
  const ingress = ingressNetworkId(view);
  if (!ingress) return [];
  const backends = backendsOn(view, ingress);
  const out: PublishedPort[] = [];
  for (const { value: ep } of view.tables.serviceEndpoints.list()) {
    if (!view.tables.services.get(ep.id)) continue;
    for (const p of ep.ports) {
      if (p.PublishMode !== 'ingress' || p.PublishedPort <= 0) continue;
      out.push({ protocol: p.Protocol, port: p.PublishedPort, backends: [...new Set((backends.get(ep.id) ?? []).map((b) => b.ip))].sort() });
    }
  }
  return out.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

const keyOf = (p: PublishedPort) => `${p.protocol} . ${p.port}`;

/** The node's own table: published ports of local addresses go to the ingress sandbox. */
export function hostTransaction(ports: readonly PublishedPort[], sandboxIp: string): Transaction {
  const tx = new Transaction('ip', INGRESS_TABLE).addTable().deleteTable().addTable();
  const match = `fib daddr type local meta l4proto . th dport { ${ports.map(keyOf).join(', ')} }`;
  tx.addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: DSTNAT }).addRule('prerouting', `${match} dnat to ${sandboxIp}`);
  tx.addChain('output', { type: 'nat', hook: 'output', priority: DSTNAT }).addRule('output', `${match} dnat to ${sandboxIp}`);
  // From the node itself (127.0.0.1 or its own address), the sandbox must see a source it can answer.
  tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT }).addRule('postrouting', `oifname "${EGRESS_BRIDGE}" fib saddr type local masquerade`);
  return tx;
}

export interface IngressOptions {
  overlay: OverlayController;
  egress: EgressBridge;
  /** Programs the sandbox's load balancing. */
  lb: LoadBalancer;
}

export class IngressController {
  private readonly loop: Reconciler;
  private unsubscribe: (() => void)[] = [];
  private applied: { host?: string } = {};
  readonly stats = { applied: 0, backendsRemoved: 0, calls: 0 };

  constructor(
    private readonly view: ClusterView,
    private readonly opts: IngressOptions,
  ) {
    this.loop = new Reconciler('ingress', () => this.pass(), { log: view.log, resyncMs: tunables.ingressResyncMs });
  }

  start(): void {
    this.unsubscribe.push(watchCluster(this.view, (t) => [t.networks, t.networkAllocations, t.services, t.serviceEndpoints, t.tasks, t.taskStatus, t.endpoints], () => this.loop.trigger()));
    this.loop.start();
  }

  /** 'leave' removes the sandbox and the node's table; 'shutdown' leaves them for the next run. */
  async stop(reason: 'leave' | 'shutdown'): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    if (reason === 'leave') {
      await removeIngress(this.view.nodeId, this.opts.egress);
      this.opts.lb.forget(this.sandboxKey);
    }
  }

  settle(): Promise<void> {
    return this.loop.settle();
  }

  private async pass(): Promise<void> {
    const ingress = ingressNetworkId(this.view);
    const ingressAddr = ingress ? this.view.tables.networkAllocations.get(ingress)?.value.nodeAddrs?.[this.view.nodeId] : undefined;
    const ports = publishedPorts(this.view);
    if (!ingress || !ingressAddr || ports.length === 0) {
      if (this.applied.host !== undefined || netnsExists(ingressSandboxName(this.view.nodeId))) {
        await removeIngress(this.view.nodeId, this.opts.egress);
        this.opts.lb.forget(this.sandboxKey);
        if (ingress) await this.view.tables.endpoints.delete(endpointId(ingress, { nodeId: this.view.nodeId }));
        this.applied = {};
        this.view.log.info('ingress sandbox removed: no service publishes a port');
      }
      return;
    }
    const sandboxIp = await this.ensureSandbox(ingress, ingressAddr);
    const hostText = hostTransaction(ports, sandboxIp).render();
    if (this.applied.host !== hostText) {
      await applyNft('self', hostText);
      this.applied.host = hostText;
    }
    const ns = { name: ingressSandboxName(this.view.nodeId) };
    const r = await this.opts.lb.syncSandbox(this.sandboxKey, ns, { ports, ingressIp: ingressAddr.split('/')[0]! });
    this.stats.calls += r.calls;
    this.stats.backendsRemoved += r.removed.length;
    if (r.changed) this.stats.applied++;
  }

  /** What the load balancer remembers the sandbox by. */
  private get sandboxKey(): string {
    return `ingress ${ingressSandboxName(this.view.nodeId)}`;
  }

  /** The sandbox, plugged into the ingress overlay and the egress bridge; returns its egress address. */
  private async ensureSandbox(ingress: string, ingressAddr: string): Promise<string> {
    const name = ingressSandboxName(this.view.nodeId);
    if (!netnsExists(name)) createNetns(name);
    const sandbox = await this.opts.overlay.claim(ingress);
    try {
      const ip = ingressAddr.split('/')[0]!;
      const short = this.view.nodeId.slice(0, 8);
      await attach({ name }, { ifname: 'eth0', bridge: { netns: { name: sandbox.netns }, name: sandbox.bridge }, hostIfname: `vi-${short}`, address: ingressAddr, mac: macForIp(ip), mtu: sandbox.mtu });
      const id = endpointId(ingress, { nodeId: this.view.nodeId });
      const current = this.view.tables.endpoints.get(id)?.value;
      if (!current || current.ip !== ip || current.vtep !== this.view.advertiseAddr) {
        await this.view.tables.endpoints.put(id, { id, networkId: ingress, nodeId: this.view.nodeId, ip, mac: macForIp(ip), vtep: this.view.advertiseAddr });
      }
    } finally {
      this.opts.overlay.release(ingress);
    }
    await this.opts.egress.ensure();
    const egress = await this.opts.egress.attachmentFor(INGRESS_SANDBOX_OWNER);
    await attach({ name }, { ifname: 'eth1', bridge: { netns: 'self', name: EGRESS_BRIDGE }, hostIfname: `gi-${this.view.nodeId.slice(0, 8)}`, address: egress.address, mac: egress.mac, mtu: egress.mtu, defaultGateway: egress.gateway });
    await withNetns({ name }, (ns) => {
      ns.writeSysctl('net.ipv4.ip_forward', 1);
      ns.writeSysctl('net.ipv4.conf.all.rp_filter', 0);
    });
    await withNetns('self', (ns) => ns.writeSysctl(`net.ipv4.conf.${EGRESS_BRIDGE}.route_localnet`, 1));
    return egress.address.split('/')[0]!;
  }
}

/** Removes the ingress sandbox and the node's ingress table (also for `shoal agent --cleanup`). */
export async function removeIngress(nodeId: string, egress: EgressBridge): Promise<void> {
  if ((await listTables('self')).some((t) => t.family === 'ip' && t.name === INGRESS_TABLE)) await applyNft('self', new Transaction('ip', INGRESS_TABLE).deleteTable());
  const name = ingressSandboxName(nodeId);
  if (netnsExists(name)) deleteNetns(name);
  egress.release(INGRESS_SANDBOX_OWNER);
}
