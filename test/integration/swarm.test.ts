// The swarm life cycle in the netns lab, as a user types it: init, joins with worker and manager
// tokens, node ls on every manager, a worker refusing cluster commands, wrong and rotated tokens
// refused, kill -9 seen as Down everywhere, a restarted agent keeping its identity, leave rules.
// Five nodes: init on node1, node2 and node4 join as workers, node3 and node5 as managers.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { until } from '../lib/wait.js';
import { projectRoot } from '../../src/util/paths.js';
import { uniqueName } from '../lib/kernel.js';

const lab = join(projectRoot, 'netns-scripts', 'lab');
const P = uniqueName('w');
const env = { ...process.env, SHOAL_LAB_PREFIX: P };

function run(...args: string[]) {
  const r = spawnSync(lab, args, { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}
const shoal = (node: string, ...args: string[]) => run('exec', node, '--', 'shoal', ...args);

interface NodeRow { id: string; self: boolean; host: string; status: string; manager: string }
function nodeLs(node: string): NodeRow[] {
  const r = shoal(node, 'node', 'ls');
  if (r.status !== 0) return [];
  return r.out.split('\n').slice(1).map((l) => {
    const cols = l.split(/\s{3,}/);
    const [idCol = '', host = '', status = '', , manager = ''] = cols.length === 6 ? cols : [cols[0], cols[1], cols[2], cols[3], '', cols[4]];
    return { id: idCol.replace(' *', ''), self: idCol.endsWith(' *'), host, status, manager };
  });
}
const view = (rows: NodeRow[]) => rows.map((r) => `${r.id} ${r.host} ${r.status} ${r.manager}`).join('\n');


t.test('swarm life cycle in a 5-node lab', async (t) => {
  t.teardown(() => { run('down'); });
  t.equal(run('up', '--nodes', '5', '--no-swarm').status, 0);

  const init = shoal('node1', 'swarm', 'init', '--advertise-addr', '192.168.56.101');
  t.equal(init.status, 0, init.err);
  t.match(init.out, /^Swarm initialized: current node \([0-9a-z]{25}\) is now a manager\.\n\nTo add a worker to this swarm, run the following command:\n\n    shoal swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} 192\.168\.56\.101:2377/);
  const worker = shoal('node1', 'swarm', 'join-token', '-q', 'worker').out;
  const manager = shoal('node1', 'swarm', 'join-token', '-q', 'manager').out;

  t.equal(shoal('node2', 'swarm', 'join', '--token', worker, '--advertise-addr', '192.168.56.102', '192.168.56.101:2377').out, 'This node joined a swarm as a worker.');
  t.equal(shoal('node3', 'swarm', 'join', '--token', manager, '--advertise-addr', '192.168.56.103', '192.168.56.101:2377').out, 'This node joined a swarm as a manager.');
  t.equal(shoal('node5', 'swarm', 'join', '--token', manager, '--advertise-addr', '192.168.56.105', '192.168.56.101:2377').out, 'This node joined a swarm as a manager.');

  const wrong = shoal('node4', 'swarm', 'join', '--token', worker.replace(/-[0-9a-z]{25}$/, '-' + 'a'.repeat(25)), '--advertise-addr', '192.168.56.104', '192.168.56.101:2377');
  t.equal(wrong.status, 1, 'a wrong token is refused');
  t.match(wrong.err, /invalid join token/);
  t.match(shoal('node4', 'info').out, /Swarm: inactive/, 'and the node did not join');

  const managers = ['node1', 'node3', 'node5'];
  await until('node ls to show 4 nodes, the same on every manager', () => nodeLs('node1').length === 4 && managers.every((m) => view(nodeLs(m)) === view(nodeLs('node1'))), 10_000);
  t.equal(view(nodeLs('node3')), view(nodeLs('node1')), 'node ls is identical on node1 and node3');
  t.equal(view(nodeLs('node5')), view(nodeLs('node1')), 'and on node5');
  t.same(nodeLs('node1').map((r) => [r.host, r.status]).sort(), [['node1', 'Ready'], ['node2', 'Ready'], ['node3', 'Ready'], ['node5', 'Ready']]);
  t.equal(nodeLs('node1').filter((r) => r.manager === 'Leader').length, 1, 'exactly one leader');
  t.ok(nodeLs('node1').find((r) => r.host === 'node1')?.self, 'the node we ask is marked *');

  const refused = shoal('node2', 'node', 'ls');
  t.equal(refused.status, 1);
  t.match(refused.err, /This node is not a swarm manager\. Worker nodes can't be used to view or modify cluster state\. Please run this command on a manager node or promote the current node to a manager\./);

  const rotated = shoal('node1', 'swarm', 'join-token', '--rotate', 'worker');
  t.match(rotated.out, /Successfully rotated worker join token/);
  const stale = shoal('node4', 'swarm', 'join', '--token', worker, '--advertise-addr', '192.168.56.104', '192.168.56.101:2377');
  t.match(stale.err, /invalid join token/, 'the rotated-away token no longer works');
  const fresh = shoal('node1', 'swarm', 'join-token', '-q', 'worker').out;
  t.not(fresh, worker);
  t.equal(shoal('node4', 'swarm', 'join', '--token', fresh, '--advertise-addr', '192.168.56.104', '192.168.56.101:2377').status, 0, 'the new one does');
  await until('5 nodes', () => nodeLs('node3').length === 5, 10_000);
  const node4Id = nodeLs('node1').find((r) => r.host === 'node4')!.id;

  // kill -9 node4's agent: Down on every manager within failure-detection time
  const pidFile = `/run/shoal/${P}node4/agent.pid`;
  spawnSync('sh', ['-c', `kill -9 $(cat ${pidFile})`]);
  // memberlist with n >= 4: suspicion lasts 4 s once two members confirm it, up to 24 s without; plus probe time
  const { ms } = await until('node4 Down on every manager', () => managers.every((n) => nodeLs(n).find((r) => r.host === 'node4')?.status === 'Down'), 28_000);
  t.pass(`node4 was Down on all three managers ${(ms / 1000).toFixed(1)} s after kill -9`);

  // restart it as the lab does: it keeps its identity and comes back Ready
  const logFd = openSync(`/run/shoal/${P}node4/agent.log`, 'a');
  const agent = spawn('ip', ['netns', 'exec', `${P}node4`, process.execPath, join(projectRoot, 'dist', 'src', 'cli', 'main.js'), 'agent', '--node-name', 'node4', '--advertise-addr', '192.168.56.104', '--data-dir', `/var/lib/shoal/${P}node4`, '-H', `unix:///run/shoal/${P}node4/shoal.sock`, '--log-format', 'json'], { detached: true, stdio: ['ignore', logFd, logFd] });
  writeFileSync(pidFile, String(agent.pid));
  agent.unref();
  await until('node4 Ready again', () => nodeLs('node1').find((r) => r.host === 'node4')?.status === 'Ready', 15_000);
  t.match(shoal('node4', 'info').out, new RegExp(`NodeID: ${node4Id}`), 'the restarted agent kept its node ID');

  const mgrLeave = shoal('node1', 'swarm', 'leave');
  t.equal(mgrLeave.status, 1);
  t.match(mgrLeave.err, /participating as a manager.*--force/, 'a manager does not leave without --force');
  t.equal(shoal('node2', 'swarm', 'leave').out, 'Node left the swarm.');
  await until('node2 Down after leaving', () => nodeLs('node1').find((r) => r.host === 'node2')?.status === 'Down', 10_000);
  t.match(shoal('node2', 'info').out, /Swarm: inactive/);
});
