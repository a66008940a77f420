// Signed gossip entries: a node's endpoint entries carry its signature, and a receiver keeps one only
// if the cluster CA certified the signer under that node ID and the signer owns the key. Forged,
// unsigned, tampered or borrowed entries are dropped and counted; honest ones merge, also when a
// push-pull brings them before the certificate that proves them.
import t from 'tap';
import { createCa, createKeyAndCsr, signNodeCsr, type CaFiles } from '../../src/cluster/ca.js';
import { NodeSignatures } from '../../src/cluster/node-signatures.js';
import { endpointOwner, type EndpointRecord } from '../../src/model/endpoint.js';
import type { Entry } from '../../src/store/entry.js';
import type { Refusal } from '../../src/store/signing.js';
import { ReplicatedStore } from '../../src/store/store.js';

const ca = createCa();
function nodeCert(authority: CaFiles, nodeId: string): CaFiles {
  const { keyPem, csrPem } = createKeyAndCsr();
  return { certPem: signNodeCsr(authority, csrPem, { nodeId, role: 'worker', clusterId: 'c1', addr: '192.168.56.101' }), keyPem };
}
const A = nodeCert(ca, 'nodea');
const B = nodeCert(ca, 'nodeb');
const stranger = nodeCert(createCa(), 'nodea');

/** Endpoint entries: `net1/task-<n>` belong to the node the task runs on; `net1/node-<id>` to that node. */
const tasks: Record<string, string> = { t1: 'nodea', t2: 'nodeb' };
const ownerOf = (e: Entry, current: Entry | undefined) => endpointOwner(e.key, e.deleted ? undefined : e.value, current && !current.deleted ? (current.value as EndpointRecord) : undefined, (id) => tasks[id]);
const published: Record<string, string> = { nodea: A.certPem, nodeb: B.certPem };

function sigs(me: CaFiles, certs: Record<string, string> = published): NodeSignatures {
  return new NodeSignatures({ keyPem: me.keyPem, caCertPem: ca.certPem, certOf: (id) => certs[id], ownerOf });
}

function ep(key: string, nodeId: string): EndpointRecord {
  return { id: key, networkId: 'net1', nodeId, ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: '192.168.56.101', ...(key.includes('node-') ? {} : { taskId: key.split('/')[1]! }) };
}

function entry(key: string, writer: string, value: EndpointRecord | undefined, signer?: NodeSignatures): Entry {
  const e: Entry = value ? { table: 'endpoints', key, deleted: false, version: { wall: Date.now(), counter: 0, node: writer }, value } : { table: 'endpoints', key, deleted: true, version: { wall: Date.now(), counter: 0, node: writer } };
  return signer ? { ...e, sig: signer.sign(e) } : e;
}

t.test('a signature from the owner is accepted; everything else is refused with its reason', async (t) => {
  const check = sigs(B);
  const a = sigs(A);
  t.equal(check.check(entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), a), undefined), undefined, 'A signs its own task\'s endpoint');
  t.equal(check.check(entry('net1/node-nodea', 'nodea', ep('net1/node-nodea', 'nodea'), a), undefined), undefined, 'and its own sandbox endpoint');
  const cases: [string, Entry, Refusal][] = [
    ['unsigned', entry('net1/t1', 'nodea', ep('net1/t1', 'nodea')), 'unsigned'],
    ['another node\'s task', entry('net1/t2', 'nodea', ep('net1/t2', 'nodea'), a), 'not the owner'],
    ['another node\'s task, naming that node', entry('net1/t2', 'nodea', ep('net1/t2', 'nodeb'), a), 'not the owner'],
    ['another node\'s sandbox', entry('net1/node-nodeb', 'nodea', ep('net1/node-nodeb', 'nodeb'), a), 'not the owner'],
    ['its own task, announced as another node\'s', entry('net1/t1', 'nodea', ep('net1/t1', 'nodeb'), a), 'not the owner'],
    ['a task nobody knows', entry('net1/t9', 'nodea', ep('net1/t9', 'nodea'), a), 'owner not known yet'],
    ['a writer that published no certificate', entry('net1/t1', 'nodez', ep('net1/t1', 'nodez'), a), 'unknown signer'],
  ];
  for (const [what, e, why] of cases) t.equal(check.check(e, undefined), why, what);
  const signed = entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), a);
  t.equal(check.check({ ...signed, value: { ...(signed.value as EndpointRecord), ip: '10.0.1.99' } }, undefined), 'bad signature', 'a value changed after signing');
  t.equal(check.check({ ...signed, version: { ...signed.version, counter: 1 } }, undefined), 'bad signature', 'a version changed after signing');
  const byB = entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), sigs(B));
  t.equal(check.check(byB, undefined), 'bad signature', 'B signing in A\'s name');
  t.equal(sigs(B, { nodea: stranger.certPem }).check(entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), sigs(stranger)), undefined), 'unknown signer', 'a certificate from another CA is not trusted');
  t.equal(sigs(B, { nodea: B.certPem }).check(entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), sigs(B)), undefined), 'unknown signer', 'B\'s certificate published as A\'s is not A\'s');
});

