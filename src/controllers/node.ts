// Everything a node runs while it is in a swarm, in dependency order: the task runtime, the
// overlay controller (sandboxes and peers), the egress bridge, DNS and VIP load balancing inside
// tasks, host-mode published ports, the task controller, the routing mesh's ingress sandbox, and the leader's loop (a no-op on nodes that are not the leader).
// Started by Swarm when the node joins or resumes; stopped when it leaves (removing what it ran)
// or when the agent shuts down (leaving it all running for the next run to adopt).
import { newId } from '../cluster/ids.js';
import type { SwarmMember } from '../cluster/swarm.js';
import { ingressNetworkSpec } from '../model/network.js';
import { nameKey } from '../model/names.js';
import { openRtnl, type Rtnl } from '../kernel/rtnl.js';
import { chooseRuntime } from '../runtime/choose.js';
import { RuntimeError, type LogLine, type LogOptions, type Runtime } from '../runtime/runtime.js';
import type { RuntimeKind } from '../config/defaults.js';
import type { Logger } from '../util/log.js';
import type { ClusterView } from './cluster-view.js';
import { EgressBridge } from './egress.js';
import { LeaderController } from './leader/leader.js';
import { OverlayController } from './overlay/overlay.js';
import { existingSandboxes, removeSandbox } from './overlay/sandbox.js';
import { TaskController } from './tasks/tasks.js';
import { DnsController } from './dns.js';
import { VipController } from './vip.js';
import { IngressController, removeIngress } from './ingress.js';
import { HostPortController, removeHostPorts } from './hostports.js';
import { DnsServer } from '../dns/index.js';
import { chooseLoadBalancer } from './lb/choose.js';
import type { LbChoice, LbSetting } from './lb/lb.js';
import type { AgentConfig } from '../config/agent-config.js';

export interface NodeControllersOptions {
  dataDir: string;
  runtime: RuntimeKind;
  vxlanPort: number;
  log: Logger;
  /** The operator DNS listener ("ip:port"), if any. */
  dnsListen?: string;
  dnsUpstream: AgentConfig['dnsUpstream'];
  /** --lb-backend: auto, ipvs or nftables. */
  lbBackend: LbSetting;
}

/** What is running, for the API. */
export interface RunningNode {
  view: ClusterView;
  runtime: Runtime;
  overlay: OverlayController;
  tasks: TaskController;
  leader: LeaderController;
  dns: DnsController;
  vips: VipController;
  ingress: IngressController;
  hostPorts: HostPortController;
}

/**
 * Removes everything a node ran (its tasks, overlay sandboxes, egress bridge) without a cluster:
 * for `shoal agent --cleanup`, after the agent has stopped (the lab's `down` uses it).
 */
export async function cleanupNode(opts: { dataDir: string; runtime: RuntimeKind; nodeId: string; log: Logger }): Promise<{ removed: number; failed: string[] }> {
  const failed: string[] = [];
  const attempt = async (what: string, fn: () => unknown) => {
    try {
      await fn();
      return true;
    } catch (err) {
      failed.push(`${what}: ${(err as Error).message}`);
      opts.log.error({ what, err: (err as Error).message }, 'cleanup step failed');
      return false;
    }
  };
  const runtime = await chooseRuntime({ kind: opts.runtime, dataDir: opts.dataDir, nodeId: opts.nodeId, log: opts.log });
  let removed = 0;
  try {
    // Every task is tried (a second time if the first fails) whatever happens to the others.
    for (const rt of await runtime.list()) {
      if ((await attempt(`remove task ${rt.taskId}`, () => runtime.remove(rt.id))) || (await attempt(`remove task ${rt.taskId} again`, () => runtime.remove(rt.id)))) removed++;
    }
  } finally {
    await runtime.close();
  }
  for (const name of existingSandboxes(opts.nodeId)) await attempt(`remove sandbox ${name}`, () => removeSandbox(name));
  const host = openRtnl('self');
  try {
    const egress = new EgressBridge(host, opts.dataDir);
    await attempt('remove the ingress sandbox', () => removeIngress(opts.nodeId, egress));
    await attempt('remove the host-mode port table', () => removeHostPorts());
    await attempt('remove the egress bridge', () => egress.remove());
  } finally {
    host.close();
  }
  return { removed, failed };
}

