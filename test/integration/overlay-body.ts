// The overlay data plane in a 3-node lab, run once per task runtime (overlay-exec.test.ts,
// overlay-docker.test.ts): a task on each node; ping and a 1 MB HTTP transfer between tasks on
// different nodes; the underlay carries only VXLAN with the network's VNI, never inner addresses;
// MTU 1450 inside tasks; a removed task's neighbour and FDB entries go from every node; a killed
// agent's entries go after failure detection; a restarted agent keeps a TCP flow going and removes
// stale leftovers.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeName: string; NodeID: string; DesiredState: string; Status: { State: string; ContainerStatus?: { PID: number } }; NetworksAttachments: { Network: { ID: string }; Addresses: string[] }[] }
interface Row { node: string; nodeId: string; id: string; pid: number; ip: string }

const NODES = ['node1', 'node2', 'node3'];
const macOf = (ip: string) => `02:42:${ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`;

function sh(cmd: string, args: string[], timeoutMs = 20_000): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}

/** Runs the node's own busybox in a task's network namespace (the task's files do not matter here). */
const inTask = (pid: number, ...cmd: string[]) => sh('nsenter', ['-t', String(pid), '-n', ...cmd]);

export interface Runtime {
  kind: 'exec' | 'docker';
  /** Image and command of an HTTP server that serves `big` (1 MiB) on port 80 and an echo server on 9000. */
  server(wwwDir: string): string[];
}

