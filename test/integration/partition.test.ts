// A partition in the netns lab: node3 (a manager) is cut off from node1 and node2 with nft drop
// rules; both sides keep accepting writes (the store is available under partition), including a
// conflicting write to the same key; after the rules go, the reconnect loop and push-pull bring the
// managers' tables back to identical, the later write winning the conflict.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { applyNft, Transaction } from '../../src/kernel/nftables.js';
import { projectRoot } from '../../src/util/paths.js';
import { uniqueName } from '../lib/kernel.js';
import { until } from '../lib/wait.js';

const lab = join(projectRoot, 'netns-scripts', 'lab');
const P = uniqueName('p');
const env = { ...process.env, SHOAL_LAB_PREFIX: P };
const run = (...args: string[]) => spawnSync(lab, args, { env, encoding: 'utf8', timeout: 60_000 });
const shoal = (node: string, ...args: string[]) => run('exec', node, '--', 'shoal', ...args);

interface NodeJson { ID: string; Spec: { Role: string; Availability: string; Labels: Record<string, string> }; Description: { Hostname: string }; Status: { State: string } }

/** The cluster's node records as one manager sees them (spec only: what the store replicates). */
function records(node: string): string | undefined {
  const r = shoal(node, 'node', 'inspect', 'node1', 'node2', 'node3');
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as NodeJson[]).map((n) => `${n.Description.Hostname} ${n.Spec.Role} ${n.Spec.Availability} ${JSON.stringify(n.Spec.Labels)}`).join('\n');
}
const states = (node: string) => (JSON.parse(shoal(node, 'node', 'ls', '--format', 'json').stdout || '[]') as NodeJson[]).map((n) => `${n.Description.Hostname}:${n.Status.State}`).sort().join(' ');

t.test('a partition heals into identical tables', async (t) => {
  t.teardown(() => { run('down'); });
  t.equal(run('up', '--nodes', '3').status, 0);
  t.equal(shoal('node1', 'node', 'promote', 'node3').status, 0);
  await until('node3 to be a manager with everyone ready', () => states('node3') === 'node1:ready node2:ready node3:ready', 10_000);

  const cut = new Transaction('inet', 'shtpartition')
    .addTable()
    .addChain('in', { type: 'filter', hook: 'input', priority: 0 })
    .addChain('out', { type: 'filter', hook: 'output', priority: 0 })
    .addRule('in', 'ip saddr { 192.168.56.101, 192.168.56.102 } drop')
    .addRule('out', 'ip daddr { 192.168.56.101, 192.168.56.102 } drop');
  await applyNft({ name: `${P}node3` }, cut);
  const { ms } = await until('each side to see the other down', () => states('node1') === 'node1:ready node2:ready node3:down' && states('node3') === 'node1:down node2:down node3:ready', 30_000);
  t.pass(`partition detected on both sides in ${(ms / 1000).toFixed(1)} s`);

  // both sides accept writes: different keys, and the same key (node2's availability) twice
  t.equal(shoal('node1', 'node', 'update', '--label-add', 'side=one', 'node2').status, 0, 'node1 writes during the partition');
  t.equal(shoal('node3', 'node', 'update', '--label-add', 'seen-by=three', 'node1').status, 0, 'node3 writes during the partition');
  t.equal(shoal('node1', 'node', 'update', '--availability', 'pause', 'node3').status, 0);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(shoal('node3', 'node', 'update', '--availability', 'drain', 'node3').status, 0, 'a conflicting, later write to the same node on the other side');
  t.not(records('node1'), records('node3'), 'the two sides differ while cut off');

  await applyNft({ name: `${P}node3` }, new Transaction('inet', 'shtpartition').deleteTable());
  const healed = await until('identical tables on both managers', () => { const a = records('node1'); return a !== undefined && a === records('node3') && states('node1') === 'node1:ready node2:ready node3:ready'; }, 30_000);
  t.pass(`healed: tables identical ${(healed.ms / 1000).toFixed(1)} s after the rules were removed`);
  const final = records('node1')!;
  t.match(final, /node2 worker active \{"side":"one"\}/, "node1's write survived");
  t.match(final, /node1 manager active \{"seen-by":"three"\}/, "node3's write survived");
  t.match(final, /node3 manager drain/, 'the later of the two conflicting writes won, on both sides');
});
