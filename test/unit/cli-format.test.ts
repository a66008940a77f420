// `shoal service ls/ps/inspect`, `node ls/ps/inspect`, `network ls/inspect` with their default output,
// -q and --format, run as the real CLI binary against canned Engine-API JSON served on a unix socket
// (the agent's API shape; a real agent needs a lab, which the integration tests use).
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
// timestamps are made when the API answers, so "x seconds ago" does not drift while the CLI starts
const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();

const SVC = {
  ID: 'kq2dz0ojvb1mzn3gcugqmisyk', Version: { Index: 20 }, CreatedAt: '2026-12-07T21:00:00Z', UpdatedAt: '2026-12-07T21:00:00Z',
  Spec: { Name: 'web', Labels: { tier: 'front' }, TaskTemplate: { ContainerSpec: { Image: 'nginx:latest' } }, Mode: { Replicated: { Replicas: 2 } }, EndpointSpec: { Mode: 'vip' } },
  Endpoint: { Spec: { Mode: 'vip' }, Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }, { Protocol: 'tcp', TargetPort: 81, PublishedPort: 8081, PublishMode: 'ingress' }], VirtualIPs: [{ NetworkID: '4hxwa3v0yyn0z1s5uwuqxgnbd', Addr: '10.255.0.5/16' }] },
  ServiceStatus: { RunningTasks: 2, DesiredTasks: 2 },
};
const SVC2 = {
  ...SVC, ID: 'zz9dz0ojvb1mzn3gcugqmisyk',
  Spec: { Name: 'agent-10', TaskTemplate: { ContainerSpec: { Image: 'docker.io/library/busybox:1.36@sha256:abcdef0123456789' }, Placement: { MaxReplicas: 1 } }, Mode: { Global: {} } },
  Endpoint: { Spec: {} }, ServiceStatus: { RunningTasks: 1, DesiredTasks: 2 },
};
const task = (id: string, slot: number, node: string, nodeName: string, state: string, desired: string, age: number, err?: string) => ({
  ID: id, Slot: slot, ServiceID: SVC.ID, NodeID: node, NodeName: nodeName, DesiredState: desired, CreatedAt: ago(age),
  Spec: { ContainerSpec: { Image: 'nginx:latest' } }, Status: { State: state, Timestamp: ago(age), ...(err ? { Err: err } : {}) },
});
const TASKS = () => [
  task('t2aaaaaaaaaaaaaaaaaaaaaaa', 2, 'n2xxxxxxxxxxxxxxxxxxxxxxx', 'node2', 'running', 'running', 5),
  task('t1bbbbbbbbbbbbbbbbbbbbbbb', 1, 'n1xxxxxxxxxxxxxxxxxxxxxxx', 'node1', 'running', 'running', 90),
  task('t1aaaaaaaaaaaaaaaaaaaaaaa', 1, 'n2xxxxxxxxxxxxxxxxxxxxxxx', 'node2', 'failed', 'shutdown', 200, 'task: non-zero exit (1): the command failed'),
];
const node = (id: string, host: string, manager?: object) => ({
  ID: id, Version: { Index: 5 }, CreatedAt: '2026-12-07T20:00:00Z', UpdatedAt: '2026-12-07T20:00:00Z',
  Spec: { Role: manager ? 'manager' : 'worker', Availability: 'active', Labels: host === 'node2' ? { zone: 'a' } : {} },
  Description: { Hostname: host, Platform: { Architecture: 'x86_64', OS: 'linux' }, Engine: { EngineVersion: '0.1.0' } },
  Status: { State: 'ready', Addr: `10.0.0.${host.slice(-1)}` }, ...(manager ? { ManagerStatus: manager } : {}),
});
const NODES = [node('n2xxxxxxxxxxxxxxxxxxxxxxx', 'node2'), node('n1xxxxxxxxxxxxxxxxxxxxxxx', 'node1', { Leader: true, Reachability: 'reachable', Addr: '10.0.0.1:2377' }), node('n10xxxxxxxxxxxxxxxxxxxxxx', 'node10')];
const NETS = [
  { Name: 'ingress', Id: 'ingressid0123456789abcdef', Created: '2026-12-07T20:00:00Z', Scope: 'swarm', Driver: 'overlay', EnableIPv6: false, Internal: false, IPAM: { Driver: 'default', Config: [{ Subnet: '10.255.0.0/16', Gateway: '10.255.0.1' }] }, Labels: {} },
  { Name: 'appnet', Id: 'appnetid0123456789abcdef0', Created: '2026-12-07T20:30:00.25Z', Scope: 'swarm', Driver: 'overlay', EnableIPv6: false, Internal: false, IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' }] }, Labels: { team: 'b', env: 'prod' } },
];

/** The agent API's routes these commands use, answering from the canned objects. */
function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const path = url.pathname.replace(/^\/v[\d.]+/, '');
  const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as Record<string, string[]>;
  if (path === '/info') return send(200, { Name: 'node1', Swarm: { NodeID: 'n1xxxxxxxxxxxxxxxxxxxxxxx', LocalNodeState: 'active' } });
  if (path === '/services') return send(200, [SVC, SVC2].filter((x) => (!filters.name || filters.name.some((n) => x.Spec.Name.startsWith(n))) && (!filters.id || filters.id.some((i) => x.ID.startsWith(i)))));
  if (path.startsWith('/services/')) {
    const s = [SVC, SVC2].find((x) => x.ID === path.slice(10) || x.Spec.Name === path.slice(10));
    return s ? send(200, s) : send(404, { message: `service ${path.slice(10)} not found` });
  }
  if (path === '/tasks') {
    return send(200, TASKS().filter((x) => (!filters.node || filters.node.includes(x.NodeID)) && (!filters['desired-state'] || filters['desired-state'].includes(x.DesiredState))));
  }
  if (path === '/nodes') return send(200, NODES);
  if (path.startsWith('/nodes/')) {
    const ref = decodeURIComponent(path.slice(7));
    const n = NODES.find((x) => x.ID === ref || x.Description.Hostname === ref);
    return n ? send(200, n) : send(404, { message: `No such node: ${ref}` });
  }
  if (path === '/networks') return send(200, NETS);
  if (path.startsWith('/networks/')) {
    const n = NETS.find((x) => x.Name === path.slice(10) || x.Id === path.slice(10));
    return n ? send(200, n) : send(404, { message: `network ${path.slice(10)} not found` });
  }
  send(404, { message: `no route ${path}` });
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-format-'));
const sock = join(dir, 'api.sock');
const server = http.createServer(handle);
await new Promise<void>((r) => server.listen(sock, r));
t.teardown(() => new Promise<void>((r) => server.close(() => { rmSync(dir, { recursive: true, force: true }); r(); })));

/** Runs the CLI asynchronously (the canned API lives in this process). */
function shoal(...args: string[]): Promise<{ out: string; err: string; status: number }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, '-H', `unix://${sock}`, ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => resolve({ out, err, status: code ?? 1 }));
  });
}

