// A renewed certificate reaches running etcd clients: with a ReloadableIdentity, each new connection
// presents the certificate of the moment, without rebuilding the client. A TLS listener on loopback
// stands in for etcd's (it asks for and checks the client certificate as etcd does, records the one
// presented, then drops the connection so the next call must open a new one).
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import t from 'tap';
import { createCa, createKeyAndCsr, signNodeCsr } from '../../src/cluster/ca.js';
import { createEtcdClient, ReloadableIdentity } from '../../src/etcd/client.js';

t.test('each new connection presents the identity\'s current certificate', async (t) => {
  const ca = createCa();
  const issue = (nodeId: string, addr?: string) => {
    const { keyPem, csrPem } = createKeyAndCsr();
    return { certPem: signNodeCsr(ca, csrPem, { nodeId, role: 'manager', clusterId: 'c1', ...(addr ? { addr } : {}), etcdNames: true }), keyPem };
  };
  const server = issue('etcd1', '127.0.0.1');
  const first = issue('node1');
  const renewed = issue('node1');
  const seen: string[] = [];
  const listener = tls.createServer({ cert: server.certPem, key: server.keyPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] }, (sock) => {
    seen.push(sock.getPeerCertificate().serialNumber);
    sock.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => listener.close(() => r())));
  const port = (listener.address() as { port: number }).port;

  const identity = new ReloadableIdentity({ caPem: ca.certPem, ...first });
  const client = createEtcdClient({ endpoints: [`https://127.0.0.1:${port}`], tls: { caPem: ca.certPem, certPem: 'unused', keyPem: 'unused', identity }, callDeadlineMs: 2_000 });
  t.teardown(() => client.close());
  const serial = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase();
  const until = async (want: string) => {
    for (let i = 0; i < 20 && !seen.map((s) => s.toUpperCase()).includes(want); i++) await client.get('k').string().catch(() => undefined);
  };
  await until(serial(first.certPem));
  t.ok(seen.map((s) => s.toUpperCase()).includes(serial(first.certPem)), 'the first certificate is presented');
  identity.update(renewed.certPem, renewed.keyPem);
  t.equal(identity.certPem, renewed.certPem);
  const before = seen.length;
  await until(serial(renewed.certPem));
  const after = seen.slice(before).map((s) => s.toUpperCase());
  t.ok(after.includes(serial(renewed.certPem)), 'after update(), a new connection presents the renewed certificate');
  t.notOk(after.includes(serial(first.certPem)), 'and never the old one again');
});
