// netns-scripts/lab, as a user drives it: up, exec, client, status, down (twice), with a unique
// SHOAL_LAB_PREFIX so that it never touches a lab a person has running on this machine.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { projectRoot } from '../../src/util/paths.js';
import { uniqueName } from '../lib/kernel.js';

const lab = join(projectRoot, 'netns-scripts', 'lab');
const prefix = uniqueName('l'); // e.g. shtl3f2a
const env = { ...process.env, SHOAL_LAB_PREFIX: prefix };

function run(...args: string[]) {
  const r = spawnSync(lab, args, { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function leftovers(): string[] {
  const ns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(prefix)) : [];
  const run = existsSync('/run/shoal') ? readdirSync('/run/shoal').filter((n) => n.startsWith(prefix)) : [];
  const data = existsSync('/var/lib/shoal') ? readdirSync('/var/lib/shoal').filter((n) => n.startsWith(prefix)) : [];
  const procs = spawnSync('pgrep', ['-af', `/run/shoal/${prefix}`], { encoding: 'utf8' }).stdout.trim();
  return [...ns, ...run.map((d) => `/run/shoal/${d}`), ...data.map((d) => `/var/lib/shoal/${d}`), ...(procs ? [procs] : [])];
}

t.test('a 3-node lab comes up, answers, and goes away without a trace', async (t) => {
  t.teardown(() => { run('down'); });
  const up = run('up', '--nodes', '3');
  t.equal(up.status, 0, up.err);
  t.match(up.out, /lab: up with 3 nodes/);

  const again = run('up');
  t.equal(again.status, 1, 'a second up is refused');
  t.match(again.err, /a lab is already up/);

  const version = run('exec', 'node2', '--', 'shoal', 'version', '--format', 'json');
  t.equal(version.status, 0, version.err);
  t.equal((JSON.parse(version.out) as { Server: { ApiVersion: string } }).Server.ApiVersion, '1.41', "node2's agent answers through lab exec");

  const hostname = run('exec', 'node3', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0');
  t.match(hostname.out, /192\.168\.56\.103\/24/, 'node3 has its underlay address');

  t.equal(run('client', '--', 'ping', '-c1', '-W2', '192.168.56.103').status, 0, 'the client reaches node3');
  t.equal(run('exec', 'node1', '--', 'ping', '-c1', '-W2', '192.168.56.103').status, 0, 'node1 reaches node3');
  t.equal(run('exec', 'node1', '--', 'sysctl', '-n', 'net.ipv4.ip_forward').out.trim(), '1', 'forwarding is on in the nodes');

  const status = run('status');
  t.equal(status.out.match(/ running /g)?.length, 3, 'status shows three running agents');

  t.equal(run('exec', 'node9', '--', 'true').status, 1, 'an unknown node is an error');

  const down = run('down');
  t.equal(down.status, 0, down.err);
  t.same(leftovers(), [], 'no namespace, run dir, data dir or agent process with the prefix remains');
  t.equal(run('down').status, 0, 'down again is fine');
  t.match(run('status').out, /not up/);
});

t.test('up refuses bad options before making anything', async (t) => {
  t.match(run('up', '--nodes', 'many').err, /--nodes must be a number/);
  t.match(run('up', '--runtime', 'podman').err, /--runtime must be auto, docker or exec/);
  t.match(run('frobnicate').err, /unknown command 'frobnicate'/);
  t.same(leftovers(), []);
});
