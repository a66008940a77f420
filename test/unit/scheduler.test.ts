// The leader's allocation and scheduling passes against real tables and hand-set membership: spread,
// restart policy (delay, none, attempts), drain, dead nodes, pending with Docker's reason, scaling,
// global services, rolling updates, history limit, removal, and no duplicate address at scale.
import t from 'tap';
import { AddressBook } from '../../src/controllers/leader/address-book.js';
import { allocateIngressNodeAddrs, allocateNetworks, allocateServices } from '../../src/controllers/leader/allocator.js';
import { schedule } from '../../src/controllers/leader/scheduler.js';
import { normalizeServiceSpec } from '../../src/model/service.js';
import type { TaskRecord, TaskState } from '../../src/model/task.js';
import { fakeView, type FakeView } from '../lib/fake-view.js';
import { tunables } from '../../src/config/tunables.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');

function setup(nodes = 3): FakeView & { pass(atMs?: number): void; clock: number } {
  const view = fakeView();
  for (let i = 1; i <= nodes; i++) view.addNode({ id: `node${i}`, hostname: `node${i}` });
  view.tables.networks.put('net1', { id: 'net1', name: 'appnet', driver: 'overlay', ingress: false, attachable: false, labels: {}, options: {}, ipam: {}, createdAt: 'a' });
  const cursors = new Map<string, string>();
  const updates = new Map<string, number>();
  const v = Object.assign(view, {
    clock: T0,
    pass(atMs?: number) {
      if (atMs !== undefined) v.clock = atMs;
      // A few passes, as the reconcile loop would run on the writes of the previous one.
      for (let i = 0; i < 4; i++) {
        allocateNetworks(view);
        allocateIngressNodeAddrs(view, new AddressBook(view.tables, cursors));
        allocateServices(view, new AddressBook(view.tables, cursors));
        schedule(view, new AddressBook(view.tables, cursors), updates, new Date(v.clock));
      }
    },
  });
  return v;
}

let seq = 0;
function createService(v: FakeView, spec: Record<string, unknown>): string {
  const id = `svc${++seq}`;
  const normalized = normalizeServiceSpec(spec, (n) => (n === 'appnet' ? 'net1' : n));
  const now = new Date(T0 + seq).toISOString();
  v.tables.services.put(id, { id, spec: normalized, createdAt: now, updatedAt: now });
  return id;
}

const tasks = (v: FakeView, svc: string) => v.tables.tasks.list().map((e) => e.value).filter((x) => x.serviceId === svc);
const running = (v: FakeView, svc: string) => tasks(v, svc).filter((x) => x.desiredState === 'running');
function report(v: FakeView, task: TaskRecord, state: TaskState, atMs: number, exitCode?: number): void {
  v.tables.taskStatus.put(task.id, { id: task.id, nodeId: task.nodeId, state, message: state, timestamp: new Date(atMs).toISOString(), ...(exitCode !== undefined ? { exitCode } : {}) });
}
const runAll = (v: FakeView, svc: string, at: number) => { for (const x of running(v, svc)) report(v, x, 'running', at); };
const web = (extra: Record<string, unknown> = {}) => ({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }], ...extra }, Mode: { Replicated: { Replicas: 3 } } });

t.test('replicas spread over nodes, with a VIP and distinct addresses', async (t) => {
  const v = setup();
  const id = createService(v, web());
  v.pass();
  const ts = running(v, id);
  t.same(ts.map((x) => x.slot).sort(), [1, 2, 3], 'slots 1..3');
  t.same(ts.map((x) => x.nodeId).sort(), ['node1', 'node2', 'node3'], 'one per node');
  t.ok(ts.every((x) => x.status.state === 'assigned' && /^[0-9a-z]{25}$/.test(x.id)), 'assigned, with 25-character IDs');
  const alloc = v.tables.networkAllocations.get('net1')!.value;
  t.same([alloc.subnet, alloc.gateway, alloc.vni], ['10.0.0.0/24', '10.0.0.1', 4096]);
  const vip = v.tables.serviceEndpoints.get(id)!.value.vips[0]!;
  const addrs = [vip.addr, ...ts.map((x) => x.networks[0]!.addr)];
  t.equal(new Set(addrs).size, 4, 'VIP and task addresses all differ');
  t.ok(addrs.every((a) => a.startsWith('10.0.0.') && a.endsWith('/24') && a !== '10.0.0.1/24'), 'all in the subnet, none the gateway');
});

