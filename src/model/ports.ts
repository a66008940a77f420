// Which published ports a service may ask for, checked before anything is written: none the cluster
// itself listens on (a published port is DNATed on every local address of a node, so it would take
// the cluster's own traffic), and none that clashes with another service's. Docker's rules for the
// clash (swarmkit controlapi): an ingress port is the cluster's on every node, so it clashes with
// any other service publishing that port/protocol in either mode; two host-mode services may share
// a port, since each binds it only where its tasks run and the scheduler keeps them apart.
import type { PortConfig } from './service.js';

/** A port number the cluster itself uses, and for what. */
export interface ReservedPort {
  port: number;
  use: string;
}

/** The ports a node of this cluster listens on, from the agent's configuration. */
export interface ClusterPortSettings {
  /** This node's join listener and the default one (other nodes may use either). */
  joinPorts: number[];
  nodeApiPort: number;
  gossipPort: number;
  vxlanPort: number;
  mdnsPort: number;
  etcdClientPort: number;
  etcdPeerPort: number;
  etcdMetricsPort: number;
}

export function clusterReservedPorts(s: ClusterPortSettings): ReservedPort[] {
  return [
    ...[...new Set(s.joinPorts)].map((port) => ({ port, use: 'joining and cluster management' })),
    { port: s.nodeApiPort, use: 'the node API' },
    { port: s.etcdClientPort, use: 'etcd clients' },
    { port: s.etcdPeerPort, use: 'etcd peers' },
    { port: s.etcdMetricsPort, use: 'etcd health on loopback' },
    { port: s.gossipPort, use: 'gossip' },
    { port: s.vxlanPort, use: 'the VXLAN data path' },
    { port: s.mdnsPort, use: 'mDNS discovery of managers' },
  ];
}

/**
 * The message refusing a published port the cluster uses (by number, whatever the protocol: the
 * cluster's firewall rules and the operator's expectations go by number), or undefined.
 */
export function reservedPortProblem(ports: readonly PortConfig[], reserved: readonly ReservedPort[]): string | undefined {
  for (const p of ports) {
    if (p.PublishedPort === 0) continue;
    const r = reserved.find((x) => x.port === p.PublishedPort);
    if (r) return `port '${p.PublishedPort}' is reserved: the cluster uses it for ${r.use}; publish another port`;
  }
  return undefined;
}

/** Another service and the ports it publishes (its spec's and those the leader allocated). */
export interface PortHolder {
  id: string;
  name: string;
  ports: readonly PortConfig[];
}

const sameSlot = (a: PortConfig, b: PortConfig) => a.PublishedPort === b.PublishedPort && a.Protocol === b.Protocol;

/** Docker's message when a requested published port clashes with another service's, or undefined. */
export function portConflict(ports: readonly PortConfig[], others: readonly PortHolder[]): string | undefined {
  const wanted = ports.filter((p) => p.PublishedPort > 0);
  for (const s of others) {
    for (const q of s.ports) {
      if (q.PublishedPort === 0) continue;
      const clash = wanted.find((p) => sameSlot(p, q));
      if (!clash) continue;
      if (q.PublishMode === 'ingress') return `port '${q.PublishedPort}' is already in use by service '${s.name}' (${s.id}) as an ingress port`;
      if (clash.PublishMode === 'ingress') return `port '${q.PublishedPort}' is already in use by service '${s.name}' (${s.id}) as a host-published port`;
    }
  }
  return undefined;
}

/** Host-mode published ports: bound only on the nodes that run a task of the service. */
export function hostModePorts(ports: readonly PortConfig[]): PortConfig[] {
  return ports.filter((p) => p.PublishMode === 'host' && p.PublishedPort > 0);
}

/** `8080/tcp`: how a port is named in messages and keys. */
export function portKey(p: Pick<PortConfig, 'PublishedPort' | 'Protocol'>): string {
  return `${p.PublishedPort}/${p.Protocol}`;
}
