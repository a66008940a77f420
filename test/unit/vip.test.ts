// The VIP load balancer's plan from real tables (which VIPs a task on given networks sees and which
// task addresses serve each) and the nft transaction it sends: one verdict-map entry and chain per
// served VIP, round robin over two or more backends, a refuse rule for VIPs with none, and the
// table replaced whole whether or not it existed.
import t from 'tap';
import { vipRoutes, vipTransaction } from '../../src/controllers/vip.js';
import { cluster, createService, runAndPlumb, tasksOf } from '../lib/service-tables.js';

const vipOf = (v: ReturnType<typeof cluster>, svc: string, net: string) => v.tables.serviceEndpoints.get(svc)!.value.vips.find((x) => x.networkId === net)!.addr.split('/')[0]!;

t.test('routes: vip-mode services on the task\'s networks, with their running, plumbed tasks', async (t) => {
  const v = cluster();
  createService(v, 'svcweb', { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }, { Target: 'other' }] }, Mode: { Replicated: { Replicas: 3 } } });
  createService(v, 'svcdb', { Name: 'db', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'appnet' }] }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Mode: 'dnsrr' } });
  createService(v, 'svcq', { Name: 'queue', TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Networks: [{ Target: 'other' }] }, Mode: { Replicated: { Replicas: 0 } } });
  v.pass();
  const web = tasksOf(v, 'svcweb');
  const webVip = vipOf(v, 'svcweb', 'net1');

  t.same(vipRoutes(v, ['net1']), [{ vip: webVip, backends: [] }], 'before any task runs, the VIP has no backend (a dnsrr service has no VIP)');
  for (const x of [...web, ...tasksOf(v, 'svcdb')]) runAndPlumb(v, x);
  const ips = (net: string) => web.map((x) => x.networks.find((n) => n.networkId === net)!.addr.split('/')[0]!);
  const appnet = vipRoutes(v, ['net1']);
  t.equal(appnet.length, 1);
  t.same(new Set(appnet[0]!.backends), new Set(ips('net1')), 'the three web tasks\' appnet addresses');
  const nums = appnet[0]!.backends.map((ip) => Number(ip.split('.')[3]));
  t.same(nums, [...nums].sort((a, b) => a - b), 'in address order');

  const both = vipRoutes(v, ['net1', 'net2']);
  t.same(both.map((r) => r.vip).sort(), [webVip, vipOf(v, 'svcweb', 'net2'), vipOf(v, 'svcq', 'net2')].sort(), 'a task on both networks sees each network\'s VIPs');
  t.same(both.find((r) => r.vip === vipOf(v, 'svcweb', 'net2'))!.backends.sort(), ips('net2').sort(), 'with the backends\' addresses on that network');
  t.same(both.find((r) => r.vip === vipOf(v, 'svcq', 'net2'))!.backends, [], 'a service scaled to 0 keeps its VIP, with no backend');

  v.setState(web[0]!.nodeId!, 'down');
  t.notOk(vipRoutes(v, ['net1'])[0]!.backends.includes(ips('net1')[0]!), 'a task on a down node is no backend');
  v.setState(web[0]!.nodeId!, 'ready');
  v.tables.taskStatus.put(web[1]!.id, { ...v.tables.taskStatus.get(web[1]!.id)!.value, state: 'failed', message: 'exit 1' });
  t.notOk(vipRoutes(v, ['net1'])[0]!.backends.includes(ips('net1')[1]!), 'nor is a failed task');
});

t.test('the transaction', async (t) => {
  const script = vipTransaction([
    { vip: '10.0.1.2', backends: ['10.0.1.3', '10.0.1.4', '10.0.1.5'] },
    { vip: '10.0.1.6', backends: ['10.0.1.7'] },
    { vip: '10.0.1.8', backends: [] },
    { vip: '10.0.1.9', backends: [] },
  ]).render().split('\n');
  t.same(script.slice(0, 3), ['add table ip shoal_vip', 'delete table ip shoal_vip', 'add table ip shoal_vip'], 'replaces the table whole, existing or not');
  t.ok(script.includes('add chain ip shoal_vip vips { type nat hook output priority -100 ; }'), 'DNAT in the task\'s output hook, at Docker\'s priority');
  t.ok(script.includes('add rule ip shoal_vip vip_10_0_1_2 dnat to numgen inc mod 3 map { 0 : 10.0.1.3, 1 : 10.0.1.4, 2 : 10.0.1.5 }'), 'round robin over three');
  t.ok(script.includes('add rule ip shoal_vip vip_10_0_1_6 dnat to 10.0.1.7'), 'one backend: a plain DNAT');
  t.ok(script.includes('add rule ip shoal_vip vips ip daddr vmap { 10.0.1.2 : goto vip_10_0_1_2, 10.0.1.6 : goto vip_10_0_1_6 }'), 'one map lookup per new connection');
  t.ok(script.includes('add rule ip shoal_vip refuse ip daddr { 10.0.1.8, 10.0.1.9 } meta l4proto tcp reject with tcp reset'), 'TCP to a VIP without backends is reset');
  t.ok(script.includes('add rule ip shoal_vip refuse ip daddr { 10.0.1.8, 10.0.1.9 } reject'), 'anything else gets port unreachable');
  t.notMatch(script.join('\n'), /10\.0\.1\.8 : goto/, 'no DNAT for an empty VIP');

  const none = vipTransaction([]).render();
  t.equal(none, 'add table ip shoal_vip\ndelete table ip shoal_vip\nadd table ip shoal_vip\nadd chain ip shoal_vip vips { type nat hook output priority -100 ; }\n', 'no VIPs: an empty table (no empty sets, which nft refuses)');
});
