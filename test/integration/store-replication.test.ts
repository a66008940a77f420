// The replicated store over real gossip between three memberlist nodes on loopback: a write on one
// node reaches the others by gossip alone; a node that was down while writes and deletes happened
// catches up through the push-pull of its rejoin; all tables end identical; garbage is counted.
import { randomInt } from 'node:crypto';
import t from 'tap';
import { until } from '../lib/wait.js';
import { Memberlist } from '../../src/cluster/memberlist.js';
import { ReplicatedStore, type Table } from '../../src/store/store.js';
import { StoreReplicator } from '../../src/store/replicator.js';
import { createLogger } from '../../src/util/log.js';

const log = createLogger({ level: 'fatal', format: 'json' });

interface Node { name: string; addr: string; store: ReplicatedStore; labels: Table<{ v: string }>; repl: StoreReplicator; gossip: Memberlist }

function makeStore(name: string) {
  const store = new ReplicatedStore({ node: name });
  const labels = store.defineTable<{ v: string }>('labels', (x) => {
    if (typeof (x as { v?: unknown })?.v !== 'string') throw new Error('labels need a string v');
    return x as { v: string };
  });
  return { store, labels };
}

async function startNode(name: string, addr: string, existing?: { store: ReplicatedStore; labels: Table<{ v: string }> }): Promise<Node> {
  const { store, labels } = existing ?? makeStore(name);
  const repl = new StoreReplicator(store);
  // push-pull every 60 s: within this test, anything that spreads does so by gossip (or a join's push-pull)
  const gossip = new Memberlist({ name, addr, delegate: repl, log, config: { pushPullIntervalMs: 60_000, probeIntervalMs: 500, gossipIntervalMs: 100 } });
  repl.attach(gossip);
  await gossip.start();
  return { name, addr, store, labels, repl, gossip };
}


/** A canonical text of a node's whole table state: every entry, tombstones and versions included. */
const view = (n: Node) =>
  n.store.snapshot().map((e) => `${e.table}/${e.key} ${e.deleted ? 'deleted' : JSON.stringify(e.value)} @${e.version.wall}.${e.version.counter}.${e.version.node}`).sort().join('\n');

t.test('tables replicate by gossip and converge after a node misses changes', async (t) => {
  const net = `127.${randomInt(100, 250)}.${randomInt(1, 250)}`;
  const nodes: Node[] = [];
  t.teardown(async () => {
    for (const n of nodes) await n.gossip.shutdown().catch(() => {});
  });
  const a = await startNode('a', `${net}.31`);
  const b = await startNode('b', `${net}.32`);
  let c = await startNode('c', `${net}.33`);
  nodes.push(a, b, c);
  await b.gossip.join([`${a.addr}:7946`]);
  await c.gossip.join([`${a.addr}:7946`]);
  await until('three alive members everywhere', () => nodes.every((n) => n.gossip.members.list().filter((m) => m.state === 'alive').length === 3), 5000);

  a.labels.put('k1', { v: 'one' });
  const { ms } = await until('k1 on b and c', () => b.labels.get('k1')?.value.v === 'one' && c.labels.get('k1')?.value.v === 'one', 5000);
  t.pass(`a write on a reached b and c by gossip in ${ms} ms`);
  t.ok(b.repl.stats.received > 0 && c.repl.stats.received > 0, 'through user messages, not push-pull');

  // c goes away (as if partitioned or stopped) and misses a write and a delete
  const cData = { store: c.store, labels: c.labels };
  await c.gossip.shutdown();
  c.repl.close();
  b.labels.put('k2', { v: 'two' });
  b.labels.delete('k1');
  await until('k2 on a', () => a.labels.get('k2') !== undefined && a.labels.get('k1') === undefined, 5000);
  t.equal(c.labels.get('k2'), undefined, 'c missed the changes');

  c = await startNode('c', `${net}.33`, cData);
  nodes.push(c);
  await c.gossip.join([`${b.addr}:7946`]);
  await until('c to catch up', () => c.labels.get('k2')?.value.v === 'two' && c.labels.get('k1') === undefined, 3000);
  t.ok(c.repl.stats.mergedFromPushPull >= 2, 'the rejoin push-pull brought the write and the tombstone');
  await until('identical tables', () => view(a) === view(b) && view(b) === view(c), 5000);
  t.equal(view(a), view(c), 'all three tables are identical, tombstones included');

  a.gossip.broadcastUser(Buffer.from([0x53, 1, 1, 0x7b]));
  a.gossip.broadcastUser(Buffer.from([0x53, 9, 1]));
  await until('garbage to be dropped and counted on b', () => b.repl.stats.dropped >= 2, 5000);
  t.equal(b.labels.list().length, 1, 'and nothing changed');
});