t.test('service ls: Docker\'s table (tabwriter, trailing spaces and all), -q, --format', async (t) => {
  const ls = await shoal('service', 'ls');
  t.equal(ls.out,
    'ID             NAME       MODE         REPLICAS   IMAGE          PORTS\n' +
    'zz9dz0ojvb1m   agent-10   global       1/2        busybox:1.36   \n' +
    'kq2dz0ojvb1m   web        replicated   2/2        nginx:latest   *:8080-8081->80-81/tcp\n');
  t.equal((await shoal('service', 'ls', '-q')).out, 'zz9dz0ojvb1m\nkq2dz0ojvb1m\n');
  t.equal((await shoal('service', 'ls', '--format', '{{.Name}}: {{.Replicas}} {{.Ports}}')).out, 'agent-10: 1/2 \nweb: 2/2 *:8080-8081->80-81/tcp\n');
  t.equal((await shoal('service', 'ls', '--format', 'table {{.Name}}\\t{{.Image}}')).out, 'NAME       IMAGE\nagent-10   busybox:1.36\nweb        nginx:latest\n');
  t.equal((await shoal('service', 'ls', '--format', '{{json .}}')).out.split('\n')[1], '{"ID":"kq2dz0ojvb1m","Image":"nginx:latest","Mode":"replicated","Name":"web","Ports":"*:8080-8081->80-81/tcp","Replicas":"2/2"}');
  t.equal((await shoal('service', 'ls', '--format', 'raw')).out, 'id: zz9dz0ojvb1m\nname: agent-10\nmode: global\nreplicas: 1/2\nimage: busybox:1.36\nports: \n\nid: kq2dz0ojvb1m\nname: web\nmode: replicated\nreplicas: 2/2\nimage: nginx:latest\nports: *:8080-8081->80-81/tcp\n\n');
  t.same(JSON.parse((await shoal('service', 'ls', '--format', 'json')).out).map((s: { ID: string }) => s.ID), [SVC.ID, SVC2.ID], '--format json: the API objects (shoal\'s machine-readable form)');
  t.equal((await shoal('service', 'ls', '-f', 'mode=global', '--format', '{{.Name}}')).out, 'agent-10\n', '--filter mode');
  t.equal((await shoal('service', 'ls', '-f', 'label=tier=front', '--format', '{{.Name}}')).out, 'web\n', '--filter label=key=value');
  t.equal((await shoal('service', 'ls', '-f', 'label=tier=back', '-q')).out, '', 'no match, no output');
  t.equal((await shoal('service', 'ls', '-f', 'name=age', '--format', '{{.Name}}')).out, 'agent-10\n', '--filter name (a prefix, answered by the API)');
  t.match((await shoal('service', 'ls', '-f', 'mode=job')).err, /invalid --filter 'mode=job': use mode=replicated or mode=global/);
  const bad = await shoal('service', 'ls', '--format', '{{.Nope}}');
  t.equal(bad.status, 1);
  t.equal(bad.err, 'template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *service.serviceContext\n');
  t.equal(bad.out, '', 'nothing printed on a template error');
  const unparsable = await shoal('service', 'ls', '--format', '{{.Name');
  t.equal(unparsable.err, 'template parsing error: template: :1: unclosed action\n');
  t.equal(unparsable.status, 1);
});

