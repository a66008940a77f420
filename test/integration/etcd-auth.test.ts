// etcd's RBAC by certificate CN as src/etcd/auth.ts sets it up: a worker certificate reads objects and
// every node's status and writes only its own prefix, and is refused (PERMISSION_DENIED) everywhere
// else; demotion, promotion and removal change that on the next request; a certificate without a user
// is refused; and a worker certificate cannot talk to the peer (Raft) port at all.
import https from 'node:https';
import t from 'tap';
import type { Etcd3 } from 'etcd3';
import { addWorkerUser, bootstrapAuth, demoteUser, promoteUser, removeUser, userRoles } from '../../src/etcd/auth.js';
import { classifyEtcdError } from '../../src/etcd/client.js';
import { initialClusterString } from '../../src/etcd/member.js';
import { makeNet, makePki, peerUrl, relay, testClient, testMember, type NodeCert, type Pki } from '../lib/etcd.js';

async function kindOf(p: unknown): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return classifyEtcdError(err);
  }
}

function peerGet(pki: Pki, cert: NodeCert, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/members', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem, timeout: 3000, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(`status ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`error ${err.message}`));
  });
}

t.test('workers read objects and nodes, write their own prefix only; managers do everything', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const m1 = pki.node('m1', 'manager', host!.addr);
  const m2 = pki.node('m2', 'manager', '10.77.0.9');
  const w1 = pki.node('w1', 'worker', '10.77.0.11');
  const w10 = pki.node('w10', 'worker', '10.77.0.12');
  const stranger = pki.node('x9', 'worker', '10.77.0.13');
  const m = await testMember(t, pki, host!, m1, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  await m.member.start();
  const admin = testClient(t, pki, m1, [m]);
  await bootstrapAuth(admin, ['m1', 'm2']);
  await bootstrapAuth(admin, ['m1', 'm2']); // again: no harm
  await addWorkerUser(admin, 'w1');
  await addWorkerUser(admin, 'w10');
  t.same(await userRoles(admin, 'w1'), ['shoal-node-w1', 'shoal-worker']);
  t.same(await userRoles(admin, 'm2'), ['root']);
  for (const k of ['/shoal/objects/x', '/shoal/nodes/w10/status', '/shoal/secrets/ca-key', '/shoal/alloc/ip/10.0.0.2', '/shoal/election/e']) await admin.put(k).value('v');

  const w = testClient(t, pki, w1, [m]);
  const allowed: Array<[string, () => unknown]> = [
    ['get an object', () => w.get('/shoal/objects/x').string()],
    ['list objects', () => w.getAll().prefix('/shoal/objects/').keys()],
    ['list every node\'s status', () => w.getAll().prefix('/shoal/nodes/').keys()],
    ['put its own status', () => w.put('/shoal/nodes/w1/status').value('ready')],
    ['delete its own key', () => w.delete().key('/shoal/nodes/w1/status')],
    ['put a leased key of its own', async () => { const lease = w.lease(10); await lease.put('/shoal/nodes/w1/alive').value('1'); await lease.revoke(); }],
  ];
  for (const [what, op] of allowed) t.equal(await kindOf(op()), 'ok', `worker may ${what}`);

  const refused: Array<[string, () => unknown]> = [
    ['put an object', () => w.put('/shoal/objects/x').value('evil')],
    ['put another node\'s status', () => w.put('/shoal/nodes/w10/status').value('evil')],
    ['delete another node\'s key', () => w.delete().key('/shoal/nodes/w10/status')],
    ['write outside its prefix with a common start (/shoal/nodes/w1 without the slash)', () => w.put('/shoal/nodes/w1').value('evil')],
    ['read secrets', () => w.get('/shoal/secrets/ca-key').string()],
    ['read allocations', () => w.get('/shoal/alloc/ip/10.0.0.2').string()],
    ['touch the election', () => w.put('/shoal/election/e').value('me')],
    ['read every key', () => w.getAll().keys()],
    ['add an etcd member', () => w.cluster.memberAdd({ peerURLs: ['https://10.77.0.50:2380'], isLearner: true })],
    ['enable or change auth', () => w.auth.userAdd({ name: 'w1x', password: '', options: { no_password: true } })],
  ];
  for (const [what, op] of refused) t.equal(await kindOf(op()), 'permission-denied', `worker may not ${what}`);
  t.equal(await w.get('/shoal/objects/x').string(), 'v', 'the object is unchanged');

  const x = testClient(t, pki, stranger, [m]);
  t.equal(await kindOf(x.get('/shoal/objects/x').string()), 'permission-denied', 'a certificate from our CA without an etcd user gets nothing');

  const mc = testClient(t, pki, m2, [m]);
  t.equal(await kindOf(mc.put('/shoal/secrets/k2').value('1')), 'ok', 'a manager writes secrets');
  await demoteUser(admin, 'm2');
  t.same(await userRoles(admin, 'm2'), ['shoal-node-m2', 'shoal-worker'], 'demoted: worker roles only');
  t.equal(await kindOf(mc.put('/shoal/secrets/k2').value('2')), 'permission-denied', 'on the next request of the open connection');
  t.equal(await kindOf(mc.put('/shoal/nodes/m2/status').value('ok')), 'ok', 'it writes its own prefix like any worker');
  await promoteUser(admin, 'm2');
  t.same(await userRoles(admin, 'm2'), ['root'], 'promoted: root only');
  t.equal(await kindOf(mc.put('/shoal/secrets/k2').value('3')), 'ok', 'and writes secrets again');

  t.ok(await removeUser(admin, 'w1'), 'removing a node deletes its user');
  t.notOk(await removeUser(admin, 'w1'), 'once');
  t.equal(await kindOf(w.get('/shoal/objects/x').string()), 'permission-denied', 'and its certificate reads nothing any more');
  t.same(await userRoles(admin, 'w1'), undefined);
});

t.test('a worker certificate cannot reach the peer port; a manager certificate can', async (t) => {
  const pki = makePki(t);
  const [host] = makeNet(t, 1);
  const m1 = pki.node('m1', 'manager', host!.addr);
  const w1 = pki.node('w1', 'worker', '10.77.0.11');
  const m = await testMember(t, pki, host!, m1, initialClusterString([{ name: 'm1', peerUrl: peerUrl(host!) }]), 'new');
  await m.member.start();
  const port = await relay(t, host!.nsPath, host!.addr, 2380);
  t.equal(await peerGet(pki, m1, port), 'status 200', 'manager: the peer API answers');
  const worker = await peerGet(pki, w1, port);
  t.match(worker, /^error /, `worker: refused (${worker})`);
  t.match(m.member.logTail(), /client certificate authentication failed|rejected connection/, 'etcd logs why');
});

export type { Etcd3 };
