// What a controller sees of the cluster: this node's identity, the typed tables, who is leader,
// which nodes are up (from gossip), and a signal when membership changes. The swarm provides it; a
// controller gets it passed in and never reaches for the swarm itself.
import type { ClusterSettings } from '../model/cluster.js';
import type { NodeRecord } from '../model/node.js';
import type { ObjectTables } from '../model/tables.js';
import type { Batch, BatchTable, StateTable, TableReader } from '../store/state.js';
import type { Logger } from '../util/log.js';

export type NodeLiveness = 'ready' | 'down' | 'unknown';

type ValueOf<X> = X extends StateTable<infer T> ? T : never;
/** The object tables for reading only. */
export type ReadTables = { [K in keyof ObjectTables]: TableReader<ValueOf<ObjectTables[K]>> };
/** The object tables seen through a batch: synchronous writes, collected for one commit. */
export type BatchTables = { [K in keyof ObjectTables]: BatchTable<ValueOf<ObjectTables[K]>> };

export interface ClusterView {
  readonly nodeId: string;
  /** This node's underlay address (its VTEP). */
  readonly advertiseAddr: string;
  readonly tables: ObjectTables;
  readonly log: Logger;
  /** A batch over the state store, for writes decided together (the leader's pass). */
  batch(): Batch;
  isLeader(): boolean;
  nodes(): NodeRecord[];
  node(id: string): NodeRecord | undefined;
  nodeState(id: string): NodeLiveness;
  settings(): ClusterSettings | undefined;
  /** Calls fn whenever a member joins, fails, leaves or changes; returns an unsubscribe function. */
  onMembership(fn: () => void): () => void;
}

/** The cluster as one decision sees it: the view, with the object tables read and written through a batch. */
export type BatchView = Omit<ClusterView, 'tables'> & { readonly tables: BatchTables };

/** The view with its tables seen through the batch. */
export function throughBatch(view: ClusterView, batch: Batch): BatchView {
  const t = view.tables;
  const tables: BatchTables = {
    networks: batch.table(t.networks),
    networkAllocations: batch.table(t.networkAllocations),
    services: batch.table(t.services),
    serviceEndpoints: batch.table(t.serviceEndpoints),
    tasks: batch.table(t.tasks),
    taskStatus: batch.table(t.taskStatus),
    endpoints: batch.table(t.endpoints),
    names: batch.table(t.names),
  };
  return { ...view, tables, batch: () => batch, isLeader: () => view.isLeader(), nodes: () => view.nodes(), node: (id) => view.node(id), nodeState: (id) => view.nodeState(id), settings: () => view.settings(), onMembership: (fn) => view.onMembership(fn) };
}

/** Calls fn on any change to the chosen tables and on any membership change; returns what stops it all. */
export function watchCluster(view: ClusterView, tables: (t: ObjectTables) => { watch(fn: () => void): () => void }[], fn: () => void): () => void {
  const stops = [...tables(view.tables).map((table) => table.watch(() => fn())), view.onMembership(fn)];
  return () => { for (const stop of stops.splice(0)) stop(); };
}
