// Leader election on a lease, between manager processes: the oldest campaign leads; kill -9 of the
// leader's process hands over within about one TTL; a leader that was paused (SIGSTOP) past its TTL
// and resumes still believes it leads for a moment, and its fenced txn fails while an unfenced put
// would have overwritten the new leader's value.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { initialClusterString } from '../../src/etcd/member.js';
import { bootstrapAuth } from '../../src/etcd/auth.js';
import { LeaderElection } from '../../src/etcd/election.js';
import { makeNet, makePki, peerUrl, testClient, testMember, type NetHost, type Pki } from '../lib/etcd.js';
import { until } from '../lib/wait.js';
import type { Teardown } from '../lib/kernel.js';

const TTL = 2;
const fixture = fileURLToPath(new URL('../fixtures/etcd/campaigner.ts', import.meta.url));

interface Campaigner {
  proc: ChildProcess;
  events: Array<Record<string, unknown> & { event: string; t: number }>;
}

function campaigner(t: Teardown, pki: Pki, host: NetHost, nodeId: string, endpoint: string): Campaigner {
  const cert = pki.node(nodeId, 'manager', host.addr);
  const cfg = { endpoints: [endpoint], tls: pki.tls(cert), nodeId, ttlSeconds: TTL };
  const loader = process.execArgv.filter((a) => a.includes('typescript'));
  const proc = spawn('ip', ['netns', 'exec', host.netns, process.execPath, ...loader, fixture, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await new Promise((resolve) => proc.once('exit', resolve));
    }
  });
  const c: Campaigner = { proc, events: [] };
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) c.events.push(JSON.parse(l) as Campaigner['events'][number]);
  });
  return c;
}

const has = (c: Campaigner, event: string) => c.events.find((e) => e.event === event);

t.test('kill -9 of the leader hands over within ~1 TTL; a paused leader\'s fenced txn fails', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const m1 = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, m1, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  await m.member.start();
  const admin = testClient(t, pki, m1, [m]);
  await bootstrapAuth(admin, ['m1', 'a', 'b', 'c']);
  const endpoint = `https://${host!.addr}:2379`;

  const a = campaigner(t, pki, host!, 'a', endpoint);
  await until('a to be elected', () => has(a, 'elected'), 20_000, 20);
  const b = campaigner(t, pki, host!, 'b', endpoint);
  await until('b to campaign', () => has(b, 'campaigning'), 20_000, 20);
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(has(b, 'elected'), 'b waits behind a');

  const k0 = Date.now();
  a.proc.kill('SIGKILL');
  const { value: bElected } = await until('b to be elected', () => has(b, 'elected'), 20_000, 20);
  const failover = bElected.t - k0;
  t.ok(failover < TTL * 1000 + 2500, `b leads ${failover} ms after kill -9 of a (TTL ${TTL} s)`);

  const c = campaigner(t, pki, host!, 'c', endpoint);
  await until('c to campaign', () => has(c, 'campaigning'), 20_000, 20);
  await new Promise((r) => setTimeout(r, 500));
  const s0 = Date.now();
  b.proc.kill('SIGSTOP');
  const { value: cElected } = await until('c to be elected while b is paused', () => has(c, 'elected'), 20_000, 20);
  t.pass(`c leads ${cElected.t - s0} ms after b was paused`);
  c.proc.stdin!.write('write by-c\n');
  await until('c to write', () => has(c, 'wrote') ?? has(c, 'write-error'), 10_000, 20);
  t.equal(has(c, 'wrote')?.fencedSucceeded, true, 'the new leader\'s fenced write commits');

  // Queue the write while b is stopped: on SIGCONT it goes out before b hears that its lease is gone.
  b.proc.stdin!.write('write by-b\n');
  b.proc.kill('SIGCONT');
  const { value: bWrote } = await until('b to try its write', () => has(b, 'wrote') ?? has(b, 'write-error'), 10_000, 20);
  t.equal(bWrote.event, 'wrote', 'the deposed leader\'s writes went through to etcd');
  t.equal(bWrote.fencedSucceeded, false, 'its fenced txn failed');
  t.equal(await admin.get('/shoal/objects/fenced').string(), 'by-c', 'the new leader\'s value stands');
  t.equal(await admin.get('/shoal/objects/unfenced').string(), 'by-b', 'whereas an unfenced put overwrote it');
  const reader = new LeaderElection(admin, { nodeId: 'm1', ttlSeconds: TTL });
  t.match(await reader.leader(), { nodeId: 'c', reason: 'test' }, 'anyone reads who leads and why');
  t.notOk(reader.isLeader, 'without campaigning');
  await until('b to learn it was deposed', () => has(b, 'deposed'), 3 * TTL * 1000, 20);
  t.pass(`b reported deposed: ${String(has(b, 'deposed')?.reason)}`);
  console.log(`# election: failover after kill -9 ${failover} ms, after SIGSTOP ${cElected.t - s0} ms (TTL ${TTL} s)`);
});
