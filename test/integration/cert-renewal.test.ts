// Node certificates follow the cluster's --cert-expiry without a restart, in a lab of 3 managers and a
// worker: `swarm init --cert-expiry` under an hour is refused, and the certificates of init and of
// every join are issued for the expiry init set; `swarm update --cert-expiry 30m` is refused with Docker's message and changes nothing;
// `--cert-expiry 1h` gets every node a new certificate (new serial, valid until about an hour from
// now) within seconds, read from its data dir and from what its node API (and a manager's etcd member)
// presents, each agent keeping its PID; and afterwards the cluster works through the new certificates:
// a service's task runs on the worker, every node is Ready, and the worker's endpoint, which it signs
// with its new key, is accepted by another node (its DNS answers tasks.<service> with it); its older
// endpoint, signed again, is accepted even by a node that joins afterwards.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface NodeJson { Description: { Hostname: string }; Status: { State: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }
interface InfoJson { Swarm: { NodeID: string; Cluster?: { Spec?: { CAConfig?: { NodeCertExpiry?: number } } } } }
interface TaskJson { NodeName: string; DesiredState: string; Status: { State: string } }

const lab = new Lab('cr');
const nodes = ['node1', 'node2', 'node3', 'node4'];
const managers = ['node1', 'node2', 'node3'];
const HOUR = 3600_000;
const MIN_MESSAGE = 'minimum certificate expiry time is: 1h0m0s';

