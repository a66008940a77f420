// A worker that holds the gossip key and its own certificate tries to change what other nodes own
// by crafting gossip: announcing an address for a task that runs on another node, a sandbox endpoint
// in another node's name, and an unsigned entry. Every receiver drops them (and counts and logs the
// refusal); the network's peers and the service's DNS answers stay what the real nodes wrote.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/util/paths.js';
import { Lab } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string }; NetworksAttachments: { Network: { ID: string }; Addresses: string[] }[] }

t.test('forged endpoint gossip from a worker changes nothing', async (t) => {
  const lab = new Lab('fg');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  t.equal(lab.shoal('node1', 'network', 'create', '-d', 'overlay', 'appnet').status, 0);
  const created = lab.shoal('node1', 'service', 'create', '--detach', '--name', 'web', '--network', 'appnet', '--constraint', 'node.hostname==node3', 'host', 'sleep', '3600');
  t.equal(created.status, 0, created.err);
  const running = () => lab.json<TaskJson[]>('node1', 'service', 'ps', 'web', '--format', 'json')?.find((x) => x.DesiredState === 'running' && x.Status.State === 'running');
  const { value: task } = await until('the task to run on node3', running, 30_000);
  const netId = task.NetworksAttachments[0]!.Network.ID;
  const realIp = task.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;
  const tasksWeb = (node: string) => lab.exec(node, 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', 'tasks.web').out.split('\n').filter(Boolean).sort();
  await until('tasks.web on node1 and node2', () => tasksWeb('node1').join() === realIp && tasksWeb('node2').join() === realIp, 15_000);
  // network inspect answers on managers only (node1).
  const peers = (node: string) => (lab.json<{ Peers: { Name: string }[] }[]>(node, 'network', 'inspect', 'appnet')?.[0]?.Peers ?? []).map((p) => p.Name).sort();
  t.same(peers('node1'), ['node3'], 'before: only node3 has an endpoint on appnet');
  const ids = Object.fromEntries((lab.json<{ ID: string; Description: { Hostname: string } }[]>('node1', 'node', 'inspect', 'node1', 'node2', 'node3') ?? []).map((n) => [n.Description.Hostname, n.ID]));

  // The attacker: node2's gossip keys, node ID, certificate and key, from its data directory, in a
  // process of its own on the lab's client address (a memberlist member named 'mallory').
  const dir = `/var/lib/shoal/${lab.prefix}node2/swarm`;
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { nodeId: string; gossipKeys: string[] };
  const dist = join(projectRoot, 'dist', 'src');
  const script = `
    import { readFileSync } from 'node:fs';
    import { pino } from ${JSON.stringify(join(projectRoot, 'node_modules', 'pino', 'pino.js'))};
    import { Memberlist } from ${JSON.stringify(join(dist, 'cluster', 'memberlist.js'))};
    import { Keyring } from ${JSON.stringify(join(dist, 'cluster', 'wire', 'security.js'))};
    import { NodeSignatures } from ${JSON.stringify(join(dist, 'cluster', 'node-signatures.js'))};
    import { ReplicatedStore } from ${JSON.stringify(join(dist, 'store', 'store.js'))};
    import { StoreReplicator } from ${JSON.stringify(join(dist, 'store', 'replicator.js'))};
    const me = ${JSON.stringify(state.nodeId)};
    const sigs = new NodeSignatures({ keyPem: readFileSync(${JSON.stringify(join(dir, 'certs', 'node.key'))}, 'utf8'), caCertPem: readFileSync(${JSON.stringify(join(dir, 'certs', 'ca.crt'))}, 'utf8'), certOf: () => undefined, ownerOf: () => me });
    const signed = new ReplicatedStore({ node: me, signed: { tables: new Set(['endpoints']), signer: sigs, verifier: sigs } });
    const unsigned = new ReplicatedStore({ node: me });
    for (const s of [signed, unsigned]) s.defineTable('endpoints', (v) => v);
    const log = pino({ level: 'silent' });
    const repl = new StoreReplicator(signed);
    const repl2 = new StoreReplicator(unsigned);
    const gossip = new Memberlist({ name: 'mallory', addr: '192.168.56.200', port: 7946, keyring: Keyring.fromBase64(${JSON.stringify(state.gossipKeys)}), log,
      delegate: { notifyMsg: () => {}, localState: () => pushed.localState(), mergeRemoteState: () => {} }, config: { delegateMin: 0, delegateMax: 0, delegateVersion: 0 } });
    let pushed = repl; // whose state a push-pull carries (gossip alone is best effort: UDP, one queue slot per key)
    repl.attach(gossip); repl2.attach(gossip);
    await gossip.start();
    await gossip.join(['192.168.56.101:7946']);
    const net = ${JSON.stringify(netId)};
    const ep = (key, nodeId, ip) => ({ id: key, networkId: net, nodeId, ip, mac: '02:42:0a:00:00:fa', vtep: '192.168.56.200', ...(key.includes('/node-') ? {} : { taskId: key.split('/')[1] }) });
    // 1. The real task's endpoint (it runs on node3), moved to the attacker's address, signed by node2.
    signed.put('endpoints', net + '/' + ${JSON.stringify(task.ID)}, ep(net + '/' + ${JSON.stringify(task.ID)}, me, '10.66.0.250'));
    // 2. A sandbox endpoint in node1's name, signed by node2.
    signed.put('endpoints', net + '/node-' + ${JSON.stringify(ids.node1 ?? '')}, ep(net + '/node-' + ${JSON.stringify(ids.node1 ?? '')}, ${JSON.stringify(ids.node1 ?? '')}, '10.66.0.251'));
    // 3. The same task's endpoint in node3's own name, unsigned.
    unsigned.put('endpoints', net + '/' + ${JSON.stringify(task.ID)}, ep(net + '/' + ${JSON.stringify(task.ID)}, ${JSON.stringify(ids.node3 ?? '')}, '10.66.0.252'));
    // Gossip them for a while, then push-pull our whole state with every node (the anti-entropy path).
    await new Promise((r) => setTimeout(r, 2000));
    const everyone = ['192.168.56.101:7946', '192.168.56.102:7946', '192.168.56.103:7946'];
    await gossip.join(everyone);
    pushed = repl2;
    await gossip.join(everyone);
    await new Promise((r) => setTimeout(r, 2000));
    console.log(JSON.stringify({ sent: repl.stats.broadcasts + repl2.stats.broadcasts }));
    await gossip.leave(1000); await gossip.shutdown(); repl.close(); repl2.close();
  `;
  const attack = spawnSync('ip', ['netns', 'exec', lab.netns('client'), process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  t.equal(attack.status, 0, `the attacker ran: ${attack.stderr.slice(-500)}`);
  t.ok(JSON.parse(attack.stdout.trim().split('\n').at(-1) ?? '{}').sent >= 3, 'and gossiped its three entries');

  for (const node of ['node1', 'node2', 'node3']) {
    t.same(tasksWeb(node), [realIp], `${node}: tasks.web is still only the real task's address`);
    if (node === 'node1') t.same(peers(node), ['node3'], 'node1 (the manager): appnet\'s peers are still only node3');
    const info = JSON.parse(lab.exec(node, 'curl', '-s', '--unix-socket', `/run/shoal/${lab.prefix}${node}/shoal.sock`, 'http://localhost/info').out) as { Swarm: { RefusedGossipEntries: number } };
    t.ok(info.Swarm.RefusedGossipEntries > 0, `${node}: refused ${info.Swarm.RefusedGossipEntries} forged entries`);
  }
  const log = () => readFileSync(`/run/shoal/${lab.prefix}node1/agent.log`, 'utf8');
  const logged = (why: string) => log().split('\n').some((l) => l.includes('dropped a gossiped entry its writer may not make') && l.includes(`"why":"${why}"`));
  t.ok((await until('node1 to log the refusal of the entry in node1\'s name', () => logged('not the owner'), 10_000)).value, 'node1 logged the refusal, naming the reason');
  t.ok((await until('node1 to log the refusal of the unsigned entry', () => logged('unsigned'), 10_000)).value, 'for the unsigned one too');
});
