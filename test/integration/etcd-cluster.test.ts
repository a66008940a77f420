// Three etcd members as three managers would run them: grown from one by adding learners and promoting
// them, listed with roles, leader and reachability; a removed member reports 'removed' and stays down;
// kill -9 of two makes a put on the survivor fail with 'no-leader' within seconds, restarting them
// brings writes back with nothing lost; and after losing all three, --force-new-cluster from the
// member with the highest Raft index keeps every acknowledged key, and the others rejoin as learners.
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { Etcd3 } from 'etcd3';
import { classifyEtcdError, createEtcdClient } from '../../src/etcd/client.js';
import { EtcdMember, initialClusterString } from '../../src/etcd/member.js';
import { addLearner, clusterStatus, listMembers, promoteLearner, removeMember } from '../../src/etcd/membership.js';
import { pickRecoverySource, readRaftState, rewriteAll } from '../../src/etcd/recovery.js';
import { makeNet, makePki, peerUrl, testClient, testMember, type Pki, type TestMember } from '../lib/etcd.js';
import type { Teardown } from '../lib/kernel.js';

interface Cluster {
  pki: Pki;
  members: TestMember[];
  admin: Etcd3;
  timings: { promoteMs: number[]; promoteAttempts: number[] };
}

/** m1 alone, then m2 and m3 each added as a learner, started, promoted. */
async function threeMembers(t: Teardown): Promise<Cluster> {
  const pki = makePki(t);
  const hosts = makeNet(t, 3);
  const certs = hosts.map((h, i) => pki.node(`m${i + 1}`, 'manager', h.addr));
  const first = await testMember(t, pki, hosts[0]!, certs[0]!, initialClusterString([{ name: 'm1', peerUrl: peerUrl(hosts[0]!) }]), 'new');
  await first.member.start();
  const members = [first];
  const admin = testClient(t, pki, certs[0]!, members);
  const timings = { promoteMs: [] as number[], promoteAttempts: [] as number[] };
  for (let i = 1; i < 3; i++) {
    const added = await addLearner(admin, `m${i + 1}`, peerUrl(hosts[i]!));
    const m = await testMember(t, pki, hosts[i]!, certs[i]!, added.initialCluster, 'existing');
    await m.member.start();
    const p = await promoteLearner(admin, `m${i + 1}`);
    timings.promoteMs.push(p.ms);
    timings.promoteAttempts.push(p.attempts);
    members.push(m);
  }
  return { pki, members, admin, timings };
}

/** What losing a node does to its etcd: kill -9, and no supervisor left to restart it. */
async function crash(m: TestMember): Promise<void> {
  process.kill(m.member.pid!, 'SIGKILL');
  await m.member.stop();
}

/** A client on one member only (as an agent talks to its own member). */
function clientOn(t: Teardown, c: Cluster, m: TestMember, callDeadlineMs = 3_000): Etcd3 {
  const client = createEtcdClient({ endpoints: [m.endpoint], tls: c.pki.tls(m.cert), callDeadlineMs });
  t.teardown(() => client.close());
  return client;
}

