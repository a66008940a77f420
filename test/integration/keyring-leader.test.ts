// Two cluster-core behaviours in one 3-node lab: the gossip key is rotated on every node without a
// restart (and a node restarted afterwards still talks), and when the leader's agent dies another
// manager takes over within one lease period of the etcd election, every manager naming the same one.
import t from 'tap';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface Info { Swarm: { NodeID: string; GossipKeyring?: { Keys: string[]; Primary: string } } }
interface NodeJson { ID: string; Description: { Hostname: string }; Status: { State: string }; Spec: { Labels: Record<string, string> }; ManagerStatus?: { Leader: boolean; Reachability: string } }

const lab = new Lab('k');
const nodes = ['node1', 'node2', 'node3'];
const keyring = (node: string) => lab.json<Info>(node, 'info', '--format', 'json')?.Swarm.GossipKeyring;
const nodeLs = (node: string) => lab.json<NodeJson[]>(node, 'node', 'ls', '--format', 'json') ?? [];
const leaderSeenBy = (node: string) => nodeLs(node).filter((n) => n.ManagerStatus?.Leader).map((n) => n.Description.Hostname);
const allReady = (node: string) => nodeLs(node).length === 3 && nodeLs(node).every((n) => n.Status.State === 'ready');

t.test('gossip key rotation and leader failover', async (t) => {
  lab.up(t, '--nodes', '3');
  await until('every node to see all three Ready', () => allReady('node1'), 15_000);

  const before = keyring('node1')!;
  t.equal(before.Keys.length, 1, 'one key to start with');
  for (const n of nodes) t.same(keyring(n), before, `${n} holds the same keyring`);

  const rotated = lab.shoal('node1', 'swarm', 'update', '--rotate-gossip-key');
  t.equal(rotated.status, 0, rotated.err);
  t.match(rotated.out, /^Gossip key rotated: every node now encrypts with [0-9a-f]{12}\.$/);
  const after = keyring('node1')!;
  t.not(after.Primary, before.Primary, 'a new primary');
  await until('every node to hold only the new key', () => nodes.every((n) => { const k = keyring(n); return k?.Keys.length === 1 && k.Primary === after.Primary; }), 10_000);
  t.pass('all three nodes dropped the old key');
  t.ok(allReady('node1'), 'nobody was cut off by the rotation');

  t.equal(lab.shoal('node2', 'swarm', 'update', '--rotate-gossip-key').status, 1, 'a worker cannot rotate');
  t.equal(lab.shoal('node1', 'node', 'update', '--label-add', 'after=rotation', 'node3').status, 0);
  await until('a change made after the rotation to reach node3', () => lab.json<NodeJson[]>('node1', 'node', 'inspect', 'node3')?.[0]?.Spec.Labels.after === 'rotation', 10_000);

  lab.kill('node2');
  lab.start('node2');
  await until('node2, restarted after the rotation, to be Ready again', () => allReady('node1'), 20_000);
  t.same(keyring('node2'), after, 'node2 kept the new key across its restart');

  // A node that is down for a whole rotation cannot decrypt anyone when it returns: it catches up the
  // settings from a manager over the node API (mutual TLS) and is Ready again within seconds.
  lab.kill('node3');
  await until('node3 to be Down', () => nodeLs('node1').find((n) => n.Description.Hostname === 'node3')?.Status.State === 'down', 30_000);
  t.equal(lab.shoal('node1', 'swarm', 'update', '--rotate-gossip-key').status, 0);
  const missed = keyring('node1')!;
  await until('node1 and node2 to hold only the key node3 missed', () => ['node1', 'node2'].every((n) => { const k = keyring(n); return k?.Keys.length === 1 && k.Primary === missed.Primary; }), 15_000);
  const back = Date.now();
  lab.start('node3');
  const { ms: readyMs } = await until('node3, down during the whole rotation, to be Ready again', () => allReady('node1') && keyring('node3')?.Primary === missed.Primary, 20_000);
  const sinceStart = Date.now() - back;
  t.ok(sinceStart < 10_000, `node3 was Ready with the new key ${(sinceStart / 1000).toFixed(1)} s after it started (${(readyMs / 1000).toFixed(1)} s after the start returned)`);
  t.same(keyring('node3'), missed, 'and holds exactly the cluster\'s keyring');

  // Leadership: make every node a manager; one holds the etcd lease election and every manager names it.
  t.equal(lab.shoal('node1', 'node', 'promote', 'node2', 'node3').status, 0);
  await until('three managers, each a voting Raft member (Reachable)', () => nodeLs('node1').filter((n) => n.ManagerStatus?.Leader || n.ManagerStatus?.Reachability === 'reachable').length === 3, 60_000);
  const agreed = () => { const seen = nodes.map((n) => leaderSeenBy(n).join()); return seen.every((l) => l !== '' && l === seen[0]) ? seen[0] : undefined; };
  await until('every manager to name the same one leader', () => agreed() !== undefined, 20_000);
  const first = agreed()!;
  t.pass(`every manager names ${first} leader`);

  lab.kill(first);
  const others = nodes.filter((n) => n !== first);
  const { ms } = await until(`the others to name another leader after ${first} dies`, () => { const seen = others.map((n) => leaderSeenBy(n).join()); return seen.every((l) => l !== '' && l !== first && l === seen[0]); }, 20_000);
  t.pass(`${leaderSeenBy(others[0]!).join()} took over ${(ms / 1000).toFixed(1)} s after kill -9 of ${first} (one lease period: 5 s)`);
  t.equal(nodeLs(others[0]!).find((n) => n.Description.Hostname === first)?.ManagerStatus?.Reachability, 'unreachable', 'the dead leader shows Unreachable');

  lab.start(first);
  await until(`${first} back, and every manager naming one leader`, () => agreed() !== undefined && allReady(first), 20_000);
  t.pass(`one leader once ${first} is back: ${agreed()}`);
});
