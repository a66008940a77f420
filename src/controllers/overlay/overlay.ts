// The node's overlay controller: a sandbox (sandbox.ts) for each network that has an endpoint on
// this node or that a task being started has claimed, made when the first one appears and removed
// when the last goes; in each, the remote endpoints of that network (from the endpoints table) on
// nodes not known to be down, as neighbour and FDB entries. At start it adopts what an earlier run
// left (a pass diffs, it does not rebuild) and removes sandboxes nobody wants.
import { openRtnl, type Rtnl } from '../../kernel/rtnl.js';
import { overlayMtu } from '../../model/network.js';
import { type ClusterView, watchCluster } from '../cluster-view.js';
import { Reconciler } from '../reconciler.js';
import { BRIDGE, existingSandboxes, removeSandbox, Sandbox, sandboxName, TRANSIENT_VXLAN, type Peer } from './sandbox.js';
import { tunables } from '../../config/tunables.js';

/** Underlay MTU when the advertise address's link cannot be found. */
export const DEFAULT_UNDERLAY_MTU = 1500;

/** What the task controller needs to plug a task into a network here. */
export interface SandboxInfo {
  netns: string;
  bridge: string;
  mtu: number;
  /** The subnet's prefix length, for the task's address. */
  prefix: number;
}

export interface OverlayOptions {
  vxlanPort: number;
}

export class OverlayController {
  private readonly host: Rtnl;
  private readonly open = new Map<string, Sandbox>();
  private readonly claims = new Map<string, number>();
  private readonly loop: Reconciler;
  private exclusive: Promise<unknown> = Promise.resolve();
  private underlayMtu = DEFAULT_UNDERLAY_MTU;
  private unsubscribe: (() => void)[] = [];
  readonly stats = { peersAdded: 0, peersRemoved: 0, sandboxesCreated: 0, sandboxesRemoved: 0 };

  constructor(
    private readonly view: ClusterView,
    private readonly opts: OverlayOptions,
  ) {
    this.host = openRtnl('self');
    this.loop = new Reconciler('overlay', () => this.serial(() => this.pass()), { log: view.log, resyncMs: tunables.overlayResyncMs });
  }

  async start(): Promise<void> {
    this.underlayMtu = await this.findUnderlayMtu();
    for (const link of await this.host.links.list()) if (link.kind === 'vxlan' && TRANSIENT_VXLAN.test(link.name)) await this.host.links.delete(link.name);
    await this.serial(() => this.pass());
    this.unsubscribe.push(watchCluster(this.view, (t) => [t.networks, t.networkAllocations, t.endpoints], () => this.loop.trigger()));
    this.loop.start();
  }

  /** 'leave' removes every sandbox; 'shutdown' leaves them for the next run to adopt. */
  async stop(reason: 'leave' | 'shutdown'): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
    await this.serial(async () => {
      for (const sb of this.open.values()) {
        if (reason === 'leave') await sb.remove();
        else sb.close();
      }
      this.open.clear();
      if (reason === 'leave') for (const name of existingSandboxes(this.view.nodeId)) removeSandbox(name);
    });
    this.host.close();
  }

  /** Makes the network's sandbox (with its peers) and keeps it while claimed; for a task about to join. */
  async claim(networkId: string): Promise<SandboxInfo> {
    this.claims.set(networkId, (this.claims.get(networkId) ?? 0) + 1);
    try {
      return await this.serial(async () => {
        const info = await this.ensure(networkId);
        if (!info) throw new Error(`network ${networkId} has no allocation on this node yet: the leader has not allocated it, or it was removed`);
        return info;
      });
    } catch (err) {
      this.release(networkId);
      throw err;
    }
  }

  /** Drops a claim; the sandbox stays while the network has endpoints here. */
  release(networkId: string): void {
    const n = (this.claims.get(networkId) ?? 1) - 1;
    if (n <= 0) this.claims.delete(networkId);
    else this.claims.set(networkId, n);
    this.loop.trigger();
  }

  /** The MTU tasks get on a network. */
  mtuFor(networkId: string): number | undefined {
    const spec = this.view.tables.networks.get(networkId)?.value;
    return spec && overlayMtu(spec, this.underlayMtu);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn, fn);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private wanted(): Set<string> {
    const nets = new Set(this.claims.keys());
    for (const { value: e } of this.view.tables.endpoints.list()) if (e.nodeId === this.view.nodeId) nets.add(e.networkId);
    return nets;
  }

  private async pass(): Promise<void> {
    const wanted = this.wanted();
    for (const networkId of wanted) await this.ensure(networkId);
    const keep = new Set([...wanted].map((id) => sandboxName(this.view.nodeId, id)));
    for (const name of existingSandboxes(this.view.nodeId)) {
      if (keep.has(name)) continue;
      const sb = this.open.get(name) ?? Sandbox.open(name);
      this.open.delete(name);
      await sb.remove();
      this.stats.sandboxesRemoved++;
      this.view.log.info({ sandbox: name }, 'overlay sandbox removed');
    }
  }

  /** Builds or checks one sandbox and sets its peers; undefined while the network has no allocation. */
  private async ensure(networkId: string): Promise<SandboxInfo | undefined> {
    const alloc = this.view.tables.networkAllocations.get(networkId)?.value;
    const mtu = this.mtuFor(networkId);
    if (!alloc?.subnet || !alloc.gateway || alloc.vni === undefined || mtu === undefined) return undefined;
    const prefix = Number(alloc.subnet.split('/')[1]);
    const name = sandboxName(this.view.nodeId, networkId);
    let sb = this.open.get(name);
    if (!sb) {
      sb = Sandbox.open(name);
      this.open.set(name, sb);
      this.stats.sandboxesCreated++;
    }
    await sb.ensure({ networkId, vni: alloc.vni, gateway: `${alloc.gateway}/${prefix}`, mtu, local: this.view.advertiseAddr, port: this.opts.vxlanPort }, this.host);
    const changed = await sb.setPeers(this.peers(networkId));
    this.stats.peersAdded += changed.added;
    this.stats.peersRemoved += changed.removed;
    if (changed.added + changed.removed > 0) this.view.log.debug({ network: networkId, ...changed }, 'overlay peers programmed');
    return { netns: name, bridge: BRIDGE, mtu, prefix };
  }

  /** Remote endpoints of the network on nodes that exist and are not known to be down (one per address). */
  private peers(networkId: string): Peer[] {
    const local = new Set<string>();
    const byIp = new Map<string, Peer>();
    const eps = this.view.tables.endpoints.list().map((e) => e.value).filter((e) => e.networkId === networkId).sort((a, b) => a.id.localeCompare(b.id));
    for (const e of eps) if (e.nodeId === this.view.nodeId) local.add(e.ip);
    for (const e of eps) {
      if (e.nodeId === this.view.nodeId || local.has(e.ip) || byIp.has(e.ip)) continue;
      if (!this.view.node(e.nodeId) || this.view.nodeState(e.nodeId) === 'down') continue;
      byIp.set(e.ip, { ip: e.ip, mac: e.mac, vtep: e.vtep });
    }
    return [...byIp.values()];
  }

  private async findUnderlayMtu(): Promise<number> {
    const addr = (await this.host.addresses.list()).find((a) => a.address === this.view.advertiseAddr);
    if (!addr) return DEFAULT_UNDERLAY_MTU;
    return (await this.host.links.get(addr.dev)).mtu;
  }
}
