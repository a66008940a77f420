// The store's gossip on the simulated network: a write spreads to every node by relaying; a node cut
// off while writes spread gets them back through the digest anti-entropy within seconds, with the
// periodic push-pull pushed out of reach so that only the digest could have repaired it.
import { pino } from 'pino';
import t from 'tap';
import { Memberlist } from '../../src/cluster/memberlist.js';
import { SimNetwork } from '../../src/cluster/transport-sim.js';
import { StoreReplicator } from '../../src/store/replicator.js';
import { ReplicatedStore, type Table } from '../../src/store/store.js';
import { until } from '../lib/wait.js';

const log = pino({ level: 'silent' });

interface Node { name: string; addr: string; store: ReplicatedStore; table: Table<{ v: number }>; repl: StoreReplicator; gossip: Memberlist }

async function node(net: SimNetwork, i: number): Promise<Node> {
  const name = `n${i}`;
  const addr = `10.9.0.${i}`;
  const store = new ReplicatedStore({ node: name });
  const table = store.defineTable<{ v: number }>('t', (x) => x as { v: number });
  const repl = new StoreReplicator(store);
  const gossip = new Memberlist({ name, addr, delegate: repl, log, transport: net.transport(), config: { pushPullIntervalMs: 3_600_000, probeIntervalMs: 500, gossipIntervalMs: 100 } });
  repl.attach(gossip);
  await gossip.start();
  return { name, addr, store, table, repl, gossip };
}

t.test('relay spreads writes; anti-entropy repairs a node that missed them', async (t) => {
  const net = new SimNetwork({ latencyMs: 2, jitterMs: 1, seed: 3 });
  const nodes: Node[] = [];
  for (let i = 1; i <= 6; i++) nodes.push(await node(net, i));
  t.teardown(async () => {
    for (const n of nodes) { n.repl.close(); await n.gossip.shutdown(); }
  });
  for (const n of nodes.slice(1)) await n.gossip.join([`${nodes[0]!.addr}:7946`]);
  await until('a full view everywhere', () => nodes.every((n) => n.gossip.members.list().filter((m) => m.state === 'alive').length === 6), 10_000);

  nodes[0]!.table.put('a', { v: 1 });
  await until('the first write everywhere', () => nodes.every((n) => n.table.get('a')?.value.v === 1), 5_000);
  t.ok(nodes.slice(1).reduce((s, n) => s + n.repl.stats.relayed, 0) > 0, 'receivers relayed it');

  // n6 is cut off for 400 ms (short of suspicion) while three writes spread; they are gone for it.
  const victim = nodes[5]!;
  net.isolate(victim.addr);
  for (const [i, k] of ['b', 'c', 'd'].entries()) nodes[i]!.table.put(k, { v: 2 });
  await until('the writes at every other node', () => nodes.slice(0, 5).every((n) => ['b', 'c', 'd'].every((k) => n.table.get(k))), 5_000);
  await new Promise((r) => setTimeout(r, 400 - 100));
  net.heal(victim.addr);
  t.notOk(['b', 'c', 'd'].every((k) => victim.table.get(k)), 'the cut-off node missed at least one write');
  const { ms } = await until('anti-entropy to bring the missed writes', () => ['b', 'c', 'd'].every((k) => victim.table.get(k)), 15_000);
  t.ok(nodes.reduce((s, n) => s + n.repl.stats.repairs, 0) > 0, `a digest mismatch started a repair (${(ms / 1000).toFixed(1)} s after the cut healed; push-pull was an hour away)`);
  t.ok(nodes.every((n) => n.repl.stats.digestsSent > 0), 'every node sends digests');
});
