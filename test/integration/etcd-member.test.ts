// One etcd member under EtcdMember, in its own namespace: it starts and reports healthy, serves a
// manager's certificate over mutual TLS, is restarted when it dies (data intact), dies with the
// process that started it (pdeathsig), replaces a leftover etcd on its data dir, and fails to start
// with an error that quotes its log.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { etcdCommand, initialClusterString } from '../../src/etcd/member.js';
import { makeNet, makePki, peerUrl, rssMiB, testClient, testMember } from '../lib/etcd.js';
import { until } from '../lib/wait.js';

const servesDir = (pid: number, dir: string) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.includes(dir)); } catch { return false; } };
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

t.test('a member starts healthy, serves mutual TLS, and is restarted with its data after kill -9', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const cert = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, cert, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  const t0 = Date.now();
  await m.member.start();
  const startMs = Date.now() - t0;
  t.ok(m.member.running, `healthy ${startMs} ms after spawn`);
  const pid = m.member.pid!;
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  t.equal(cmdline[0], 'etcd', 'the pid is etcd itself (nsenter and setpriv exec it)');
  t.ok(cmdline.includes('--peer-cert-allowed-hostname=swarm-manager.shoal'), 'peers must hold a manager certificate');
  t.equal(readFileSync(m.member.pidFile, 'utf8').trim(), String(pid), 'the pidfile names it');

  const client = testClient(t, pki, cert, [m]);
  const p0 = Date.now();
  await client.put('/shoal/objects/a').value('1');
  t.equal(await client.get('/shoal/objects/a').string(), '1', `put and get over mutual TLS (first put ${Date.now() - p0} ms)`);
  await sleep(1000);
  const rss = rssMiB(pid);
  t.ok(rss > 5 && rss < 200, `RSS of an idle member: ${rss.toFixed(1)} MiB`);

  const exited = once(m.member, 'exited');
  const restarted = once(m.member, 'restarted');
  const k0 = Date.now();
  process.kill(pid, 'SIGKILL');
  const [exit] = (await exited) as [{ signal: string }];
  t.equal(exit.signal, 'SIGKILL', 'the supervisor saw it die');
  await restarted;
  t.not(m.member.pid, pid, 'a new process');
  await m.member.waitHealthy();
  const restartMs = Date.now() - k0;
  t.equal(await client.get('/shoal/objects/a').string(), '1', `healthy again ${restartMs} ms after kill -9, with its data`);
  console.log(`# etcd member: start→healthy ${startMs} ms, kill -9→healthy again ${restartMs} ms, RSS ${rss.toFixed(1)} MiB`);

  await m.member.stop();
  t.notOk(alive(pid) || alive(m.member.pid!), 'stop() ends it');
  t.notOk(existsSync(m.member.pidFile), 'and removes the pidfile');
});

