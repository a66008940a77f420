// The leader's allocator: gives each network spec a subnet, gateway and VNI; each service its VIPs
// (one per network in vip mode, plus one on ingress when it publishes ingress ports) and its
// published ports; every node an address on the ingress network. Allocations whose object is gone
// are deleted, which frees what they held. Every pass reads the tables afresh (a new leader picks
// up where the old one left off) and writes only what changed.
import { FIRST_VNI, MAX_VNI, type NetworkAllocation } from '../../model/network.js';
import { DYNAMIC_PORTS, type PortConfig, type ServiceEndpoint, type ServiceRecord } from '../../model/service.js';
import type { BatchView } from '../cluster-view.js';
import { defaultGateway, formatCidr, IpamError, nextSubnet, overlaps, parseCidr, type Cidr } from '../ipam.js';
import type { AddressBook } from './address-book.js';

export const DEFAULT_POOL = ['10.0.0.0/8'];
export const DEFAULT_SUBNET_SIZE = 24;

export function allocateNetworks(view: BatchView): void {
  const { networks, networkAllocations } = view.tables;
  const specs = new Map(networks.list().map((e) => [e.key, e.value]));
  for (const { key } of networkAllocations.list()) if (!specs.has(key)) networkAllocations.delete(key);

  const allocs = networkAllocations.list().map((e) => e.value);
  const taken: Cidr[] = allocs.filter((a) => a.subnet).map((a) => parseCidr(a.subnet!));
  // Subnets asked for by networks still waiting are not handed to others either.
  const pending = new Map([...specs.values()].filter((n) => n.ipam.subnet && !networkAllocations.get(n.id)).map((n) => [n.id, parseCidr(n.ipam.subnet!)]));
  const vnis = new Set(allocs.map((a) => a.vni).filter((v): v is number => v !== undefined));
  const settings = view.settings();

  for (const spec of [...specs.values()].sort((a, b) => Number(b.ingress) - Number(a.ingress) || a.createdAt.localeCompare(b.createdAt))) {
    if (networkAllocations.get(spec.id)) continue;
    pending.delete(spec.id);
    const blockers = [...taken, ...pending.values()];
    let alloc: NetworkAllocation;
    try {
      const subnet = spec.ipam.subnet ? requested(spec.ipam.subnet, blockers) : nextSubnet(settings?.defaultAddrPool ?? DEFAULT_POOL, settings?.subnetSize ?? DEFAULT_SUBNET_SIZE, blockers);
      alloc = { id: spec.id, subnet: formatCidr(subnet), gateway: spec.ipam.gateway ?? defaultGateway(subnet), vni: nextVni(vnis) };
      taken.push(subnet);
      vnis.add(alloc.vni!);
    } catch (err) {
      if (!(err instanceof IpamError)) throw err;
      alloc = { id: spec.id, error: err.message };
    }
    networkAllocations.put(spec.id, alloc);
    view.log.info({ network: spec.name, ...alloc }, alloc.error ? 'network could not be allocated' : 'network allocated');
  }
}

const told = new Set<string>();

/**
 * Runs one service's part of a pass so that an allocation it cannot get (a full subnet, no free
 * published port) stops that service only: the others are still allocated and scheduled. The reason
 * is logged once per service and message; the service stays short of its tasks until it can get them.
 */
export function aloneOnFailure(view: BatchView, svc: ServiceRecord, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof IpamError)) throw err;
    const key = `${svc.id} ${err.message}`;
    if (told.has(key)) return;
    if (told.size > 1000) told.clear();
    told.add(key);
    view.log.warn({ service: svc.spec.Name, err: err.message }, 'the service cannot get what it needs from the address pool; its other tasks and every other service go on');
  }
}

/** A requested subnet, unless it overlaps one in use. */
function requested(text: string, blockers: readonly Cidr[]): Cidr {
  const c = parseCidr(text);
  const clash = blockers.find((t) => overlaps(t, c));
  if (clash) throw new IpamError(`subnet ${text} overlaps ${formatCidr(clash)}, which another network uses`);
  return c;
}