t.test('a deletion must come from the owner; once the task is gone, from the node that wrote the entry', async (t) => {
  const check = sigs(B);
  const held = entry('net1/t3', 'nodea', ep('net1/t3', 'nodea'), sigs(A));
  t.equal(check.check(entry('net1/t3', 'nodea', undefined, sigs(A)), held), undefined, 'A deletes the endpoint it wrote');
  t.equal(check.check(entry('net1/t3', 'nodeb', undefined, sigs(B)), held), 'not the owner', 'B cannot delete it');
  t.equal(check.check(entry('net1/t1', 'nodeb', undefined, sigs(B)), undefined), 'not the owner', 'nor delete the endpoint of a task on A');
});

t.test('the store signs its own writes to signed tables and merges only what holds', async (t) => {
  const refused: string[] = [];
  const make = (node: string, me: CaFiles) => {
    const s = sigs(me);
    const store = new ReplicatedStore({ node, signed: { tables: new Set(['endpoints']), signer: s, verifier: s, onRefused: (e, why) => refused.push(`${e.key}:${why}`) } });
    store.defineTable('endpoints', (v) => v as EndpointRecord);
    store.defineTable('other', (v) => v);
    return store;
  };
  const a = make('nodea', A);
  const b = make('nodeb', B);
  const written = a.put('endpoints', 'net1/t1', ep('net1/t1', 'nodea'));
  t.type(written.sig, 'string', 'a local write to a signed table carries a signature');
  t.equal(a.put('other', 'x', { y: 1 }).sig, undefined, 'other tables are not signed');
  const forged = entry('net1/t2', 'nodea', ep('net1/t2', 'nodea'), sigs(A));
  const r = b.merge([written, forged, entry('net1/t1', 'nodeb', undefined)]);
  t.equal(r.applied.length, 1, 'only the honest entry merged');
  t.equal(r.refused, 2, 'the forged and the unsigned ones were refused');
  t.same(refused, ['net1/t2:not the owner', 'net1/t1:unsigned'], 'each refusal was reported with its reason');
  t.equal(b.get<EndpointRecord>('endpoints', 'net1/t1')?.value.nodeId, 'nodea', 'the honest entry is there');
  t.equal(b.stats.refused, 2, 'and counted in the store\'s stats');
});

