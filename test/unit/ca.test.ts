// The cluster CA: a root that signs node certificates whose subject the manager decides; material
// saved with private keys 0600; openssl's scratch files never left behind; a clear error without it.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  caCertDigest, createCa, createCaAsync, createKeyAndCsr, createKeyAndCsrAsync, loadCertAndKey, saveCertAndKey,
  installCertAndKey, signNodeCsr, signNodeCsrAsync, subjectAltNames, validityWindow, verifyCsr, verifyCsrAsync,
} from '../../src/cluster/ca.js';

const DAY = 86400_000;

function tempDir(t: { teardown(fn: () => unknown): void }, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `shoal-ca-test-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `fn` with the environment variable `name` set to `value`, restoring it afterwards. */
async function withEnv<T>(name: string, value: string, fn: () => T | Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

t.test('the root CA: EC P-256, self-signed, CN swarm-ca, a CA, valid 20 years', async (t) => {
  const ca = createCa();
  const root = new X509Certificate(ca.certPem);
  t.equal(root.subject, 'CN=swarm-ca');
  t.equal(root.issuer, 'CN=swarm-ca', 'self-issued');
  t.ok(root.verify(root.publicKey), 'self-signed');
  t.ok(root.ca, 'basicConstraints CA:TRUE');
  t.equal(root.publicKey.asymmetricKeyType, 'ec');
  t.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.ok(root.checkPrivateKey(createPrivateKey(ca.keyPem)), 'the key belongs to the certificate');
  const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365 * DAY);
  t.ok(years > 19.9 && years < 20.1, `valid for 20 years (${years.toFixed(2)})`);
  t.ok(Date.parse(root.validFrom) <= Date.now(), 'valid from now');
  t.not(caCertDigest(ca.certPem), caCertDigest(createCa().certPem), 'every CA is new');
  t.not(new X509Certificate((await createCaAsync()).certPem).serialNumber, root.serialNumber, 'the async form works too, with its own serial');
});

t.test('node certificates: subject, issuer, SAN and validity come from the manager', async (t) => {
  const ca = createCa();
  const root = new X509Certificate(ca.certPem);
  const { keyPem, csrPem } = createKeyAndCsr();
  t.match(keyPem, /BEGIN EC PRIVATE KEY/);
  const cert = new X509Certificate(signNodeCsr(ca, csrPem, { nodeId: 'n0de1d', role: 'manager', clusterId: 'c1u5ter', addr: '192.168.56.101' }));
  t.equal(cert.subject, 'O=c1u5ter\nOU=swarm-manager\nCN=n0de1d', 'CN node ID, OU role, O cluster ID; not the CSR subject (CN=pending)');
  t.equal(cert.issuer, 'CN=swarm-ca');
  t.equal(cert.subjectAltName, 'IP Address:192.168.56.101');
  t.notOk(cert.ca, 'a node certificate is not a CA');
  t.ok(cert.verify(root.publicKey), 'it verifies against the root');
  t.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), 'for the key the joiner kept');
  t.ok(Date.parse(cert.validFrom) <= Date.now());
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY;
  t.equal(Math.round(days), 90, `valid for 90 days (${days.toFixed(2)})`);
  t.ok(Date.parse(cert.validTo) < Date.parse(root.validTo), 'expires before its CA');

  const other = createCa();
  t.notOk(cert.verify(new X509Certificate(other.certPem).publicKey), 'it does not verify against another CA');

  const csr2 = await createKeyAndCsrAsync();
  const worker = new X509Certificate(await signNodeCsrAsync(ca, csr2.csrPem, { nodeId: 'w0rker', role: 'worker', clusterId: 'c1u5ter', addr: 'fd00::2' }));
  t.equal(worker.subject, 'O=c1u5ter\nOU=swarm-worker\nCN=w0rker', 'the async form signs the same way');
  t.equal(worker.subjectAltName, 'IP Address:FD00:0:0:0:0:0:0:2', 'an IPv6 SAN');
  t.ok(worker.verify(root.publicKey));
  t.not(worker.serialNumber, cert.serialNumber, 'serial numbers are unique');
});

t.test('with etcdNames: the node ID, loopback, and for managers the name the etcd peer port demands', async (t) => {
  const ca = createCa();
  const { csrPem } = createKeyAndCsr();
  const manager = new X509Certificate(signNodeCsr(ca, csrPem, { nodeId: 'm1', role: 'manager', clusterId: 'c1', addr: '10.1.2.3', etcdNames: true }));
  t.equal(manager.subjectAltName, 'DNS:m1, IP Address:10.1.2.3, IP Address:127.0.0.1, DNS:swarm-manager.shoal');
  const worker = new X509Certificate(await signNodeCsrAsync(ca, csrPem, { nodeId: 'w1', role: 'worker', clusterId: 'c1', addr: '10.1.2.4', etcdNames: true }));
  t.equal(worker.subjectAltName, 'DNS:w1, IP Address:10.1.2.4, IP Address:127.0.0.1', 'a worker never gets the managers\' name');
  t.same(subjectAltNames({ nodeId: 'm1', role: 'manager', clusterId: 'c1', addr: '127.0.0.1', etcdNames: true }), ['DNS:m1', 'IP:127.0.0.1', 'DNS:swarm-manager.shoal'], 'loopback only once');
  t.same(subjectAltNames({ nodeId: 'm1', role: 'manager', clusterId: 'c1' }), [], 'without an address or etcdNames: none');
});

t.test('bad input is refused before openssl signs anything', async (t) => {
  const ca = createCa();
  const { csrPem } = createKeyAndCsr();
  const id = { nodeId: 'a', role: 'worker', clusterId: 'b' } as const;
  t.throws(() => signNodeCsr(ca, 'garbage', id), { name: 'CaError', message: /not a PEM certificate signing request/ });
  t.throws(() => signNodeCsr(ca, csrPem + '\n-----BEGIN CERTIFICATE REQUEST-----\n', id), { message: /not a PEM certificate signing request/ });
  t.throws(() => signNodeCsr(ca, csrPem, { ...id, nodeId: 'a/../b' }), { message: /node ID 'a\/\.\.\/b' must be 1 to 64 lowercase letters and digits/ });
  t.throws(() => signNodeCsr(ca, csrPem, { ...id, clusterId: 'X/CN=evil' }), { message: /cluster ID .* must be/ });
  t.throws(() => signNodeCsr(ca, csrPem, { ...id, role: 'admin' as 'worker' }), { message: /role 'admin' must be manager or worker/ });
  t.throws(() => signNodeCsr(ca, csrPem, { ...id, addr: 'node1.example' }), { message: /'node1.example' is not an IP address/ });
  await t.rejects(signNodeCsrAsync(ca, 'garbage', id), { message: /not a PEM certificate signing request/ });
});

t.test('a CSR must be signed by the key it carries', async (t) => {
  const ca = createCa();
  const { csrPem } = createKeyAndCsr();
  t.doesNotThrow(() => verifyCsr(csrPem));
  await t.resolves(verifyCsrAsync(csrPem));
  // Change one byte of the signed part (the placeholder subject "pending" becomes "qending").
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const at = der.indexOf('pending');
  t.ok(at > 0);
  der[at] = 'q'.charCodeAt(0);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.throws(() => verifyCsr(tampered), { message: /not signed by the key it carries/ });
  await t.rejects(verifyCsrAsync(tampered), { message: /not signed by the key it carries/ });
  t.throws(() => signNodeCsr(ca, tampered, { nodeId: 'a', role: 'worker', clusterId: 'b' }), { message: /openssl ca failed/, name: 'CaError' }, 'and openssl will not sign it');
  const junk = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('not DER at all').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.throws(() => verifyCsr(junk), { message: /openssl req failed/ });
});

t.test('CA material saves and loads; keys are 0600; the digest is stable', async (t) => {
  const dir = join(tempDir(t, 'save'), 'certs');
  const ca = createCa();
  saveCertAndKey(dir, 'ca', ca);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the directory is private');
  t.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600, 'the key is private');
  t.equal(statSync(join(dir, 'ca.crt')).mode & 0o777, 0o644, 'the certificate is public');
  const loaded = loadCertAndKey(dir, 'ca')!;
  t.same(loaded, ca, 'the same PEM comes back');
  t.equal(caCertDigest(loaded.certPem), caCertDigest(ca.certPem), 'the digest survives save and load');
  t.match(caCertDigest(ca.certPem), /^[0-9a-z]{50}$/);
  t.equal(caCertDigest(ca.certPem), caCertDigest(ca.certPem.replace(/\n/g, '\r\n')), 'it is over the DER, not the PEM text');

  // An existing key file with a wider mode is replaced, not rewritten in place.
  writeFileSync(join(dir, 'node.key'), 'old', { mode: 0o644 });
  writeFileSync(join(dir, 'node.crt'), 'old');
  const node = createCa();
  saveCertAndKey(dir, 'node', node);
  t.equal(statSync(join(dir, 'node.key')).mode & 0o777, 0o600, 'an overwritten key is 0600 too');
  t.same(loadCertAndKey(dir, 'node'), node);
  t.same(readdirSync(dir).sort(), ['ca.crt', 'ca.key', 'node.crt', 'node.key'], 'no temporary files left');

  t.equal(loadCertAndKey(dir, 'missing'), undefined);
  rmSync(join(dir, 'node.key'));
  t.equal(loadCertAndKey(dir, 'node'), undefined, 'a certificate without its key is not loaded');
});

t.test("openssl's working files go in a private directory that is always removed", async (t) => {
  const tmp = tempDir(t, 'tmp');
  await withEnv('TMPDIR', tmp, async () => {
    const ca = createCa();
    const { csrPem } = await createKeyAndCsrAsync();
    signNodeCsr(ca, csrPem, { nodeId: 'a', role: 'worker', clusterId: 'b' });
    t.throws(() => signNodeCsr(ca, csrPem.replace('MI', 'XX'), { nodeId: 'a', role: 'worker', clusterId: 'b' }), { name: 'CaError' });
  });
  t.same(readdirSync(tmp), [], 'nothing left after success or failure');
});

t.test('without openssl the error names the package to install', async (t) => {
  const empty = tempDir(t, 'nopath');
  mkdirSync(join(empty, 'bin'));
  await withEnv('PATH', join(empty, 'bin'), async () => {
    t.throws(() => createCa(), { name: 'CaError', message: /openssl command is not installed.*install the 'openssl' package \(apt-get install openssl\)/ });
    await t.rejects(createKeyAndCsrAsync(), { message: /install the 'openssl' package/ });
  });
});

t.test('validity to the second: --cert-expiry 1h gives a 1 h certificate, never past the CA, backdated 5 min', async (t) => {
  const ca = createCa();
  const { csrPem } = createKeyAndCsr();
  const start = Date.now();
  const cert = new X509Certificate(await signNodeCsrAsync(ca, csrPem, { nodeId: 'n1', role: 'worker', clusterId: 'c1', validityMs: 3600_000 }));
  const end = Date.parse(cert.validTo);
  t.ok(end >= Math.floor(start / 1000) * 1000 + 3600_000 && end <= Date.now() + 3600_000, `valid until signing time + 1 h (${cert.validTo})`);
  t.equal(Date.parse(cert.validFrom), validityWindow(start, 3600_000, new X509Certificate(ca.certPem)).notBefore, `from 5 min before (${cert.validFrom})`);
  const root = new X509Certificate(ca.certPem);
  const w = validityWindow(Date.parse('2026-12-01T00:00:00.400Z'), 90 * DAY + 1500, root);
  t.same(w, { notBefore: Date.parse('2026-11-30T23:55:00Z'), notAfter: Date.parse('2026-12-01T00:00:01Z') + 90 * DAY }, 'whole seconds');
  t.equal(validityWindow(Date.now(), 100 * 365 * DAY, root).notAfter, Date.parse(root.validTo), 'a validity past the CA\'s ends with the CA');
  t.throws(() => validityWindow(Date.now(), 0, root), { name: 'CaError', message: /positive duration/ });
});

t.test('a certificate and key replaced as a pair: a crash at any step leaves the old pair or the new one', async (t) => {
  const dir = join(tempDir(t, 'install'), 'certs');
  const old = { certPem: 'old cert', keyPem: 'old key' };
  const neu = { certPem: 'new cert', keyPem: 'new key' };
  saveCertAndKey(dir, 'node', old);
  installCertAndKey(dir, 'node', neu);
  t.same(loadCertAndKey(dir, 'node'), neu, 'replaced');
  t.same(readdirSync(dir).sort(), ['node.crt', 'node.key'], 'nothing else left');
  t.equal(statSync(join(dir, 'node.key')).mode & 0o777, 0o600, 'the key stays private');

  // Crash after the new key was written but before the new certificate: the old pair stays.
  saveCertAndKey(dir, 'node', old);
  writeFileSync(join(dir, 'node.next.key'), neu.keyPem, { mode: 0o600 });
  t.same(loadCertAndKey(dir, 'node'), old, 'a lone new key is dropped');
  t.same(readdirSync(dir).sort(), ['node.crt', 'node.key']);
  // Crash with both written, none renamed: the new pair is completed.
  writeFileSync(join(dir, 'node.next.key'), neu.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'node.next.crt'), neu.certPem);
  t.same(loadCertAndKey(dir, 'node'), neu, 'both written: the replacement is finished');
  // Crash between the two renames (the new key in place, the old certificate still there).
  saveCertAndKey(dir, 'node', old);
  writeFileSync(join(dir, 'node.key'), neu.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'node.next.crt'), neu.certPem);
  t.same(loadCertAndKey(dir, 'node'), neu, 'key renamed, certificate not yet: finished too');
  t.same(readdirSync(dir).sort(), ['node.crt', 'node.key']);
});
