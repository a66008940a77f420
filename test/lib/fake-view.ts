// A ClusterView over the in-memory state store with membership set by hand, for unit tests of
// controllers: nodes are added and taken down by the test, the tables are the real ones.
import { pino } from 'pino';
import type { ClusterView, NodeLiveness } from '../../src/controllers/cluster-view.js';
import type { ClusterSettings } from '../../src/model/cluster.js';
import type { NodeRecord } from '../../src/model/node.js';
import { defineObjectTables } from '../../src/model/tables.js';
import { MemoryStateStore } from '../../src/store/memory-store.js';

export interface FakeView extends ClusterView {
  store: MemoryStateStore;
  addNode(n: Partial<NodeRecord> & { id: string }): void;
  setState(id: string, state: NodeLiveness): void;
  leader: boolean;
}

export function fakeView(opts: { nodeId?: string; settings?: Partial<ClusterSettings> } = {}): FakeView {
  const store = new MemoryStateStore();
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
    batch: () => store.batch(),
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