t.test('a push-pull that brings an entry before the record proving it still merges it', async (t) => {
  // As the agent does: certificates are read from the store's own node-status table.
  const s: NodeSignatures = new NodeSignatures({ keyPem: B.keyPem, caCertPem: ca.certPem, certOf: (id) => store.get<{ cert: string }>('node-status', id)?.value.cert, ownerOf });
  const store: ReplicatedStore = new ReplicatedStore({ node: 'nodeb', signed: { tables: new Set(['endpoints']), signer: s, verifier: s } });
  store.defineTable('endpoints', (v) => v as EndpointRecord);
  store.defineTable('node-status', (v) => v as { cert: string });
  const endpoint = entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), sigs(A));
  const status: Entry = { table: 'node-status', key: 'nodea', deleted: false, version: { wall: Date.now(), counter: 0, node: 'nodea' }, value: { cert: A.certPem } };
  const r = store.merge([endpoint, status]);
  t.equal(r.applied.length, 2, 'both merged: the certificate was taken first');
});

t.test('endpointOwner: the key decides, not the value', async (t) => {
  const taskNode = (id: string) => tasks[id];
  t.equal(endpointOwner('net1/node-nodeb', ep('net1/node-nodeb', 'nodeb'), undefined, taskNode), 'nodeb');
  t.equal(endpointOwner('net1/t2', ep('net1/t2', 'nodeb'), undefined, taskNode), 'nodeb');
  t.equal(endpointOwner('net1/t9', undefined, { nodeId: 'nodea' }, taskNode), 'nodea', 'a gone task: the holder of the entry');
  t.equal(endpointOwner('net1/t9', undefined, undefined, taskNode), undefined, 'unknown');
  t.equal(endpointOwner('net1/t1', { ...ep('net1/t1', 'nodea'), id: 'net1/t2' }, undefined, taskNode), undefined, 'a value whose id is another key');
  t.equal(endpointOwner('nokey', undefined, undefined, taskNode), undefined, 'a malformed key');
});

t.test('a renewed key: entries signed again are checked against the new certificate; the old one still counts while in date', async (t) => {
  const A2 = nodeCert(ca, 'nodea');
  const certs: Record<string, string> = { ...published };
  const mine = sigs(A, certs);
  const store = new ReplicatedStore({ node: 'nodea', signed: { tables: new Set(['endpoints']), signer: mine, verifier: mine } });
  store.defineTable('endpoints', (v) => v as EndpointRecord);
  store.defineTable('other', (v) => v);
  const old = store.put('endpoints', 'net1/t1', ep('net1/t1', 'nodea'));
  const gone = store.put('endpoints', 'net1/node-nodea', ep('net1/node-nodea', 'nodea'));
  store.delete('endpoints', 'net1/node-nodea');
  store.put('other', 'k', 1);

  // B saw A's old certificate; C joins later and only ever sees the new one.
  const atB = sigs(B, certs);
  const newcomerCerts: Record<string, string> = { ...published, nodea: A2.certPem };
  const atC = sigs(B, newcomerCerts);
  t.equal(atB.check(old, undefined), undefined, 'B accepts A\'s entry signed with its old key');

  // A renews: publishes the new certificate, then signs with the new key and signs its entries again.
  certs.nodea = A2.certPem;
  mine.useKey(A2.keyPem);
  t.equal(atB.check(old, undefined), undefined, 'B still accepts the old signature: A\'s previous certificate is in date');
  t.equal(atC.check(old, undefined), 'bad signature', 'C, which never saw the old certificate, cannot check it');
  t.equal(store.resign(), 1, 'one live entry of a signed table to sign again (not the tombstone, not other tables)');
  const again = store.entry('endpoints', 'net1/t1')!;
  t.ok(again.version.wall > old.version.wall || again.version.counter > old.version.counter, 'as a newer version, so every node takes it');
  t.same(again.value, old.value, 'with the same value');
  t.equal(atC.check(again, undefined), undefined, 'C accepts the entry signed again');
  t.equal(atB.check(again, undefined), undefined, 'and so does B');
  t.equal(atB.check(entry('net1/t1', 'nodea', ep('net1/t1', 'nodea'), sigs(A2)), undefined), undefined, 'new writes are signed with the new key');
  t.equal(store.entry('endpoints', 'net1/node-nodea')!.deleted, true, 'the tombstone stays as it was');
  void gone;
});
