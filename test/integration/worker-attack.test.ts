// A worker that turns hostile, with its own node certificate and the gossip key, tries to change what
// only managers may change: promote itself, create a service, change the keyring, read the join
// secrets, write another node's status, and claim another node's task; through its own agent's API,
// the managers' node API, etcd's client port with its certificate, and etcd's peer port. Every
// attempt is refused (or, where etcd lets it write its own prefix, dropped by every reader), and the
// cluster's state is the same afterwards. (Crafted gossip: test/integration/forged-gossip.test.ts.)
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';
import { projectRoot } from '../../src/util/paths.js';

interface NodeJson { ID: string; Description: { Hostname: string }; Spec: { Role: string }; ManagerStatus?: unknown }
interface TaskJson { ID: string; NodeID: string; Status: { State: string }; DesiredState: string }

const lab = new Lab('wa');
const NOT_A_MANAGER = /This node is not a swarm manager/;
const dist = (p: string) => join(projectRoot, 'dist', 'src', p);

/** Runs an ES module script as `node` inside the worker's namespace, with its certificate files, and returns what it printed. */
function asWorker(script: string): string {
  const d = `/var/lib/shoal/${lab.netns('node2')}/swarm/certs`;
  const prelude = `const fs = await import('node:fs'); const certs = { caPem: fs.readFileSync('${d}/ca.crt'), certPem: fs.readFileSync('${d}/node.crt'), keyPem: fs.readFileSync('${d}/node.key') };`;
  return execFileSync('ip', ['netns', 'exec', lab.netns('node2'), process.execPath, '--input-type=module', '-e', prelude + script], { encoding: 'utf8', timeout: 60_000 });
}

