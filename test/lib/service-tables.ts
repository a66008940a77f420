// Tables filled as a real cluster fills them, for unit tests of node controllers: three ready
// nodes, two overlay networks (appnet = net1, other = net2), services created through the spec's
// normalisation, the leader's allocator and scheduler run as passes, and runAndPlumb doing what a
// task's node does once it runs the task.
import { AddressBook } from '../../src/controllers/leader/address-book.js';
import { allocateNetworks, allocateServices } from '../../src/controllers/leader/allocator.js';
import { schedule } from '../../src/controllers/leader/scheduler.js';
import { endpointId, macForIp } from '../../src/model/endpoint.js';
import { normalizeServiceSpec } from '../../src/model/service.js';
import type { TaskRecord } from '../../src/model/task.js';
import { fakeView, type FakeView } from './fake-view.js';

export const NOW = new Date('2026-12-01T10:00:00Z');

export function cluster(): FakeView & { pass(): void } {
  const view = fakeView();
  for (let i = 1; i <= 3; i++) view.addNode({ id: `node${i}`, hostname: `node${i}` });
  for (const [id, name] of [['net1', 'appnet'], ['net2', 'other']] as const) {
    view.tables.networks.put(id, { id, name, driver: 'overlay', ingress: false, attachable: false, labels: {}, options: {}, ipam: {}, createdAt: 'a' });
  }
  const cursors = new Map<string, string>();
  const updates = new Map<string, number>();
  return Object.assign(view, {
    pass() {
      for (let i = 0; i < 4; i++) {
        allocateNetworks(view);
        allocateServices(view, new AddressBook(view.tables, cursors));
        schedule(view, new AddressBook(view.tables, cursors), updates, NOW);
      }
    },
  });
}

export function createService(v: FakeView, id: string, spec: Record<string, unknown>): void {
  const ids: Record<string, string> = { appnet: 'net1', other: 'net2' };
  const s = normalizeServiceSpec(spec, (n) => ids[n] ?? n);
  v.tables.services.put(id, { id, spec: s, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString() });
}

export const tasksOf = (v: FakeView, svc: string) => v.tables.tasks.list().map((e) => e.value).filter((x) => x.serviceId === svc && x.desiredState === 'running');

/** What the task's node does once it runs it: report running and write its endpoints. */
export function runAndPlumb(v: FakeView, task: TaskRecord): void {
  v.tables.taskStatus.put(task.id, { id: task.id, nodeId: task.nodeId!, state: 'running', message: 'started', timestamp: NOW.toISOString() });
  for (const n of task.networks) {
    const ip = n.addr.split('/')[0]!;
    const id = endpointId(n.networkId, { taskId: task.id });
    v.tables.endpoints.put(id, { id, networkId: n.networkId, nodeId: task.nodeId!, ip, mac: macForIp(ip), vtep: '192.168.56.1', taskId: task.id });
  }
}
