// The node's egress bridge, like Docker's docker_gwbridge: a bridge in the node's own namespace at
// the first address of a local /16 (172.18.0.0/16 unless the host already routes it), masquerading
// what leaves through any other interface, so that every task has a default route out. Addresses
// on it are the node's own business (not the cluster's): handed out here, kept in the data dir.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurably } from '../util/durable-file.js';
import { join } from 'node:path';
import { Netns } from '../kernel/netns.js';
import { applyNft, listTables, Transaction } from '../kernel/nftables.js';
import type { Rtnl } from '../kernel/rtnl.js';
import { macForIp } from '../model/endpoint.js';
import { AddressAllocator, defaultGateway, formatCidr, overlaps, parseCidr } from './ipam.js';

export const EGRESS_BRIDGE = 'shoal_gwbridge';
export const EGRESS_TABLE = 'shoal_egress';
/** The ingress sandbox holds an address on the bridge too, under this name instead of a task ID. */
export const INGRESS_SANDBOX_OWNER = 'ingress-sbox';
/** Docker's local pools for docker_gwbridge, in the order it tries them. */
export const EGRESS_CANDIDATES = ['172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16', '172.21.0.0/16', '172.22.0.0/16', '172.23.0.0/16', '172.24.0.0/16', '172.25.0.0/16'];

interface EgressState {
  subnet: string;
  /** Address (with prefix) by task ID. */
  tasks: Record<string, string>;
}

export interface EgressAttachment {
  address: string;
  mac: string;
  gateway: string;
  mtu: number;
}

export class EgressBridge {
  private state: EgressState | undefined;
  private readonly file: string;

  constructor(
    private readonly host: Rtnl,
    dataDir: string,
  ) {
    this.file = join(dataDir, 'egress.json');
  }

  /** Creates (or checks) the bridge, its address, forwarding and masquerading. */
  async ensure(): Promise<void> {
    const state = await this.load();
    const subnet = parseCidr(state.subnet);
    const gateway = `${defaultGateway(subnet)}/${subnet.prefix}`;
    const br = await this.host.links.find(EGRESS_BRIDGE);
    if (!br) await this.host.links.addBridge(EGRESS_BRIDGE);
    if (!(await this.host.addresses.list(EGRESS_BRIDGE)).some((a) => a.cidr === gateway)) await this.host.addresses.add(EGRESS_BRIDGE, gateway);
    await this.host.links.setUp(EGRESS_BRIDGE);
    const self = Netns.open('self');
    try {
      self.writeSysctl('net.ipv4.ip_forward', 1);
    } finally {
      self.close();
    }
    const tables = await listTables('self');
    const tx = new Transaction('ip', EGRESS_TABLE);
    if (tables.some((t) => t.family === 'ip' && t.name === EGRESS_TABLE)) tx.deleteTable();
    tx.addTable()
      .addChain('postrouting', { type: 'nat', hook: 'postrouting', priority: 100 })
      .addRule('postrouting', `ip saddr ${state.subnet} oifname != "${EGRESS_BRIDGE}" masquerade`);
    await applyNft('self', tx);
  }

  /** The task's address on the bridge (the same one again for a task that has one). */
  async attachmentFor(taskId: string): Promise<EgressAttachment> {
    const state = await this.load();
    const subnet = parseCidr(state.subnet);
    let addr = state.tasks[taskId];
    if (!addr) {
      const a = new AddressAllocator(subnet, [defaultGateway(subnet), ...Object.values(state.tasks).map((x) => x.split('/')[0]!)]);
      addr = `${a.allocate()}/${subnet.prefix}`;
      state.tasks[taskId] = addr;
      this.save();
    }
    return { address: addr, mac: macForIp(addr.split('/')[0]!), gateway: defaultGateway(subnet), mtu: (await this.host.links.get(EGRESS_BRIDGE)).mtu };
  }

  release(taskId: string): void {
    if (!this.state?.tasks[taskId]) return;
    delete this.state.tasks[taskId];
    this.save();
  }

  /** Tasks holding an address, so a restart can drop those that are gone. */
  taskIds(): string[] {
    return Object.keys(this.state?.tasks ?? {}).filter((id) => id !== INGRESS_SANDBOX_OWNER);
  }

  /** Removes the bridge, the nft table and the state (the node left the swarm). */
  async remove(): Promise<void> {
    if (await this.host.links.find(EGRESS_BRIDGE)) await this.host.links.delete(EGRESS_BRIDGE);
    if ((await listTables('self')).some((t) => t.family === 'ip' && t.name === EGRESS_TABLE)) await applyNft('self', new Transaction('ip', EGRESS_TABLE).deleteTable());
    this.state = { subnet: this.state?.subnet ?? EGRESS_CANDIDATES[0]!, tasks: {} };
    this.save();
  }

  private async load(): Promise<EgressState> {
    if (this.state) return this.state;
    if (existsSync(this.file)) {
      this.state = JSON.parse(readFileSync(this.file, 'utf8')) as EgressState;
      return this.state;
    }
    this.state = { subnet: await this.freeSubnet(), tasks: {} };
    this.save();
    return this.state;
  }

  /** The first candidate that no route of this namespace overlaps (Docker's rule for its local pools). */
  private async freeSubnet(): Promise<string> {
    const routes = (await this.host.routes.list({ family: 4 })).filter((r) => r.dst !== 'default' && r.dev !== EGRESS_BRIDGE);
    const used = routes.map((r) => parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, true));
    const free = EGRESS_CANDIDATES.find((c) => !used.some((u) => u.prefix > 0 && overlaps(u, parseCidr(c))));
    if (!free) throw new Error(`no free subnet for the egress bridge: ${EGRESS_CANDIDATES.join(', ')} are all routed on this host already`);
    return formatCidr(parseCidr(free));
  }

  private save(): void {
    writeFileDurably(this.file, JSON.stringify(this.state, null, 2), 0o600);
  }
}