t.test('a failed task is replaced in its slot after the restart delay, and history is kept', async (t) => {
  const v = setup();
  const id = createService(v, web());
  v.pass();
  runAll(v, id, T0);
  const victim = running(v, id).find((x) => x.slot === 2)!;
  report(v, victim, 'failed', T0 + 1000, 137);
  v.pass(T0 + 1100);
  t.equal(v.tables.tasks.get(victim.id)!.value.desiredState, 'shutdown', 'the failed task is shut down');
  t.same(v.tables.tasks.get(victim.id)!.value.restart, { at: new Date(T0 + 6000).toISOString() }, 'restart after the default 5 s delay');
  t.equal(running(v, id).filter((x) => x.slot === 2).length, 0, 'no replacement before the delay');
  v.pass(T0 + 6000);
  const replacement = running(v, id).filter((x) => x.slot === 2);
  t.equal(replacement.length, 1, 'a new task in slot 2');
  t.not(replacement[0]!.id, victim.id);
  t.equal(tasks(v, id).filter((x) => x.slot === 2).length, 2, 'the failed one stays as history');
});

t.test('restart conditions and attempts', async (t) => {
  const v = setup();
  const none = createService(v, { ...web({ RestartPolicy: { Condition: 'none' } }), Name: 'once', Mode: { Replicated: { Replicas: 1 } } });
  const onfail = createService(v, { ...web({ RestartPolicy: { Condition: 'on-failure', Delay: 0, MaxAttempts: 2 } }), Name: 'flaky', Mode: { Replicated: { Replicas: 1 } } });
  v.pass();
  report(v, running(v, none)[0]!, 'failed', T0, 1);
  v.pass(T0 + 10_000);
  t.equal(running(v, none).length, 0, 'condition none: not restarted');
  t.match(tasks(v, none)[0]!.restart, { never: 'restart policy is none' });

  let at = T0;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const cur = running(v, onfail)[0];
    t.ok(cur, `attempt ${attempt} runs`);
    report(v, cur!, 'failed', (at += 1000), 1);
    v.pass((at += 10));
  }
  t.equal(running(v, onfail).length, 0, 'after the first run and 2 restarts, no more');
  t.equal(tasks(v, onfail).length, 3);

  const done = createService(v, { ...web({ RestartPolicy: { Condition: 'on-failure', Delay: 0 } }), Name: 'job', Mode: { Replicated: { Replicas: 1 } } });
  v.pass();
  report(v, running(v, done)[0]!, 'complete', at + 100, 0);
  v.pass(at + 200);
  t.equal(running(v, done).length, 0, 'on-failure: a task that completed is not restarted');
});

t.test('drain moves tasks; a dead node\'s tasks are replaced at once', async (t) => {
  const v = setup();
  const id = createService(v, web());
  v.pass();
  runAll(v, id, T0);
  const onNode2 = running(v, id).find((x) => x.nodeId === 'node2')!;
  v.addNode({ ...v.node('node2')!, availability: 'drain' });
  v.pass(T0 + 100);
  t.equal(v.tables.tasks.get(onNode2.id)!.value.desiredState, 'shutdown', 'the drained node\'s task is stopped');
  t.equal(running(v, id).filter((x) => x.slot === onNode2.slot).length, 0, 'stop-first: no replacement while it stops');
  report(v, onNode2, 'shutdown', T0 + 200);
  v.pass(T0 + 300);
  const moved = running(v, id).find((x) => x.slot === onNode2.slot)!;
  t.ok(moved && moved.nodeId !== 'node2', `slot ${onNode2.slot} moved to ${moved?.nodeId}`);
  runAll(v, id, T0 + 300);

  const onNode3 = running(v, id).find((x) => x.nodeId === 'node3')!;
  v.setState('node3', 'down');
  v.pass(T0 + 400);
  t.equal(v.tables.tasks.get(onNode3.id)!.value.desiredState, 'shutdown');
  const replaced = running(v, id).find((x) => x.slot === onNode3.slot)!;
  t.equal(replaced.nodeId, 'node1', 'replaced at once on the only node left');
});

