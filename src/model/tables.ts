// The cluster's tables on the state stores, typed, and who writes each (one writer role per entry:
// docs/decisions/0006-cluster-objects.md). Three stores hold them: the managers' objects (on etcd:
// managers write, every node reads), what each node reports about itself (on etcd, under a prefix
// only that node may write), and the endpoints every node plumbs (gossip, signed by their owner).
// Controllers and the API reach tables only here.
import type { StateStore, StateTable } from '../store/state.js';
import { parseSettings, type ClusterSettings } from './cluster.js';
import { parseEndpoint, type EndpointRecord } from './endpoint.js';
import { parseNetworkAllocation, parseNetworkSpec, type NetworkAllocation, type NetworkSpec } from './network.js';
import { parseNode, parseNodeStatus, type NodeRecord, type NodeStatus } from './node.js';
import { parseServiceEndpoint, parseServiceRecord, type ServiceEndpoint, type ServiceRecord } from './service.js';
import { parseTask, parseTaskStatus, type TaskRecord, type TaskStatusRecord } from './task.js';
import { parseNameClaim, type NameClaim } from './names.js';

/** The tables the controllers reconcile from. */
export interface ObjectTables {
  /** API (any manager). */
  networks: StateTable<NetworkSpec>;
  /** Leader. */
  networkAllocations: StateTable<NetworkAllocation>;
  /** API. */
  services: StateTable<ServiceRecord>;
  /** Leader. */
  serviceEndpoints: StateTable<ServiceEndpoint>;
  /** Leader. */
  tasks: StateTable<TaskRecord>;
  /** The node running the task. */
  taskStatus: StateTable<TaskStatusRecord>;
  /** The node that plumbed the endpoint. */
  endpoints: StateTable<EndpointRecord>;
  /** API (any manager): which object holds each service and network name. */
  names: StateTable<NameClaim>;
}

/** The object tables and the membership tables together. */
export interface ClusterTables extends ObjectTables {
  /** Managers: role, availability, labels. */
  nodes: StateTable<NodeRecord>;
  /** Managers and the leader: settings, secrets, the desired gossip keyring (key SETTINGS_KEY). */
  settings: StateTable<ClusterSettings>;
  /** Each node, its own entry: what it reports about itself. */
  nodeStatus: StateTable<NodeStatus>;
}

/** Where each kind of table lives (one store may play every part, as in unit tests). */
export interface TableStores {
  /** Managers write, every node reads: etcd under /shoal/objects/. */
  objects: StateStore;
  /** Each node writes its own entries: etcd under /shoal/nodes/<id>/ (ownerOfEntry places them). */
  nodes: StateStore;
  /** The endpoints of service discovery: gossip, as Docker's NetworkDB. */
  gossip: StateStore;
}

function storesOf(s: StateStore | TableStores): TableStores {
  return 'objects' in s ? s : { objects: s, nodes: s, gossip: s };
}

/** The node an entry of a per-node table belongs to (the one allowed to write it). */
export function ownerOfEntry(table: string, key: string, value: unknown): string {
  if (table === 'node-status') return key;
  if (table === 'task-status') return (value as { nodeId?: unknown } | undefined)?.nodeId as string;
  throw new Error(`table '${table}' is not kept per node`);
}

export function defineObjectTables(stores: StateStore | TableStores): ObjectTables {
  const s = storesOf(stores);
  return {
    networks: s.objects.table('networks', parseNetworkSpec),
    networkAllocations: s.objects.table('network-allocations', parseNetworkAllocation),
    services: s.objects.table('services', parseServiceRecord),
    serviceEndpoints: s.objects.table('service-endpoints', parseServiceEndpoint),
    tasks: s.objects.table('tasks', parseTask),
    taskStatus: s.nodes.table('task-status', parseTaskStatus),
    endpoints: s.gossip.table('endpoints', parseEndpoint),
    names: s.objects.table('names', parseNameClaim),
  };
}

export function defineClusterTables(stores: StateStore | TableStores): ClusterTables {
  const s = storesOf(stores);
  return {
    ...defineObjectTables(s),
    nodes: s.objects.table('nodes', parseNode),
    settings: s.objects.table('cluster', parseSettings),
    nodeStatus: s.nodes.table('node-status', parseNodeStatus),
  };
}
