// The routing mesh's plan from real tables: the published ports with their tasks' ingress
// addresses, the redirect each task gets from published to target port on its ingress interface,
// and the nft transactions for the node's namespace and the ingress sandbox.
import t from 'tap';
import { hostTransaction, publishedPorts, sandboxTransaction } from '../../src/controllers/ingress.js';
import { taskRedirects } from '../../src/controllers/vip.js';
import { cluster, createService, runAndPlumb, tasksOf } from '../lib/service-tables.js';

function withIngress() {
  const v = cluster();
  v.tables.networks.put('ing', { id: 'ing', name: 'ingress', driver: 'overlay', ingress: true, attachable: false, labels: {}, options: {}, ipam: {}, createdAt: '0' });
  return v;
}

t.test('published ports and their backends', async (t) => {
  const v = withIngress();
  createService(v, 'svcweb', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080 }, { Protocol: 'udp', TargetPort: 53, PublishedPort: 5300 }] } });
  createService(v, 'svcin', { Name: 'internal', TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: { Replicated: { Replicas: 1 } } });
  createService(v, 'svchost', { Name: 'hostmode', TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: { Replicated: { Replicas: 1 } }, EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 9090, PublishMode: 'host' }] } });
  v.pass();
  const web = tasksOf(v, 'svcweb');
  t.equal(web.length, 2);
  t.same(publishedPorts(v), [{ protocol: 'udp', port: 5300, backends: [] }, { protocol: 'tcp', port: 8080, backends: [] }], 'ingress ports only (not host mode), no backend before tasks run');

  for (const x of web) runAndPlumb(v, x);
  const ingressIps = web.map((x) => x.networks.find((n) => n.networkId === 'ing')!.addr.split('/')[0]!).sort();
  t.same(publishedPorts(v).map((p) => p.backends), [ingressIps, ingressIps], 'the tasks\' ingress addresses, not their appnet ones');

  const i = web[0]!.networks.findIndex((n) => n.networkId === 'ing');
  t.ok(i >= 0, 'a publishing service\'s task is attached to ingress');
  t.same(taskRedirects(v, web[0]!), [
    { ifname: `eth${i}`, protocol: 'tcp', published: 8080, target: 80 },
    { ifname: `eth${i}`, protocol: 'udp', published: 5300, target: 53 },
  ], 'published -> target port on the task\'s ingress interface');
  t.same(taskRedirects(v, tasksOf(v, 'svcin')[0]!), [], 'a task that publishes nothing gets no redirect');

  v.setState(web[0]!.nodeId!, 'down');
  t.notOk(publishedPorts(v)[0]!.backends.includes(web[0]!.networks.find((n) => n.networkId === 'ing')!.addr.split('/')[0]!), 'a down node\'s task leaves the mesh');
  v.tables.services.delete('svcweb');
  t.same(publishedPorts(v), [], 'a removed service publishes nothing, even before its endpoint is freed');
});

t.test('the transactions', async (t) => {
  const ports = [
    { protocol: 'tcp' as const, port: 8080, backends: ['10.0.0.5', '10.0.0.6'] },
    { protocol: 'udp' as const, port: 5300, backends: ['10.0.0.5'] },
    { protocol: 'tcp' as const, port: 9000, backends: [] },
  ];
  const host = hostTransaction(ports, '172.18.0.2').render().split('\n');
  t.same(host.slice(0, 3), ['add table ip shoal_ingress', 'delete table ip shoal_ingress', 'add table ip shoal_ingress']);
  t.ok(host.includes('add rule ip shoal_ingress prerouting fib daddr type local meta l4proto . th dport { tcp . 8080, udp . 5300, tcp . 9000 } dnat to 172.18.0.2'), 'any local address, every published port, to the sandbox');
  t.ok(host.includes('add rule ip shoal_ingress output fib daddr type local meta l4proto . th dport { tcp . 8080, udp . 5300, tcp . 9000 } dnat to 172.18.0.2'), 'from the node itself too');
  t.ok(host.includes('add rule ip shoal_ingress postrouting oifname "shoal_gwbridge" fib saddr type local masquerade'));

  const sb = sandboxTransaction(ports, '10.0.0.2').render().split('\n');
  t.ok(sb.includes('add rule ip shoal_ingress to_tcp_8080 dnat to numgen inc mod 2 map { 0 : 10.0.0.5, 1 : 10.0.0.6 }'), 'round robin over the tasks');
  t.ok(sb.includes('add rule ip shoal_ingress to_udp_5300 dnat to 10.0.0.5'));
  t.ok(sb.includes('add rule ip shoal_ingress prerouting iifname "eth1" meta l4proto . th dport vmap { tcp . 8080 : goto to_tcp_8080, udp . 5300 : goto to_udp_5300 }'), 'one lookup per new connection');
  t.ok(sb.includes('add rule ip shoal_ingress postrouting oifname "eth0" ct status dnat snat to 10.0.0.2'), 'replies come back through this node');
  t.ok(sb.includes('add rule ip shoal_ingress refuse iifname "eth1" meta l4proto . th dport { tcp . 9000 } meta l4proto tcp reject with tcp reset'), 'a port without tasks is refused');
  t.notMatch(sb.join('\n'), /to_tcp_9000/);
});