t.test('a constraint nobody meets leaves the task pending with Docker\'s reason', async (t) => {
  const v = setup();
  const id = createService(v, { ...web({ Placement: { Constraints: ['node.labels.zone==mars'] } }), Mode: { Replicated: { Replicas: 1 } } });
  v.pass();
  const [p] = running(v, id);
  t.equal(p!.nodeId, '');
  t.equal(p!.status.state, 'pending');
  t.equal(p!.status.err, 'no suitable node (scheduling constraints not satisfied on 3 nodes)');
  v.addNode({ ...v.node('node2')!, labels: { zone: 'mars' } });
  v.pass();
  t.equal(running(v, id)[0]!.nodeId, 'node2', 'placed once a node matches');

  const hostOnly = createService(v, { ...web({ Placement: { Constraints: ['node.hostname==node1'], MaxReplicas: 1 } }), Name: 'one', Mode: { Replicated: { Replicas: 2 } } });
  v.pass();
  t.same(running(v, hostOnly).map((x) => x.nodeId).sort(), ['', 'node1']);
  t.match(running(v, hostOnly).find((x) => x.nodeId === '')!.status.err, /max replicas per node limit exceed/);
});

t.test('scaling, global services, updates, history and removal', async (t) => {
  const v = setup();
  const id = createService(v, web());
  v.pass();
  runAll(v, id, T0);
  const svc = v.tables.services.get(id)!.value;
  const bump = (spec: typeof svc.spec, ms: number) => v.tables.services.put(id, { ...svc, spec, updatedAt: new Date(T0 + ms).toISOString() });

  bump({ ...svc.spec, Mode: { Replicated: { Replicas: 1 } } }, 10);
  v.pass(T0 + 20);
  t.same(running(v, id).map((x) => x.slot), [1], 'scale down keeps slot 1');
  for (const x of tasks(v, id).filter((y) => y.slot !== 1)) report(v, x, 'shutdown', T0 + 30);
  v.pass(T0 + 40);
  t.same(tasks(v, id).map((x) => x.slot), [1], 'the removed slots\' tasks are gone once stopped');

  bump({ ...svc.spec, Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: { ...svc.spec.TaskTemplate, ContainerSpec: { ...svc.spec.TaskTemplate.ContainerSpec, Image: 'busybox:2' } } }, 50);
  v.pass(T0 + 60);
  runAll(v, id, T0 + 70);
  v.pass(T0 + 80);
  const old = tasks(v, id).filter((x) => x.spec.ContainerSpec.Image === 'busybox');
  t.equal(old.filter((x) => x.desiredState === 'shutdown').length, 1, 'update: one old task stopped at a time (parallelism 1)');
  for (let i = 0; i < 3; i++) {
    for (const x of tasks(v, id).filter((y) => y.desiredState === 'shutdown')) report(v, x, 'shutdown', T0 + 100 + i * 100);
    v.pass(T0 + 110 + i * 100);
    runAll(v, id, T0 + 120 + i * 100);
    v.pass(T0 + 130 + i * 100);
  }
  t.ok(running(v, id).every((x) => x.spec.ContainerSpec.Image === 'busybox:2') && running(v, id).length === 3, 'all three run the new image');

  let at = T0 + 10_000;
  const slot1 = () => tasks(v, id).filter((x) => x.slot === 1);
  for (let i = 0; i < tunables.taskHistoryLimit + 3; i++) {
    report(v, running(v, id).find((x) => x.slot === 1)!, 'failed', (at += 10_000), 1);
    v.pass((at += 10));
    v.pass((at += 6000));
  }
  t.equal(slot1().length, tunables.taskHistoryLimit, `slot 1 keeps ${tunables.taskHistoryLimit} tasks`);

  const glob = createService(v, { Name: 'agent', TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: { Global: {} } });
  v.pass(at);
  t.same(running(v, glob).map((x) => x.nodeId).sort(), ['node1', 'node2', 'node3'], 'global: one per node');
  v.addNode({ id: 'node4', hostname: 'node4' });
  v.pass(at + 10);
  t.equal(running(v, glob).filter((x) => x.nodeId === 'node4').length, 1, 'a node that joins gets one');

  v.tables.services.delete(id);
  v.pass(at + 20);
  t.ok(tasks(v, id).every((x) => x.desiredState === 'remove'), 'a removed service\'s tasks are to be removed');
  for (const x of tasks(v, id)) report(v, x, 'shutdown', at + 30);
  v.pass(at + 40);
  t.equal(tasks(v, id).length, 0, 'and deleted once stopped');
  t.notOk(v.tables.serviceEndpoints.get(id), 'its VIP is released');
});

