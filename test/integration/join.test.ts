// The join handshake over TLS on loopback: the right token gets the right role and a certificate;
// a wrong or rotated token is refused without admitting anything; a token from another cluster, or a
// man in the middle, is refused by the joiner before it sends a single byte; bad or slow requests
// never stop the server; the joiner gives up on a silent manager by timeout or abort.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { caCertDigest, createCa, createKeyAndCsr, signNodeCsr, type CaFiles } from '../../src/cluster/ca.js';
import { INVALID_TOKEN, joinCluster, JoinServer, type JoinAuthority } from '../../src/cluster/join.js';
import { formatToken, newSecret } from '../../src/cluster/token.js';

type Teardown = { teardown(fn: () => unknown): void };

interface Cluster {
  ca: CaFiles;
  server: JoinServer;
  port: number;
  secrets: { worker: string; manager: string };
  admitted: string[];
}

/** A manager's node certificate and key, signed by `ca`. */
function nodeCert(ca: CaFiles, role: 'manager' | 'worker', nodeId = 'mgr1'): CaFiles {
  const { keyPem, csrPem } = createKeyAndCsr();
  return { certPem: signNodeCsr(ca, csrPem, { nodeId, role, clusterId: 'clu1', addr: '127.0.0.1' }), keyPem };
}

/**
 * An impostor's certificate, signed by its own CA, for the subject of a manager of the cluster and
 * without an authority key identifier, so that TLS clients link it by name to any CA called swarm-ca,
 * the real one included.
 */
