// Networks as the cluster stores them: the spec the API writes (`networks`) and what the leader's
// allocator gives it (`network-allocations`: subnet, gateway, VNI). Names, limits and the parsers
// that check entries arriving from the network or the disk.
import { isIPv4 } from 'node:net';

export interface NetworkSpec {
  id: string;
  name: string;
  driver: 'overlay';
  /** The routing mesh's network: one per cluster, made at init, no DNS records. */
  ingress: boolean;
  /** Standalone containers may attach (recorded; shoal attaches only service tasks). */
  attachable: boolean;
  labels: Record<string, string>;
  /** Driver options as Docker passes them (`mtu`, `com.docker.network.driver.mtu`). */
  options: Record<string, string>;
  /** What the user asked for; the allocator fills in the rest. */
  ipam: { subnet?: string; gateway?: string };
  createdAt: string;
}

export interface NetworkAllocation {
  /** The network's ID. */
  id: string;
  subnet?: string;
  gateway?: string;
  vni?: number;
  /** Per-node sandbox addresses on this network (with prefix), by node ID: on ingress, every node's. */
  nodeAddrs?: Record<string, string>;
  /** Why the allocator could not allocate (the pool is exhausted, the subnet is taken). */
  error?: string;
}

export const INGRESS_NAME = 'ingress';

/** The routing mesh's network, made at swarm init: the first subnet of the pool (10.0.0.0/24 by default). */
export function ingressNetworkSpec(id: string, now: string): NetworkSpec {
  return { id, name: INGRESS_NAME, driver: 'overlay', ingress: true, attachable: false, labels: {}, options: {}, ipam: {}, createdAt: now };
}
/** VNIs are allocated cluster-wide from here, as Docker's ovmanager does (ingress gets 4096). */
export const FIRST_VNI = 4096;
export const MAX_VNI = (1 << 24) - 1;
/** VXLAN's overhead on an IPv4 underlay: inner Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50;

const record = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

export function parseNetworkSpec(v: unknown): NetworkSpec {
  const n = v as Partial<NetworkSpec>;
  if (typeof n?.id !== 'string' || typeof n.name !== 'string' || n.driver !== 'overlay') throw new Error('network needs id, name and driver overlay');
  if (typeof n.ingress !== 'boolean' || typeof n.attachable !== 'boolean' || !record(n.labels) || !record(n.options) || typeof n.ipam !== 'object' || n.ipam === null) throw new Error('network needs ingress, attachable, labels, options and ipam');
  return n as NetworkSpec;
}

export function parseNetworkAllocation(v: unknown): NetworkAllocation {
  const a = v as Partial<NetworkAllocation>;
  if (typeof a?.id !== 'string') throw new Error('network allocation needs the network id');
  if (a.error === undefined && (typeof a.subnet !== 'string' || typeof a.gateway !== 'string' || !isIPv4(a.gateway) || !Number.isInteger(a.vni))) throw new Error('network allocation needs subnet, gateway and vni, or an error');
  return a as NetworkAllocation;
}

/** The MTU inside the overlay: the option if given, else the underlay's minus VXLAN's overhead. */
export function overlayMtu(spec: NetworkSpec, underlayMtu: number): number {
  const opt = spec.options.mtu ?? spec.options['com.docker.network.driver.mtu'];
  return opt ? Number(opt) : underlayMtu - VXLAN_OVERHEAD;
}