t.test('200 tasks at once on one /24: no duplicate address', async (t) => {
  const v = setup();
  const ids = [createService(v, { ...web(), Name: 'a', Mode: { Replicated: { Replicas: 120 } } }), createService(v, { ...web(), Name: 'b', Mode: { Replicated: { Replicas: 80 } } })];
  v.pass();
  const addrs = ids.flatMap((id) => running(v, id).map((x) => x.networks[0]!.addr));
  const vips = ids.map((id) => v.tables.serviceEndpoints.get(id)!.value.vips[0]!.addr);
  t.equal(addrs.length, 200);
  t.equal(new Set([...addrs, ...vips, '10.0.0.1/24']).size, 203, '200 task addresses, 2 VIPs and the gateway, all distinct');
});

t.test('a service spreads over nodes before load evens out', async (t) => {
  const v = setup();
  createService(v, { ...web({ Placement: { Constraints: ['node.hostname==node2'] } }), Name: 'busy', Mode: { Replicated: { Replicas: 4 } } });
  v.pass();
  const id = createService(v, { ...web(), Name: 'spread' });
  v.pass();
  t.same(running(v, id).map((x) => x.nodeId).sort(), ['node1', 'node2', 'node3'], 'one per node, even on the busy one');
});

t.test('a service that exhausts its subnet stops alone: other services are still allocated and scheduled', async (t) => {
  const v = setup();
  // A /29 holds 6 hosts: the gateway, the VIP and 4 tasks.
  v.tables.networks.put('small', { id: 'small', name: 'small', driver: 'overlay', ingress: false, attachable: false, labels: {}, options: {}, ipam: { subnet: '10.9.9.0/29' }, createdAt: 'b' });
  const big = createService(v, { Name: 'big', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'small' }] }, Mode: { Replicated: { Replicas: 10 } } });
  const other = createService(v, web());
  v.pass();
  t.equal(running(v, big).length, 4, 'the full subnet gave the big service the 4 addresses it had');
  t.equal(running(v, other).length, 3, 'the other service got all its tasks all the same');
  const later = createService(v, { ...web(), Name: 'later' });
  v.pass();
  t.equal(running(v, later).length, 3, 'and a service created afterwards is scheduled too');
  const addrs = running(v, big).map((x) => x.networks[0]!.addr);
  t.equal(new Set(addrs).size, 4, 'no address was handed out twice');
});

t.test('tasks carry the service\'s registry auth; a new auth alone replaces no running task', async (t) => {
  const v = setup();
  const id = createService(v, web());
  const rec = v.tables.services.get(id)!.value;
  v.tables.services.put(id, { ...rec, registryAuth: 'first' });
  v.pass();
  runAll(v, id, T0 + 1000);
  t.same(running(v, id).map((x) => x.registryAuth), ['first', 'first', 'first'], 'every task has it, for its node\'s pull');
  const before = running(v, id).map((x) => x.id).sort();
  v.tables.services.put(id, { ...rec, registryAuth: 'second', updatedAt: new Date(T0 + 2000).toISOString() });
  v.pass(T0 + 3000);
  t.same(running(v, id).map((x) => x.id).sort(), before, 'the same tasks keep running (as swarmkit ignores PullOptions for them)');
});
