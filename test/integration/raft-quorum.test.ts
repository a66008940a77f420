// Quorum as the Swarm tutorials teach it, in a lab of 3 managers and 2 workers: with one manager
// killed (agent and etcd, kill -9) writes go on; with two, writes and `node ls` fail with Docker's
// message while the published port and the task's DNS keep answering; with both back, writes resume
// and nothing was lost. Then, with two managers gone for good, `swarm init --force-new-cluster` on the
// one left brings the swarm back with every service.
import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface NodeJson { Description: { Hostname: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }
interface TaskJson { NodeName: string; DesiredState: string; Status: { State: string; ContainerStatus?: { PID: number } } }

const lab = new Lab('rq');
const NO_LEADER = /The swarm does not have a leader\. It's possible that too few managers are online\. Make sure more than half of the managers are online\./;
const WEB = ['host', '/bin/sh', '-c', 'mkdir -p /tmp/rq-$(hostname) && echo "hello from $(hostname)" > /tmp/rq-$(hostname)/index.html && exec /bin/busybox httpd -f -p 80 -h /tmp/rq-$(hostname)'];

/** `shoal ARGS` on a node without waiting for it (to run several at the same moment). */
function shoalAsync(node: string, ...args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('netns-scripts/lab', ['exec', node, '--', 'shoal', ...args], { env: { ...process.env, SHOAL_LAB_PREFIX: lab.prefix }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code, err }));
  });
}

const voters = (node: string) => (lab.json<NodeJson[]>(node, 'node', 'ls', '--format', 'json') ?? []).filter((n) => n.ManagerStatus?.Leader || n.ManagerStatus?.Reachability === 'reachable').length;
const running = (node: string, svc: string) => (lab.json<TaskJson[]>(node, 'service', 'ps', svc, '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
const curl = (node: string) => spawnSync('ip', ['netns', 'exec', lab.netns('client'), 'curl', '-sf', '-m', '2', `http://192.168.56.10${node.slice(-1)}:8080/`], { encoding: 'utf8' }).stdout;
const dig = (pid: number, name: string) => spawnSync('nsenter', ['-t', String(pid), '-n', 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', name], { encoding: 'utf8' }).stdout.trim();

t.test('three managers: one may fail, two may not; force-new-cluster recovers from the last', async (t) => {
  lab.up(t, '--nodes', '5', '--managers', '3', '--runtime', 'exec');
  await until('three voting managers', () => voters('node1') === 3, 60_000);
  t.equal(lab.shoal('node1', 'network', 'create', '-d', 'overlay', 'appnet').status, 0);
  const created = lab.shoal('node1', 'service', 'create', '--name', 'web', '--replicas', '2', '--network', 'appnet', '--publish', '8080:80', '--constraint', 'node.role==worker', ...WEB);
  t.equal(created.status, 0, created.err);
  const task = running('node1', 'web')[0]!;

  // One name, three managers at the same moment: one wins, the others are refused.
  for (const kind of ['network', 'service'] as const) {
    const args = kind === 'network' ? ['network', 'create', '-d', 'overlay', 'same'] : ['service', 'create', '-d', '--name', 'same', 'host', '/bin/busybox', 'sleep', '100000'];
    const tries = await Promise.all(['node1', 'node2', 'node3'].map((n) => shoalAsync(n, ...args)));
    t.equal(tries.filter((x) => x.code === 0).length, 1, `three managers create ${kind} "same" at once: exactly one succeeds`);
    t.ok(tries.filter((x) => x.code !== 0).every((x) => /already exists/.test(x.err)), `the others are told it already exists (${tries.map((x) => x.err.trim()).filter(Boolean).join(' | ')})`);
  }
  t.equal((lab.json<unknown[]>('node1', 'service', 'ls', '--format', 'json') ?? []).length, 2, 'two services: web and one "same"');

  // One manager down: the other two are a majority.
  lab.kill('node3');
  const one = await until('a write with node3 down', () => lab.shoal('node1', 'service', 'create', '-d', '--name', 'one-down', 'host', '/bin/busybox', 'sleep', '100000').status === 0, 30_000);
  t.pass(`service create works ${(one.ms / 1000).toFixed(1)} s after kill -9 of one manager of three`);
  t.equal(lab.shoal('node2', 'service', 'scale', 'one-down=2').status, 0, 'and scale, through another manager');

  // Two down: no majority.
  lab.kill('node2');
  const refused = await until('node ls to fail with the no-leader message', () => NO_LEADER.test(lab.shoal('node1', 'node', 'ls').err), 30_000);
  t.pass(`with two of three managers down, node ls fails with Docker's message after ${(refused.ms / 1000).toFixed(1)} s`);
  // Refused before anything is written. (A write sent in the second before the manager noticed had
  // an unknown outcome, as in any Raft store: its leader may still commit it when the majority returns.)
  t.match(lab.shoal('node1', 'service', 'create', '-d', '--name', 'two-down', 'host', 'true').err, NO_LEADER, 'and service create');
  for (const n of ['node1', 'node4', 'node5']) t.match(curl(n), /^hello from /, `the published port still answers on ${n}`);
  t.match(dig(task.Status.ContainerStatus!.PID, 'web'), /^10\.0\.\d+\.\d+$/, 'DNS still answers inside a task');

  // Both back: writes resume, nothing lost.
  lab.start('node2');
  lab.start('node3');
  const resumed = await until('writes to resume', () => lab.shoal('node1', 'service', 'scale', 'one-down=3').status === 0, 60_000);
  t.pass(`writes resume ${(resumed.ms / 1000).toFixed(1)} s after the two managers were started again`);
  const names = () => lab.shoal('node1', 'service', 'ls', '--format', 'json').out;
  t.match(names(), /"web"/, 'web is still there');
  t.match(names(), /"one-down"/, 'and the service created with one manager down');
  t.notMatch(names(), /"two-down"/, 'but not the one refused');

  // Two managers lost for good: force a new cluster from the last one.
  await until('three voting managers again', () => voters('node1') === 3, 60_000);
  lab.kill('node2');
  lab.kill('node3');
  await until('no majority', () => NO_LEADER.test(lab.shoal('node1', 'node', 'ls').err), 30_000);
  const forced = lab.shoal('node1', 'swarm', 'init', '--force-new-cluster');
  t.equal(forced.status, 0, `swarm init --force-new-cluster: ${forced.err}`);
  const back = await until('writes on node1 alone', () => lab.shoal('node1', 'service', 'scale', 'one-down=1').status === 0, 60_000);
  t.pass(`the swarm writes again ${(back.ms / 1000).toFixed(1)} s after --force-new-cluster`);
  t.match(names(), /"web"/, 'every service survived the recovery: web');
  t.match(names(), /"one-down"/, 'and one-down');
  await until('web running on the workers', () => running('node1', 'web').length === 2, 60_000);
  t.match(curl('node4'), /^hello from /, 'and the routing mesh serves');
});