function forgedManagerCert(t: Teardown, evilCa: CaFiles): CaFiles {
  const dir = mkdtempSync(pathJoin(tmpdir(), 'shoal-join-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { keyPem, csrPem } = createKeyAndCsr();
  writeFileSync(pathJoin(dir, 'ca.crt'), evilCa.certPem);
  writeFileSync(pathJoin(dir, 'ca.key'), evilCa.keyPem, { mode: 0o600 });
  writeFileSync(pathJoin(dir, 'node.csr'), csrPem);
  writeFileSync(pathJoin(dir, 'ext'), 'basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n');
  const r = spawnSync('openssl', ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', '7', '-days', '1',
    '-extfile', 'ext', '-subj', '/O=clu1/OU=swarm-manager/CN=mgr1', '-out', 'node.crt'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return { certPem: readFileSync(pathJoin(dir, 'node.crt'), 'utf8'), keyPem };
}

async function startServer(t: Teardown, opts: { ca: CaFiles; node: CaFiles; authority: JoinAuthority; timeoutMs?: number }): Promise<{ server: JoinServer; port: number }> {
  const server = new JoinServer({ timeoutMs: 2000, ...opts });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { server, port };
}

async function cluster(t: Teardown, timeoutMs = 2000): Promise<Cluster> {
  const ca = createCa();
  const secrets = { worker: newSecret(), manager: newSecret() };
  const admitted: string[] = [];
  const authority: JoinAuthority = {
    currentSecrets: () => secrets,
    admit: async (req) => {
      admitted.push(`${req.nodeName}:${req.role}:${req.advertiseAddr}`);
      const raft = { endpoints: ['https://127.0.0.1:2379'], ...(req.role === 'manager' ? { initialCluster: 'm1=https://127.0.0.1:2380' } : {}) };
      return { nodeId: `id${admitted.length}`, clusterId: 'clu1', gossipKeys: ['cHJpbWFyeQ==', 'b2xk'], peers: ['127.0.0.1:7946'], raft };
    },
  };
  const { server, port } = await startServer(t, { ca, node: nodeCert(ca, 'manager'), authority, timeoutMs });
  return { ca, server, port, secrets, admitted };
}

const tokenFor = (c: Cluster, which: 'worker' | 'manager') => formatToken(caCertDigest(c.ca.certPem), c.secrets[which]);
const join = (port: number, token: string, nodeName = 'node2') =>
  joinCluster({ host: '127.0.0.1', port, token, nodeName, advertiseAddr: '192.168.56.102', timeoutMs: 5000 });

/** Sends raw bytes over TLS (trusting anything) and returns all the server sent until it closed. */
async function raw(t: Teardown, port: number, payload: string | ((s: tls.TLSSocket) => void)): Promise<{ reply: string; closedAfterMs: number }> {
  const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  t.teardown(() => s.destroy());
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
  const start = Date.now();
  let reply = '';
  s.on('data', (d: Buffer) => (reply += d.toString()));
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  if (typeof payload === 'string') s.write(payload);
  else payload(s);
  await closed;
  return { reply, closedAfterMs: Date.now() - start };
}

t.test('worker and manager tokens get their role, a node ID and a certificate from the cluster CA', async (t) => {
  const c = await cluster(t);
  const w = await join(c.port, tokenFor(c, 'worker'));
  t.match(w, { role: 'worker', nodeId: 'id1', clusterId: 'clu1', caCert: c.ca.certPem });
  t.same(w.gossipKeys, ['cHJpbWFyeQ==', 'b2xk'], 'the keyring, primary first');
  t.same(w.peers, ['127.0.0.1:7946'], 'the gossip peers');
  t.same(w.raft, { endpoints: ['https://127.0.0.1:2379'] }, "the managers' etcd endpoints, and no member to start for a worker");
  const ca = new X509Certificate(c.ca.certPem);
  const cert = new X509Certificate(w.nodeCert);
  t.ok(cert.verify(ca.publicKey), 'the certificate verifies against the CA');
  t.equal(cert.subject, 'O=clu1\nOU=swarm-worker\nCN=id1');
  t.equal(cert.subjectAltName, 'DNS:id1, IP Address:192.168.56.102, IP Address:127.0.0.1', 'for the advertise address, and the names etcd checks (its node ID, loopback)');
  t.ok(cert.checkPrivateKey(createPrivateKey(w.keyPem)), "it certifies the joiner's own key, which never left it");
  t.equal(caCertDigest(w.caCert), caCertDigest(c.ca.certPem));

  const m = await join(c.port, tokenFor(c, 'manager'), 'node3');
  t.equal(m.role, 'manager');
  t.equal(new X509Certificate(m.nodeCert).subject, 'O=clu1\nOU=swarm-manager\nCN=id2');
  t.same(c.admitted, ['node2:worker:192.168.56.102', 'node3:manager:192.168.56.102']);
  t.match(c.server.stats, { granted: 2, refused: 0, malformed: 0 });
});

t.test('a wrong secret is refused with a clear message and admit() is never called', async (t) => {
  const c = await cluster(t);
  await t.rejects(join(c.port, formatToken(caCertDigest(c.ca.certPem), newSecret())), { name: 'JoinError', message: INVALID_TOKEN });
  t.match(INVALID_TOKEN, /get a valid one with `shoal swarm join-token worker` on a manager/);
  t.same(c.admitted, [], 'nothing admitted');
  t.equal(c.server.stats.refused, 1);
});

t.test('after a rotation the old token is refused at once and the new one accepted', async (t) => {
  const c = await cluster(t);
  const oldWorker = tokenFor(c, 'worker');
  const oldManager = tokenFor(c, 'manager');
  c.secrets.worker = newSecret(); // `swarm join-token --rotate worker`: the authority answers differently from now on
  await t.rejects(join(c.port, oldWorker), { message: INVALID_TOKEN }, 'the rotated-away worker token stops working');
  t.equal((await join(c.port, tokenFor(c, 'worker'))).role, 'worker', 'the new worker token works');
  t.equal((await join(c.port, oldManager, 'node3')).role, 'manager', 'the manager token was not rotated');
  c.secrets.manager = newSecret();
  await t.rejects(join(c.port, oldManager), { message: INVALID_TOKEN }, 'until it is');
  t.same(c.admitted.map((a) => a.split(':')[1]), ['worker', 'manager'], 'only the valid joins were admitted');
});

t.test('a token of another cluster: the joiner refuses the manager before sending its secret', async (t) => {
  const c = await cluster(t);
  const otherCa = createCa();
  const foreign = formatToken(caCertDigest(otherCa.certPem), c.secrets.worker); // even with a valid secret
  await t.rejects(join(c.port, foreign), {
    name: 'JoinError',
    message: /^the manager at 127\.0\.0\.1:\d+ does not present this cluster's CA: the token belongs to another cluster, or someone is in the middle \(no certificate in its chain has the token's CA digest\)$/,
  });
  t.equal(c.server.stats.connections, 1, 'the joiner did connect');
  t.equal(c.server.stats.bytesReceived, 0, 'but the server received not one byte: no secret, no request');
  t.same(c.admitted, []);
});

t.test('a man in the middle showing the cluster CA, or a worker posing as a manager, gets nothing', async (t) => {
  const c = await cluster(t);
  const token = tokenFor(c, 'manager');
  const authority: JoinAuthority = { currentSecrets: () => c.secrets, admit: async () => t.fail('never admits') as never };

  // The CA certificate is public: an impostor can present it next to its own leaf, but cannot have
  // the CA sign that leaf.
  const evilCa = createCa();
  const mitm = await startServer(t, { ca: { certPem: c.ca.certPem, keyPem: evilCa.keyPem }, node: nodeCert(evilCa, 'manager'), authority });
  await t.rejects(join(mitm.port, token), { message: /does not present this cluster's CA: .*someone is in the middle \(no certificate in its chain has the token's CA digest\)/ },
    'a leaf naming its own CA: the real CA it shows is not in its chain');
  const forged = await startServer(t, { ca: { certPem: c.ca.certPem, keyPem: evilCa.keyPem }, node: forgedManagerCert(t, evilCa), authority });
  await t.rejects(join(forged.port, token), { message: /does not present this cluster's CA: .*someone is in the middle \(its certificate is not signed by the token's CA\)/ },
    'a leaf chained to the real CA by name: its signature does not verify');
  t.equal(mitm.server.stats.connections + forged.server.stats.connections, 2, 'the joiner connected to both');
  t.equal(mitm.server.stats.bytesReceived + forged.server.stats.bytesReceived, 0, 'and sent neither a single byte');

  // Every node holds a certificate of this CA; only a manager's may take join secrets.
  const worker = await startServer(t, { ca: c.ca, node: nodeCert(c.ca, 'worker', 'w1'), authority });
  await t.rejects(join(worker.port, token), { message: /\(its certificate is not a manager certificate \(OU=swarm-manager\)\)/ });
  t.equal(worker.server.stats.bytesReceived, 0, 'nothing sent to the worker');
});

