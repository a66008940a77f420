// The join handshake over TLS on loopback: the right token gets the right role and a certificate;
// a wrong or rotated token is refused without admitting anything; a token from another cluster is
// refused by the joiner before it reveals the secret; bad requests never stop the server.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { caCertDigest, createCa, createKeyAndCsr, signNodeCsr, type CaFiles } from '../../src/cluster/ca.js';
import { INVALID_TOKEN, joinCluster, JoinServer, type JoinAuthority } from '../../src/cluster/join.js';
import { formatToken, newSecret } from '../../src/cluster/token.js';

interface Cluster { ca: CaFiles; server: JoinServer; port: number; secrets: { worker: string; manager: string }; admitted: string[] }

async function cluster(t: { teardown(fn: () => unknown): void }): Promise<Cluster> {
  const ca = createCa();
  const { keyPem, csrPem } = createKeyAndCsr();
  const node = { certPem: signNodeCsr(ca, csrPem, { nodeId: 'mgr1', role: 'manager', clusterId: 'clu1', addr: '127.0.0.1' }), keyPem };
  const secrets = { worker: newSecret(), manager: newSecret() };
  const admitted: string[] = [];
  const authority: JoinAuthority = {
    currentSecrets: () => secrets,
    admit: async (req) => {
      admitted.push(`${req.nodeName}:${req.role}`);
      return { nodeId: `id${admitted.length}`, clusterId: 'clu1', gossipKeys: ['a2V5'], peers: ['127.0.0.1:7946'] };
    },
  };
  const server = new JoinServer({ ca, node, authority, timeoutMs: 2000 });
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  return { ca, server, port, secrets, admitted };
}

const tokenFor = (c: Cluster, which: 'worker' | 'manager') => formatToken(caCertDigest(c.ca.certPem), c.secrets[which]);
const join = (c: Cluster, token: string, nodeName = 'node2') => joinCluster({ host: '127.0.0.1', port: c.port, token, nodeName, advertiseAddr: '192.168.56.102', timeoutMs: 5000 });

t.test('worker and manager tokens get their role, a node ID and a certificate from the cluster CA', async (t) => {
  const c = await cluster(t);
  const w = await join(c, tokenFor(c, 'worker'));
  t.match(w, { role: 'worker', nodeId: 'id1', clusterId: 'clu1', gossipKeys: ['a2V5'], peers: ['127.0.0.1:7946'] });
  const cert = new X509Certificate(w.nodeCert);
  t.ok(cert.verify(new X509Certificate(c.ca.certPem).publicKey), 'the certificate verifies against the CA');
  t.equal(cert.subject, 'O=clu1\nOU=swarm-worker\nCN=id1');
  t.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(w.keyPem)), "it certifies the joiner's own key, which never left it");
  const m = await join(c, tokenFor(c, 'manager'), 'node3');
  t.equal(m.role, 'manager');
  t.same(c.admitted, ['node2:worker', 'node3:manager']);
});

t.test('a wrong or rotated secret is refused and nothing is admitted', async (t) => {
  const c = await cluster(t);
  await t.rejects(join(c, formatToken(caCertDigest(c.ca.certPem), newSecret())), { message: INVALID_TOKEN });
  const old = tokenFor(c, 'worker');
  c.secrets.worker = newSecret(); // `swarm join-token --rotate worker`
  await t.rejects(join(c, old), { message: /invalid join token/ }, 'the rotated-away token stops working at once');
  t.equal((await join(c, tokenFor(c, 'worker'))).role, 'worker', 'the new one works');
  t.same(c.admitted, ['node2:worker'], 'only the valid join was admitted');
  t.equal(c.server.stats.refused, 2);
});

t.test("a token of another cluster: the joiner refuses the manager before sending its secret", async (t) => {
  const c = await cluster(t);
  const otherCa = createCa();
  const foreign = formatToken(caCertDigest(otherCa.certPem), c.secrets.worker);
  const before = { ...c.server.stats };
  await t.rejects(join(c, foreign), { message: /does not present this cluster's CA .*no certificate in its chain matches the token/ });
  t.same(c.server.stats, before, 'the server never received a request: the secret was not sent');
  t.same(c.admitted, [], 'and nothing was admitted');
});

t.test('malformed and oversized requests get an error; the server keeps serving', async (t) => {
  const c = await cluster(t);
  const raw = async (payload: string) => {
    const s = tls.connect({ host: '127.0.0.1', port: c.port, rejectUnauthorized: false });
    await once(s, 'secureConnect');
    s.end(payload);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    await once(s, 'close');
    return out;
  };
  t.match(await raw('{oops\n'), /malformed join request: not JSON/);
  t.match(await raw('{"secret":"x"}\n'), /'nodeName' must be a non-empty string/);
  t.match(await raw('x'.repeat(70_000)), /join message larger than 65536 bytes/);
  t.equal(c.server.stats.malformed, 3);
  t.equal((await join(c, tokenFor(c, 'worker'))).role, 'worker', 'and the next good request succeeds');
});

t.test('the joiner gives up on a manager that never answers, by timeout or abort', async (t) => {
  const silent = net.createServer((s) => s.on('error', () => {})); // accepts TCP, never speaks TLS
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => { silent.close(); });
  const port = (silent.address() as net.AddressInfo).port;
  const token = formatToken('0'.repeat(50), newSecret());
  await t.rejects(joinCluster({ host: '127.0.0.1', port, token, nodeName: 'n', advertiseAddr: '127.0.0.1', timeoutMs: 300 }), { message: /no answer from the manager at 127\.0\.0\.1:\d+ within 300 ms/ });
  const ac = new AbortController();
  const p = joinCluster({ host: '127.0.0.1', port, token, nodeName: 'n', advertiseAddr: '127.0.0.1', timeoutMs: 5000, signal: ac.signal });
  setTimeout(() => ac.abort(), 100);
  await t.rejects(p, { message: 'join aborted' });
  await t.rejects(joinCluster({ host: '127.0.0.1', port, token: 'SWMTKN-1-bad', nodeName: 'n', advertiseAddr: '127.0.0.1' }), { message: /invalid join token/ }, 'a malformed token fails before connecting');
});
