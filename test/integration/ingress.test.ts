// The ingress routing mesh (3-node lab, exec runtime): a published port answers on every node's
// address, on the node that runs no task too, spread round robin over the service's tasks; from
// the node itself on 127.0.0.1 and its own address; UDP as well as TCP; a port whose service has
// no task refuses at once; a dead node's task leaves the mesh after failure detection; and when no
// service publishes anything, the ingress sandboxes and tables are gone from every node.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';
import { whoServer } from '../lib/who-server.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string } }

const NODES = ['node1', 'node2', 'node3'];
const ADDR: Record<string, string> = { node1: '192.168.56.101', node2: '192.168.56.102', node3: '192.168.56.103' };

t.test('ingress routing mesh', async (t) => {
  const lab = new Lab('ig');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  const server = whoServer(t);

  const create = lab.shoal('node1', 'service', 'create', '-q', '--name', 'web', '--replicas', '2', '--constraint', 'node.hostname!=node3', '--publish', '8080:80', '--publish', 'published=5300,target=5353,protocol=udp', ...server);
  t.equal(create.status, 0, create.err);
  const running = () => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const web = running();
  t.same(web.map((x) => x.NodeName).sort(), ['node1', 'node2'], 'two tasks, none on node3');
  const hosts = web.map((x) => x.ID.slice(0, 12)).sort();
  t.match(lab.shoal('node1', 'service', 'ls').out, /\*:8080->80\/tcp, \*:5300->5353\/udp/, 'service ls shows the published ports');

  const curlFrom = (where: string, url: string) => (where === 'client' ? lab.run('client', '--', 'curl', '-sS', '-m', '3', url) : lab.exec(where, 'curl', '-sS', '-m', '3', url));
  await until('every node to send the port to both tasks', () => NODES.every((n) => { const seen = new Set([0, 1, 2, 3].map(() => curlFrom('client', `http://${ADDR[n]}:8080/cgi-bin/who`).out.trim())); return seen.size === 2 && !seen.has(''); }), 15_000);
  for (const n of NODES) {
    const seen = new Map<string, number>();
    let failed = 0;
    for (let i = 0; i < 10; i++) {
      const r = curlFrom('client', `http://${ADDR[n]}:8080/cgi-bin/who`);
      if (r.status === 0) seen.set(r.out.trim(), (seen.get(r.out.trim()) ?? 0) + 1);
      else failed++;
    }
    t.equal(failed, 0, `every request to ${n}:8080 from outside the cluster is answered`);
    t.same([...seen.keys()].sort(), hosts, `by both tasks${n === 'node3' ? ', though node3 runs none' : ''}`);
    t.same([...seen.values()], [5, 5], 'round robin');
  }
  for (const url of ['http://127.0.0.1:8080/cgi-bin/who', `http://${ADDR.node3}:8080/cgi-bin/who`]) {
    const r = curlFrom('node3', url);
    t.ok(r.status === 0 && hosts.includes(r.out.trim()), `from node3 itself, ${url} answers (${r.out.trim() || r.err.trim()})`);
  }
  const ask = (addr: string) => spawnSync('ip', ['netns', 'exec', lab.netns('client'), process.execPath, '-e', `const s = require('node:dgram').createSocket('udp4'); s.send('who', 5300, '${addr}'); s.on('message', (m) => { console.log(m.toString()); process.exit(0); }); setTimeout(() => process.exit(1), 2000);`], { encoding: 'utf8' }).stdout.trim();
  t.ok(hosts.includes(ask(ADDR.node3!)), 'a UDP published port answers through the mesh too');

  // No task: refused at once on every node.
  t.equal(lab.shoal('node1', 'service', 'scale', 'web=0', '-d').status, 0);
  await until('the published port to refuse', () => { const r = curlFrom('client', `http://${ADDR.node3}:8080/`); return r.status !== 0 && /Couldn't connect/.test(r.err); }, 15_000);
  for (const n of NODES) {
    const start = Date.now();
    const r = curlFrom('client', `http://${ADDR[n]}:8080/`);
    t.ok(r.status !== 0 && /Couldn't connect/.test(r.err) && Date.now() - start < 1500, `${n}:8080 with no task refuses in ${Date.now() - start} ms`);
  }

  // A dead node's task leaves the mesh.
  t.equal(lab.shoal('node1', 'service', 'scale', 'web=2', '-d').status, 0);
  await until('two tasks again, both answering through node3', () => {
    if (running().length !== 2) return false;
    const seen = new Set([0, 1, 2, 3].map(() => curlFrom('client', `http://${ADDR.node3}:8080/cgi-bin/who`).out.trim()));
    return seen.size === 2 && !seen.has('');
  }, 20_000);
  const victim = running().find((x) => x.NodeName === 'node2')!;
  lab.kill('node2');
  const { ms } = await until('node2\'s task to leave the mesh', () => [0, 1, 2, 3].every(() => { const r = curlFrom('client', `http://${ADDR.node3}:8080/cgi-bin/who`); return r.status === 0 && r.out.trim() !== victim.ID.slice(0, 12); }), 30_000);
  t.pass(`4 requests in a row through node3 answered without node2's task ${(ms / 1000).toFixed(1)} s after its agent was killed`);
  lab.start('node2');

  // Nothing published: the sandboxes and tables go.
  t.equal(lab.shoal('node1', 'service', 'rm', 'web').status, 0);
  const nodeIds = (lab.json<{ ID: string }[]>('node1', 'node', 'ls', '--format', 'json') ?? []).map((x) => x.ID);
  t.equal(nodeIds.length, 3);
  const leftovers = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => nodeIds.some((id) => l.startsWith(`si-${id.slice(0, 8)}`)));
  await until('the ingress sandboxes to go', () => leftovers().length === 0, 20_000);
  for (const n of NODES) t.notMatch(lab.exec(n, 'nft', 'list', 'tables').out, /shoal_ingress/, `no ingress table left on ${n}`);
});
