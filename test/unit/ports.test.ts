// Published ports, checked and placed: the cluster's own ports refused (with the configured values),
// Docker's clash rules between services (ingress against anything, host-mode ports shared), a
// host-mode port needing a number; the scheduler keeping host-mode tasks apart with Docker's pending
// reason; the node's own check (other tasks, the routing mesh, listening sockets); the node's nft
// table for host mode; and reading the node's sockets from /proc/net.
import t from 'tap';
import { hostPortProblem, hostPortsTransaction, type HostBinding } from '../../src/controllers/hostports.js';
import { parseProcNet } from '../../src/kernel/sockets.js';
import { clusterReservedPorts, portConflict, reservedPortProblem } from '../../src/model/ports.js';
import { normalizeServiceSpec, type PortConfig } from '../../src/model/service.js';
import { cluster, createService } from '../lib/service-tables.js';

const port = (PublishedPort: number, PublishMode: PortConfig['PublishMode'] = 'ingress', Protocol: PortConfig['Protocol'] = 'tcp', TargetPort = 80): PortConfig => ({ Protocol, TargetPort, PublishedPort, PublishMode });

t.test('the cluster\'s own ports are refused, as configured', async (t) => {
  const reserved = clusterReservedPorts({ joinPorts: [2377, 2377], nodeApiPort: 2378, gossipPort: 8946, vxlanPort: 4789, mdnsPort: 5353, etcdClientPort: 2379, etcdPeerPort: 2380, etcdMetricsPort: 2381 });
  t.equal(reserved.filter((r) => r.port === 2377).length, 1, 'the join port once');
  for (const [p, use] of [[2377, 'joining'], [2378, 'node API'], [2379, 'etcd clients'], [2380, 'etcd peers'], [8946, 'gossip'], [4789, 'VXLAN'], [5353, 'mDNS']] as const) {
    const msg = reservedPortProblem([port(8080), port(p, 'host', 'udp')], reserved);
    t.ok(msg?.startsWith(`port '${p}' is reserved: the cluster uses it for`) && msg.includes(use), `${p} refused: ${msg}`);
  }
  t.equal(reservedPortProblem([port(7946)], reserved), undefined, 'the default gossip port is free when gossip is configured elsewhere');
  t.equal(reservedPortProblem([port(0), port(8080, 'host')], reserved), undefined, 'ordinary and unassigned ports pass');
});

t.test('Docker\'s rules for ports another service publishes', async (t) => {
  const web = { id: 'w1', name: 'web', ports: [port(8080)] };
  const edge = { id: 'e1', name: 'edge', ports: [port(9090, 'host')] };
  t.equal(portConflict([port(8080)], [web, edge]), 'port \'8080\' is already in use by service \'web\' (w1) as an ingress port');
  t.equal(portConflict([port(8080, 'host')], [web]), 'port \'8080\' is already in use by service \'web\' (w1) as an ingress port', 'an ingress port is taken on every node, so host mode cannot have it either');
  t.equal(portConflict([port(9090)], [web, edge]), 'port \'9090\' is already in use by service \'edge\' (e1) as a host-published port');
  t.equal(portConflict([port(9090, 'host')], [web, edge]), undefined, 'two host-mode services may share a port (the scheduler keeps them apart)');
  t.equal(portConflict([port(8080, 'ingress', 'udp')], [web]), undefined, 'another protocol is another port');
  t.equal(portConflict([port(0)], [{ id: 'x', name: 'x', ports: [port(0)] }]), undefined, 'unassigned ports clash with nothing');
  t.throws(() => normalizeServiceSpec({ Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, EndpointSpec: { Ports: [{ TargetPort: 80, PublishMode: 'host' }] } }, (n) => n), /Ports\[0\]: a host-mode port needs a PublishedPort/, 'a host-mode port without a number is refused');
});

const hostSvc = (name: string, replicas: number, constraints: string[] = [], published = 8080) => ({
  Name: name, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: constraints } }, Mode: { Replicated: { Replicas: replicas } },
  EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: published, PublishMode: 'host' }] },
});

t.test('the scheduler keeps host-mode tasks apart', async (t) => {
  const v = cluster();
  createService(v, 'a', hostSvc('a', 4));
  v.pass();
  const a = v.tables.tasks.list().map((e) => e.value).filter((x) => x.serviceId === 'a');
  t.same(a.filter((x) => x.nodeId).map((x) => x.nodeId).sort(), ['node1', 'node2', 'node3'], 'one task per node');
  t.ok(a.every((x) => x.hostPorts?.[0]?.PublishedPort === 8080 && x.networks.length === 0), 'each task carries its host-mode port and no ingress network');
  const pending = a.find((x) => !x.nodeId)!;
  t.equal(pending.status.err, 'no suitable node (host-mode port already in use on 3 nodes)', 'the fourth waits with Docker\'s reason');

  createService(v, 'b', hostSvc('b', 1, ['node.hostname==node1']));
  createService(v, 'c', hostSvc('c', 1, ['node.hostname==node1'], 8081));
  v.pass();
  const b = v.tables.tasks.list().map((e) => e.value).find((x) => x.serviceId === 'b')!;
  t.equal(b.nodeId, '', 'another service on the same port and node is not placed');
  t.equal(b.status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes; host-mode port already in use on 1 node)');
  t.equal(v.tables.tasks.list().map((e) => e.value).find((x) => x.serviceId === 'c')!.nodeId, 'node1', 'another port on that node is free');

  // The port goes when its task has stopped: then the waiting task is placed.
  const holder = a.find((x) => x.nodeId === 'node1')!;
  v.tables.tasks.put(holder.id, { ...holder, desiredState: 'shutdown' });
  v.pass();
  t.equal(v.tables.tasks.get(b.id)!.value.nodeId, '', 'still held while the old task is stopping');
  v.tables.taskStatus.put(holder.id, { id: holder.id, nodeId: 'node1', state: 'shutdown', message: 'shutdown', timestamp: new Date().toISOString() });
  v.pass();
  const placed = v.tables.tasks.list().map((e) => e.value).filter((x) => x.serviceId !== 'c' && x.nodeId === 'node1' && x.desiredState === 'running' && x.id !== holder.id);
  t.equal(placed.length, 1, 'one task took the freed port on node1');
});

