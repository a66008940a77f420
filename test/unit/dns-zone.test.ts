// The DNS controller's zone of one network, built from real tables filled by the leader's passes:
// the VIP or the task addresses per endpoint mode, tasks.<service>, aliases, task names and
// hostnames, PTR, SRV for published ports, and what leaves the zone (tasks not yet plumbed, not
// running, on a down node, or of a service on another network).
import t from 'tap';
import { buildZone } from '../../src/controllers/dns.js';
import { taskName, type TaskRecord } from '../../src/model/task.js';
import { cluster, createService, NOW, runAndPlumb, tasksOf } from '../lib/service-tables.js';

const ipOf = (task: TaskRecord, net: string) => task.networks.find((n) => n.networkId === net)!.addr.split('/')[0]!;
const sorted = (xs: string[]) => [...xs].sort();

t.test('vip and dnsrr services, tasks.<name>, aliases, task names, hostnames and PTR', async (t) => {
  const v = cluster();
  createService(v, 'svcweb', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet', Aliases: ['www'] }] }, Mode: { Replicated: { Replicas: 3 } } });
  createService(v, 'svcdb', { Name: 'db', TaskTemplate: { ContainerSpec: { Image: 'busybox', Hostname: 'dbhost' } , Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Mode: 'dnsrr' } });
  createService(v, 'svcelse', { Name: 'elsewhere', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'other' }] }, Mode: { Replicated: { Replicas: 1 } } });
  v.pass();
  const web = tasksOf(v, 'svcweb');
  const db = tasksOf(v, 'svcdb');
  t.equal(web.length, 3);
  t.equal(db.length, 2);

  const before = buildZone(v, 'net1', 'appnet');
  const vip = v.tables.serviceEndpoints.get('svcweb')!.value.vips.find((x) => x.networkId === 'net1')!.addr.split('/')[0]!;
  t.same(before.names.get('web')?.a, [vip], 'a vip service answers its VIP even before any task runs');
  t.same(before.names.get('tasks.web')?.a, [], 'tasks.web is empty until tasks are plumbed and running');
  t.same(before.names.get('db')?.a, [], 'a dnsrr service has no address until its tasks run');
  t.equal(before.ptr.size, 0, 'no PTR for tasks not plumbed');

  for (const x of [...web, ...db]) runAndPlumb(v, x);
  const z = buildZone(v, 'net1', 'appnet');
  const webIps = sorted(web.map((x) => ipOf(x, 'net1')));
  const dbIps = sorted(db.map((x) => ipOf(x, 'net1')));
  t.same(z.names.get('web')?.a, [vip], 'web -> its VIP');
  t.same(z.names.get('www')?.a, [vip], 'the alias -> the same VIP');
  t.same(z.names.get('tasks.web')?.a, webIps, 'tasks.web -> the three task addresses');
  t.ok(z.names.get('tasks.web')?.shuffle, 'tasks.web is shuffled');
  t.same(z.names.get('tasks.www')?.a, webIps, 'tasks.<alias> likewise');
  t.same(z.names.get('db')?.a, dbIps, 'dnsrr: db -> the task addresses');
  t.ok(z.names.get('db')?.shuffle, 'dnsrr answers are shuffled');
  t.notOk(z.names.get('web')?.shuffle, 'a VIP answer is not');
  t.equal(new Set([vip, ...webIps, ...dbIps]).size, 6, 'VIP and task addresses are distinct');
  for (const x of web) {
    t.same(z.names.get(taskName(x).toLowerCase())?.a, [ipOf(x, 'net1')], `task name ${taskName(x)}`);
    t.same(z.names.get(x.id.slice(0, 12))?.a, [ipOf(x, 'net1')], 'default hostname: the short task ID');
    t.equal(z.ptr.get(ipOf(x, 'net1')), `${taskName(x)}.appnet`, 'PTR -> <task name>.<network>');
  }
  t.same(z.names.get('dbhost')?.a, dbIps, 'a set hostname answers every task that carries it');
  t.notOk(z.names.has('elsewhere'), 'a service on another network is not in this zone');
  t.same(buildZone(v, 'net2', 'other').names.get('elsewhere')?.a.length, 1, 'but is in its own');
  t.notOk(buildZone(v, 'net2', 'other').names.has('web'), 'and web is not there');

  // A task that failed leaves the answers; so do the tasks of a node that is down.
  const [first, second] = web as [TaskRecord, TaskRecord];
  v.tables.taskStatus.put(first.id, { id: first.id, nodeId: first.nodeId!, state: 'failed', message: 'exit 1', timestamp: NOW.toISOString(), exitCode: 1 });
  v.setState(second.nodeId!, 'down');
  const after = buildZone(v, 'net1', 'appnet');
  const left = webIps.filter((ip) => ip !== ipOf(first, 'net1') && ip !== ipOf(second, 'net1'));
  t.equal(left.length, 1);
  t.same(after.names.get('tasks.web')?.a, left, 'a failed task and a down node\'s task are gone');
  t.notOk(after.ptr.has(ipOf(first, 'net1')), 'and their PTR too');
  t.notOk(after.names.has(taskName(first).toLowerCase()), 'and their task names');
  t.same(after.names.get('web')?.a, [vip], 'the VIP stays');
});

t.test('SRV for published ports: the VIP target in vip mode, one per task in dnsrr mode', async (t) => {
  const v = cluster();
  const ports = [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080 }, { Name: 'dns', Protocol: 'udp', TargetPort: 53, PublishedPort: 5353 }];
  createService(v, 'svcweb', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Ports: ports } });
  createService(v, 'svcrr', { Name: 'rr', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Mode: 'dnsrr', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 9090, PublishMode: 'host' }] } });
  createService(v, 'svcplain', { Name: 'plain', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 1 } } });
  v.pass();
  for (const svc of ['svcweb', 'svcrr', 'svcplain']) for (const x of tasksOf(v, svc)) runAndPlumb(v, x);
  const z = buildZone(v, 'net1', 'appnet');

  t.same(z.names.get('_80._tcp.web')?.srv, [{ priority: 0, weight: 0, port: 80, target: 'web' }], 'an unnamed port is labelled by its target port');
  t.same(z.names.get('_dns._udp.web')?.srv, [{ priority: 0, weight: 0, port: 53, target: 'web' }], 'a named port by its name, with its protocol');
  t.same(z.names.get('_80._tcp.web')?.a, [], 'an SRV name has no address of its own');
  const rr = tasksOf(v, 'svcrr');
  t.same(
    sorted((z.names.get('_80._tcp.rr')?.srv ?? []).map((s) => `${s.target}:${s.port}`)),
    sorted(rr.map((x) => `${taskName(x)}:80`)),
    'dnsrr: one SRV record per running task, targeting its task name',
  );
  t.notOk([...z.names.keys()].some((k) => k.startsWith('_') && k.endsWith('.plain')), 'a service without published ports has no SRV');
});