t.test('etcd dies with the process that started it (kill -9 of the parent)', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const cert = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, cert, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  const fixture = fileURLToPath(new URL('../fixtures/etcd/member-parent.ts', import.meta.url));
  const parent = spawn(process.execPath, [...process.execArgv.filter((a) => a.includes('typescript')), fixture, JSON.stringify(m.config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let etcdPid = 0;
  t.teardown(() => {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
    // Only if that pid is still this test's etcd: a freed pid is soon another test's process.
    if (etcdPid && alive(etcdPid) && servesDir(etcdPid, m.config.dataDir)) process.kill(etcdPid, 'SIGKILL');
  });
  let out = '';
  parent.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  ({ value: etcdPid } = await until('the parent to print etcd\'s pid', () => Number.parseInt(out, 10) || false, 30_000));
  t.ok(alive(etcdPid), `etcd (pid ${etcdPid}) runs under the parent (pid ${parent.pid})`);
  parent.kill('SIGKILL');
  const { ms } = await until('etcd to die with its parent', () => !alive(etcdPid), 5_000, 10);
  t.pass(`etcd was gone ${ms} ms after the parent's kill -9`);
});

t.test('start() ends a leftover etcd on the same data dir, then starts its own', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const cert = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, cert, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  // What a previous agent left: an etcd on our data dir (without pdeathsig) and its pidfile.
  const [cmd, ...args] = etcdCommand(m.config).filter((a, i, all) => !(a === 'setpriv' || all[i - 1] === 'setpriv' || (all[i - 2] === 'setpriv')));
  const old = spawn(cmd!, args, { stdio: 'ignore', detached: true });
  t.teardown(() => { if (old.exitCode === null && old.signalCode === null) old.kill('SIGKILL'); });
  writeFileSync(m.member.pidFile, `${old.pid}\n`);
  // Healthy, as a leftover would be: killed while bootstrapping, a new member's data can lack its own
  // membership, and it then never elects itself.
  let leftoverHealthy = false;
  await until('the leftover etcd to be healthy', () => {
    void m.member.healthy().then((h) => (leftoverHealthy = h));
    return leftoverHealthy;
  }, 20_000, 50);
  writeFileSync(m.member.readyMarker, 'by the previous agent\n');
  const before = testClient(t, pki, cert, [m]);
  await before.put('/shoal/objects/old').value('kept');
  before.close();
  await m.member.start();
  t.ok(!alive(old.pid!), 'the leftover is gone');
  t.not(m.member.pid, old.pid, 'ours runs in its place');
  const client = testClient(t, pki, cert, [m]);
  await client.put('/shoal/objects/b').value('2');
  t.equal(await client.get('/shoal/objects/b').string(), '2', 'and serves');
  t.equal(await client.get('/shoal/objects/old').string(), 'kept', 'on the data the leftover kept');
});

t.test('a member that cannot become healthy fails start() with its log tail', async (t) => {
  const pki = makePki(t);
  const [h1, h2] = makeNet(t, 2);
  const cert = pki.node('m1', 'manager', h1!.addr);
  // A new two-member cluster whose second member never starts: no quorum, never healthy.
  const cluster = initialClusterString([{ name: 'm1', peerUrl: peerUrl(h1!) }, { name: 'm2', peerUrl: peerUrl(h2!) }]);
  const m = await testMember(t, pki, h1!, cert, cluster, 'new', { healthTimeoutMs: 3_000 });
  await t.rejects(m.member.start(), { name: 'EtcdMemberError', message: /did not report healthy within 3000 ms[\s\S]*(etcd|raft|m2)/ });
  await m.member.stop();
  const dead = m.member.pid!;
  t.notOk(alive(dead), 'and stop() still ends it');
});

t.test('a missing etcd binary: start() says so, and stop() ends the retries', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const cert = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, cert, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new', { binary: 'etcd-not-installed' });
  const exits: unknown[] = [];
  m.member.on('exited', (e) => exits.push(e));
  await t.rejects(m.member.start(), { name: 'EtcdMemberError', message: /exited before it became healthy[\s\S]*etcd-not-installed/ });
  await until('a supervised retry', () => exits.length >= 2, 5_000, 20);
  await m.member.stop();
  const n = exits.length;
  await sleep(1500);
  t.equal(exits.length, n, 'no retries after stop()');
});

t.test('a first start stopped while bootstrapping starts again from nothing', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const cert = pki.node('m1', 'manager', host!.addr);
  const m = await testMember(t, pki, host!, cert, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  const discarded: string[] = [];
  m.member.on('discarded', (dir: string) => discarded.push(dir));
  await m.member.start({ waitHealthy: false });
  await until('its data dir', () => existsSync(`${m.config.dataDir}/member/wal`), 10_000, 5);
  await m.member.stop();
  t.notOk(existsSync(m.member.readyMarker), 'it was never reported healthy');
  await m.member.start();
  t.same(discarded, [m.config.dataDir], 'the unfinished data was discarded');
  t.ok(existsSync(m.member.readyMarker), 'healthy now, and marked so');
  await m.member.stop();
  await m.member.start();
  t.same(discarded, [m.config.dataDir], 'data that was healthy once is kept');
});
