// The state store on a real etcd (one member on loopback, started and removed by this test): the
// same contract as the other stores, a second node's copy following by watch, batches refused when
// the fence is gone or a key they decided on changed meanwhile (so two managers can never both take
// the same key), and a malformed value in etcd dropped and counted instead of crashing anyone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import t from 'tap';
import { EtcdStateStore } from '../../src/store/etcd-store.js';
import { StateError } from '../../src/store/state.js';
import { parsePet, stateStoreContract } from '../lib/state-contract.js';
import { freePort } from '../lib/ports.js';
import { until } from '../lib/wait.js';

const log = pino({ level: 'silent' });


/** One etcd member on loopback with a scratch data dir; stopped and removed at teardown. */
async function startEtcd(): Promise<{ endpoint: string; proc: ChildProcess }> {
  const [client, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'shoal-etcd-store-'));
  const endpoint = `http://127.0.0.1:${client}`;
  const proc = spawn('etcd', [
    '--name=s1', `--data-dir=${dir}`, `--listen-client-urls=${endpoint}`, `--advertise-client-urls=${endpoint}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=s1=http://127.0.0.1:${peer}`, '--initial-cluster-state=new', '--log-level=error', '--logger=zap',
  ], { stdio: 'ignore' });
  t.teardown(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const probe = new Etcd3({ hosts: endpoint });
  try {
    for (const start = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
      if (await probe.get('probe').string().then(() => true, () => false)) break;
      if (Date.now() - start > 20_000) throw new Error('etcd did not answer on loopback within 20 s');
    }
  } finally {
    probe.close();
  }
  return { endpoint, proc };
}

const { endpoint } = await startEtcd();
let n = 0;
const clients: Etcd3[] = [];
const stores: EtcdStateStore[] = [];
t.teardown(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.close();
});

async function store(prefix: string, fence?: () => { key: string; createRevision: string } | undefined): Promise<EtcdStateStore> {
  const client = new Etcd3({ hosts: endpoint });
  clients.push(client);
  const s = new EtcdStateStore({ client, prefix, log, ...(fence ? { fence } : {}) });
  stores.push(s);
  await s.start();
  return s;
}

stateStoreContract(t, 'etcd', () => store(`/test/c${++n}/`));

t.test('another node\'s copy follows by watch, and a restarted copy loads what exists', async (t) => {
  const a = await store('/test/follow/');
  const b = await store('/test/follow/');
  const pa = a.table('pets', parsePet);
  const pb = b.table('pets', parsePet);
  await pa.put('x', { name: 'ex', legs: 1 });
  await until('b to see the write', () => pb.get('x')?.value.name === 'ex', 5_000);
  t.equal(pb.get('x')!.index, pa.get('x')!.index, 'both copies give the same Version.Index (the mod revision)');
  await pa.delete('x');
  await until('b to see the delete', () => pb.get('x') === undefined, 5_000);
  await pa.put('y', { name: 'why', legs: 2 });
  const c = await store('/test/follow/');
  t.equal(c.table('pets', parsePet).get('y')?.value.name, 'why', 'a new copy starts from what the store holds');
});

t.test('a batch commits only while its fence holds', async (t) => {
  const admin = new Etcd3({ hosts: endpoint });
  clients.push(admin);
  await admin.put('/test/leader').value('me');
  const created = (await admin.get('/test/leader').exec()).kvs[0]!.create_revision;
  let fence = { key: '/test/leader', createRevision: created };
  const s = await store('/test/fenced/', () => fence);
  const pets = s.table('pets', parsePet);
  let batch = s.batch();
  batch.table(pets).put('a', { name: 'al', legs: 2 });
  await batch.commit();
  t.equal(pets.get('a')?.value.name, 'al', 'committed while the fence holds');
  await admin.delete().key('/test/leader');
  await admin.put('/test/leader').value('someone else');
  batch = s.batch();
  batch.table(pets).put('b', { name: 'bo', legs: 4 });
  await t.rejects(batch.commit(), StateError, 'a deposed leader\'s batch is refused');
  t.equal(pets.get('b'), undefined, 'and wrote nothing');
  fence = { key: '/test/leader', createRevision: (await admin.get('/test/leader').exec()).kvs[0]!.create_revision };
  batch = s.batch();
  batch.table(pets).put('b', { name: 'bo', legs: 4 });
  await batch.commit();
  t.ok(pets.get('b'), 'the new leader (same fence key, new revision) commits');
});

t.test('two managers deciding on the same copy: only one batch takes a free key', async (t) => {
  const a = await store('/test/race/');
  const b = await store('/test/race/');
  const ta = a.table('pets', parsePet);
  const tb = b.table('pets', parsePet);
  const ba = a.batch();
  const bb = b.batch();
  ba.table(ta).put('10.0.0.5', { name: 'task-a', legs: 1 });
  bb.table(tb).put('10.0.0.5', { name: 'task-b', legs: 1 });
  const results = await Promise.allSettled([ba.commit(), bb.commit()]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one commit succeeded');
  t.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof StateError), 'the other was refused with a StateError');
  await until('both copies agree', () => ta.get('10.0.0.5')?.value.name !== undefined && ta.get('10.0.0.5')?.value.name === tb.get('10.0.0.5')?.value.name, 5_000);
  // An update decided before someone else's change is refused; decided again after it, it commits.
  const stale = b.batch();
  stale.table(tb).put('10.0.0.5', { name: 'from-b', legs: 0 });
  await ta.put('10.0.0.5', { name: 'changed', legs: 3 });
  await until('b to see the change', () => tb.get('10.0.0.5')?.value.name === 'changed', 5_000);
  await t.rejects(stale.commit(), StateError, 'a batch decided on an overtaken copy is refused');
  t.equal(tb.get('10.0.0.5')?.value.name, 'changed', 'and the other write stands');
  const fresh = b.batch();
  fresh.table(tb).put('10.0.0.5', { name: 'from-b', legs: 0 });
  await fresh.commit();
  await until('a to see it', () => ta.get('10.0.0.5')?.value.name === 'from-b', 5_000);
  t.pass('a batch decided after seeing the change commits');
});

t.test('a malformed value in etcd is dropped and counted', async (t) => {
  const admin = new Etcd3({ hosts: endpoint });
  clients.push(admin);
  const s = await store('/test/bad/');
  const pets = s.table('pets', parsePet);
  await admin.put('/test/bad/pets/junk').value('{not json');
  await admin.put('/test/bad/pets/wrong').value('{"name": 5}');
  await admin.put('/test/bad/pets/good').value('{"name": "gee", "legs": 3}');
  await until('the good value', () => pets.get('good') !== undefined, 5_000);
  t.equal(pets.get('junk'), undefined, 'invalid JSON is not a value');
  t.equal(pets.get('wrong'), undefined, 'a value the parser refuses is not a value');
  t.equal(s.stats.dropped, 2, 'both were counted');
});
