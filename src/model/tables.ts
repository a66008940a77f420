// The cluster's tables on the replicated store, typed, and who writes each (one writer role per
// entry: docs/decisions/0006-cluster-objects.md). Controllers and the API reach tables only here.
import type { ReplicatedStore, Table } from '../store/store.js';
import { parseEndpoint, type EndpointRecord } from './endpoint.js';
import { parseNetworkAllocation, parseNetworkSpec, type NetworkAllocation, type NetworkSpec } from './network.js';
import { parseServiceEndpoint, parseServiceRecord, type ServiceEndpoint, type ServiceRecord } from './service.js';
import { parseTask, parseTaskStatus, type TaskRecord, type TaskStatusRecord } from './task.js';

export interface ObjectTables {
  /** API (any manager). */
  networks: Table<NetworkSpec>;
  /** Leader. */
  networkAllocations: Table<NetworkAllocation>;
  /** API. */
  services: Table<ServiceRecord>;
  /** Leader. */
  serviceEndpoints: Table<ServiceEndpoint>;
  /** Leader. */
  tasks: Table<TaskRecord>;
  /** The node running the task. */
  taskStatus: Table<TaskStatusRecord>;
  /** The node that plumbed the endpoint. */
  endpoints: Table<EndpointRecord>;
}

export function defineObjectTables(store: ReplicatedStore): ObjectTables {
  return {
    networks: store.defineTable('networks', parseNetworkSpec),
    networkAllocations: store.defineTable('network-allocations', parseNetworkAllocation),
    services: store.defineTable('services', parseServiceRecord),
    serviceEndpoints: store.defineTable('service-endpoints', parseServiceEndpoint),
    tasks: store.defineTable('tasks', parseTask),
    taskStatus: store.defineTable('task-status', parseTaskStatus),
    endpoints: store.defineTable('endpoints', parseEndpoint),
  };
}
