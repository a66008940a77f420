// Nodes as the cluster records them: the managers' record of each node (`nodes`: role,
// availability, labels, address) and what each node reports about itself (`node-status`, written
// only by that node). Roles, availabilities and the messages about them are Docker's.
import type { KeyringReport } from './cluster.js';

export type NodeRole = 'manager' | 'worker';
export type Availability = 'active' | 'pause' | 'drain';

/** A node as the cluster records it (the `nodes` table, keyed by node ID). */
export interface NodeRecord {
  id: string;
  hostname: string;
  role: NodeRole;
  availability: Availability;
  labels: Record<string, string>;
  addr: string;
  engineVersion: string;
  createdAt: string;
  updatedAt: string;
}

/** What a node reports about itself (the `node-status` table, keyed by node ID, written only by that node). */
export interface NodeStatus {
  id: string;
  /** Fingerprints of the gossip keys it holds, and the one it encrypts with. */
  gossip: KeyringReport;
  /** Its certificate from the cluster CA (PEM): how others check what it signs. */
  cert?: string;
  updatedAt: string;
}

export function parseNode(v: unknown): NodeRecord {
  const n = v as Partial<NodeRecord>;
  if (typeof n?.id !== 'string' || typeof n.hostname !== 'string' || (n.role !== 'manager' && n.role !== 'worker')) throw new Error('node record needs id, hostname and role');
  if (!['active', 'pause', 'drain'].includes(n.availability as string)) throw new Error('node availability must be active, pause or drain');
  return n as NodeRecord;
}

export function parseNodeStatus(v: unknown): NodeStatus {
  const n = v as Partial<NodeStatus>;
  if (typeof n?.id !== 'string' || !Array.isArray(n.gossip?.keys) || typeof n.gossip?.primary !== 'string') throw new Error('node status needs id and gossip keyring report');
  if (n.cert !== undefined && (typeof n.cert !== 'string' || !n.cert.startsWith('-----BEGIN CERTIFICATE-----'))) throw new Error('node status cert must be a PEM certificate');
  return n as NodeStatus;
}
