// service logs in a 3-node lab: lines of every task from the node that runs it (node API, mutual
// TLS), stdout and stderr apart, --follow seeing new lines, a failed task's lines kept with its
// history; and the node API's rules: a worker's certificate is refused, a certificate the
// cluster's CA did not sign cannot even connect.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Lab, labScript } from '../lib/lab.js';
import { until } from '../lib/wait.js';

interface TaskJson { ID: string; NodeID: string; NodeName: string; Slot: number; DesiredState: string; Status: { State: string; ContainerStatus?: { PID: number } } }

t.test('service logs across nodes', async (t) => {
  const lab = new Lab('lg');
  lab.up(t, '--nodes', '3', '--runtime', 'exec');
  const script = 'echo "hello from $(hostname)"; echo "warning from $(hostname)" >&2; trap "echo bye; exit 3" TERM; while true; do /bin/busybox sleep 0.2; if [ -e /tmp/$(hostname).tick ]; then echo tick; rm -f /tmp/$(hostname).tick; fi; done';
  t.equal(lab.shoal('node1', 'service', 'create', '-q', '--name', 'talk', '--replicas', '3', '--restart-delay', '1s', 'host', '/bin/sh', '-c', script).status, 0);
  const tasks = (lab.json<TaskJson[]>('node1', 'service', 'ps', 'talk', '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running');
  t.same(tasks.map((x) => x.NodeName).sort(), ['node1', 'node2', 'node3']);

  await until('every task to have written its first lines', () => (lab.shoal('node1', 'service', 'logs', 'talk').out.match(/hello from/g) ?? []).length === 3, 10_000);
  const logs = lab.shoal('node1', 'service', 'logs', 'talk');
  for (const x of tasks) t.match(logs.out, new RegExp(`^talk\\.${x.Slot}\\.${x.ID.slice(0, 12)}@${x.NodeName}\\s+\\| hello from ${x.ID.slice(0, 12)}$`, 'm'), `slot ${x.Slot}'s stdout, read from ${x.NodeName}`);
  t.notMatch(logs.out, /warning/, 'stderr lines are not on stdout');
  t.equal((logs.err.match(/\| warning from/g) ?? []).length, 3, 'but on stderr');
  t.match(lab.shoal('node1', 'service', 'logs', '--no-task-ids', '--timestamps', 'talk').out, /^talk\.1@node\d\s+\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z hello from/m, 'timestamps and slot-only names');

  // --follow: a line written later arrives on the open stream.
  const follow = spawn(labScript, ['exec', 'node1', '--', 'shoal', 'service', 'logs', '-f', '--tail', '0', 'talk'], { env: { ...process.env, SHOAL_LAB_PREFIX: lab.prefix }, stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { follow.kill('SIGKILL'); });
  let followed = '';
  follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  // With --tail 0 a line written before the stream is open is not shown, and how long opening
  // takes depends on the machine's load: so ask node3's task for a tick every second until one
  // arrives. Every tick is written after the follow started, so any of them proves it.
  const far = tasks.find((x) => x.NodeName === 'node3')!;
  let lastTick = 0;
  await until('the new line from node3 on the followed stream', () => {
    if (Date.now() - lastTick > 1000) { execFileSync('touch', [`/tmp/${far.ID.slice(0, 12)}.tick`]); lastTick = Date.now(); }
    return followed.includes(`@node3    | tick`);
  }, 20_000);
  t.pass('service logs -f shows a line node3\'s task wrote after it started');
  follow.kill('SIGKILL');

  // A task that fails keeps its logs as history.
  process.kill(far.Status.ContainerStatus!.PID, 'SIGTERM');
  await until('slot to be replaced', () => (lab.json<TaskJson[]>('node1', 'service', 'ps', 'talk', '--format', 'json') ?? []).some((x) => x.Slot === far.Slot && x.ID !== far.ID && x.Status.State === 'running'), 20_000);
  t.match(lab.shoal('node1', 'service', 'logs', 'talk').out, new RegExp(`${far.ID.slice(0, 12)}@node3\\s+\\| bye`), 'the failed task\'s last words are still readable');

  // The node API's rules, exercised from inside the lab (its addresses are reachable only there).
  const nodeId = (node: string) => tasks.find((x) => x.NodeName === node)!.NodeID;
  const onNode2 = tasks.find((x) => x.NodeName === 'node2')!;
  const script2 = (as: string) => `const { remoteLogs } = await import('${join(process.cwd(), 'dist/src/cluster/node-api.js')}'); const fs = await import('node:fs'); const d = '/var/lib/shoal/${lab.netns(as)}/swarm/certs'; const id = { caCert: fs.readFileSync(d + '/ca.crt', 'utf8'), node: { certPem: fs.readFileSync(d + '/node.crt', 'utf8'), keyPem: fs.readFileSync(d + '/node.key', 'utf8') } }; try { for await (const l of remoteLogs(id, { nodeId: '${nodeId('node2')}', addr: '192.168.56.102' }, '${onNode2.ID}', {})) console.log('line', l.line); } catch (e) { console.log('error', e.message); }`;
  const asNode = (as: string) => execFileSync('ip', ['netns', 'exec', lab.netns(as), process.execPath, '--input-type=module', '-e', script2(as)], { encoding: 'utf8' });
  t.match(asNode('node1'), /^line hello from/m, 'a manager reads node2\'s task logs through the node API');
  t.match(asNode('node3'), /error .*is not a manager: only managers read other nodes' task logs/, 'a worker is refused');

  const dir = mkdtempSync(join(tmpdir(), 'shoal-outsider-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${nodeId('node1')}`, '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  const outsider = `const { remoteLogs } = await import('${join(process.cwd(), 'dist/src/cluster/node-api.js')}'); const fs = await import('node:fs'); const ca = fs.readFileSync('/var/lib/shoal/${lab.netns('node1')}/swarm/certs/ca.crt', 'utf8'); const id = { caCert: ca, node: { certPem: fs.readFileSync('${dir}/c.pem', 'utf8'), keyPem: fs.readFileSync('${dir}/k.pem', 'utf8') } }; try { for await (const l of remoteLogs(id, { nodeId: '${nodeId('node2')}', addr: '192.168.56.102' }, '${onNode2.ID}', {})) console.log('line', l.line); } catch (e) { console.log('error', e.code ?? '', e.message); }`;
  const refused = execFileSync('ip', ['netns', 'exec', lab.netns('node1'), process.execPath, '--input-type=module', '-e', outsider], { encoding: 'utf8' });
  t.match(refused, /^error /, 'a certificate the cluster CA did not sign, even naming a manager, gets nothing');
  t.notMatch(refused, /line /);
});