t.test('service ps: names per slot, history indented, errors cut at 30, -q, --no-trunc, --format', async (t) => {
  const ps = await shoal('service', 'ps', 'web');
  t.equal(ps.out,
    'ID             NAME        IMAGE          NODE      DESIRED STATE   CURRENT STATE                ERROR                              PORTS\n' +
    't1bbbbbbbbbb   web.1       nginx:latest   node1     Running         Running about a minute ago                                      \n' +
    't1aaaaaaaaaa    \\_ web.1   nginx:latest   node2     Shutdown        Failed 3 minutes ago         "task: non-zero exit (1): the …"   \n' +
    't2aaaaaaaaaa   web.2       nginx:latest   node2     Running         Running 5 seconds ago                                           \n');
  t.equal((await shoal('service', 'ps', '-q', 'web')).out, 't1bbbbbbbbbb\nt1aaaaaaaaaa\nt2aaaaaaaaaa\n');
  t.equal((await shoal('service', 'ps', '-q', '--no-trunc', 'web')).out, 't1bbbbbbbbbbbbbbbbbbbbbbb\nt1aaaaaaaaaaaaaaaaaaaaaaa\nt2aaaaaaaaaaaaaaaaaaaaaaa\n');
  t.equal((await shoal('service', 'ps', '--no-trunc', '--format', '{{.Name}} {{.Error}}', 'web')).out, 'web.1 \nweb.1 "task: non-zero exit (1): the command failed"\nweb.2 \n', 'no history indent outside a table; the full error');
  t.equal((await shoal('service', 'ps', '-f', 'desired-state=running', '--format', '{{.ID}} {{.Node}}', 'web')).out, 't1bbbbbbbbbb node1\nt2aaaaaaaaaa node2\n');
  t.match((await shoal('service', 'ps', '-f', 'bogus=1', 'web')).err, /invalid --filter 'bogus=1': use desired-state=\.\.\., id=\.\.\., node=\.\.\./);
});

t.test('service inspect --format runs on the Go service object', async (t) => {
  t.equal((await shoal('service', 'inspect', '--format', '{{.Endpoint.VirtualIPs}}', 'web')).out, '[{4hxwa3v0yyn0z1s5uwuqxgnbd 10.255.0.5/16}]\n');
  const global = await shoal('service', 'inspect', '-f', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}', 'web', 'agent-10');
  t.equal(global.out, 'web 2\n', 'a global service has no Replicated: typed it is a nil pointer, raw a missing key...');
  t.equal(global.err, 'template parsing error: template: :1:17: executing "" at <.Spec.Mode.Replicated.Replicas>: map has no entry for key "Replicated"\n', '...and Docker reports the raw one');
  t.equal(global.status, 1);
  const missing = await shoal('service', 'inspect', '-f', '{{.ID}}', 'web', 'nosuch');
  t.equal(missing.out, `${SVC.ID}\n`, 'the found service is printed');
  t.match(missing.err, /no such service: nosuch/);
  t.equal(missing.status, 1);
  const bad = await shoal('service', 'inspect', '-f', '{{.Nope}}', 'web');
  t.equal(bad.err, 'template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n', "Docker's raw fallback message");
  t.equal(bad.status, 1);
  const unparsable = await shoal('service', 'inspect', '-f', '{{if}}', 'web');
  t.equal(unparsable.err, 'template parsing error: template: :1: missing value for if\n');
  t.equal(unparsable.status, 64, 'as Docker: a template that does not parse exits 64 in inspect');
  t.same(JSON.parse((await shoal('service', 'inspect', 'web')).out), [SVC], 'no --format: the JSON array');
});