t.test('grow with learners, promote, list, status, remove', async (t) => {
  const c = await threeMembers(t);
  t.pass(`two learners promoted after ${c.timings.promoteAttempts.join(' and ')} attempts, ${c.timings.promoteMs.join(' and ')} ms`);
  const list = await listMembers(c.admin);
  t.same(list.map((m) => [m.name, m.role, m.started]).sort(), [['m1', 'voter', true], ['m2', 'voter', true], ['m3', 'voter', true]], 'three started voters');
  t.match(list.find((m) => m.name === 'm2')!.peerUrls, ['https://10.77.0.2:2380']);

  const byName = new Map(c.members.map((m) => [m.cert.nodeId, m.endpoint]));
  const status = await clusterStatus(c.admin, c.pki.tls(c.members[0]!.cert), { endpointFor: (m) => byName.get(m.name) });
  t.ok(status.leader && ['m1', 'm2', 'm3'].includes(status.leader), `the Raft leader is ${status.leader}`);
  t.same(status.members.map((m) => m.reachable), [true, true, true], 'every member answers');
  t.equal(status.members.filter((m) => m.isLeader).length, 1, 'one leader');

  // One member down: a client on all three endpoints goes on working (retried on the others, no
  // circuit breaker in the way).
  const all = testClient(t, c.pki, c.members[0]!.cert, c.members, 3_000);
  await crash(c.members[1]!);
  const kinds: string[] = [];
  for (let i = 0; i < 30; i++) kinds.push(await all.put(`/shoal/objects/one-down${i}`).value('1').then(() => 'ok', (err: unknown) => classifyEtcdError(err)));
  t.same(kinds.filter((k) => k !== 'ok'), [], 'with one of three members down, 30 puts through all three endpoints succeed');
  await c.members[1]!.member.start();

  const m3 = c.members[2]!;
  const removedP = new Promise((resolve) => m3.member.once('removed', resolve));
  const restarted: unknown[] = [];
  m3.member.on('restarted', (pid) => restarted.push(pid));
  t.ok(await removeMember(c.admin, 'm3'), 'm3 removed (retried while the cluster settles after the last promote)');
  await removedP;
  t.notOk(m3.member.running, 'its etcd exited by itself and reported removed');
  t.ok(m3.member.removed);
  await new Promise((r) => setTimeout(r, 1000));
  t.same(restarted, [], 'and was not restarted');
  t.notOk(await removeMember(c.admin, 'm3'), 'removing it again: nothing to do');
  t.same((await listMembers(c.admin)).map((m) => m.name).sort(), ['m1', 'm2']);
  m3.member.wipeData();
});

