// Host-mode publishing and port refusals (3-node lab, exec runtime): a host-mode port answers only
// on the node running the service's task (from outside, and on 127.0.0.1 and the node's address from
// the node itself), nowhere else; the cluster's own ports and ports another service holds are refused
// at create and update, through the CLI and the Engine API (400), naming the port; a second host-mode
// service pinned to the same node waits with Docker's reason; a port a process of the node listens on
// gets the task rejected with a clear error; moving and scaling (up and down) the task moves the
// binding (and lets the waiting service in); and `service rm` leaves no table behind.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';
import { whoServer } from '../lib/who-server.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string; Err?: string; PortStatus?: { Ports: unknown[] } } }

const NODES = ['node1', 'node2', 'node3'];
const ADDR: Record<string, string> = { node1: '192.168.56.101', node2: '192.168.56.102', node3: '192.168.56.103' };

t.test('host-mode publishing', async (t) => {
  const lab = new Lab('hp');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  const server = whoServer(t);
  const tasks = (svc: string) => lab.json<TaskJson[]>('node1', 'service', 'ps', svc, '--format', 'json') ?? [];
  const running = (svc: string) => tasks(svc).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const curlFrom = (where: string, url: string) => (where === 'client' ? lab.run('client', '--', 'curl', '-sS', '-m', '3', url) : lab.exec(where, 'curl', '-sS', '-m', '3', url));
  const who = (where: string, addr: string, port = 8080) => { const r = curlFrom(where, `http://${addr}:${port}/cgi-bin/who`); return r.status === 0 ? r.out.trim() : `failed: ${r.err.trim()}`; };

  // One task, published in host mode: only its node answers.
  const create = lab.shoal('node1', 'service', 'create', '-q', '--name', 'web', '--publish', 'published=8080,target=80,mode=host', ...server);
  t.equal(create.status, 0, create.err);
  await until('web to run', () => running('web').length === 1, 20_000);
  const [task] = running('web');
  const home = task!.NodeName;
  const id = task!.ID.slice(0, 12);
  t.same(task!.Status.PortStatus?.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }], 'the running task shows the port it holds');
  t.match(lab.shoal('node1', 'service', 'ps', 'web').out, /Running .*\*:8080->80\/tcp/, 'service ps shows it in PORTS, as Docker does');
  t.notMatch(lab.shoal('node1', 'service', 'ls').out, /8080/, 'service ls shows only routing-mesh ports, as Docker does');
  t.match(lab.shoal('node1', 'service', 'inspect', '--pretty', 'web').out, /PublishMode = host/);
  for (const n of NODES) {
    if (n === home) t.equal(who('client', ADDR[n]!), id, `${n} runs the task and answers on 8080`);
    else t.match(who('client', ADDR[n]!), /failed: .*Couldn't connect/, `${n} runs no task: 8080 refuses there`);
  }
  t.equal(who(home, '127.0.0.1'), id, `from ${home} itself, 127.0.0.1:8080 answers`);
  t.equal(who(home, ADDR[home]!), id, `from ${home} itself, its own address answers`);

  // Refused before anything changes, naming the port: through the CLI ...
  const refused = (args: string[]) => { const r = lab.shoal('node1', ...args); return r.status !== 0 ? r.err : `accepted: ${r.out}`; };
  t.match(refused(['service', 'create', '-d', '--name', 'mesh', '--publish', '8080:80', ...server]), /port '8080' is already in use by service 'web' \([0-9a-z]+\) as a host-published port/, 'an ingress port that a host-mode service publishes');
  t.match(refused(['service', 'create', '-d', '--name', 'gossip', '--publish', 'published=7946,target=80,mode=host', ...server]), /port '7946' is reserved: the cluster uses it for gossip/);
  t.match(refused(['service', 'create', '-d', '--name', 'join', '--publish', '2377:80', ...server]), /port '2377' is reserved/);
  t.equal(lab.shoal('node1', 'service', 'create', '-d', '-q', '--name', 'mesh', '--publish', '8181:80', ...server).status, 0);
  t.match(refused(['service', 'update', '-d', '--publish-add', 'published=8181,target=80,mode=host', 'web']), /port '8181' is already in use by service 'mesh' \([0-9a-z]+\) as an ingress port/, 'at update too');
  t.match(refused(['service', 'update', '-d', '--publish-add', '4789:80', 'mesh']), /port '4789' is reserved: the cluster uses it for the VXLAN data path/);
  // ... and through the Engine API, as the docker CLI would send it.
  const sock = `/run/shoal/${lab.prefix}node1/shoal.sock`;
  const body = JSON.stringify({ Name: 'api', TaskTemplate: { ContainerSpec: { Image: 'host', Args: ['true'] } }, EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 2378 }] } });
  const api = spawnSync('ip', ['netns', 'exec', lab.netns('node1'), 'curl', '-s', '-w', '\n%{http_code}', '--unix-socket', sock, '-H', 'Content-Type: application/json', '-d', body, 'http://x/v1.41/services/create'], { encoding: 'utf8' }).stdout.trim().split('\n');
  t.equal(api.at(-1), '400', 'the Engine API answers 400');
  t.match(api[0], /"message":"port '2378' is reserved: the cluster uses it for the node API/);
  if (spawnSync('docker', ['--version']).status === 0) {
    const config = mkdtempSync(join(tmpdir(), 'shoal-hp-docker-'));
    t.teardown(() => rmSync(config, { recursive: true, force: true }));
    const docker = (...args: string[]) => spawnSync('docker', ['-H', `unix://${sock}`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config } });
    t.match(docker('service', 'create', '--detach', '--no-resolve-image', '--name', 'dk', '--publish', 'published=4789,target=80,mode=host', 'host').stderr, /port '4789' is reserved: the cluster uses it for the VXLAN data path/, 'the stock docker CLI shows the refusal');
    t.match(docker('service', 'ps', 'web').stdout, /Running .*\*:8080->80\/tcp/, 'and docker service ps shows the host-mode port');
  }
  t.same(lab.shoal('node1', 'service', 'ls', '-q').out.split('\n').length, 2, 'nothing refused was created');
  t.equal(lab.shoal('node1', 'service', 'rm', 'mesh').status, 0);

  // A second host-mode service on the same port, pinned to that node: waits with Docker's reason.
  t.equal(lab.shoal('node1', 'service', 'create', '-d', '-q', '--name', 'web2', '--constraint', `node.hostname==${home}`, '--publish', 'published=8080,target=80,mode=host', ...server).status, 0);
  await until('web2 to say why it waits', () => tasks('web2').some((x) => x.Status.State === 'pending' && x.Status.Err === 'no suitable node (scheduling constraints not satisfied on 2 nodes; host-mode port already in use on 1 node)'), 15_000);
  t.match(lab.shoal('node1', 'service', 'ps', '--no-trunc', 'web2').out, /Pending .*"no suitable node \(scheduling constraints not satisfied on 2 nodes; host-mode port already in use on 1 node\)"/, 'service ps shows it in ERROR');

  // A port a process of the node listens on: the task is rejected with a clear error.
  const other = NODES.find((n) => n !== home)!;
  const listener = spawn('ip', ['netns', 'exec', lab.netns(other), process.execPath, '-e', 'require("node:net").createServer(() => {}).listen(8090, "0.0.0.0")'], { stdio: 'ignore' });
  t.teardown(() => { listener.kill('SIGKILL'); });
  await until(`a process to listen on ${other}:8090`, () => lab.exec(other, 'sh', '-c', 'cat /proc/net/tcp').out.includes(':1F9A 00000000:0000 0A'), 10_000);
  t.equal(lab.shoal('node1', 'service', 'create', '-d', '-q', '--name', 'busy', '--restart-condition', 'none', '--constraint', `node.hostname==${other}`, '--publish', 'published=8090,target=80,mode=host', ...server).status, 0);
  const expected = `host-mode port 8090/tcp is already in use on ${other}: a process on the node listens on 0.0.0.0:8090`;
  await until('busy\'s task to be rejected', () => tasks('busy').some((x) => x.Status.State === 'rejected' && x.Status.Err === expected), 20_000);
  t.pass(`rejected: "${expected}"`);
  listener.kill('SIGKILL');
  t.equal(lab.shoal('node1', 'service', 'rm', 'busy').status, 0);

  // Moving the task moves the binding, and lets web2 have the port on the node it waited for.
  t.equal(lab.shoal('node1', 'service', 'update', '-d', '--constraint-add', `node.hostname!=${home}`, 'web').status, 0);
  await until('web to run elsewhere', () => running('web').some((x) => x.NodeName !== home), 30_000);
  const moved = running('web')[0]!;
  await until('web2 to run on the freed port', () => running('web2').length === 1, 30_000);
  const web2 = running('web2')[0]!;
  t.equal(web2.NodeName, home);
  await until('both bindings to answer', () => who('client', ADDR[moved.NodeName]!) === moved.ID.slice(0, 12) && who('client', ADDR[home]!) === web2.ID.slice(0, 12), 10_000);
  const third = NODES.find((n) => n !== home && n !== moved.NodeName)!;
  t.match(who('client', ADDR[third]!), /failed: .*Couldn't connect/, `${third} still runs nothing and refuses`);
  t.pass(`web moved ${home} -> ${moved.NodeName} and answers there; web2 answers on ${home}`);

  // Scaling: one task per node (the others are taken), so web goes where it is allowed and no further.
  t.equal(lab.shoal('node1', 'service', 'scale', '-d', 'web=3').status, 0);
  await until('web to run on both nodes it may use', () => running('web').length === 2, 30_000);
  await until('a third web task to wait', () => tasks('web').some((x) => x.Status.State === 'pending' && /host-mode port already in use on 2 nodes/.test(x.Status.Err ?? '')), 15_000);
  for (const n of NODES.filter((x) => x !== home)) await until(`${n} to answer for web`, () => running('web').some((x) => x.NodeName === n && who('client', ADDR[n]!) === x.ID.slice(0, 12)), 10_000);
  t.pass('scaled to 3: a task on each node it may use, both answering, the third waiting with Docker\'s reason');
  t.equal(lab.shoal('node1', 'service', 'scale', '-d', 'web=1').status, 0);
  await until('web to be down to one task', () => running('web').length === 1 && tasks('web').every((x) => x.DesiredState !== 'running' || x.Status.State === 'running'), 30_000);
  const kept = running('web')[0]!.NodeName;
  const dropped = NODES.find((n) => n !== home && n !== kept)!;
  await until(`${dropped} to stop answering for web`, () => /failed: .*Couldn't connect/.test(who('client', ADDR[dropped]!)), 10_000);
  t.equal(who('client', ADDR[kept]!), running('web')[0]!.ID.slice(0, 12), `scaled to 1: ${kept} still answers, ${dropped} refuses`);

  // Removal: nothing left.
  for (const s of ['web', 'web2']) t.equal(lab.shoal('node1', 'service', 'rm', s).status, 0);
  await until('the host-mode tables to go', () => NODES.every((n) => !/shoal_hostports/.test(lab.exec(n, 'nft', 'list', 'tables').out)), 20_000);
  for (const n of NODES) t.match(who('client', ADDR[n]!), /failed/, `${n}:8080 answers no more`);
});
