// Service VIPs carry traffic (3-node lab, exec runtime): connections to a service's VIP, by address
// or by name through the embedded DNS, are spread round robin over its running tasks on every node,
// a task reaching its own service included; scaling changes the set; a VIP with no task refuses at
// once instead of timing out; a UDP client reusing its source port is balanced afresh when its
// backend goes; a dead node's task leaves the set after failure detection.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';
import { whoServer } from '../lib/who-server.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string; ContainerStatus?: { PID: number } }; NetworksAttachments: { Addresses: string[] }[] }
interface ServiceJson { Endpoint: { VirtualIPs?: { Addr: string }[] } }

t.test('VIP load balancing inside tasks', async (t) => {
  const lab = new Lab('vp');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  const server = whoServer(t);

  t.equal(lab.shoal('node1', 'network', 'create', 'appnet').status, 0);
  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'web', '--replicas', '3', '--network', 'appnet', ...server).status, 0);
  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'cli', '--constraint', 'node.hostname==node1', '--network', 'appnet', 'host', '/bin/busybox', 'sleep', '100000').status, 0);
  const running = (svc: string) => (lab.json<TaskJson[]>('node1', 'service', 'ps', svc, '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const vip = lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!.Endpoint.VirtualIPs![0]!.Addr.split('/')[0]!;
  const cli = running('cli')[0]!.Status.ContainerStatus!.PID;
  const hosts = (list: TaskJson[]) => list.map((x) => x.ID.slice(0, 12)).sort();

  // -m too, so that curl reads the task's own resolv.conf (127.0.0.11) for names.
  const curl = (pid: number, target: string) => spawnSync('nsenter', ['-t', String(pid), '-n', '-m', 'curl', '-sS', '-m', '3', `http://${target}/cgi-bin/who`], { encoding: 'utf8' });
  const tally = (pid: number, target: string, n: number) => {
    const seen = new Map<string, number>();
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const r = curl(pid, target);
      if (r.status === 0) seen.set(r.stdout.trim(), (seen.get(r.stdout.trim()) ?? 0) + 1);
      else failed++;
    }
    return { seen, failed };
  };

  const web = running('web');
  t.same(web.map((x) => x.NodeName).sort(), ['node1', 'node2', 'node3']);
  const table = () => spawnSync('nsenter', ['-t', String(cli), '-n', 'nft', 'list', 'table', 'ip', 'shoal_vip'], { encoding: 'utf8' }).stdout;
  const webIps = web.map((x) => x.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!);
  await until('cli\'s VIP table to hold the three web tasks', () => webIps.every((ip) => table().includes(ip)), 10_000);
  const round = tally(cli, vip, 30);
  t.equal(round.failed, 0, 'every connection to the VIP is answered');
  t.same([...round.seen.keys()].sort(), hosts(web), 'by all three tasks, on all three nodes');
  t.same([...round.seen.values()], [10, 10, 10], 'round robin: 10 connections each');
  const byName = tally(cli, 'web', 6);
  t.equal(byName.failed, 0, 'the service name (the VIP, from the embedded DNS) works the same');
  t.same([...byName.seen.keys()].sort(), hosts(web));
  const self = web.find((x) => x.NodeName === 'node2')!;
  const fromWeb = tally(self.Status.ContainerStatus!.PID, vip, 6);
  t.ok(fromWeb.failed === 0 && fromWeb.seen.get(self.ID.slice(0, 12)) === 2, 'a task reaches its own service\'s VIP, itself included');

  // Scale to none: refused at once. Back to two: only those two.
  t.equal(lab.shoal('node1', 'service', 'scale', 'web=0', '-d').status, 0);
  await until('the VIP to refuse', () => { const r = curl(cli, vip); return r.status !== 0 && /Couldn't connect|refused/.test(r.stderr); }, 10_000);
  const start = Date.now();
  const refused = curl(cli, vip);
  // Refused, not timed out (curl's -m 3): the error says which, whatever the machine's load.
  t.ok(refused.status !== 0 && /Couldn't connect|refused/.test(refused.stderr) && !/timed out/i.test(refused.stderr), `a VIP with no task refuses (in ${Date.now() - start} ms) instead of timing out (${refused.stderr.trim()})`);
  t.equal(lab.shoal('node1', 'service', 'scale', 'web=2', '-d').status, 0);
  await until('two tasks of web', () => running('web').length === 2, 20_000);
  const two = hosts(running('web'));
  await until('the VIP to reach both', () => { const r = tally(cli, vip, 4); return r.failed === 0 && JSON.stringify([...r.seen.keys()].sort()) === JSON.stringify(two); }, 10_000);
  t.pass('after scaling to 2, the VIP leads to those two tasks only');

  // UDP from one fixed source port: the same backend while it lives, another as soon as it goes.
  const ask = `const s = require('node:dgram').createSocket('udp4'); s.bind(40000, () => s.send('who', 5353, '${vip}')); s.on('message', (m) => { console.log(m.toString()); process.exit(0); }); setTimeout(() => process.exit(1), 2000);`;
  const askUdp = () => spawnSync('nsenter', ['-t', String(cli), '-n', process.execPath, '-e', ask], { encoding: 'utf8' }).stdout.trim();
  const first = askUdp();
  t.ok(two.includes(first), `a UDP datagram to the VIP is answered by a task (${first})`);
  t.equal(askUdp(), first, 'the same flow (same source port) stays with it');
  const gone = running('web').find((x) => x.ID.startsWith(first))!;
  const other = two.find((h) => h !== first)!;
  t.equal(lab.shoal('node1', 'service', 'update', '-d', '--constraint-add', `node.hostname!=${gone.NodeName}`, 'web').status, 0);
  await until(`the flow to move to a task other than ${first}`, () => { const a = askUdp(); return a !== '' && a !== first; }, 20_000);
  t.pass(`once ${first} is gone the same source port reaches another task (${other} or a new one)`);

  // A node that dies: its task leaves every VIP table once failure detection declares it down.
  await until('web to run on two nodes again', () => running('web').length === 2, 20_000);
  const victim = running('web').find((x) => x.NodeName !== 'node1')!;
  lab.kill(victim.NodeName);
  const ip = victim.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;
  t.match(table(), new RegExp(ip.replaceAll('.', '\\.')), `the table holds ${victim.NodeName}'s task (${ip}) while it is up`);
  const { ms } = await until(`${ip} to leave cli's VIP table`, () => !table().includes(ip), 30_000);
  t.pass(`${victim.NodeName}'s task left the VIP table ${(ms / 1000).toFixed(1)} s after its agent was killed`);
  const after = tally(cli, vip, 6);
  t.equal(after.failed, 0, 'and no connection to the VIP fails afterwards');
  t.notOk(after.seen.has(victim.ID.slice(0, 12)), 'none of them goes to the dead node');
});