export async function overlayBody(t: Test, rt: Runtime): Promise<void> {
  const lab = new Lab(rt.kind === 'exec' ? 'ox' : 'od');
  lab.up(t, '--nodes', '3', '--runtime', rt.kind);
  const www = mkdtempSync(join(tmpdir(), 'shoal-www-'));
  t.teardown(() => rmSync(www, { recursive: true, force: true }));
  writeFileSync(join(www, 'big'), Buffer.alloc(1024 * 1024, 7));

  const net = lab.shoal('node1', 'network', 'create', '-d', 'overlay', 'appnet');
  t.equal(net.status, 0, net.err);
  const vni = (lab.json<{ Options: Record<string, string> }[]>('node1', 'network', 'inspect', 'appnet'))![0]!.Options['com.docker.network.driver.overlay.vxlanid_list'];
  t.equal(vni, '4097', 'the first user network gets VNI 4097 (ingress has 4096)');

  // Network CLI errors, before anything depends on the network
  t.match(lab.shoal('node1', 'network', 'create', 'appnet').err, /network with name appnet already exists/);
  t.match(lab.shoal('node1', 'network', 'create', '--subnet', '10.0.1.0/25', 'other').err, /Pool overlaps with other one on this address space: 10\.0\.1\.0\/25 overlaps 10\.0\.1\.0\/24 of network appnet/);
  t.match(lab.shoal('node1', 'network', 'create', '--subnet', '10.9.0.0/24', '--gateway', '10.8.0.1', 'other').err, /gateway 10\.8\.0\.1 is not a host address of 10\.9\.0\.0\/24/);
  t.match(lab.shoal('node1', 'network', 'create', '-d', 'bridge', 'other').err, /network driver "bridge" is not supported/);
  t.match(lab.shoal('node1', 'network', 'inspect', 'nosuch').err, /network nosuch not found/);
  t.match(lab.shoal('node1', 'network', 'rm', 'nosuch').err, /network nosuch not found/);

  const create = lab.shoal('node1', 'service', 'create', '--name', 'web', '--mode', 'global', '--network', 'appnet', ...rt.server(www));
  t.equal(create.status, 0, create.err + lab.agentLog('node1'));
  t.match(create.out, /verify: Service converged/);
  t.match(lab.shoal('node1', 'network', 'rm', 'appnet').err, /network appnet is in use by service web/, 'rm is refused while a service uses the network');

  const rows = (): Row[] => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? [])
    .filter((x) => x.DesiredState === 'running' && x.Status.State === 'running')
    .map((x) => ({ node: x.NodeName, nodeId: x.NodeID, id: x.ID, pid: x.Status.ContainerStatus!.PID, ip: x.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]! }))
    .sort((a, b) => a.node.localeCompare(b.node));
  const tasks = rows();
  t.same(tasks.map((x) => x.node), NODES, 'one task on each node');
  const [a, b, c] = tasks as [Row, Row, Row];

  // MTU and addresses inside the tasks
  const link = inTask(a.pid, 'ip', '-o', 'link', 'show', 'eth0').out;
  t.match(link, /mtu 1450 /, 'MTU 1450 inside a task on a 1500 underlay');
  t.match(inTask(a.pid, 'ip', '-o', 'addr', 'show', 'eth0').out, new RegExp(`inet ${a.ip.replaceAll('.', '\\.')}/24`));
  t.match(inTask(a.pid, 'ip', 'route').out, /default via 172\.1[89]\.0\.1/, 'a default route through the egress bridge');

  // Traffic across nodes, captured on the underlay
  const pcap = join(www, 'underlay.pcap');
  const dump = spawn('ip', ['netns', 'exec', `${lab.prefix}underlay`, 'tcpdump', '-i', 'br0', '-U', '-w', pcap, 'ip'], { stdio: 'ignore' });
  t.teardown(() => { dump.kill('SIGKILL'); });
  await new Promise((r) => setTimeout(r, 1000));
  for (const [from, to] of [[a, b], [b, c], [c, a]] as const) {
    const ping = inTask(from.pid, 'ping', '-c', '2', '-W', '2', to.ip);
    t.equal(ping.status, 0, `${from.node}'s task pings ${to.node}'s (${to.ip}) over the overlay`);
  }
  const got = inTask(a.pid, '/bin/busybox', 'wget', '-q', '-O', '-', `http://${c.ip}/big`);
  t.equal(got.out.length, 1024 * 1024, `1 MiB over HTTP from ${c.node}'s task to ${a.node}'s`);
  dump.kill('SIGINT');
  await new Promise((r) => dump.once('exit', r));
  const vx = sh('tcpdump', ['-nn', '-r', pcap, 'udp port 4789']).out;
  t.match(vx, new RegExp(`VXLAN, flags \\[I\\] \\(0x08\\), vni ${vni}\\n.*IP ${a.ip.replaceAll('.', '\\.')}`), 'VXLAN with the network\'s VNI carries the tasks\' packets');
  t.ok(vx.split('\n').length > 100, 'the 1 MiB transfer crossed as VXLAN');
  t.equal(sh('tcpdump', ['-nn', '-r', pcap, 'not udp port 4789 and net 10.0.0.0/8']).out, '', 'no overlay address ever appears unencapsulated on the underlay');

  // A killed agent's entries go from the other nodes once it is declared dead.
  const sandbox = (node: Row) => (sh('ip', ['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]!).find((n) => n.startsWith(`sh-${node.nodeId.slice(0, 8)}-`)))!;
  const neigh = (node: Row) => sh('ip', ['-n', sandbox(node), 'neigh', 'show', 'dev', 'vxlan0']).out;
  const fdb = (node: Row) => sh('bridge', ['-n', sandbox(node), 'fdb', 'show', 'dev', 'vxlan0']).out;
  t.match(neigh(a), new RegExp(`${c.ip.replaceAll('.', '\\.')} lladdr 02:42:0a:00:01:[0-9a-f]{2} PERMANENT`), `${a.node} has a permanent neighbour entry for ${c.node}'s task`);
  t.match(fdb(a), /dst 192\.168\.56\.103 .*self permanent/, 'and an FDB entry pointing at node3');
  t.notMatch(fdb(a), /^00:00:00:00:00:00/m, 'no flood entry: nothing is broadcast across hosts');

  // Removing one task removes its entries from every other node (the sandboxes stay for web).
  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'lone', '--constraint', 'node.hostname==node3', '--network', 'appnet', ...rt.server(www)).status, 0);
  const lone = (lab.json<TaskJson[]>('node1', 'service', 'ps', 'lone', '--format', 'json') ?? [])[0]!.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;
  await until(`node1 and node2 to program lone's task (${lone})`, () => neigh(a).includes(lone) && neigh(b).includes(lone), 10_000);
  t.equal(lab.shoal('node1', 'service', 'rm', 'lone').status, 0);
  const gone = await until('its neighbour and FDB entries to leave node1 and node2', () => !neigh(a).includes(lone) && !neigh(b).includes(lone) && !fdb(a).includes(macOf(lone)) && !fdb(b).includes(macOf(lone)), 10_000);
  t.pass(`a removed task's entries left both other nodes within ${(gone.ms / 1000).toFixed(1)} s`);

  // Restart: a TCP flow from a (node1) to b (node2) lives through node2's agent being killed and restarted.
  const lines = 40;
  const flow = spawn('sh', ['-c', `for i in $(seq 1 ${lines}); do echo line $i; sleep 0.1; done | nsenter -t ${a.pid} -n /bin/busybox nc ${b.ip} 9000`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let echoed = '';
  flow.stdout.on('data', (d: Buffer) => (echoed += d.toString()));
  t.teardown(() => { flow.kill('SIGKILL'); });
  await new Promise((r) => setTimeout(r, 500));
  const bSandbox = sandbox(b);
  sh('bridge', ['-n', bSandbox, 'fdb', 'add', '02:42:0a:00:01:fe', 'dev', 'vxlan0', 'dst', '192.168.56.250', 'self', 'permanent']);
  sh('ip', ['-n', bSandbox, 'neigh', 'add', '10.0.1.254', 'lladdr', '02:42:0a:00:01:fe', 'dev', 'vxlan0', 'nud', 'permanent']);
  const junk = `sh-${b.nodeId.slice(0, 8)}-junkjunkju`;
  lab.kill('node2');
  sh('ip', ['netns', 'add', junk]);
  t.teardown(() => { sh('ip', ['netns', 'del', junk]); });
  lab.start('node2');
  await until('the flow to finish', () => flow.exitCode !== null || echoed.split('\n').length > lines, 20_000);
  t.equal(echoed.trim().split('\n').length, lines, `all ${lines} lines echoed across node2's agent restart`);
  await until('node2 to remove what it did not make', () => !fdb(b).includes('02:42:0a:00:01:fe') && !neigh(b).includes('10.0.1.254') && !sh('ip', ['netns', 'list']).out.includes(junk), 10_000);
  t.pass('the restarted agent removed a stale FDB entry, a stale neighbour and a stale sandbox');
  t.same(rows().map((x) => x.id), tasks.map((x) => x.id), 'no task was replaced: the restart was adopted');

  lab.kill('node3');
  const { ms } = await until(`node1 and node2 to drop ${c.node}'s entries`, () => !neigh(a).includes(c.ip) && !neigh(b).includes(c.ip), 30_000);
  t.pass(`node3's task entries left node1 and node2 ${(ms / 1000).toFixed(1)} s after kill -9 of its agent`);
  lab.start('node3');

  // Removing the service removes its neighbour and FDB entries everywhere, then the sandboxes.
  await until('node3 back with its task', () => neigh(a).includes(c.ip) || rows().some((x) => x.node === 'node3'), 30_000);
  const rm = lab.shoal('node1', 'service', 'rm', 'web');
  t.equal(rm.status, 0);
  await until('every sandbox of appnet to be gone', () => !sh('ip', ['netns', 'list']).out.split('\n').some((l) => /^sh-\S+-/.test(l) && tasks.some((x) => l.startsWith(`sh-${x.nodeId.slice(0, 8)}-`))), 20_000);
  t.pass('the last task gone, no node keeps a sandbox for appnet');
  await until('network rm to succeed', () => lab.shoal('node1', 'network', 'rm', 'appnet').status === 0, 15_000);
}