function nextVni(used: Set<number>): number {
  for (let v = FIRST_VNI; v <= MAX_VNI; v++) if (!used.has(v)) return v;
  throw new IpamError('no VXLAN network identifier left');
}

/** Every node gets an address on the ingress network: its ingress sandbox's. */
export function allocateIngressNodeAddrs(view: BatchView, book: AddressBook): void {
  const ingress = view.tables.networks.list().find((n) => n.value.ingress)?.value;
  if (!ingress) return;
  const alloc = view.tables.networkAllocations.get(ingress.id)?.value;
  if (!alloc?.subnet) return;
  const nodeAddrs = { ...(alloc.nodeAddrs ?? {}) };
  const nodes = new Set(view.nodes().map((n) => n.id));
  let changed = false;
  for (const id of Object.keys(nodeAddrs)) if (!nodes.has(id)) { delete nodeAddrs[id]; changed = true; }
  for (const id of nodes) {
    if (nodeAddrs[id]) continue;
    const addr = book.allocate(ingress.id);
    if (!addr) return;
    nodeAddrs[id] = addr;
    changed = true;
  }
  if (changed) view.tables.networkAllocations.put(ingress.id, { ...alloc, nodeAddrs });
}

/** VIPs and published ports for every service; endpoints of removed services are deleted. */
export function allocateServices(view: BatchView, book: AddressBook): void {
  const { services, serviceEndpoints } = view.tables;
  const live = new Map(services.list().map((e) => [e.key, e.value]));
  for (const { key } of serviceEndpoints.list()) if (!live.has(key)) serviceEndpoints.delete(key);
  const ingressId = view.tables.networks.list().find((n) => n.value.ingress)?.key;
  const portsInUse = new Set(serviceEndpoints.list().flatMap((e) => e.value.ports.filter((p) => p.PublishMode === 'ingress').map((p) => `${p.PublishedPort}/${p.Protocol}`)));
  for (const svc of live.values()) {
    const current = serviceEndpoints.get(svc.id)?.value;
    if (current?.specUpdatedAt === svc.updatedAt) continue;
    aloneOnFailure(view, svc, () => {
      const next = endpointFor(svc, current, ingressId, book, portsInUse);
      if (next) serviceEndpoints.put(svc.id, next);
    });
  }
}

function endpointFor(svc: ServiceRecord, current: ServiceEndpoint | undefined, ingressId: string | undefined, book: AddressBook, portsInUse: Set<string>): ServiceEndpoint | undefined {
  const spec = svc.spec;
  const ports = assignPorts(spec.EndpointSpec.Ports, current?.ports ?? [], portsInUse);
  const wanted = spec.EndpointSpec.Mode === 'vip' ? spec.TaskTemplate.Networks.map((n) => n.Target) : [];
  if (ingressId && ports.some((p) => p.PublishMode === 'ingress')) wanted.push(ingressId);
  const vips: ServiceEndpoint['vips'] = [];
  for (const networkId of wanted) {
    const kept = current?.vips.find((v) => v.networkId === networkId);
    const addr = kept?.addr ?? book.allocate(networkId);
    if (!addr) return undefined; // that network is not allocated yet: try again next pass
    vips.push({ networkId, addr });
  }
  return { id: svc.id, vips, ports, specUpdatedAt: svc.updatedAt };
}

/** Keeps ports already assigned; PublishedPort 0 gets the lowest free one of 30000-32767. */
function assignPorts(wanted: readonly PortConfig[], had: readonly PortConfig[], inUse: Set<string>): PortConfig[] {
  return wanted.map((p) => {
    if (p.PublishedPort !== 0 || p.PublishMode !== 'ingress') return p;
    const prior = had.find((h) => h.TargetPort === p.TargetPort && h.Protocol === p.Protocol && h.PublishMode === p.PublishMode);
    if (prior) return prior;
    for (let port = DYNAMIC_PORTS.first; port <= DYNAMIC_PORTS.last; port++) {
      const key = `${port}/${p.Protocol}`;
      if (!inUse.has(key)) {
        inUse.add(key);
        return { ...p, PublishedPort: port };
      }
    }
    throw new IpamError(`no free published port left in ${DYNAMIC_PORTS.first}-${DYNAMIC_PORTS.last}`);
  });
}