t.test('malformed and oversized requests get an error reply; the server keeps serving', async (t) => {
  const c = await cluster(t);
  const { csrPem } = createKeyAndCsr();
  const req = (over: Record<string, unknown>) => JSON.stringify({ secret: c.secrets.worker, nodeName: 'n', advertiseAddr: '10.0.0.2', csr: csrPem, ...over }) + '\n';
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.indexOf('pending')] = 'q'.charCodeAt(0);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{oops\n', /malformed join request: not JSON/],
    ['not an object', '[1,2]\n', /malformed join request: not a JSON object/],
    ['null', 'null\n', /not a JSON object/],
    ['a missing field', '{"secret":"x"}\n', /'nodeName' must be a non-empty string/],
    ['a number for a string', req({ nodeName: 7 }), /'nodeName' must be a non-empty string/],
    ['a name with control characters', req({ nodeName: 'a\u0007b' }), /'nodeName' must be at most 255 printable characters/],
    ['an advertise address that is no IP', req({ advertiseAddr: 'node1' }), /advertise address 'node1' is not an IP address/],
    ['no PEM CSR', req({ csr: 'hello' }), /'csr' is not a PEM certificate signing request/],
    ['a tampered CSR (valid secret)', req({ csr: tampered }), /malformed join request: the certificate signing request is not signed by the key it carries/],
    ['an oversized line', 'x'.repeat(70_000), /join message larger than 65536 bytes/],
    ['an oversized valid JSON line', req({ nodeName: 'n'.repeat(66_000) }), /join message larger than 65536 bytes/],
  ];
  for (const [what, payload, error] of cases) {
    const { reply } = await raw(t, c.port, payload);
    t.match(JSON.parse(reply), { error }, what);
    t.equal((await join(c.port, tokenFor(c, 'worker'), `after-${c.admitted.length}`)).role, 'worker', `the server still serves after ${what}`);
  }
  t.equal(c.admitted.length, cases.length, 'admit() was only called for the good joins');
  t.equal(c.server.stats.malformed, cases.length);

  // A line of exactly the limit is read.
  const exact = '{"a":"' + 'x'.repeat(65536 - 9) + '"}\n';
  t.equal(Buffer.byteLength(exact), 65536);
  t.match(JSON.parse((await raw(t, c.port, exact)).reply), { error: /'secret' must be a non-empty string/ }, 'a 64 KiB line is accepted and parsed');
});