t.test('node ls / node ps / node inspect', async (t) => {
  t.equal((await shoal('node', 'ls')).out,
    'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n' +
    'n1xxxxxxxxxxxxxxxxxxxxxxx *   node1      Ready     Active         Leader           0.1.0\n' +
    'n2xxxxxxxxxxxxxxxxxxxxxxx     node2      Ready     Active                          0.1.0\n' +
    'n10xxxxxxxxxxxxxxxxxxxxxx     node10     Ready     Active                          0.1.0\n', 'hostnames in natural order, self marked');
  t.equal((await shoal('node', 'ls', '-q')).out, 'n1xxxxxxxxxxxxxxxxxxxxxxx\nn2xxxxxxxxxxxxxxxxxxxxxxx\nn10xxxxxxxxxxxxxxxxxxxxxx\n');
  t.equal((await shoal('node', 'ls', '-f', 'role=worker', '--format', '{{.Hostname}}')).out, 'node2\nnode10\n', '--filter role');
  t.equal((await shoal('node', 'ls', '-f', 'node.label=zone=a', '-f', 'name=node', '--format', '{{.Hostname}}')).out, 'node2\n', '--filter node.label and name together');
  t.match((await shoal('node', 'ls', '-f', 'colour=red')).err, /invalid --filter 'colour=red': use id=\.\.\., name=\.\.\., role=\.\.\., node\.label=\.\.\., label=\.\.\./);
  t.equal((await shoal('node', 'ls', '--format', '{{.Hostname}} {{.Self}} {{.ManagerStatus}} {{.TLSStatus}}')).out, 'node1 true Leader Unknown\nnode2 false  Unknown\nnode10 false  Unknown\n');
  t.equal((await shoal('node', 'ps', 'node2')).out,
    'ID             NAME      IMAGE          NODE      DESIRED STATE   CURRENT STATE           ERROR                              PORTS\n' +
    't1aaaaaaaaaa   web.1     nginx:latest   node2     Shutdown        Failed 3 minutes ago    "task: non-zero exit (1): the …"   \n' +
    't2aaaaaaaaaa   web.2     nginx:latest   node2     Running         Running 5 seconds ago                                      \n');
  t.equal((await shoal('node', 'ps', '--format', '{{.Name}}@{{.Node}}')).out, 'web.1@node1\n', 'no node: self');
  t.equal((await shoal('node', 'ps', '-q', '-f', 'desired-state=running', 'node1', 'node2')).out, 't1bbbbbbbbbb\nt2aaaaaaaaaa\n');
  const missing = await shoal('node', 'ps', 'nosuch');
  t.match(missing.err, /No such node: nosuch/);
  t.equal(missing.status, 1);
  t.equal((await shoal('node', 'inspect', '-f', '{{.Status.Addr}} {{.Spec.Role}} {{.ManagerStatus}}', 'node1', 'node2')).out, '10.0.0.1 manager {true reachable 10.0.0.1:2377}\n10.0.0.2 worker <nil>\n');
  t.match((await shoal('node', 'inspect', '--format', 'pretty', 'node2')).out, /Hostname:\s+node2/);
});

t.test('network ls / network inspect', async (t) => {
  t.equal((await shoal('network', 'ls')).out, 'NETWORK ID     NAME      DRIVER    SCOPE\nappnetid0123   appnet    overlay   swarm\ningressid012   ingress   overlay   swarm\n');
  t.equal((await shoal('network', 'ls', '-q', '--no-trunc')).out, 'appnetid0123456789abcdef0\ningressid0123456789abcdef\n');
  t.equal((await shoal('network', 'ls', '--format', '{{.Name}} {{.Labels}} {{.Label "team"}} {{.IPv6}} {{.Internal}} {{.CreatedAt}}')).out,
    'appnet env=prod,team=b b false false 2026-12-07 20:30:00.25 +0000 UTC\ningress   false false 2026-12-07 20:00:00 +0000 UTC\n');
  t.equal((await shoal('network', 'ls', '--format', 'table {{.ID}}\\t{{.Label "team"}}')).out, 'NETWORK ID     \nappnetid0123   b\ningressid012   \n', 'a header cell that cannot render ends the header there, as Docker');
  t.equal((await shoal('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.ID}}', 'appnet')).out, '10.0.9.0/24 appnetid0123456789abcdef0\n');
});