const nodeLs = (node: string) => lab.json<NodeJson[]>(node, 'node', 'ls', '--format', 'json') ?? [];
const voters = (node: string) => nodeLs(node).filter((n) => n.ManagerStatus?.Leader || n.ManagerStatus?.Reachability === 'reachable').length;
const allReady = (node: string, count = nodes.length) => { const l = nodeLs(node); return l.length === count && l.every((n) => n.Status.State === 'ready'); };
const dig = (node: string, name: string) => lab.exec(node, 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', name).out;
const IPV4 = /^10\.\d+\.\d+\.\d+$/;
const expiryNs = () => lab.json<InfoJson>('node1', 'info', '--format', 'json')?.Swarm.Cluster?.Spec?.CAConfig?.NodeCertExpiry;

/** The certificate a node keeps in its data dir. */
function fileCert(node: string): X509Certificate {
  return new X509Certificate(readFileSync(`/var/lib/shoal/${lab.netns(node)}/swarm/certs/node.crt`));
}

/** The certificate a node's listener on `port` presents (read with openssl inside the lab; no client certificate needed to see it). */
function presented(node: string, port: number): X509Certificate | undefined {
  const ip = `192.168.56.10${node.slice(-1)}`;
  const r = spawnSync('ip', ['netns', 'exec', lab.netns(node), 'openssl', 's_client', '-connect', `${ip}:${port}`, '-servername', ip], { input: '', encoding: 'utf8', timeout: 10_000 });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  return pem ? new X509Certificate(pem) : undefined;
}

function agentPid(node: string): number {
  return Number(readFileSync(`/run/shoal/${lab.netns(node)}/agent.pid`, 'utf8').trim());
}

/** From a node's agent log: how long its last renewal took, from "renewing" to "new certificate is in use". */
function renewalMs(node: string): number | undefined {
  let start: number | undefined;
  let took: number | undefined;
  for (const line of readFileSync(`/run/shoal/${lab.netns(node)}/agent.log`, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { time: number; msg: string };
    if (l.msg === 'renewing this node\'s certificate') start = l.time;
    if (l.msg === 'this node\'s new certificate is in use' && start !== undefined) took = l.time - start;
  }
  return took;
}

/** A manager's etcd member's pid (the pidfile beside its data dir). */
function etcdPid(node: string): number {
  return Number(readFileSync(`/var/lib/shoal/${lab.netns(node)}/etcd/data.pid`, 'utf8').trim());
}

t.test('swarm update --cert-expiry renews every node\'s certificate without a restart', async (t) => {
  lab.up(t, '--nodes', '5', '--no-swarm', '--runtime', 'exec');
  const init = (expiry: string) => lab.shoal('node1', 'swarm', 'init', '--advertise-addr', '192.168.56.101', '--cert-expiry', expiry);
  const tooShort = init('59m');
  t.ok(tooShort.status !== 0 && tooShort.err.includes(MIN_MESSAGE), `swarm init --cert-expiry 59m is refused with Docker's message (${tooShort.err})`);
  t.match(lab.shoal('node1', 'info').out, /Swarm: inactive/, 'and no swarm was made');
  const made = init('100h');
  t.equal(made.status, 0, made.err);
  const token = (role: string) => lab.shoal('node1', 'swarm', 'join-token', '-q', role).out;
  for (const [n, role] of [['node2', 'manager'], ['node3', 'manager'], ['node4', 'worker']] as const) {
    const joined = lab.shoal(n, 'swarm', 'join', '--token', token(role), '--advertise-addr', `192.168.56.10${n.slice(-1)}`, '192.168.56.101:2377');
    t.equal(joined.out, `This node joined a swarm as a ${role}.`, joined.err);
  }
  await until('three voting managers and four Ready nodes', () => voters('node1') === 3 && allReady('node1'), 90_000);

  // A task on the worker before the renewal: its endpoint is signed with the worker's first key.
  t.equal(lab.shoal('node1', 'network', 'create', '-d', 'overlay', 'prenet').status, 0);
  t.equal(lab.shoal('node1', 'service', 'create', '-d', '--name', 'pre', '--network', 'prenet', '--constraint', 'node.role==worker', 'host', '/bin/busybox', 'sleep', '100000').status, 0);
  await until('node2 to answer tasks.pre with the worker\'s task', () => IPV4.test(dig('node2', 'tasks.pre')), 60_000);
  const preIp = dig('node2', 'tasks.pre');

  const before = new Map(nodes.map((n) => [n, fileCert(n)]));
  const pids = new Map(nodes.map((n) => [n, agentPid(n)]));
  const etcdPids = new Map(managers.map((n) => [n, etcdPid(n)]));
  for (const n of nodes) {
    const hours = (Date.parse(before.get(n)!.validTo) - Date.now()) / HOUR;
    t.ok(hours > 99 && hours <= 100, `${n} starts with a certificate for init's --cert-expiry, 100 h (${hours.toFixed(2)} h left)`);
    t.equal(presented(n, 2378)?.serialNumber, before.get(n)!.serialNumber, `${n}'s node API presents it`);
  }
  t.equal(expiryNs(), 100 * HOUR * 1e6, 'NodeCertExpiry is 100h, in nanoseconds');
  t.match(lab.shoal('node1', 'info').out, /\n {2}CA Configuration:\n {3}Expiry Duration: 4 days\n/, '`info` shows it as Docker does');

  // Under the minimum: refused with swarmkit's words, nothing changed, nobody renews.
  const short = lab.shoal('node1', 'swarm', 'update', '--cert-expiry', '30m');
  t.not(short.status, 0, '--cert-expiry 30m fails');
  t.ok(short.err.includes(MIN_MESSAGE), `with Docker's message (${short.err})`);
  t.equal(expiryNs(), 100 * HOUR * 1e6, 'and the setting is unchanged');
  t.equal(lab.shoal('node4', 'swarm', 'update', '--cert-expiry', '2h').status, 1, 'a worker cannot change it');

  const updated = lab.shoal('node1', 'swarm', 'update', '--cert-expiry', '1h');
  t.equal(updated.status, 0, updated.err);
  t.equal(updated.out, 'Swarm updated.');
  const at = Date.now();
  t.equal(expiryNs(), HOUR * 1e6, 'NodeCertExpiry is 1h');
  t.match(lab.shoal('node1', 'info').out, /Expiry Duration: About an hour\n/);

  const renewed = (n: string) => fileCert(n).serialNumber !== before.get(n)!.serialNumber;
  await until('every node to hold a new certificate', () => nodes.every(renewed), 60_000);
  t.pass(`every node had a new certificate ${((Date.now() - at) / 1000).toFixed(1)} s after the update returned`);
  for (const n of nodes) {
    const took = renewalMs(n);
    if (took !== undefined) t.comment(`${n}: renewal (key, CSR, signature, install everywhere) took ${took} ms`);
  }
  for (const n of nodes) {
    const c = fileCert(n);
    const left = Date.parse(c.validTo) - at;
    t.ok(left > HOUR - 60_000 && left < HOUR + 60_000, `${n}: a new serial, valid until about an hour from now (${c.validTo}; ${(left / 60_000).toFixed(1)} min)`);
    t.equal(c.subject, before.get(n)!.subject, `${n}: the same subject (${c.subject.replace(/\n/g, ', ')})`);
    t.equal(agentPid(n), pids.get(n), `${n}: the same agent process (pid ${pids.get(n)}): no restart`);
  }
  await until('every node API to present its new certificate', () => nodes.every((n) => presented(n, 2378)?.serialNumber === fileCert(n).serialNumber), 10_000);
  t.pass('every node API presents the new certificate (setSecureContext)');
  await until('every manager\'s etcd member to present the new certificate', () => managers.every((n) => [2379, 2380].every((port) => presented(n, port)?.serialNumber === fileCert(n).serialNumber)), 10_000);
  t.pass('every manager\'s etcd member presents the new certificate on its client and peer ports at the next handshake');
  for (const n of managers) t.equal(etcdPid(n), etcdPids.get(n), `${n}'s etcd member is the same process (pid ${etcdPids.get(n)}): not restarted`);

  // Nothing renews again: the new certificates are within the policy.
  const serials = nodes.map((n) => fileCert(n).serialNumber);
  await new Promise((r) => setTimeout(r, 3_000));
  t.same(nodes.map((n) => fileCert(n).serialNumber), serials, 'no further renewal once within the policy');

  // The cluster works through the new certificates.
  await until('all four nodes Ready', () => allReady('node1'), 30_000);
  t.pass('all four nodes Ready after the renewal');
  t.equal(lab.shoal('node2', 'network', 'create', '-d', 'overlay', 'crnet').status, 0, 'a write through another manager');
  const created = lab.shoal('node1', 'service', 'create', '--name', 'web', '--network', 'crnet', '--constraint', 'node.role==worker', 'host', '/bin/busybox', 'sleep', '100000');
  t.equal(created.status, 0, created.err);
  await until('the task running on the worker', () => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json') ?? []).some((x) => x.NodeName === 'node4' && x.DesiredState === 'running' && x.Status.State === 'running'), 60_000);
  t.pass('web\'s task runs on node4 (the worker), placed and reported through etcd after the renewal');
  await until('node2 to answer tasks.web with the worker\'s task', () => IPV4.test(dig('node2', 'tasks.web')), 30_000);
  t.pass(`node2 answers tasks.web with ${dig('node2', 'tasks.web')}: the endpoint node4 signed with its new key was accepted`);
  t.equal(dig('node2', 'tasks.pre'), preIp, 'and still tasks.pre, the endpoint node4 made before the renewal');

  // A node that joins now never saw node4's first certificate: it can check node4's endpoints only
  // because node4 signed them again with its new key.
  const joined = lab.shoal('node5', 'swarm', 'join', '--token', token('worker'), '--advertise-addr', '192.168.56.105', '192.168.56.101:2377');
  t.equal(joined.out, 'This node joined a swarm as a worker.', joined.err);
  t.ok((Date.parse(fileCert('node5').validTo) - Date.now()) <= HOUR, 'node5 joined with a certificate within the new 1h policy');
  await until('node5 to answer tasks.pre with node4\'s task', () => dig('node5', 'tasks.pre') === preIp, 60_000);
  t.pass(`node5, joined after the renewal, answers tasks.pre with ${preIp}: node4's older endpoint, signed again with its new key`);
  for (const n of nodes) t.equal(agentPid(n), pids.get(n), `${n}'s agent is still the same process`);
  const refused = [...nodes, 'node5'].map((n) => `${n} ${lab.json<{ Swarm: { RefusedGossipEntries: number } }>(n, 'info', '--format', 'json')?.Swarm.RefusedGossipEntries}`);
  t.comment(`gossip entries refused (signature or owner), per node: ${refused.join(', ')}`);
});
