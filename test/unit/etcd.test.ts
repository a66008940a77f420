// The etcd layer's pure parts: the member's command line, cluster strings, removal detection and
// backoff, the client's options and error kinds, the key layout, worker permissions, membership
// helpers, and the WAL reader that picks the member to recover from.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Etcd3 } from 'etcd3';
import { EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { workerPermissions, nodeRole } from '../../src/etcd/auth.js';
import { classifyEtcdError, etcdClientOptions, NO_LEADER_MESSAGE, swarmErrorMessage } from '../../src/etcd/client.js';
import { electionPrefix, LeaderElection } from '../../src/etcd/election.js';
import { NODES_PREFIX, OBJECTS_PREFIX, SECRETS_PREFIX, ALLOC_PREFIX, ELECTION_PREFIX, nodePrefix, prefixEnd } from '../../src/etcd/keys.js';
import { etcdArgs, etcdCommand, httpsUrl, initialClusterString, initialClusterToken, leftoverPid, nextBackoff, saysRemoved, type EtcdMemberConfig } from '../../src/etcd/member.js';
import { initialClusterFor, memberIdHex, promoteRetryable } from '../../src/etcd/membership.js';
import { pickRecoverySource, readRaftState, scanWal, type RaftState } from '../../src/etcd/recovery.js';

const cfg: EtcdMemberConfig = {
  nodeId: 'm1', addr: '10.0.0.1', dataDir: '/var/lib/shoal/etcd', logFile: '/var/log/shoal/etcd.log',
  tls: { caFile: '/ca.crt', certFile: '/m1.crt', keyFile: '/m1.key' },
  clusterToken: initialClusterToken('c1'), initialCluster: 'm1=https://10.0.0.1:2380', initialClusterState: 'new',
};

t.test('etcd command line', async (t) => {
  const args = etcdArgs(cfg);
  for (const flag of [
    '--name=m1', '--data-dir=/var/lib/shoal/etcd', '--initial-cluster-token=shoal-c1',
    '--listen-peer-urls=https://10.0.0.1:2380', '--initial-advertise-peer-urls=https://10.0.0.1:2380',
    '--listen-client-urls=https://10.0.0.1:2379,https://127.0.0.1:2379', '--advertise-client-urls=https://10.0.0.1:2379',
    '--listen-metrics-urls=http://127.0.0.1:2381', '--initial-cluster=m1=https://10.0.0.1:2380', '--initial-cluster-state=new',
    '--client-cert-auth', '--trusted-ca-file=/ca.crt', '--cert-file=/m1.crt', '--key-file=/m1.key',
    '--peer-client-cert-auth', '--peer-trusted-ca-file=/ca.crt', '--peer-cert-file=/m1.crt', '--peer-key-file=/m1.key',
    '--peer-cert-allowed-hostname=swarm-manager.shoal', '--logger=zap', '--log-outputs=stderr',
  ]) t.ok(args.includes(flag), flag);
  t.notOk(args.includes('--force-new-cluster'), 'no --force-new-cluster unless asked');
  t.ok(etcdArgs(cfg, { forceNewCluster: true }).includes('--force-new-cluster'));
  t.ok(etcdArgs({ ...cfg, addr: '127.0.0.1' }).includes('--listen-client-urls=https://127.0.0.1:2379'), 'loopback listed once');
  t.ok(etcdArgs({ ...cfg, addr: 'fd00::1', clientPort: 12379 }).includes('--listen-client-urls=https://[fd00::1]:12379,https://127.0.0.1:12379'), 'IPv6 in brackets, other ports');
  t.same(etcdCommand(cfg).slice(0, 5), ['setpriv', '--pdeathsig', 'KILL', 'etcd', '--name=m1'], 'under setpriv, so it dies with us');
  t.same(etcdCommand({ ...cfg, netnsPath: '/run/netns/x' }).slice(0, 3), ['nsenter', '--net=/run/netns/x', 'setpriv']);
  t.equal(httpsUrl('10.0.0.1', 2380), 'https://10.0.0.1:2380');
});

t.test('initial cluster strings', async (t) => {
  t.equal(initialClusterString([{ name: 'm1', peerUrl: 'https://10.0.0.1:2380' }, { name: 'm2', peerUrl: 'https://10.0.0.2:2380' }]), 'm1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380');
  t.throws(() => initialClusterString([{ name: 'M1', peerUrl: 'https://10.0.0.1:2380' }]), /member name 'M1' must be a node ID/);
  t.throws(() => initialClusterString([{ name: 'm1', peerUrl: 'http://10.0.0.1:2380' }]), /must look like https/);
  const members = [
    { id: 'a', name: 'm1', peerUrls: ['https://10.0.0.1:2380'] },
    { id: 'b', name: '', peerUrls: ['https://10.0.0.2:2380'] },
  ];
  t.equal(initialClusterFor(members, 'b', 'm2'), 'm1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380', 'the new, unnamed member under its node ID');
  t.equal(memberIdHex('13530411824111201050'), 'bbc5addde8e4ab1a', 'member IDs in hex, as etcdctl shows them');
});

t.test('removal detection, backoff, leftovers', async (t) => {
  t.ok(saysRemoved('{"msg":"data-dir used by this member must be removed"}'), 'removed while running (3.4)');
  t.ok(saysRemoved('the member has been permanently removed from the cluster'), 'started again after removal');
  t.notOk(saysRemoved('{"msg":"received signal; shutting down","signal":"terminated"}'));
  const delays: number[] = [];
  let d: number | undefined;
  for (let i = 0; i < 8; i++) delays.push((d = nextBackoff(d)));
  t.same(delays, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000], 'doubling, capped at 10 s');

  const dir = mkdtempSync(join(tmpdir(), 'shoal-etcd-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'etcd.pid');
  t.equal(leftoverPid(pidFile, '/data'), undefined, 'no pidfile');
  writeFileSync(pidFile, 'garbage');
  t.equal(leftoverPid(pidFile, '/data'), undefined, 'garbage');
  writeFileSync(pidFile, `${process.pid}\n`);
  t.equal(leftoverPid(pidFile, '/data'), undefined, 'a live process that is not an etcd on our data dir');
  writeFileSync(pidFile, '1\n');
  t.equal(leftoverPid(pidFile, '/data'), undefined, 'never init');
});

t.test('client options: TLS only, deadline on unary calls, hasleader', async (t) => {
  const tls = { caPem: 'ca', certPem: 'cert', keyPem: 'key' };
  t.throws(() => etcdClientOptions({ endpoints: [], tls }), /at least one endpoint/);
  t.throws(() => etcdClientOptions({ endpoints: ['http://10.0.0.1:2379'], tls }), /TLS only/);
  const opts = etcdClientOptions({ endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'], tls, callDeadlineMs: 1234 });
  t.same(opts.hosts, ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  t.equal(opts.credentials?.certChain?.toString(), 'cert');
  const factory = opts.defaultCallOptions as (c: { isStream: boolean }) => { deadline?: number; credentials?: unknown };
  const unary = factory({ isStream: false });
  t.ok(unary.deadline! - Date.now() > 1000 && unary.deadline! - Date.now() <= 1234, 'unary calls get the deadline');
  t.ok(unary.credentials, 'and the hasleader credentials');
  t.equal(factory({ isStream: true }).deadline, undefined, 'streams (watch, keepalive) do not');
  t.equal((etcdClientOptions({ endpoints: ['https://10.0.0.1:2379'], tls, requireLeader: false }).defaultCallOptions as typeof factory)({ isStream: false }).credentials, undefined);
});

t.test('error kinds and Docker\'s message', async (t) => {
  const cases: Array<[unknown, string]> = [
    [new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: no leader'), 'no-leader'],
    [new Error('etcdserver: leader changed'), 'no-leader'],
    [new EtcdPermissionDeniedError('7 PERMISSION_DENIED: etcdserver: permission denied'), 'permission-denied'],
    [new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'timeout'],
    [new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out'), 'timeout'],
    [new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.0.1:2379'), 'unavailable'],
    [new Error('14 UNAVAILABLE: etcdserver: rpc not supported for learner'), 'unavailable'],
    [new Error('etcdserver: unhealthy cluster'), 'unavailable'],
    [new Error('etcdserver: key not found'), 'other'],
    ['a string', 'other'],
  ];
  for (const [err, kind] of cases) t.equal(classifyEtcdError(err), kind, `${String((err as Error).message ?? err)} → ${kind}`);
  t.equal(swarmErrorMessage(new Error('etcdserver: no leader')), NO_LEADER_MESSAGE);
  t.equal(swarmErrorMessage(new GRPCDeadlineExceededError('deadline')), NO_LEADER_MESSAGE, 'a timeout is how lost quorum looks without hasleader');
  t.equal(swarmErrorMessage(new EtcdPermissionDeniedError('permission denied')), undefined);
  t.match(NO_LEADER_MESSAGE, /^The swarm does not have a leader\. It's possible that too few managers are online\. Make sure more than half of the managers are online\.$/);
  t.ok(promoteRetryable(new Error('9 FAILED_PRECONDITION: etcdserver: can only promote a learner member which is in sync with leader')));
  t.ok(promoteRetryable(new Error('14 UNAVAILABLE: etcdserver: unhealthy cluster')));
  t.notOk(promoteRetryable(new Error('etcdserver: member not found')));
});

t.test('key layout and worker permissions', async (t) => {
  for (const p of [OBJECTS_PREFIX, NODES_PREFIX, SECRETS_PREFIX, ALLOC_PREFIX, ELECTION_PREFIX]) t.match(p, /^\/shoal\/[a-z]+\/$/, `${p} ends in /`);
  t.equal(nodePrefix('w1'), '/shoal/nodes/w1/');
  t.throws(() => nodePrefix('../x'), /node ID/);
  t.equal(prefixEnd('/shoal/nodes/w1/').toString(), '/shoal/nodes/w10', 'the range of w1/ stops before w10 and everything after');
  t.equal(prefixEnd('ab').toString(), 'ac', 'the last byte counts up');
  t.same([...prefixEnd('')], [0], 'the empty prefix: every key');
  t.same(workerPermissions('w1'), [
    { role: 'shoal-worker', type: 'Read', prefix: '/shoal/objects/' },
    { role: 'shoal-worker', type: 'Read', prefix: '/shoal/nodes/' },
    { role: 'shoal-node-w1', type: 'Readwrite', prefix: '/shoal/nodes/w1/' },
  ]);
  t.throws(() => nodeRole('W1'), /node ID/);
  t.equal(electionPrefix('leader'), '/shoal/election/leader/');
  t.throws(() => new LeaderElection({} as Etcd3, { nodeId: 'm1', ttlSeconds: 0 }), /at least 1/);
  t.throws(() => new LeaderElection({} as Etcd3, { nodeId: 'm1', name: 'A/B' }), /election name/);
  t.throws(() => new LeaderElection({} as Etcd3, { nodeId: 'm1' }).fence(), /not the leader/);
});

// ---- a WAL built by hand, in etcd's framing ----
function varint(n: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return Buffer.from(out);
}
const field = (f: number, v: bigint) => Buffer.concat([varint(BigInt(f << 3)), varint(v)]);
const bytesField = (f: number, b: Buffer) => Buffer.concat([varint(BigInt((f << 3) | 2)), varint(BigInt(b.length)), b]);
function frame(type: number, data: Buffer): Buffer {
  const rec = Buffer.concat([field(1, BigInt(type)), field(2, 12345n), bytesField(3, data)]);
  const pad = (8 - (rec.length % 8)) % 8;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(rec.length) | (pad > 0 ? (BigInt(0x80 | pad) << 56n) : 0n));
  return Buffer.concat([len, rec, Buffer.alloc(pad)]);
}
const entry = (term: number, index: number) => frame(2, Buffer.concat([field(2, BigInt(term)), field(3, BigInt(index)), bytesField(4, Buffer.from('put'))]));
const hardState = (term: number, commit: number) => frame(3, Buffer.concat([field(1, BigInt(term)), field(2, 1n), field(3, BigInt(commit))]));

t.test('the WAL reader: last HardState commit and last entry index; the recovery source', async (t) => {
  const wal = Buffer.concat([frame(1, Buffer.from('metadata')), entry(1, 1), entry(1, 2), hardState(1, 2), entry(2, 3), hardState(2, 3), entry(2, 4), Buffer.alloc(64)]);
  const s: RaftState = { commit: 0n, term: 0n, lastIndex: 0n };
  scanWal(wal, s);
  t.same(s, { commit: 3n, term: 2n, lastIndex: 4n }, 'entry 4 is in the log, its commit not yet recorded');
  const torn: RaftState = { commit: 0n, term: 0n, lastIndex: 0n };
  scanWal(Buffer.concat([entry(1, 1), hardState(1, 1), entry(1, 2).subarray(0, 12)]), torn);
  t.same(torn, { commit: 1n, term: 1n, lastIndex: 1n }, 'a torn last frame ends the log');

  const dir = mkdtempSync(join(tmpdir(), 'shoal-etcd-wal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.throws(() => readRaftState(dir), { name: 'RecoveryError', message: /no etcd write-ahead log/ });
  const walDir = join(dir, 'member', 'wal');
  (await import('node:fs')).mkdirSync(walDir, { recursive: true });
  writeFileSync(join(walDir, '0000000000000000-0000000000000000.wal'), Buffer.concat([entry(1, 1), hardState(1, 1), Buffer.alloc(16)]));
  writeFileSync(join(walDir, '0000000000000001-0000000000000002.wal'), Buffer.concat([entry(1, 2), hardState(1, 2)]));
  t.same(readRaftState(dir), { commit: 2n, term: 1n, lastIndex: 2n }, 'files in order');

  const a = { n: 'a', state: { commit: 10n, term: 2n, lastIndex: 11n } };
  const b = { n: 'b', state: { commit: 12n, term: 2n, lastIndex: 12n } };
  const c = { n: 'c', state: { commit: 12n, term: 2n, lastIndex: 13n } };
  t.equal(pickRecoverySource([a, b, c]).n, 'c', 'highest commit, then the longer log');
  t.throws(() => pickRecoverySource([]), /no member data/);
});
