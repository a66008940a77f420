// A ClusterView over a real in-memory ReplicatedStore with membership set by hand, for unit tests
// of controllers: nodes are added and taken down by the test, the store's tables are the real ones.
import { pino } from 'pino';
import type { ClusterSettings, NodeRecord } from '../../src/cluster/swarm.js';
import type { ClusterView, NodeLiveness } from '../../src/controllers/cluster-view.js';
import { defineObjectTables } from '../../src/model/tables.js';
import { ReplicatedStore } from '../../src/store/store.js';

export interface FakeView extends ClusterView {
  store: ReplicatedStore;
  addNode(n: Partial<NodeRecord> & { id: string }): void;
  setState(id: string, state: NodeLiveness): void;
  leader: boolean;
}

export function fakeView(opts: { nodeId?: string; settings?: Partial<ClusterSettings> } = {}): FakeView {
  const store = new ReplicatedStore({ node: opts.nodeId ?? 'n1' });
  const tables = defineObjectTables(store);
  const nodes = new Map<string, NodeRecord>();
  const states = new Map<string, NodeLiveness>();
  const listeners = new Set<() => void>();
  const changed = () => { for (const l of listeners) l(); };
  const view: FakeView = {
    store,
    nodeId: opts.nodeId ?? 'n1',
    advertiseAddr: '192.168.56.101',
    tables,
    log: pino({ level: 'silent' }),
    leader: true,
    isLeader: () => view.leader,
    nodes: () => [...nodes.values()],
    node: (id) => nodes.get(id),
    nodeState: (id) => states.get(id) ?? 'unknown',
    settings: () => ({ defaultAddrPool: ['10.0.0.0/8'], subnetSize: 24, ...opts.settings }) as ClusterSettings,
    onMembership: (fn) => { listeners.add(fn); return () => listeners.delete(fn); },
    addNode: (n) => {
      nodes.set(n.id, { hostname: n.id, role: 'worker', availability: 'active', labels: {}, addr: '192.168.56.1', engineVersion: '0', createdAt: '', updatedAt: '', ...n });
      states.set(n.id, 'ready');
      changed();
    },
    setState: (id, state) => { states.set(id, state); changed(); },
  };
  return view;
}
