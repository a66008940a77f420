// service update in a 3-node lab (exec runtime): env, image, args and constraints replace the tasks
// (one at a time, stop-first) and the new ones carry the change; the endpoint mode changes the DNS
// answer and the VIP without replacing tasks; replicas scale; --rollback returns to the previous
// spec; an update against a stale version is refused.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Spec: { ContainerSpec: { Image: string; Args?: string[] } }; Status: { State: string; ContainerStatus?: { PID: number } } }
interface ServiceJson { ID: string; Version: { Index: number }; Spec: Record<string, unknown>; Endpoint: { VirtualIPs?: unknown[] } }

t.test('service update', async (t) => {
  const lab = new Lab('up');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  // A second "image" for the exec runtime: a root directory holding busybox.
  const rootfs = mkdtempSync(join(tmpdir(), 'shoal-rootfs-'));
  t.teardown(() => rmSync(rootfs, { recursive: true, force: true }));
  mkdirSync(join(rootfs, 'bin'));
  cpSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const app of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', app));

  t.equal(lab.shoal('node1', 'network', 'create', 'appnet').status, 0);
  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'web', '--replicas', '2', '--env', 'A=1', '--network', 'appnet', 'host', '/bin/busybox', 'sleep', '100000').status, 0);
  const running = () => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const ids = () => running().map((x) => x.ID).sort().join();
  const environ = (x: TaskJson) => readFileSync(`/proc/${x.Status.ContainerStatus!.PID}/environ`, 'utf8').split('\0');

  let before = ids();
  const env = lab.shoal('node1', 'service', 'update', '--env-add', 'B=2', 'web');
  t.equal(env.status, 0, env.err);
  t.match(env.out, /^web\n[\s\S]*verify: Service converged$/, 'update prints the name and converges');
  t.not(ids(), before, 'the tasks were replaced');
  t.ok(running().every((x) => environ(x).includes('A=1') && environ(x).includes('B=2')), 'the new tasks have A=1 and B=2');

  before = ids();
  t.equal(lab.shoal('node1', 'service', 'update', '--image', rootfs, '--args', '/bin/sleep 99999', 'web').status, 0);
  t.ok(running().length === 2 && running().every((x) => x.Spec.ContainerSpec.Image === rootfs), 'the new image runs');
  t.ok(running().every((x) => readFileSync(`/proc/${x.Status.ContainerStatus!.PID}/cmdline`, 'utf8').includes('99999')), 'with the new arguments');
  t.ok(running().every((x) => spawnSync('readlink', [`/proc/${x.Status.ContainerStatus!.PID}/root`], { encoding: 'utf8' }).stdout.trim() === rootfs), 'chrooted into the new root');

  t.equal(lab.shoal('node1', 'service', 'update', '--constraint-add', 'node.hostname==node2', 'web').status, 0);
  t.ok(running().every((x) => x.NodeName === 'node2'), 'a new constraint moves every task to node2');

  before = ids();
  const vipBefore = lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!.Endpoint.VirtualIPs;
  t.ok(vipBefore && vipBefore.length === 1, 'vip mode has a VIP');
  t.equal(lab.shoal('node1', 'service', 'update', '--endpoint-mode', 'dnsrr', 'web').status, 0);
  await until('the VIP to go', () => !lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!.Endpoint.VirtualIPs, 10_000);
  t.equal(ids(), before, 'changing the endpoint mode replaces no task');
  const addrs = (lab.json<{ NetworksAttachments: { Addresses: string[] }[]; DesiredState: string; Status: { State: string } }[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running').map((x) => x.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]).sort();
  await until('web to resolve to the task addresses', () => lab.exec('node1', 'dig', '+short', '@127.0.0.11', 'web').out.split('\n').sort().join() === addrs.join(), 10_000);
  t.pass('in dnsrr mode web resolves to its tasks');

  t.equal(lab.shoal('node1', 'service', 'update', '-d', '--replicas', '3', 'web').status, 0);
  await until('3 running', () => running().length === 3, 20_000);
  t.pass('--replicas through update');

  const rollback = lab.shoal('node1', 'service', 'update', '--rollback', 'web');
  t.equal(rollback.status, 0, rollback.err);
  await until('two tasks again (the previous spec)', () => running().length === 2, 20_000);
  t.pass('--rollback returns to the previous spec');

  const svc = lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!;
  const sock = `/run/shoal/${lab.netns('node1')}/shoal.sock`;
  const stale = spawnSync('curl', ['-s', '--unix-socket', sock, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify(svc.Spec), `http://x/services/${svc.ID}/update?version=${svc.Version.Index - 1}`], { encoding: 'utf8' }).stdout;
  t.match(stale, /update out of sequence: service web is at version \d+, not \d+; read it again and retry/, 'a stale version is refused');
});
