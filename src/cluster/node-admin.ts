// The managers' administration of node records, as Docker's node commands do it: finding a node by
// ID, unique ID prefix or hostname; updating its role, availability and labels with an optimistic
// version check (never demoting the last manager); removing one that is down (or with force).
import type { NodeLiveness } from '../controllers/cluster-view.js';
import type { Availability, NodeRecord, NodeRole } from '../model/node.js';
import type { StateTable } from '../store/state.js';
import { SwarmError } from './errors.js';

export interface NodeAdminOptions {
  nodes: StateTable<NodeRecord>;
  /** This node's ID: it cannot remove itself (it leaves instead). */
  selfId: string;
  nodeState(id: string): NodeLiveness;
}

/** What else changes with a node's role (its Raft membership and permissions), around the record's write. */
export interface RoleChange {
  before(record: NodeRecord, role: NodeRole): Promise<void>;
  after(record: NodeRecord, role: NodeRole): Promise<void>;
}

export class NodeAdmin {
  constructor(private readonly o: NodeAdminOptions) {}

  records(): NodeRecord[] {
    return this.o.nodes.list().map((n) => n.value);
  }

  /** Node records with Docker's Version.Index. */
  entries(): { record: NodeRecord; index: number }[] {
    return this.o.nodes.list().map((n) => ({ record: n.value, index: n.index }));
  }

  /** A node by ID, unique ID prefix or hostname; an unknown or ambiguous name is an error. */
  resolve(name: string): { record: NodeRecord; index: number } {
    const all = this.o.nodes.list();
    const exact = all.filter((n) => n.key === name);
    const byHost = all.filter((n) => n.value.hostname === name);
    const byPrefix = all.filter((n) => n.key.startsWith(name));
    const found = exact.length === 1 ? exact : byHost.length > 0 ? byHost : byPrefix;
    if (found.length === 0) throw new SwarmError(`No such node: ${name}`, 404);
    if (found.length > 1) throw new SwarmError(`node ${name} is ambiguous (${found.length} matches found)`, 400);
    const n = found[0]!;
    return { record: n.value, index: n.index };
  }

  /** Updates a node's spec (role, availability, labels) if `version` still matches, like Docker's optimistic update. */
  async update(id: string, version: number, spec: { role: NodeRole; availability: Availability; labels: Record<string, string> }, roleChange?: RoleChange): Promise<void> {
    const { record, index } = this.resolve(id);
    if (version !== index) throw new SwarmError(`update out of sequence: node ${record.id} is at version ${index}, not ${version}; read it again and retry`, 409);
    if (record.role === 'manager' && spec.role === 'worker') {
      const managers = this.records().filter((n) => n.role === 'manager');
      if (managers.length <= 1) throw new SwarmError(`rpc error: attempting to demote the last manager of the swarm`, 400);
    }
    const changing = record.role !== spec.role ? roleChange : undefined;
    await changing?.before(record, spec.role);
    await this.o.nodes.put(record.id, { ...record, role: spec.role, availability: spec.availability, labels: spec.labels, updatedAt: new Date().toISOString() });
    await changing?.after(record, spec.role);
  }

  /** Removes a node from the cluster's records: only a node that is down, unless forced. */
  async remove(name: string, force: boolean): Promise<void> {
    const { record } = this.resolve(name);
    if (record.id === this.o.selfId) throw new SwarmError('rpc error: node ' + record.id + ' is this node; use `shoal swarm leave` on it instead', 400);
    if (this.o.nodeState(record.id) === 'ready' && !force) {
      throw new SwarmError(`rpc error: node ${record.id} is not down and can't be removed. Take it down first (\`shoal swarm leave\` on it) or use --force`, 400);
    }
    if (record.role === 'manager' && !force) throw new SwarmError(`rpc error: node ${record.id} is a cluster manager; demote it before removing it`, 400);
    await this.o.nodes.delete(record.id);
  }
}