t.test('a worker cannot change what is not its own', async (t) => {
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  t.equal(lab.shoal('node1', 'service', 'create', '--name', 'web', '--replicas', '2', '--constraint', 'node.hostname==node1', 'host', '/bin/sh', '-c', 'exec sleep 100000').status, 0);
  const nodes = () => lab.json<NodeJson[]>('node1', 'node', 'ls', '--format', 'json') ?? [];
  const ids = Object.fromEntries(nodes().map((n) => [n.Description.Hostname, n.ID]));
  const tasks = () => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running');
  await until('web running on node1', () => tasks().length === 2 && tasks().every((x) => x.Status.State === 'running'), 30_000);
  const victim = tasks()[0]!;
  const keyring = () => JSON.stringify(lab.json<{ Swarm: { GossipKeyring?: unknown } }>('node1', 'info', '--format', 'json')?.Swarm.GossipKeyring);
  const keyringBefore = keyring();
  const tokensBefore = lab.shoal('node1', 'swarm', 'join-token', '-q', 'worker').out;

  // 1. Its own agent's API.
  t.match(lab.shoal('node2', 'node', 'promote', 'node2').err, NOT_A_MANAGER, 'promote itself through its agent: refused');
  t.match(lab.shoal('node2', 'service', 'create', '--name', 'evil', 'host', 'true').err, NOT_A_MANAGER, 'create a service: refused');
  t.match(lab.shoal('node2', 'swarm', 'update', '--rotate-gossip-key').err, NOT_A_MANAGER, 'rotate the gossip key: refused');

  // 2. The managers' node API, with its own certificate: a certificate for its own role only.
  const signed = asWorker(`const { requestCertificate } = await import('${dist('cluster/node-api.js')}'); const ca = await import('${dist('cluster/ca.js')}');
    const { csrPem } = ca.createKeyAndCsr(); const files = { caCert: certs.caPem.toString(), node: { certPem: certs.certPem.toString(), keyPem: certs.keyPem.toString() } };
    const pem = await requestCertificate(files, { nodeId: '${ids.node1}', addr: '192.168.56.101' }, csrPem, 5000); const { X509Certificate } = await import('node:crypto'); console.log(new X509Certificate(pem).subject.replace(/\\n/g, ' '));`);
  t.match(signed, /OU=swarm-worker CN=/, 'a CSR sent to a manager comes back as a worker certificate, whatever it asks');

  // 3. etcd's client port on a manager, authenticated by its certificate (etcd's RBAC by CN).
  const attempt = (what: string, call: string) => `try { ${call}; console.log(${JSON.stringify(`${what}: ACCEPTED`)}); } catch (e) { console.log(${JSON.stringify(`${what}: refused: `)} + e.message); }`;
  const out = asWorker(`const { createEtcdClient } = await import('${dist('etcd/client.js')}');
    const c = createEtcdClient({ endpoints: ['https://192.168.56.101:2379'], tls: certs, callDeadlineMs: 3000 });
    const node2 = JSON.stringify({ id: '${ids.node2}', hostname: 'node2', role: 'manager', availability: 'active', labels: {}, addr: '192.168.56.102', engineVersion: '0', createdAt: 'x', updatedAt: 'x' });
    ${attempt('promote itself in etcd', `await c.put('/shoal/objects/nodes/${ids.node2}').value(node2)`)}
    ${attempt('create a service in etcd', `await c.put('/shoal/objects/services/evil').value('{}')`)}
    ${attempt('rewrite the cluster settings', `await c.put('/shoal/objects/cluster/settings').value('{}')`)}
    ${attempt('read the join secrets', `const v = await c.get('/shoal/secrets/join/secrets').string(); if (v === null) throw new Error('nothing readable')`)}
    ${attempt("write node1's status", `await c.put('/shoal/nodes/${ids.node1}/node-status/${ids.node1}').value('{}')`)}
    ${attempt('add an etcd member', `await c.cluster.memberAdd({ peerURLs: ['https://192.168.56.102:2380'], isLearner: true })`)}
    ${attempt('grant itself root', `await c.auth.userGrantRole({ user: '${ids.node2}', role: 'root' })`)}
    const forged = JSON.stringify({ id: '${victim.ID}', nodeId: '${ids.node1}', state: 'failed', message: 'forged', err: 'forged by node2', timestamp: new Date().toISOString() });
    ${attempt("claim node1's task under its own prefix", `await c.put('/shoal/nodes/${ids.node2}/task-status/${victim.ID}').value(forged)`)}
    c.close();`);
  for (const what of ['promote itself in etcd', 'create a service in etcd', 'rewrite the cluster settings', 'read the join secrets', "write node1's status", 'add an etcd member', 'grant itself root']) {
    t.match(out, new RegExp(`^${what}: refused: .*(permission denied|nothing readable)`, 'mi'), `${what}: etcd refuses it`);
  }
  t.match(out, /^claim node1's task under its own prefix: ACCEPTED/m, 'etcd lets it write under its own prefix...');
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(tasks().find((x) => x.ID === victim.ID)?.Status.State, 'running', '...but every reader drops a status that names another node: the task is still running');
  t.match(lab.agentLog('node1'), /belongs to node .* but sits under node .*'s prefix/, 'and the manager logs the dropped entry');

  // 4. etcd's peer port: only manager certificates may speak Raft.
  const d = `/var/lib/shoal/${lab.netns('node2')}/swarm/certs`;
  const peer = spawnSync('ip', ['netns', 'exec', lab.netns('node2'), 'curl', '-sS', '-m', '5', '--cacert', `${d}/ca.crt`, '--cert', `${d}/node.crt`, '--key', `${d}/node.key`, 'https://192.168.56.101:2380/members'], { encoding: 'utf8' });
  t.not(peer.status, 0, `the peer port refuses a worker's certificate (curl: ${peer.stderr.trim()})`);

  // Nothing changed.
  t.same(nodes().map((n) => `${n.Description.Hostname} ${n.Spec.Role}`).sort(), ['node1 manager', 'node2 worker', 'node3 worker'], 'roles unchanged');
  t.notMatch(lab.shoal('node1', 'service', 'ls').out, /evil/, 'no service was created');
  t.equal(keyring(), keyringBefore, 'the keyring is unchanged');
  t.equal(lab.shoal('node1', 'swarm', 'join-token', '-q', 'worker').out, tokensBefore, 'the join secrets are unchanged');

  // Removed from the swarm, its certificate no longer reads the cluster's state.
  const read = () => asWorker(`const { createEtcdClient } = await import('${dist('etcd/client.js')}');
    const c = createEtcdClient({ endpoints: ['https://192.168.56.101:2379'], tls: certs, callDeadlineMs: 3000 });
    ${attempt('read the services', `await c.getAll().prefix('/shoal/objects/services/').keys()`)} c.close();`);
  t.match(read(), /^read the services: ACCEPTED/m, 'a member reads the cluster objects');
  t.equal(lab.shoal('node1', 'node', 'rm', '--force', 'node2').status, 0);
  t.match(read(), /^read the services: refused: .*(permission denied|user name not found|authentication failed)/mi, 'after node rm, its certificate reads nothing');
});
