// 200 tasks started at once across a 3-node lab, through three managers at the same moment, on one
// /24: no address is handed out twice (task addresses, VIPs, gateway), every task holds its address
// in the kernel, and every node programs one neighbour entry per remote task.
import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeID: string; NodeName: string; DesiredState: string; Status: { State: string; ContainerStatus?: { PID: number } }; NetworksAttachments: { Addresses: string[] }[] }
interface ServiceJson { Endpoint: { VirtualIPs?: { Addr: string }[] } }

const PER_SERVICE = [67, 67, 66];

function runAsync(lab: Lab, node: string, ...args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('netns-scripts/lab', ['exec', node, '--', 'shoal', ...args], { env: { ...process.env, SHOAL_LAB_PREFIX: lab.prefix }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code, err }));
  });
}

t.test('200 tasks at once, no duplicate address', async (t) => {
  const lab = new Lab('ip');
  lab.up(t, '--nodes', '3', '--runtime', 'exec', '--dns-upstream', 'none');
  t.equal(lab.shoal('node1', 'node', 'promote', 'node2', 'node3').status, 0);
  const voters = () => (lab.json<{ ManagerStatus?: { Leader: boolean; Reachability: string } }[]>('node1', 'node', 'ls', '--format', 'json') ?? []).filter((n) => n.ManagerStatus?.Leader || n.ManagerStatus?.Reachability === 'reachable').length;
  await until('three managers, each a voting Raft member', () => voters() === 3, 60_000);
  t.equal(lab.shoal('node1', 'network', 'create', '--subnet', '10.20.0.0/24', 'big').status, 0);
  await until('node3 to see the network', () => lab.shoal('node3', 'network', 'inspect', 'big').status === 0, 10_000);

  const names = ['a', 'b', 'c'];
  const created = await Promise.all(names.map((n, i) => runAsync(lab, `node${i + 1}`, 'service', 'create', '-d', '--name', n, '--replicas', String(PER_SERVICE[i]), '--network', 'big', 'host', '/bin/busybox', 'sleep', '100000')));
  for (const c of created) t.equal(c.code, 0, c.err);

  const tasks = () => names.flatMap((n) => lab.json<TaskJson[]>('node1', 'service', 'ps', n, '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running');
  const { ms } = await until('200 tasks running', () => { const ts = tasks(); return ts.length === 200 && ts.every((x) => x.Status.State === 'running'); }, 240_000, 1000);
  t.pass(`200 tasks running ${(ms / 1000).toFixed(1)} s after the three creates`);

  const all = tasks();
  const addrs = all.map((x) => x.NetworksAttachments[0]!.Addresses[0]!);
  const vips = names.map((n) => lab.json<ServiceJson[]>('node1', 'service', 'inspect', n)![0]!.Endpoint.VirtualIPs![0]!.Addr);
  t.equal(new Set(addrs).size, 200, '200 distinct task addresses');
  t.equal(new Set([...addrs, ...vips, '10.20.0.1/24']).size, 204, 'none of them a VIP or the gateway');
  t.ok(addrs.every((a) => /^10\.20\.0\.\d+\/24$/.test(a)), 'all in the network\'s subnet');
  t.same([...new Set(all.map((x) => x.NodeName))].sort(), ['node1', 'node2', 'node3'], 'spread over the three nodes');

  // In the kernel: every task has its address on eth0 (a sample of 30), and each node has one permanent neighbour per remote task.
  for (const x of all.filter((_, i) => i % 7 === 0)) {
    const out = spawnSync('nsenter', ['-t', String(x.Status.ContainerStatus!.PID), '-n', 'ip', '-o', '-4', 'addr', 'show', 'eth0'], { encoding: 'utf8' }).stdout;
    if (!out.includes(`inet ${x.NetworksAttachments[0]!.Addresses[0]!}`)) t.fail(`task ${x.ID} lacks ${x.NetworksAttachments[0]!.Addresses[0]} on eth0: ${out}`);
  }
  const nodeIds = [...new Set(all.map((x) => x.NodeID))];
  for (const id of nodeIds) {
    const sandbox = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).find((n) => n.startsWith(`sh-${id.slice(0, 8)}-`))!;
    const remote = all.filter((x) => x.NodeID !== id).length;
    await until(`${sandbox} to program ${remote} remote tasks`, () => spawnSync('ip', ['-n', sandbox, 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length === remote, 30_000);
  }
  t.pass('every node holds exactly one neighbour entry per remote task');
});
