// Endpoints: an address a node has actually plumbed on an overlay network (a task's interface, or a
// node's own sandbox address), written by that node into `endpoints`. Remote nodes program a
// neighbour and an FDB entry for each (ip -> mac -> vtep); DNS answers from the task endpoints.
import { isIPv4 } from 'node:net';

export interface EndpointRecord {
  /** `<network id>/<task id>`, or `<network id>/node-<node id>` for a node's sandbox. */
  id: string;
  networkId: string;
  nodeId: string;
  /** The address inside the overlay, without prefix. */
  ip: string;
  mac: string;
  /** The owning node's underlay address: where VXLAN packets for this MAC go. */
  vtep: string;
  taskId?: string;
}

export function endpointId(networkId: string, owner: { taskId: string } | { nodeId: string }): string {
  return 'taskId' in owner ? `${networkId}/${owner.taskId}` : `${networkId}/node-${owner.nodeId}`;
}

/** Docker's MAC for an IPv4 endpoint: 02:42 then the four address bytes, so peers need no lookup. */
export function macForIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

export function parseEndpoint(v: unknown): EndpointRecord {
  const e = v as Partial<EndpointRecord>;
  if (typeof e?.id !== 'string' || typeof e.networkId !== 'string' || typeof e.nodeId !== 'string') throw new Error('endpoint needs id, networkId and nodeId');
  if (typeof e.ip !== 'string' || !isIPv4(e.ip) || typeof e.vtep !== 'string' || !isIPv4(e.vtep) || typeof e.mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(e.mac)) throw new Error('endpoint needs an IPv4 ip and vtep and a lower-case mac');
  return e as EndpointRecord;
}

/**
 * The node that may write an endpoint entry: for a node's own sandbox endpoint, the node its key
 * names; for a task's, the node the task is assigned to (taskNode), or, once the task is gone, the
 * node that wrote the entry held now (it may still delete it); undefined while that is not known.
 * A live entry must also name that node and its own key: an entry naming another node gets an
 * owner no signer can match, so a node cannot announce an address as someone else's.
 */
export function endpointOwner(key: string, value: unknown, current: { nodeId: string } | undefined, taskNode: (taskId: string) => string | undefined): string | undefined {
  const slash = key.indexOf('/');
  if (slash <= 0) return undefined;
  const rest = key.slice(slash + 1);
  const owner = rest.startsWith('node-') ? rest.slice('node-'.length) : (taskNode(rest) ?? current?.nodeId);
  if (owner === undefined) return undefined;
  if (value !== undefined) {
    const e = value as Partial<EndpointRecord>;
    if (e.id !== key) return undefined;
    if (e.nodeId !== owner) return e.nodeId === undefined ? undefined : `${owner} (the entry names ${e.nodeId})`;
  }
  return owner;
}
