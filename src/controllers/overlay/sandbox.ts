// One overlay network's sandbox on one node, made and checked idempotently: a namespace holding
// bridge br0 (the gateway address) and vxlan0, a VXLAN device created in the host namespace (so its
// UDP socket lives there) and moved in; every device at the network's MTU; no learning, ARP
// answered from the neighbour table (proxy), no flood entries: nothing crosses hosts that was not
// programmed. Peers are set by diffing the kernel's entries against the wanted ones, so a restart
// or a repeated pass changes only what differs and established flows keep going.
import { createNetns, deleteNetns, listNetns, netnsExists, Netns } from '../../kernel/netns.js';
import { openRtnl, type Rtnl } from '../../kernel/rtnl.js';
import { isKernelError } from '../../kernel/errors.js';
import { tunables } from '../../config/tunables.js';

export const BRIDGE = 'br0';
export const VXLAN = 'vxlan0';

/** Sandbox namespaces carry the node's ID so that nodes sharing one machine (the netns lab) never collide. */
export function sandboxPrefix(nodeId: string): string {
  return `sh-${nodeId.slice(0, 8)}-`;
}

export function sandboxName(nodeId: string, networkId: string): string {
  return `${sandboxPrefix(nodeId)}${networkId.slice(0, 10)}`;
}

/** The VXLAN device's name while it is in the host namespace (Docker's vx-<vni hex>-<net id>). */
export function vxlanHostName(vni: number, networkId: string): string {
  return `vx-${vni.toString(16).padStart(6, '0')}-${networkId.slice(0, 5)}`;
}

export const TRANSIENT_VXLAN = /^vx-[0-9a-f]{6}-/;

export interface SandboxSpec {
  networkId: string;
  vni: number;
  /** The gateway with the subnet's prefix, e.g. 10.0.1.1/24. */
  gateway: string;
  mtu: number;
  /** This node's underlay address: the tunnel's source. */
  local: string;
  port: number;
}

export interface Peer {
  ip: string;
  mac: string;
  vtep: string;
}

export class Sandbox {
  private constructor(
    readonly name: string,
    readonly ns: Netns,
    readonly rtnl: Rtnl,
  ) {}

  /** Opens the sandbox, creating its namespace if it is not there. */
  static open(name: string): Sandbox {
    if (!netnsExists(name)) createNetns(name);
    const ns = Netns.open({ name });
    return new Sandbox(name, ns, openRtnl({ name }));
  }

  close(): void {
    this.rtnl.close();
    this.ns.close();
  }

  /**
   * Deletes vxlan0 now, then the namespace. A namespace's devices go asynchronously when it is
   * deleted, and until then the VXLAN keeps its VNI on the host's UDP socket, so a sandbox made
   * again at once for the same network could not create its own.
   */
  async remove(): Promise<void> {
    if (await this.rtnl.links.find(VXLAN)) await this.rtnl.links.delete(VXLAN);
    this.close();
    removeSandbox(this.name);
  }

  /** Makes the sandbox match spec: lo up, br0 with the gateway, vxlan0 with the VNI, MTU everywhere. */
  async ensure(spec: SandboxSpec, host: Rtnl): Promise<void> {
    await this.rtnl.links.setUp('lo');
    const br = await this.rtnl.links.find(BRIDGE);
    if (!br) await this.rtnl.links.addBridge(BRIDGE, { mtu: spec.mtu });
    else if (br.mtu !== spec.mtu) await this.rtnl.links.setMtu(BRIDGE, spec.mtu);
    const addrs = await this.rtnl.addresses.list(BRIDGE);
    if (!addrs.some((a) => a.cidr === spec.gateway)) {
      for (const a of addrs) if (a.family === 4) await this.rtnl.addresses.delete(BRIDGE, a.cidr);
      await this.rtnl.addresses.add(BRIDGE, spec.gateway);
    }
    await this.rtnl.links.setUp(BRIDGE);

    const vx = await this.rtnl.links.find(VXLAN);
    if (vx && (vx.vxlan?.vni !== spec.vni || vx.vxlan.port !== spec.port || vx.vxlan.local !== spec.local)) await this.rtnl.links.delete(VXLAN);
    if (!vx || vx.vxlan?.vni !== spec.vni || vx.vxlan.port !== spec.port || vx.vxlan.local !== spec.local) {
      const transient = vxlanHostName(spec.vni, spec.networkId);
      if (await host.links.find(transient)) await host.links.delete(transient);
      await whileBusy(() => host.links.addVxlan(transient, { vni: spec.vni, port: spec.port, local: spec.local, learning: false, proxy: true, mtu: spec.mtu }));
      await host.links.moveTo(transient, this.ns, { name: VXLAN });
    }
    const now = await this.rtnl.links.get(VXLAN);
    if (now.mtu !== spec.mtu) await this.rtnl.links.setMtu(VXLAN, spec.mtu);
    if (now.master !== BRIDGE) await this.rtnl.links.setMaster(VXLAN, BRIDGE);
    if (!now.up) await this.rtnl.links.setUp(VXLAN);
  }

  /** Programs exactly these remote endpoints: one permanent neighbour and one FDB entry each. */
  async setPeers(peers: readonly Peer[]): Promise<{ added: number; removed: number }> {
    let added = 0;
    let removed = 0;
    const byIp = new Map(peers.map((p) => [p.ip, p]));
    const byMac = new Map(peers.map((p) => [p.mac, p]));
    const neigh = (await this.rtnl.neighbours.list(VXLAN)).filter((n) => n.family === 4 && n.state === 'permanent');
    for (const n of neigh) {
      if (byIp.get(n.ip)?.mac === n.mac) byIp.delete(n.ip);
      else if (!byIp.has(n.ip)) { await ignoreMissing(this.rtnl.neighbours.delete(VXLAN, n.ip)); removed++; }
    }
    for (const p of byIp.values()) { await this.rtnl.neighbours.replace(VXLAN, p.ip, p.mac); added++; }
    const fdb = (await this.rtnl.fdb.list(VXLAN)).filter((e) => e.self && e.dst !== undefined);
    for (const e of fdb) {
      if (byMac.get(e.mac)?.vtep === e.dst) byMac.delete(e.mac);
      else if (!byMac.has(e.mac)) { await ignoreMissing(this.rtnl.fdb.delete(VXLAN, { mac: e.mac, dst: e.dst })); removed++; }
    }
    for (const p of byMac.values()) { await this.rtnl.fdb.replace(VXLAN, { mac: p.mac, dst: p.vtep, self: true }); added++; }
    return { added, removed };
  }
}

/** Sandboxes of this node that exist in the kernel, by namespace name. */
export function existingSandboxes(nodeId: string): string[] {
  return listNetns().filter((n) => n.startsWith(sandboxPrefix(nodeId)));
}

export function removeSandbox(name: string): void {
  if (netnsExists(name)) deleteNetns(name);
}

async function whileBusy(create: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + tunables.vniReleaseWaitMs;
  for (;;) {
    try {
      return await create();
    } catch (err) {
      if (!isKernelError(err, 'EEXIST') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function ignoreMissing(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isKernelError(err, 'ENOENT')) throw err;
  }
}
