// The cluster's tables on the state store, typed, and who writes each (one writer role per entry:
// docs/decisions/0006-cluster-objects.md). Controllers and the API reach tables only here.
import type { StateStore, StateTable } from '../store/state.js';
import { parseSettings, type ClusterSettings } from './cluster.js';
import { parseEndpoint, type EndpointRecord } from './endpoint.js';
import { parseNetworkAllocation, parseNetworkSpec, type NetworkAllocation, type NetworkSpec } from './network.js';
import { parseNode, parseNodeStatus, type NodeRecord, type NodeStatus } from './node.js';
import { parseServiceEndpoint, parseServiceRecord, type ServiceEndpoint, type ServiceRecord } from './service.js';
import { parseTask, parseTaskStatus, type TaskRecord, type TaskStatusRecord } from './task.js';

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

export function defineObjectTables(store: StateStore): ObjectTables {
  return {
    networks: store.table('networks', parseNetworkSpec),
    networkAllocations: store.table('network-allocations', parseNetworkAllocation),
    services: store.table('services', parseServiceRecord),
    serviceEndpoints: store.table('service-endpoints', parseServiceEndpoint),
    tasks: store.table('tasks', parseTask),
    taskStatus: store.table('task-status', parseTaskStatus),
    endpoints: store.table('endpoints', parseEndpoint),
  };
}

export function defineClusterTables(store: StateStore): ClusterTables {
  return {
    ...defineObjectTables(store),
    nodes: store.table('nodes', parseNode),
    settings: store.table('cluster', parseSettings),
    nodeStatus: store.table('node-status', parseNodeStatus),
  };
}
