// The node's part of the ingress routing mesh: a port a service publishes answers on every node,
// whether or not it runs a task there (Docker's design with nftables in place of IPVS; see
// ../shared/reference/dataplane.md step 4 and docs/decisions/0015). While any service publishes an
// ingress port, this node keeps an ingress sandbox, a namespace `si-<node id[:8]>` with eth0 on
// the ingress overlay (the node's address there, written to the endpoints table so that every
// other node can reach it) and eth1 on the egress bridge. Three tables do the work:
// - in the node's namespace (`shoal_ingress`): a connection to a published port of any local
//   address is DNATed to the sandbox's egress address, also from the node itself (output hook,
//   route_localnet and masquerade make 127.0.0.1 work);
// - in the sandbox: the port is DNATed round robin to the service's tasks' ingress addresses
//   (backends.ts) and SNATed to the sandbox's own ingress address, so replies come back through
//   the node the client came in by, wherever the task runs;
// - in each task (vip.ts): the published port is redirected to the target port.
import { forgetFlowsTo } from '../kernel/conntrack.js';
import { createNetns, deleteNetns, netnsExists, withNetns } from '../kernel/netns.js';
import { applyNft, listTables, Transaction } from '../kernel/nftables.js';
import { macForIp, endpointId } from '../model/endpoint.js';
import type { PortConfig } from '../model/service.js';
import { attach } from '../runtime/plumbing.js';
import { backendsOn, ingressNetworkId } from './backends.js';
import { type ClusterView, watchCluster } from './cluster-view.js';
import { EGRESS_BRIDGE, INGRESS_SANDBOX_OWNER, type EgressBridge } from './egress.js';
import type { OverlayController } from './overlay/overlay.js';
import { Reconciler } from './reconciler.js';
import { tunables } from '../config/tunables.js';

export const INGRESS_TABLE = 'shoal_ingress';
const DSTNAT = -100;
const SRCNAT = 100;

export function ingressSandboxName(nodeId: string): string {
  return `si-${nodeId.slice(0, 8)}`;
}

/** One published port and the ingress addresses of the tasks behind it. */
export interface PublishedPort {
  protocol: PortConfig['Protocol'];
  port: number;
  backends: string[];
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

/** The sandbox's table: round robin to the tasks, SNAT to the sandbox's ingress address, refuse when none. */
export function sandboxTransaction(ports: readonly PublishedPort[], ingressIp: string): Transaction {
  const tx = new Transaction('ip', INGRESS_TABLE).addTable().deleteTable().addTable();
  tx.addChain('prerouting', { type: 'nat', hook: 'prerouting', priority: DSTNAT });
  const served = ports.filter((p) => p.backends.length > 0);
  for (const p of served) {
    const chain = `to_${p.protocol}_${p.port}`;
    tx.addChain(chain);
    tx.addRule(chain, `dnat to ${p.backends.length === 1 ? p.backends[0]! : `numgen inc mod ${p.backends.length} map { ${p.backends.map((ip, i) => `${i} : ${ip}`).join(', ')} }`}`);
  }
  if (served.length > 0) tx.addRule('prerouting', `iifname "eth1" meta l4proto . th dport vmap { ${served.map((p) => `${keyOf(p)} : goto to_${p.protocol}_${p.port}`).join(', ')} }`);
  tx.addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT }).addRule('postrouting', `oifname "eth0" ct status dnat snat to ${ingressIp}`);
  const empty = ports.filter((p) => p.backends.length === 0);
  if (empty.length > 0) {
    tx.addChain('refuse', { type: 'filter', hook: 'forward', priority: 0 });
    tx.addRule('refuse', `iifname "eth1" meta l4proto . th dport { ${empty.map(keyOf).join(', ')} } meta l4proto tcp reject with tcp reset`);
    tx.addRule('refuse', `iifname "eth1" meta l4proto . th dport { ${empty.map(keyOf).join(', ')} } reject`);
  }
  return tx;
}

export interface IngressOptions {
  overlay: OverlayController;
  egress: EgressBridge;
}

export class IngressController {
  private readonly loop: Reconciler;
  private unsubscribe: (() => void)[] = [];
  private applied: { host?: string; sandbox?: string; backends: Set<string> } = { backends: new Set() };
  readonly stats = { applied: 0, flowsForgotten: 0 };

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
    if (reason === 'leave') await removeIngress(this.view.nodeId, this.opts.egress);
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
        if (ingress) await this.view.tables.endpoints.delete(endpointId(ingress, { nodeId: this.view.nodeId }));
        this.applied = { backends: new Set() };
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
    const ip = ingressAddr.split('/')[0]!;
    const sandboxText = sandboxTransaction(ports, ip).render();
    if (this.applied.sandbox !== sandboxText) {
      const ns = { name: ingressSandboxName(this.view.nodeId) };
      await applyNft(ns, sandboxText);
      this.applied.sandbox = sandboxText;
      this.stats.applied++;
      const now = new Set(ports.flatMap((p) => p.backends));
      for (const gone of [...this.applied.backends].filter((b) => !now.has(b))) this.stats.flowsForgotten += await forgetFlowsTo(ns, gone).catch(() => 0);
      this.applied.backends = now;
    }
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
