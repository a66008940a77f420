// Which addresses are in use on each overlay network, as the tables say: gateways, service VIPs,
// task addresses (a task holds its address until its entry is deleted), endpoints that nodes have
// plumbed (held until the owning node removes them, so an address is reused only once its old
// owner is surely gone) and per-node sandbox addresses. Built fresh for each leader pass; the
// cursor of each subnet is kept across passes so addresses are handed out serially.
import type { ReadTables } from '../cluster-view.js';
import { AddressAllocator, parseCidr } from '../ipam.js';

export class AddressBook {
  private readonly allocators = new Map<string, AddressAllocator>();

  constructor(
    private readonly tables: ReadTables,
    /** Last address handed out per network, carried between passes (leader memory only). */
    private readonly cursors: Map<string, string>,
  ) {}

  /** An allocator for the network, or undefined while it has no allocation. */
  allocator(networkId: string): AddressAllocator | undefined {
    const existing = this.allocators.get(networkId);
    if (existing) return existing;
    const alloc = this.tables.networkAllocations.get(networkId)?.value;
    if (!alloc?.subnet || !alloc.gateway) return undefined;
    const a = new AddressAllocator(parseCidr(alloc.subnet), this.inUse(networkId, alloc.gateway, alloc.nodeAddrs), this.cursors.get(networkId));
    this.allocators.set(networkId, a);
    return a;
  }

  /** The next free address on the network with its prefix (10.0.1.5/24). */
  allocate(networkId: string): string | undefined {
    const a = this.allocator(networkId);
    if (!a) return undefined;
    const ip = a.allocate();
    this.cursors.set(networkId, a.position);
    return `${ip}/${a.subnet.prefix}`;
  }

  private inUse(networkId: string, gateway: string, nodeAddrs: Record<string, string> | undefined): string[] {
    const ips = [gateway, ...Object.values(nodeAddrs ?? {}).map(bare)];
    for (const { value: ep } of this.tables.serviceEndpoints.list()) for (const v of ep.vips) if (v.networkId === networkId) ips.push(bare(v.addr));
    for (const { value: t } of this.tables.tasks.list()) for (const n of t.networks) if (n.networkId === networkId) ips.push(bare(n.addr));
    for (const { value: e } of this.tables.endpoints.list()) if (e.networkId === networkId) ips.push(e.ip);
    return ips;
  }
}

export function bare(addr: string): string {
  return addr.split('/')[0]!;
}
