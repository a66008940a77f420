// The layout of shoal's keys in etcd: one prefix per kind of state, chosen so that etcd's RBAC
// (src/etcd/auth.ts) can say who reads and writes what with prefix permissions alone. Every prefix
// ends in '/', or a permission on `/shoal/nodes/w1` would also cover `/shoal/nodes/w10`.

/** Everything shoal keeps in etcd lives under this. */
export const ROOT_PREFIX = '/shoal/';

/** Cluster objects (networks, services, tasks' desired state, nodes' specs): managers write, workers read. */
export const OBJECTS_PREFIX = '/shoal/objects/';

/** What each node writes about itself (its status, its tasks' status), under `<nodeId>/`: only that
 * node and the managers write there; every worker reads all of it. */
export const NODES_PREFIX = '/shoal/nodes/';

/** Join secrets, the CA key, gossip keys: managers only (workers may neither read nor write). */
export const SECRETS_PREFIX = '/shoal/secrets/';

/** Allocations (IP addresses, VNIs, ports): managers only. */
export const ALLOC_PREFIX = '/shoal/alloc/';

/** Leader election among the managers (src/etcd/election.ts): managers only. */
export const ELECTION_PREFIX = '/shoal/election/';

/** The prefix a node writes about itself: `/shoal/nodes/<nodeId>/`. */
export function nodePrefix(nodeId: string): string {
  if (!/^[0-9a-z]{1,64}$/.test(nodeId)) throw new Error(`node ID '${nodeId}' must be 1 to 64 lowercase letters and digits`);
  return `${NODES_PREFIX}${nodeId}/`;
}

/** The key just past every key that starts with `prefix`, as etcd's range_end for a prefix. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key: etcd's convention for "to the end"
}