t.test('quorum loss: no-leader within seconds; restart: writes resume, nothing lost; force-new-cluster keeps acknowledged keys', async (t) => {
  const c = await threeMembers(t);
  const [m1, m2, m3] = c.members as [TestMember, TestMember, TestMember];
  const keys = 200;
  for (let i = 0; i < keys; i++) await c.admin.put(`/shoal/objects/k${i}`).value(String(i));

  const survivor = clientOn(t, c, m1);
  const k0 = Date.now();
  await Promise.all([crash(m2), crash(m3)]);
  let firstNoLeader = 0;
  const kinds: string[] = [];
  while (Date.now() - k0 < 20_000) {
    const p0 = Date.now();
    try {
      await survivor.put('/shoal/objects/during').value('x');
      kinds.push('ok');
    } catch (err) {
      const kind = classifyEtcdError(err);
      kinds.push(`${kind} after ${Date.now() - p0} ms`);
      if (kind === 'no-leader') { firstNoLeader = Date.now() - k0; break; }
    }
  }
  t.ok(firstNoLeader > 0 && firstNoLeader < 10_000, `a put on the survivor fails with no-leader ${firstNoLeader} ms after kill -9 of two (${kinds.join(', ')})`);
  const f0 = Date.now();
  const again = await survivor.put('/shoal/objects/during').value('x').then(() => 'ok', (err: unknown) => classifyEtcdError(err));
  t.equal(again, 'no-leader', `and then fails fast: ${Date.now() - f0} ms`);
  const failFastMs = Date.now() - f0;

  const r0 = Date.now();
  await Promise.all([m2.member.start(), m3.member.start()]);
  let resumedMs = 0;
  while (Date.now() - r0 < 30_000) {
    try {
      await survivor.put('/shoal/objects/after').value('y');
      resumedMs = Date.now() - r0;
      break;
    } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  t.ok(resumedMs > 0, `writes resume ${resumedMs} ms after restarting the two`);
  t.equal((await c.admin.getAll().prefix('/shoal/objects/k').keys()).length, keys, 'every key written before is there');

  // Lose all three, then recover from the member that committed the most. A WAL records the commit
  // index that covers an entry only with the next entry it syncs (a commit-only change stays in etcd's
  // write buffer), and --force-new-cluster discards entries past the recorded commit: so the last write
  // before the loss is at risk (docs/decisions/0016). A barrier put after the keys that must survive
  // plays the part of the traffic any live cluster has.
  for (let i = 0; i < 100; i++) await c.admin.put(`/shoal/objects/late${i}`).value(String(i));
  await c.admin.put('/shoal/barrier').value('1');
  await Promise.all(c.members.map(crash));
  const probed = c.members.map((m) => ({ m, state: readRaftState(m.config.dataDir) }));
  const source = pickRecoverySource(probed);
  t.ok(probed.every((p) => p.state.commit > 300n), 'every WAL read: commit index past the 300 puts');
  t.pass(`raft commit/last index ${probed.map((p) => `${p.m.cert.nodeId}=${p.state.commit}/${p.state.lastIndex}`).join(' ')}: recovering from ${source.m.cert.nodeId}`);

  const forced = new EtcdMember({ ...source.m.config, forceNewCluster: true });
  t.teardown(() => forced.stop());
  const fc0 = Date.now();
  await forced.start();
  const forcedMs = Date.now() - fc0;
  t.ok(readFileSync(`/proc/${forced.pid}/cmdline`, 'utf8').split('\0').includes('--force-new-cluster'), `healthy with --force-new-cluster after ${forcedMs} ms`);
  const solo = clientOn(t, c, source.m);
  const count = async (client: Etcd3) => [
    (await client.getAll().prefix('/shoal/objects/k').keys()).length,
    (await client.getAll().prefix('/shoal/objects/late').keys()).length,
    await client.get('/shoal/objects/after').string(),
  ];
  t.same(await count(solo), [keys, 100, 'y'], 'every acknowledged key is there');
  t.same((await listMembers(solo)).map((m) => m.name), [source.m.cert.nodeId], 'as the only member');
  await forced.stop();
  await forced.start();
  t.notOk(readFileSync(`/proc/${forced.pid}/cmdline`, 'utf8').split('\0').includes('--force-new-cluster'), 'restarted without the flag');
  const barrierOnSource = await solo.get('/shoal/barrier').string();
  const rewritten = await rewriteAll(solo, '/');
  const present = await solo.getAll().prefix('/').keys();
  t.equal(rewritten, present.length, `every key written again into the log (${rewritten}: ${present.filter((k) => !/\/(k|late)\d+$/.test(k)).join(' ')} and the rest)`);

  const other = c.members.find((m) => m !== source.m)!;
  other.member.wipeData();
  const added = await addLearner(solo, other.cert.nodeId, peerUrl(other.host));
  const rejoined = new EtcdMember({ ...other.config, initialCluster: added.initialCluster, initialClusterState: 'existing' });
  t.teardown(() => rejoined.stop());
  await rejoined.start();
  const p = await promoteLearner(solo, other.cert.nodeId);
  const onOther = clientOn(t, c, other);
  t.same(await count(onOther), [keys, 100, 'y'], `${other.cert.nodeId} rejoined (promoted after ${p.ms} ms, ${p.attempts} attempts) with every key`);
  const barrierOnOther = await onOther.get('/shoal/barrier').string();  t.equal(barrierOnOther, barrierOnSource, `the write after them (at risk: ${barrierOnSource === null ? 'lost' : 'kept'} on ${source.m.cert.nodeId}) is the same on ${other.cert.nodeId}, thanks to rewriteAll`);
  console.log(`# etcd cluster: promote ${c.timings.promoteMs.join('/')} ms; no-leader ${firstNoLeader} ms after losing quorum, then ${failFastMs} ms per call; writes resume ${resumedMs} ms after restart; force-new-cluster healthy ${forcedMs} ms`);
});
