// A partition in the netns lab with three managers: node1 is cut off from node2 and node3 with nft
// drop rules. The minority (node1) refuses writes with Docker's no-leader message while the majority
// keeps scheduling (a new service, a scale); both keep serving what they had. After the rules go,
// node1 catches up, and a walk over the whole state finds every service present and every task
// address, VIP, subnet and VNI allocated once: there was only ever one allocator.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { applyNft, Transaction } from '../../src/kernel/nftables.js';
import { projectRoot } from '../../src/util/paths.js';
import { uniqueName } from '../lib/kernel.js';
import { until } from '../lib/wait.js';

const lab = join(projectRoot, 'netns-scripts', 'lab');
const P = uniqueName('p');
const env = { ...process.env, SHOAL_LAB_PREFIX: P };
const run = (...args: string[]) => spawnSync(lab, args, { env, encoding: 'utf8', timeout: 120_000 });
const shoal = (node: string, ...args: string[]) => run('exec', node, '--', 'shoal', ...args);
const api = <T>(node: string, path: string): T | undefined => {
  const r = run('exec', node, '--', 'curl', '-sf', '--unix-socket', `/run/shoal/${P}${node}/shoal.sock`, `http://shoal${path}`);
  return r.status === 0 ? (JSON.parse(r.stdout) as T) : undefined;
};
const NO_LEADER = /The swarm does not have a leader\. It's possible that too few managers are online\. Make sure more than half of the managers are online\./;
const WEB = ['host', '/bin/sh', '-c', 'exec sleep 100000'];

interface NodeJson { Description: { Hostname: string }; Status: { State: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }
interface ServiceJson { ID: string; Spec: { Name: string }; Endpoint?: { VirtualIPs?: { NetworkID: string; Addr: string }[] } }
interface TaskJson { ID: string; DesiredState: string; NetworksAttachments?: { Network: { ID: string }; Addresses: string[] }[] }
interface NetworkJson { Id: string; Name: string; IPAM: { Config: { Subnet: string }[] }; Options?: Record<string, string> }

const states = (node: string) => (JSON.parse(shoal(node, 'node', 'ls', '--format', 'json').stdout || '[]') as NodeJson[]).map((n) => `${n.Description.Hostname}:${n.Status.State}`).sort().join(' ');

/** Values that occur more than once. */
function repeated(values: string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(values.filter((v) => (seen.has(v) ? true : (seen.add(v), false))))];
}

t.test('a partition: the minority refuses writes, the majority goes on, and the state stays unique', async (t) => {
  t.teardown(() => { run('down'); });
  t.equal(run('up', '--nodes', '3', '--runtime', 'exec').status, 0);
  t.equal(shoal('node1', 'node', 'promote', 'node2', 'node3').status, 0);
  await until('three managers, everyone ready', () => states('node3') === 'node1:ready node2:ready node3:ready', 30_000);
  const voters = () => (JSON.parse(shoal('node1', 'node', 'ls', '--format', 'json').stdout || '[]') as NodeJson[]).filter((n) => n.ManagerStatus?.Leader || n.ManagerStatus?.Reachability === 'reachable').length;
  await until('all three voting Raft members', () => voters() === 3, 60_000);
  t.equal(shoal('node1', 'network', 'create', '-d', 'overlay', 'before').status, 0);
  const created = shoal('node1', 'service', 'create', '--name', 'before', '--replicas', '3', '--network', 'before', ...WEB);
  t.equal(created.status, 0, created.stderr);

  const cut = new Transaction('inet', 'shtpartition')
    .addTable()
    .addChain('in', { type: 'filter', hook: 'input', priority: 0 })
    .addChain('out', { type: 'filter', hook: 'output', priority: 0 })
    .addRule('in', 'ip saddr { 192.168.56.102, 192.168.56.103 } drop')
    .addRule('out', 'ip daddr { 192.168.56.102, 192.168.56.103 } drop');
  await applyNft({ name: `${P}node1` }, cut);

  const refused = await until('node1, alone, to refuse writes with the no-leader message', () => {
    const r = shoal('node1', 'service', 'create', '--detach', '--name', 'minority', ...WEB);
    return r.status !== 0 && NO_LEADER.test(r.stderr) ? r : undefined;
  }, 15_000);
  t.pass(`node1 refuses writes ${(refused.ms / 1000).toFixed(1)} s after the cut: ${refused.value!.stderr.trim()}`);
  t.match(shoal('node1', 'node', 'ls').stderr, NO_LEADER, 'and node ls, as Docker does');

  let last = '';
  const majority = await until('node2 (majority side) to create a network', () => {
    const n = shoal('node2', 'network', 'create', '-d', 'overlay', 'during');
    last = `${n.status}: ${n.stderr.trim()}`;
    return n.status === 0 || /already exists/.test(n.stderr);
  }, 60_000).catch((err: Error) => { throw new Error(`${err.message}; the last attempt said ${last}`); });
  t.pass(`the majority writes ${(majority.ms / 1000).toFixed(1)} s after the cut`);
  const during = shoal('node2', 'service', 'create', '--name', 'during', '--replicas', '2', '--network', 'during', ...WEB);
  t.equal(during.status, 0, `the majority schedules a new service: ${during.stderr}`);
  const scaled = shoal('node3', 'service', 'scale', 'before=4');
  t.equal(scaled.status, 0, `and scales one: ${scaled.stderr}`);

  await applyNft({ name: `${P}node1` }, new Transaction('inet', 'shtpartition').deleteTable());
  const healed = await until('node1 to write again after the heal', () => shoal('node1', 'service', 'scale', 'during=3').status === 0, 60_000);
  t.pass(`healed: node1 writes ${(healed.ms / 1000).toFixed(1)} s after the rules were removed`);

  // Walk the whole state, as node1 (the former minority) sees it.
  await until('node1 to hold every task the scale asked for', () => (api<TaskJson[]>('node1', '/tasks') ?? []).filter((x) => x.DesiredState === 'running').length === 7, 30_000);
  const services = api<ServiceJson[]>('node1', '/services') ?? [];
  t.same(services.map((s) => s.Spec.Name).sort(), ['before', 'during'], 'every service spec is there, and the one node1 was refused is not');
  const tasks = (api<TaskJson[]>('node1', '/tasks') ?? []).filter((x) => x.DesiredState === 'running');
  const networks = (api<NetworkJson[]>('node1', '/networks') ?? []).filter((n) => n.Options?.['com.docker.network.driver.overlay.vxlanid_list'] !== undefined);
  const addrs = [...tasks.flatMap((x) => (x.NetworksAttachments ?? []).map((a) => `${a.Network.ID} ${a.Addresses[0]}`)), ...services.flatMap((s) => (s.Endpoint?.VirtualIPs ?? []).map((v) => `${v.NetworkID} ${v.Addr}`))];
  const subnets = networks.flatMap((n) => n.IPAM.Config.map((c) => c.Subnet));
  const vnis = networks.map((n) => n.Options!['com.docker.network.driver.overlay.vxlanid_list']!);
  t.ok(addrs.length >= 7 + 2, `${addrs.length} task addresses and VIPs walked`);
  t.same(repeated(addrs.map((a) => a.split(' ')[1]!.split('/')[0]!)), [], 'every task address and VIP is allocated once');
  t.ok(networks.length >= 3, `${networks.length} overlay networks walked (ingress, before, during)`);
  t.same(repeated(subnets), [], `every subnet once: ${subnets.join(', ')}`);
  t.same(repeated(vnis), [], `every VNI once: ${vnis.join(', ')}`);
});
