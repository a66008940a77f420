// Interop with a real memberlist implementation: Debian's Serf agent and a shoal agent form one
// pool on loopback, plain and encrypted. Serf lists us alive and declares us failed after kill -9 in
// memberlist's usual time; we list Serf and declare it failed when it dies.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { cli, startAgent } from '../lib/agent.js';
import type { Teardown } from '../lib/kernel.js';
import { until } from '../lib/wait.js';

const hasSerf = spawnSync('serf', ['version']).status === 0;

interface Serf { proc: ChildProcess; rpc: string; log: () => string }

async function startSerf(t: Teardown, ip: string, args: string[] = []): Promise<Serf> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-serf-'));
  const logFile = join(dir, 'serf.log');
  const rpc = `${ip}:7373`;
  const proc = spawn('sh', ['-c', `exec serf agent -node=alpha -bind=${ip}:7946 -rpc-addr=${rpc} -log-level=debug "$@" > ${logFile} 2>&1`, 'serf', ...args], { stdio: 'ignore' });
  const exited = once(proc, 'exit');
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('serf', ['members', `-rpc-addr=${rpc}`]).status === 0) return { proc, rpc, log: () => readFileSync(logFile, 'utf8') };
    await sleep(100);
  }
  throw new Error(`serf did not start:\n${readFileSync(logFile, 'utf8')}`);
}

interface SerfMember { name: string; addr: string; status: string; tags: Record<string, string> }

function serfMembers(rpc: string): SerfMember[] {
  const r = spawnSync('serf', ['members', `-rpc-addr=${rpc}`, '-format=json'], { encoding: 'utf8' });
  return (JSON.parse(r.stdout) as { members: SerfMember[] }).members;
}


/** A fresh loopback /24-ish pair per test so that runs never collide. */
function loopbackIps(): [string, string] {
  const net = `127.${randomInt(100, 250)}.${randomInt(1, 250)}`;
  return [`${net}.11`, `${net}.13`];
}

for (const encrypted of [false, true]) {
  t.test(`shoal and Serf form one pool${encrypted ? ', encrypted' : ''}`, { skip: hasSerf ? false : 'serf is not installed (apt-get install serf)' }, async (t) => {
    const [serfIp, shoalIp] = loopbackIps();
    const key = randomBytes(32).toString('base64');
    const serf = await startSerf(t, serfIp, encrypted ? [`-encrypt=${key}`] : []);
    const agent = await startAgent(t, { args: ['--node-name', 'shoal1', '--advertise-addr', shoalIp, '--join-pool', `${serfIp}:7946`, ...(encrypted ? ['--gossip-key', key] : [])] });

    const listed = await until('serf to list shoal1 alive', () => serfMembers(serf.rpc).find((m) => m.name === 'shoal1' && m.status === 'alive'), 10_000);
    t.match(listed.value, { addr: `${shoalIp}:7946`, tags: { role: 'shoal' } }, 'Serf lists the shoal node alive, with its tags');

    const ours = cli(['-H', `unix://${agent.socket}`, 'members', '--format', 'json']);
    t.equal(ours.status, 0, ours.stderr);
    const list = JSON.parse(ours.stdout) as { Name: string; Addr: string; Status: string }[];
    t.match(list.find((m) => m.Name === 'alpha'), { Addr: serfIp, Status: 'alive' }, 'shoal lists the Serf node alive');
    t.match(list.find((m) => m.Name === 'shoal1'), { Addr: shoalIp, Status: 'alive' }, 'and itself');

    await sleep(3000); // a few probe rounds in both directions
    t.notMatch(serf.log(), /\[ERR\]/, 'Serf logged no error about anything we sent');

    agent.proc.kill('SIGKILL');
    const failed = await until('serf to mark shoal1 failed', () => serfMembers(serf.rpc).some((m) => m.name === 'shoal1' && m.status === 'failed'), 20_000);
    t.ok(failed.ms < 12_000, `Serf declared the killed shoal agent failed after ${(failed.ms / 1000).toFixed(2)} s (memberlist: 5-7 s for 2 nodes)`);
  });
}

t.test('shoal declares a killed Serf agent failed', { skip: hasSerf ? false : 'serf is not installed' }, async (t) => {
  const [serfIp, shoalIp] = loopbackIps();
  const serf = await startSerf(t, serfIp);
  const agent = await startAgent(t, { args: ['--node-name', 'shoal1', '--advertise-addr', shoalIp, '--join-pool', `${serfIp}:7946`] });
  await until('shoal to list alpha', () => cli(['-H', `unix://${agent.socket}`, 'members']).stdout.includes('alpha'), 10_000);
  serf.proc.kill('SIGKILL');
  const failed = await until('shoal to mark alpha failed', () => {
    const list = JSON.parse(cli(['-H', `unix://${agent.socket}`, 'members', '--format', 'json']).stdout || '[]') as { Name: string; Status: string }[];
    return list.some((m) => m.Name === 'alpha' && m.Status === 'failed');
  }, 20_000);
  t.ok(failed.ms < 12_000, `shoal declared the killed Serf agent failed after ${(failed.ms / 1000).toFixed(2)} s`);
  await until('the agent to log it', () => /"member":"alpha"[^\n]*"msg":"member failed"/.test(agent.logs()), 3000);
  t.pass('the agent logged "member failed" for alpha');
});
