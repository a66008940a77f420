// What a controller sees of the cluster: this node's identity, the typed tables, who is leader,
// which nodes are up (from gossip), and a signal when membership changes. Swarm provides it; a
// controller gets it passed in and never reaches for the swarm itself.
import type { ClusterSettings, NodeRecord } from '../cluster/swarm.js';
import type { ObjectTables } from '../model/tables.js';
import type { Logger } from '../util/log.js';

export type NodeLiveness = 'ready' | 'down' | 'unknown';

export interface ClusterView {
  readonly nodeId: string;
  /** This node's underlay address (its VTEP). */
  readonly advertiseAddr: string;
  readonly tables: ObjectTables;
  readonly log: Logger;
  isLeader(): boolean;
  nodes(): NodeRecord[];
  node(id: string): NodeRecord | undefined;
  nodeState(id: string): NodeLiveness;
  settings(): ClusterSettings | undefined;
  /** Calls fn whenever a member joins, fails, leaves or changes; returns an unsubscribe function. */
  onMembership(fn: () => void): () => void;
}

/** Calls fn on any change to the chosen tables and on any membership change; returns what stops it all. */
export function watchCluster(view: ClusterView, tables: (t: ObjectTables) => { watch(fn: () => void): () => void }[], fn: () => void): () => void {
  const stops = [...tables(view.tables).map((table) => table.watch(() => fn())), view.onMembership(fn)];
  return () => { for (const stop of stops.splice(0)) stop(); };
}