t.test('changing a host-mode port replaces the tasks', async (t) => {
  const v = cluster();
  createService(v, 'a', hostSvc('a', 1));
  v.pass();
  const [first] = v.tables.tasks.list().map((e) => e.value);
  v.tables.taskStatus.put(first!.id, { id: first!.id, nodeId: first!.nodeId, state: 'running', message: 'started', timestamp: new Date().toISOString() });
  const rec = v.tables.services.get('a')!.value;
  const spec = normalizeServiceSpec({ ...hostSvc('a', 1, [], 9000) }, (n) => n);
  v.tables.services.put('a', { ...rec, spec, updatedAt: new Date(Date.parse(rec.updatedAt) + 1000).toISOString() });
  v.pass();
  t.equal(v.tables.tasks.get(first!.id)!.value.desiredState, 'shutdown', 'the task with the old port is replaced');
});

t.test('the node refuses a port something else holds there', async (t) => {
  const claims = new Map<string, HostBinding>([['8080/tcp', { taskId: 't1', protocol: 'tcp', port: 8080, target: 80, addr: '172.18.0.2' }]]);
  const holders = {
    claims, ingress: [{ service: 'mesh', port: port(9000) }], sockets: [{ protocol: 'tcp' as const, address: '127.0.0.1', port: 9100 }, { protocol: 'udp' as const, address: '::', port: 5300 }],
    nameOf: (id: string) => `web.1.${id}`,
  };
  t.equal(hostPortProblem('t2', [port(8080, 'host')], 'node1', holders), 'host-mode port 8080/tcp is already in use on node1: task web.1.t1 publishes it');
  t.equal(hostPortProblem('t1', [port(8080, 'host')], 'node1', holders), undefined, 'a task adopted again keeps its own port');
  t.equal(hostPortProblem('t2', [port(9000, 'host')], 'node1', holders), 'host-mode port 9000/tcp is already in use on node1: service \'mesh\' publishes it through the routing mesh');
  t.equal(hostPortProblem('t2', [port(9100, 'host')], 'node1', holders), 'host-mode port 9100/tcp is already in use on node1: a process on the node listens on 127.0.0.1:9100');
  t.equal(hostPortProblem('t2', [port(5300, 'host', 'udp')], 'node1', holders), 'host-mode port 5300/udp is already in use on node1: a process on the node is bound to [::]:5300');
  t.equal(hostPortProblem('t2', [port(9100, 'host', 'udp'), port(8081, 'host')], 'node1', holders), undefined, 'free ports pass');
});

t.test('the node\'s host-mode table', async (t) => {
  const text = hostPortsTransaction([{ taskId: 't1', protocol: 'tcp', port: 8080, target: 80, addr: '172.18.0.2' }, { taskId: 't2', protocol: 'udp', port: 5300, target: 53, addr: '172.18.0.3' }]).render();
  t.same(text.split('\n').filter((l) => l.startsWith('add rule')), [
    'add rule ip shoal_hostports prerouting fib daddr type local tcp dport 8080 dnat to 172.18.0.2:80',
    'add rule ip shoal_hostports output fib daddr type local tcp dport 8080 dnat to 172.18.0.2:80',
    'add rule ip shoal_hostports postrouting oifname "shoal_gwbridge" ip daddr 172.18.0.2 tcp dport 80 ct status dnat fib saddr type local masquerade',
    'add rule ip shoal_hostports postrouting oifname "shoal_gwbridge" ip daddr 172.18.0.2 tcp dport 80 ct status dnat iifname "shoal_gwbridge" masquerade',
    'add rule ip shoal_hostports prerouting fib daddr type local udp dport 5300 dnat to 172.18.0.3:53',
    'add rule ip shoal_hostports output fib daddr type local udp dport 5300 dnat to 172.18.0.3:53',
    'add rule ip shoal_hostports postrouting oifname "shoal_gwbridge" ip daddr 172.18.0.3 udp dport 53 ct status dnat fib saddr type local masquerade',
    'add rule ip shoal_hostports postrouting oifname "shoal_gwbridge" ip daddr 172.18.0.3 udp dport 53 ct status dnat iifname "shoal_gwbridge" masquerade',
  ], 'straight to each task, masquerading only the node\'s own and hairpin connections');
  t.match(text, /^add table ip shoal_hostports\ndelete table ip shoal_hostports\nadd table ip shoal_hostports\n/, 'replaced whole, whether or not it existed');
});

t.test('sockets from /proc/net', async (t) => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
    '   2: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0',
  ].join('\n');
  t.same(parseProcNet(tcp, 'tcp'), [{ protocol: 'tcp', address: '0.0.0.0', port: 8080 }, { protocol: 'tcp', address: '127.0.0.1', port: 9090 }], 'listening only, not established');
  const udp6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  1: 00000000000000000000000000000000:14B4 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0',
    '  2: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0',
    '  3: 00000000000000000000000001000000:C000 00000000000000000000000001000000:0035 01 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0',
  ].join('\n');
  t.same(parseProcNet(udp6, 'udp'), [{ protocol: 'udp', address: '::', port: 5300 }, { protocol: 'udp', address: '::1', port: 53 }], 'bound, unconnected UDP sockets');
});