export class NodeControllers implements SwarmMember {
  private running: (RunningNode & { host: Rtnl; dnsServer: DnsServer }) | undefined;
  private lb: Promise<LbChoice> | undefined;
  private chosen: LbChoice | undefined;

  constructor(private readonly opts: NodeControllersOptions) {}

  /**
   * The load-balancer backend, chosen once (--lb-backend; auto probes IPVS, loading ip_vs if it
   * can). The agent calls it at start, so that an explicit ipvs on a kernel without it stops there.
   */
  chooseLb(): Promise<LbChoice> {
    this.lb ??= chooseLoadBalancer(this.opts.lbBackend).then((c) => {
      this.chosen = c;
      this.opts.log.info({ lb: c.kind, reason: c.reason }, 'load-balancer backend chosen');
      return c;
    });
    return this.lb;
  }

  /** The active backend and why, once chosen (for /info). */
  get lbChoice(): LbChoice | undefined {
    return this.chosen;
  }

  get current(): RunningNode | undefined {
    return this.running;
  }

  async start(view: ClusterView): Promise<void> {
    const log = this.opts.log;
    const runtime = await chooseRuntime({ kind: this.opts.runtime, dataDir: this.opts.dataDir, nodeId: view.nodeId, log: log.child({ component: 'runtime' }) });
    const { lb } = await this.chooseLb();
    const host = openRtnl('self');
    const overlay = new OverlayController({ ...view, log: log.child({ component: 'overlay' }) }, { vxlanPort: this.opts.vxlanPort });
    await overlay.start();
    const egress = new EgressBridge(host, this.opts.dataDir);
    const up = this.opts.dnsUpstream;
    const dnsLog = log.child({ component: 'dns' });
    const dnsServer = new DnsServer({ forwarder: up === 'none' ? false : 'servers' in up ? { upstreams: up.servers } : { resolvConf: up.resolvConf }, log: dnsLog });
    const dns = new DnsController({ ...view, log: dnsLog }, { server: dnsServer, ...(this.opts.dnsListen ? { operatorListen: this.opts.dnsListen } : {}) });
    await dns.start();
    const vips = new VipController({ ...view, log: log.child({ component: 'vip' }) }, lb);
    vips.start();
    // Host ports first: a task whose port is taken is refused before anything else is set up for it.
    const hostPorts = new HostPortController({ ...view, log: log.child({ component: 'hostports' }) }, { egress });
    const tasks = new TaskController({ ...view, log: log.child({ component: 'tasks' }) }, { runtime, overlay, egress, listeners: [hostPorts, dns, vips] });
    await tasks.start();
    await hostPorts.start();
    const ingress = new IngressController({ ...view, log: log.child({ component: 'ingress' }) }, { overlay, egress, lb });
    ingress.start();
    const leader = new LeaderController({ ...view, log: log.child({ component: 'leader' }) });
    leader.start();
    this.running = { view, runtime, overlay, tasks, leader, dns, vips, ingress, hostPorts, host, dnsServer };
    log.info({ runtime: runtime.kind, lb: lb.kind }, 'node controllers started');
  }

  logs(taskId: string, opts: LogOptions): AsyncIterable<LogLine> {
    if (!this.running) throw new RuntimeError('this node\'s controllers are not running', 'UNAVAILABLE');
    return this.running.tasks.logs(taskId, opts);
  }

  /** A new cluster starts with the routing mesh's network, as Docker's does. */
  async initCluster(view: ClusterView): Promise<void> {
    const spec = ingressNetworkSpec(newId(), new Date().toISOString());
    const batch = view.batch();
    batch.table(view.tables.networks).put(spec.id, spec);
    batch.table(view.tables.names).put(nameKey('network', spec.name), { kind: 'network', id: spec.id });
    await batch.commit();
  }

  async stop(reason: 'leave' | 'shutdown'): Promise<void> {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    await r.leader.stop();
    await r.ingress.stop(reason);
    await r.tasks.stop(reason);
    await r.hostPorts.stop(reason);
    await r.vips.stop();
    await r.dns.stop();
    await r.dnsServer.close();
    await r.overlay.stop(reason);
    await r.runtime.close();
    r.host.close();
  }
}
