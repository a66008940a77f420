// The cluster CA: a root that signs node certificates whose subject the manager decides.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { caCertDigest, createCa, createKeyAndCsr, loadCertAndKey, saveCertAndKey, signNodeCsr } from '../../src/cluster/ca.js';

t.test('a root CA signs node certificates with the identity the manager gives', async (t) => {
  const ca = createCa();
  const root = new X509Certificate(ca.certPem);
  t.ok(root.ca, 'the root is a CA');
  t.equal(root.subject, 'CN=swarm-ca');
  t.ok(Date.parse(root.validTo) - Date.now() > 19 * 365 * 86400_000, 'valid for about 20 years');

  const { keyPem, csrPem } = createKeyAndCsr();
  t.match(keyPem, /BEGIN EC PRIVATE KEY/);
  const pem = signNodeCsr(ca, csrPem, { nodeId: 'n0de1d', role: 'manager', clusterId: 'c1u5ter', addr: '192.168.56.101' });
  const cert = new X509Certificate(pem);
  t.equal(cert.subject, 'O=c1u5ter\nOU=swarm-manager\nCN=n0de1d', 'subject from the manager, not from the CSR (which said CN=pending)');
  t.equal(cert.issuer, 'CN=swarm-ca');
  t.equal(cert.subjectAltName, 'IP Address:192.168.56.101');
  t.notOk(cert.ca, 'a node certificate is not a CA');
  t.ok(cert.verify(root.publicKey), 'signed by the root');
  t.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)), 'for the key the joiner kept');
  const days = (Date.parse(cert.validTo) - Date.now()) / 86400_000;
  t.ok(days > 89 && days <= 90.1, `valid for 90 days (${days.toFixed(1)})`);

  const other = createCa();
  t.notOk(cert.verify(new X509Certificate(other.certPem).publicKey), 'not signed by another CA');
  t.throws(() => signNodeCsr(ca, 'garbage', { nodeId: 'a', role: 'worker', clusterId: 'b' }), { message: /not a PEM certificate signing request/ });
  t.throws(() => signNodeCsr(ca, csrPem, { nodeId: 'a/../b', role: 'worker', clusterId: 'b' }), { message: /must be lowercase letters and digits/ });
});

t.test('CA material saves and loads; the digest is stable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ca-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = createCa();
  saveCertAndKey(dir, 'ca', ca);
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600, 'the key is private');
  const loaded = loadCertAndKey(dir, 'ca')!;
  t.equal(caCertDigest(loaded.certPem), caCertDigest(ca.certPem));
  t.match(caCertDigest(ca.certPem), /^[0-9a-z]{50}$/);
  t.equal(loadCertAndKey(dir, 'missing'), undefined);
});
