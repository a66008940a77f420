// Node management in the netns lab: drain, labels, promote and demote made on one manager are seen
// on another; names resolve by ID, prefix, hostname or self; removal and demotion rules hold.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/util/paths.js';
import { uniqueName } from '../lib/kernel.js';
import { until } from '../lib/wait.js';

const lab = join(projectRoot, 'netns-scripts', 'lab');
const env = { ...process.env, SHOAL_LAB_PREFIX: uniqueName('n') };
const run = (...args: string[]) => spawnSync(lab, args, { env, encoding: 'utf8', timeout: 60_000 });
const shoal = (node: string, ...args: string[]) => {
  const r = run('exec', node, '--', 'shoal', ...args);
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
};

interface NodeJson { ID: string; Spec: { Role: string; Availability: string; Labels: Record<string, string> }; Description: { Hostname: string }; ManagerStatus?: { Leader: boolean } }
const inspect = (from: string, name: string) => (JSON.parse(shoal(from, 'node', 'inspect', name).out || '[{}]') as NodeJson[])[0]!;

t.test('node commands act cluster-wide', async (t) => {
  t.teardown(() => { run('down'); });
  t.equal(run('up', '--nodes', '3').status, 0);

  t.equal(shoal('node1', 'node', 'promote', 'node3').out, 'Node node3 promoted to a manager in the swarm.');
  t.equal(shoal('node1', 'node', 'update', '--availability', 'drain', '--label-add', 'zone=a', '--label-add', 'disk=ssd', 'node2').out, 'node2');
  await until('node3 to see the changes', () => { const n = inspect('node3', 'node2'); return n.Spec?.Availability === 'drain' && n.Spec.Labels.zone === 'a'; }, 10_000);
  t.same(inspect('node3', 'node2').Spec, { Role: 'worker', Availability: 'drain', Labels: { zone: 'a', disk: 'ssd' } }, 'drain and labels are visible on the other manager');
  t.equal(inspect('node3', 'self').Description.Hostname, 'node3', 'self is the node asked');

  t.equal(shoal('node3', 'node', 'update', '--label-rm', 'disk', 'node2').status, 0);
  await until('node1 to see the label go', () => inspect('node1', 'node2').Spec?.Labels.disk === undefined, 10_000);
  t.match(shoal('node1', 'node', 'update', '--label-rm', 'nope', 'node2').err, /key nope doesn't exist/);

  const id = inspect('node1', 'node2').ID;
  t.equal(inspect('node1', id.slice(0, 6)).ID, id, 'a unique ID prefix names a node');
  t.match(shoal('node1', 'node', 'inspect', 'nosuch').err, /No such node: nosuch/);
  t.match(shoal('node1', 'node', 'inspect', '--pretty', 'node2').out, /Hostname:\s+node2\n[\s\S]*Availability:\s+Drain/);

  // --format and -q as Docker's: inspect runs on the Go node object, ls on its row objects.
  t.equal(shoal('node3', 'node', 'inspect', '-f', '{{.Description.Hostname}} {{.Spec.Role}} {{.Spec.Availability}} {{.Spec.Labels}}', 'node2').out, 'node2 worker drain map[zone:a]');
  t.equal(shoal('node1', 'node', 'ls', '--format', '{{.Hostname}} {{.Self}} {{.Availability}}').out, 'node1 true Active\nnode2 false Drain\nnode3 false Active');
  t.equal(shoal('node1', 'node', 'ls', '-q').out.split('\n').length, 3, 'node ls -q: one ID per node');
  const managers = shoal('node1', 'node', 'ls', '--format', 'table {{.Hostname}}\t{{.ManagerStatus}}').out;
  t.match(managers, /^HOSTNAME\s+MANAGER STATUS\nnode1\s+(Leader|Reachable)\nnode2\s*\nnode3\s+(Leader|Reachable)$/, 'a table with Docker\'s column titles');
  t.equal(managers.match(/Leader/g)?.length, 1, 'one of the two managers leads');
  const bad = shoal('node1', 'node', 'inspect', '-f', '{{.Nope}}', 'node2');
  t.same([bad.status, bad.err], [1, 'template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'], 'a template error as Docker words it');

  t.match(shoal('node1', 'node', 'rm', 'node2').err, /is not down and can't be removed/);
  t.equal(shoal('node3', 'node', 'demote', 'node3').out, 'Manager node3 demoted in the swarm.');
  await until('node3 to be a worker everywhere', () => inspect('node1', 'node3').Spec?.Role === 'worker', 10_000);
  t.match(shoal('node3', 'node', 'ls').err, /This node is not a swarm manager/, 'a demoted node refuses cluster commands');
  t.match(shoal('node1', 'node', 'demote', 'node1').err, /attempting to demote the last manager of the swarm/);
  t.equal(shoal('node1', 'node', 'rm', '--force', 'node2').out, 'node2', 'forced removal of a node that is up');
  t.match(shoal('node1', 'node', 'ls').out, /^(?![\s\S]*node2)/, 'node2 is gone from node ls');
});