t.test('slow connections are closed; a failing authority is an error reply, not a crash', async (t) => {
  const c = await cluster(t, 400);
  const silent = await raw(t, c.port, () => {}); // handshake, then nothing
  t.equal(silent.reply, '', 'no reply to a client that says nothing');
  t.ok(silent.closedAfterMs >= 300 && silent.closedAfterMs < 2000, `closed after the read timeout (${silent.closedAfterMs} ms)`);

  const drip = await raw(t, c.port, (s) => {
    const timer = setInterval(() => s.writable && s.write('{'), 50); // a byte now and then
    s.once('close', () => clearInterval(timer));
  });
  t.ok(drip.closedAfterMs < 2000, `a trickle does not keep it open (${drip.closedAfterMs} ms)`);
  t.ok(c.server.stats.timedOut >= 2);

  const tcp = net.connect(c.port, '127.0.0.1'); // never starts TLS
  tcp.on('error', () => {});
  t.teardown(() => tcp.destroy());
  const tcpStart = Date.now();
  await new Promise((resolve) => tcp.once('close', resolve));
  t.ok(Date.now() - tcpStart < 2000, 'a connection that never completes the TLS handshake is closed too');

  const broken: JoinAuthority = { currentSecrets: () => { throw new Error('store not loaded'); }, admit: async () => t.fail('never admits') as never };
  const b = await startServer(t, { ca: c.ca, node: nodeCert(c.ca, 'manager'), authority: broken });
  await t.rejects(join(b.port, tokenFor(c, 'worker')), { message: /the manager cannot check join tokens right now: store not loaded/ });
  const failingAdmit: JoinAuthority = { currentSecrets: () => c.secrets, admit: async () => { throw new Error('not the leader'); } };
  const f = await startServer(t, { ca: c.ca, node: nodeCert(c.ca, 'manager'), authority: failingAdmit });
  await t.rejects(join(f.port, tokenFor(c, 'worker')), { message: /the manager could not admit this node: not the leader/ });
  t.equal((await join(f.port, tokenFor(c, 'worker')).catch((e: Error) => e.message)), 'the manager could not admit this node: not the leader', 'and again');
});

t.test('the joiner gives up on a manager that never answers, by timeout or abort', async (t) => {
  // A real manager of the cluster whose admit() never finishes: the joiner has sent its request.
  const c = await cluster(t);
  const hanging = await startServer(t, { ca: c.ca, node: nodeCert(c.ca, 'manager'), authority: { currentSecrets: () => c.secrets, admit: () => new Promise(() => {}) }, timeoutMs: 10_000 });
  const token = tokenFor(c, 'worker');
  const opts = { host: '127.0.0.1', port: hanging.port, token, nodeName: 'n', advertiseAddr: '127.0.0.1' };
  const start = Date.now();
  await t.rejects(joinCluster({ ...opts, timeoutMs: 500 }), { name: 'JoinError', message: /^no answer from the manager at 127\.0\.0\.1:\d+ within 500 ms$/ });
  t.ok(Date.now() - start < 2000, 'on time');

  const ac = new AbortController();
  const p = joinCluster({ ...opts, timeoutMs: 5000, signal: ac.signal });
  setTimeout(() => ac.abort(), 300);
  await t.rejects(p, { message: /^the join through the manager at 127\.0\.0\.1:\d+ was aborted$/ });
  await t.rejects(joinCluster({ ...opts, signal: AbortSignal.abort() }), { message: /was aborted/ }, 'an already aborted signal');

  // A TCP listener that never speaks TLS.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of sockets) s.destroy(); silent.close(); });
  const port = (silent.address() as net.AddressInfo).port;
  await t.rejects(joinCluster({ ...opts, port, timeoutMs: 300 }), { message: /no answer from the manager at 127\.0\.0\.1:\d+ within 300 ms/ });
  const ac2 = new AbortController();
  const p2 = joinCluster({ ...opts, port, timeoutMs: 5000, signal: ac2.signal });
  setTimeout(() => ac2.abort(), 100);
  await t.rejects(p2, { message: /was aborted/ });

  // Errors that need no manager.
  await t.rejects(joinCluster({ ...opts, token: 'SWMTKN-1-bad' }), { name: 'TokenError', message: /invalid join token/ }, 'a malformed token fails before connecting');
  await t.rejects(joinCluster({ ...opts, advertiseAddr: 'eth0' }), { message: /advertise address 'eth0' is not an IP address/ });
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await t.rejects(joinCluster({ ...opts, port: closedPort }), { message: /cannot reach the manager at 127\.0\.0\.1:\d+: connect ECONNREFUSED/ });
});

t.test('close() ends open connections', async (t) => {
  const c = await cluster(t, 10_000);
  const pending = raw(t, c.port, () => {});
  await new Promise((r) => setTimeout(r, 100));
  const start = Date.now();
  await c.server.close();
  const { closedAfterMs } = await pending;
  t.ok(Date.now() - start < 1000, 'close() does not wait for clients');
  t.ok(closedAfterMs < 2000, 'the open connection was closed');
  await c.server.close(); // twice is fine
});
