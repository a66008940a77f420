// Services end to end in a 3-node lab, run once per task runtime (services-exec.test.ts,
// services-docker.test.ts): create converging with the progress display, names resolving inside
// a task (VIP, tasks.*, dnsrr) and the VIP answering, scaling seen by every node's DNS, a killed
// task replaced in its slot with a history row, drain moving tasks, an impossible constraint
// pending with its reason, invalid specs refused with nothing changed, and rm giving NXDOMAIN
// everywhere (from the upstream: a dnsmasq in the lab's client namespace that knows no names).
import { spawn, spawnSync } from 'node:child_process';
import type { Test } from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; Slot?: number; ServiceID: string; NodeName: string; DesiredState: string; Status: { State: string; Err?: string; ContainerStatus?: { PID: number } }; NetworksAttachments: { Addresses: string[] }[] }
interface ServiceJson { ID: string; Endpoint: { VirtualIPs?: { NetworkID: string; Addr: string }[] } }

const NODES = ['node1', 'node2', 'node3'];
const UPSTREAM = '192.168.56.200';

export interface ServiceRuntime {
  kind: 'exec' | 'docker';
  /** Image and command of a long-running task. */
  server: string[];
}

export async function servicesBody(t: Test, rt: ServiceRuntime): Promise<void> {
  const lab = new Lab(rt.kind === 'exec' ? 'sx' : 'sd');
  lab.up(t, '--nodes', '3', '--runtime', rt.kind, '--dns-upstream', UPSTREAM);
  const dnsmasq = spawn('ip', ['netns', 'exec', lab.netns('client'), 'dnsmasq', '-k', '--no-resolv', '--no-hosts', '--local=/#/', `--listen-address=${UPSTREAM}`, '--bind-interfaces', '--port=53', '--pid-file=', '--user=root'], { stdio: 'ignore' });
  t.teardown(() => { dnsmasq.kill('SIGKILL'); });

  t.equal(lab.shoal('node1', 'network', 'create', 'appnet').status, 0);
  const tasks = (svc: string) => lab.json<TaskJson[]>('node1', 'service', 'ps', svc, '--format', 'json') ?? [];
  const running = (svc: string) => tasks(svc).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const addrs = (list: TaskJson[]) => list.map((x) => x.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!).sort();
  const dig = (pid: number, ...q: string[]) => spawnSync('nsenter', ['-t', String(pid), '-n', 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', ...q], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).sort();
  const digNode = (node: string, ...q: string[]) => lab.exec(node, 'dig', '+tries=1', '+time=2', '@127.0.0.11', ...q).out;
  const short = (out: string) => out.split('\n').filter((l) => /^\S+\.\s+\d+\s+IN\s+A\s/.test(l)).map((l) => l.split(/\s+/)[4]!).sort();

  // Invalid specs are refused, naming the field, and nothing is made.
  t.match(lab.shoal('node1', 'service', 'create', '--name', 'bad.name', ...rt.server).err, /rpc error: code = InvalidArgument desc = name must be valid as a DNS name component/);
  t.match(lab.shoal('node1', 'service', 'create', '--name', 'bad', '--restart-condition', 'sometimes', ...rt.server).err, /TaskTemplate\.RestartPolicy\.Condition must be one of none, on-failure, any, got "sometimes"/);
  t.match(lab.shoal('node1', 'service', 'create', '--name', 'bad', '--constraint', 'node.zone=mars', ...rt.server).err, /invalid constraint 'node\.zone=mars'/);
  t.match(lab.shoal('node1', 'service', 'create', '--name', 'bad', '--network', 'nosuch', ...rt.server).err, /network nosuch not found/);
  t.match(lab.shoal('node1', 'service', 'create', '--name', 'bad', '--endpoint-mode', 'dnsrr', '--publish', '8080:80', ...rt.server).err, /port published with ingress mode can't be used with dnsrr mode/);
  t.equal(lab.shoal('node1', 'service', 'ls', '-q').out, '', 'nothing was created by the refused specs');

  const create = lab.shoal('node1', 'service', 'create', '--name', 'web', '--replicas', '3', '--restart-delay', '1s', '--network', 'appnet', ...rt.server);
  t.equal(create.status, 0, create.err);
  t.match(create.out, /^[0-9a-z]{25}\n/, 'the service ID first');
  t.match(create.out, /1\/3: running\s+\[=+>\]/, 'a progress line per slot');
  t.match(create.out, /overall progress: 3 out of 3 tasks\nverify: Service converged$/, 'then converged');
  t.match(lab.shoal('node1', 'service', 'ls').out, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS\n[0-9a-z]{12}\s+web\s+replicated\s+3\/3\s+/);
  t.ok(Array.isArray(lab.json('node1', 'service', 'ls', '--format', 'json')), 'service ls --format json');

  const web = running('web');
  t.same(web.map((x) => x.NodeName).sort(), NODES, 'spread over the three nodes');
  const vip = lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!.Endpoint.VirtualIPs![0]!.Addr.split('/')[0]!;
  const pid = web[0]!.Status.ContainerStatus!.PID;
  t.same(dig(pid, 'web'), [vip], 'inside a task, web is the VIP');
  const http = (target: string) => spawnSync('nsenter', ['-t', String(pid), '-n', 'curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${target}/`], { encoding: 'utf8' }).stdout;
  t.match(http(vip), /^\d{3}$/, 'and a web server answers on the VIP (vip.test.ts tests the load balancing)');
  t.same(dig(pid, 'tasks.web'), addrs(web), 'tasks.web is the three task addresses');
  t.same(dig(pid, 'web.appnet'), [vip], 'web.appnet too');
  const nslookup = spawnSync('nsenter', ['-t', String(pid), '-n', '/bin/busybox', 'nslookup', 'web', '127.0.0.11'], { encoding: 'utf8' }).stdout;
  t.match(nslookup, new RegExp(`Address: ${vip.replaceAll('.', '\\.')}`), 'busybox nslookup finds it as well');
  t.same(dig(pid, 'web', 'AAAA'), [], 'AAAA: no data');
  t.match(lab.exec('node1', 'dig', '@127.0.0.11', 'web', 'AAAA').out, /status: NOERROR/, 'and NOERROR, not NXDOMAIN');

  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'rr', '--replicas', '2', '--endpoint-mode', 'dnsrr', '--network', 'appnet', ...rt.server).status, 0);
  t.same(dig(pid, 'rr'), addrs(running('rr')), 'a dnsrr service resolves to its task addresses');
  t.notOk(lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'rr')![0]!.Endpoint.VirtualIPs, 'and has no VIP');

  // Scaling: every node's DNS answers the new set.
  const scale = lab.shoal('node1', 'service', 'scale', 'web=5');
  t.match(scale.out, /^web scaled to 5\n[\s\S]*verify: Service converged$/);
  const five = addrs(running('web'));
  t.equal(five.length, 5);
  const { ms } = await until('every node to answer the 5 task addresses', () => NODES.every((n) => short(digNode(n, 'tasks.web')).join() === five.join()), 10_000);
  t.pass(`all three nodes answer tasks.web with 5 addresses ${ms} ms after scale returned`);

  // A task whose process is killed is replaced in the same slot, with a history row.
  const victim = running('web').find((x) => x.Slot === 2)!;
  process.kill(victim.Status.ContainerStatus!.PID, 'SIGKILL');
  await until('slot 2 to run a new task', () => running('web').some((x) => x.Slot === 2 && x.ID !== victim.ID), 20_000);
  const ps = lab.shoal('node1', 'service', 'ps', 'web').out;
  t.match(ps, new RegExp(`${victim.ID.slice(0, 12)}\\s+\\\\_ web\\.2\\s+\\S+\\s+\\S+\\s+Shutdown\\s+Failed .+ago\\s+"task: non-zero exit \\(137\\)"`), 'service ps shows the failed task as a history row of slot 2');

  // --format as Docker's: the tutorial's inspect template prints Go's rendering of the VIP structs.
  const vipList = lab.json<ServiceJson[]>('node1', 'service', 'inspect', 'web')![0]!.Endpoint.VirtualIPs!;
  t.equal(lab.shoal('node1', 'service', 'inspect', '--format', '{{.Endpoint.VirtualIPs}}', 'web').out, `[${vipList.map((v) => `{${v.NetworkID} ${v.Addr}}`).join(' ')}]`, "service inspect --format '{{.Endpoint.VirtualIPs}}' web");
  t.match(lab.shoal('node1', 'service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}').out, /^rr replicated 2\/2\nweb replicated 5\/5$/, 'service ls --format');
  t.equal(lab.shoal('node1', 'network', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}}', 'appnet').out, 'appnet overlay swarm', 'network inspect --format');
  t.match(lab.shoal('node1', 'network', 'ls', '--format', '{{.Name}}').out, /(^|\n)appnet(\n|$)/, 'network ls --format');
  // node ps node2: every task on node2 (web's and rr's, history included), in Docker's table.
  const webId = tasks('web')[0]!.ServiceID;
  const onNode2 = [...tasks('web'), ...tasks('rr')].filter((x) => x.NodeName === 'node2');
  const nodePs = lab.shoal('node1', 'node', 'ps', 'node2');
  t.equal(nodePs.status, 0, nodePs.err);
  const lines = nodePs.out.split('\n');
  t.match(lines[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/, 'node ps: Docker\'s header');
  t.equal(lines.length - 1, onNode2.length, 'a row per task on node2');
  for (const x of onNode2.filter((y) => y.DesiredState === 'running')) {
    const svc = x.ServiceID === webId ? 'web' : 'rr';
    t.match(nodePs.out, new RegExp(`^${x.ID.slice(0, 12)}\\s+${svc}\\.${x.Slot}\\s+\\S+\\s+node2\\s+Running\\s+Running .+ ago`, 'm'), `node ps shows ${svc}.${x.Slot} running on node2`);
  }
  t.same(lab.shoal('node1', 'node', 'ps', '-q', '--no-trunc', 'node2').out.split('\n').sort(), onNode2.map((x) => x.ID).sort(), 'node ps -q --no-trunc: the same task IDs');

  // Drain: node3's tasks move to the other nodes.
  t.equal(lab.shoal('node1', 'node', 'update', '--availability', 'drain', 'node3').status, 0);
  await until('no web task on node3, five running elsewhere', () => { const r = running('web'); return r.length === 5 && r.every((x) => x.NodeName !== 'node3'); }, 30_000);
  t.pass('drain moved node3\'s tasks');
  t.equal(lab.shoal('node1', 'node', 'update', '--availability', 'active', 'node3').status, 0);

  // A constraint nobody meets: pending with Docker's reason, and create says it cannot converge.
  const nowhere = lab.shoal('node1', 'service', 'create', '--name', 'nowhere', '--constraint', 'node.labels.zone==mars', ...rt.server);
  t.equal(nowhere.status, 1);
  t.match(nowhere.err, /service nowhere cannot converge:\n\s+1\/1: no suitable node \(scheduling constraints not satisfied on 3 nodes\)/);
  t.match(lab.shoal('node1', 'service', 'ps', 'nowhere').out, /nowhere\.1\s+\S+\s+Running\s+Pending .+ago\s+"no suitable node \(scheduling/);

  // rm: every node's DNS stops answering (the upstream says NXDOMAIN).
  t.equal(lab.shoal('node1', 'service', 'rm', 'web').out, 'web');
  await until('web to be NXDOMAIN on every node', () => NODES.every((n) => /status: NXDOMAIN/.test(digNode(n, 'web'))), 10_000);
  t.pass('after service rm, web is NXDOMAIN on every node');
  const inspect = lab.shoal('node1', 'service', 'inspect', 'web');
  t.same([inspect.status, inspect.out, inspect.err], [1, '[]', 'Error: no such service: web'], 'inspect of a removed service prints [] and the error');
}
