// The cluster's root CA and node certificates, as Swarm has them: a self-signed EC P-256 root made at
// `swarm init` (CN swarm-ca, 20 years), and node certificates it signs (CN = node ID, OU = role,
// O = cluster ID, 90 days, the node's address as subjectAltName). Node.js can read and verify X.509
// but not write it, so the openssl command does the key generation and signing, working in a private
// (0700) temporary directory that is always removed. Every operation exists in a synchronous form
// (init, tests) and an asynchronous one (the join server, which must not stall the event loop); both
// run the same steps, written once as a generator of openssl command lines.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caDigest } from './token.js';
import { writeFileDurably } from '../util/durable-file.js';

export const CA_VALIDITY_DAYS = 20 * 365;
export const NODE_CERT_VALIDITY_DAYS = 90;
export const CA_COMMON_NAME = 'swarm-ca';
/** Debian package that provides the openssl command (also listed in scripts/apt-packages). */
export const OPENSSL_PACKAGE = 'openssl';
const OPENSSL_TIMEOUT_MS = 30_000;

export type { NodeRole } from '../model/node.js';
import type { NodeRole } from '../model/node.js';

/** A certificate and its private key, both PEM. */
export interface CaFiles {
  certPem: string;
  keyPem: string;
}

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** The node's IP address, written as subjectAltName. */
  addr?: string;
  /**
   * Also the names the managers' etcd checks (src/etcd/): `DNS:<nodeId>`, `IP:127.0.0.1` (the agent
   * talks to its own member over loopback), and for a manager `DNS:swarm-manager.shoal`, the name
   * etcd's peer port demands (--peer-cert-allowed-hostname), so a worker certificate cannot act as a
   * Raft peer. Off by default, which keeps the address as the only SAN.
   */
  etcdNames?: boolean;
}

/** The DNS name every manager certificate carries and etcd's peer port requires. */
export const MANAGER_PEER_NAME = 'swarm-manager.shoal';

export class CaError extends Error {
  override readonly name = 'CaError';
}

// ---- running openssl -----------------------------------------------------------------------------

/** One step of an operation: openssl's arguments, answered with what it printed. */
interface Output { stdout: string; stderr: string }
type Steps<T> = Generator<string[], T, Output>;

function opensslError(args: readonly string[], err: { code?: string | number | null; message: string }, stderr: string): CaError {
  if (err.code === 'ENOENT') {
    return new CaError(`the openssl command is not installed, and shoal needs it to create and sign certificates: install the '${OPENSSL_PACKAGE}' package (apt-get install ${OPENSSL_PACKAGE})`);
  }
  const detail = (stderr.trim() || err.message).split('\n')[0];
  return new CaError(`openssl ${args[0]} failed: ${detail}`);
}

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ca-'));
  chmodSync(dir, 0o700);
  return dir;
}

function runSync<T>(make: (dir: string) => Steps<T>): T {
  const dir = scratchDir();
  try {
    const steps = make(dir);
    let next = steps.next();
    while (!next.done) {
      const args = next.value;
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: OPENSSL_TIMEOUT_MS });
      if (r.error) throw opensslError(args, r.error as NodeJS.ErrnoException, r.stderr ?? '');
      if (r.status !== 0) throw opensslError(args, { message: `exit status ${r.status ?? r.signal}` }, r.stderr);
      next = steps.next({ stdout: r.stdout, stderr: r.stderr });
    }
    return next.value;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runAsync<T>(make: (dir: string) => Steps<T>): Promise<T> {
  const dir = scratchDir();
  try {
    const steps = make(dir);
    let next = steps.next();
    while (!next.done) {
      const args = next.value;
      const out = await new Promise<Output>((resolve, reject) => {
        execFile('openssl', args, { cwd: dir, encoding: 'utf8', timeout: OPENSSL_TIMEOUT_MS }, (err, stdout, stderr) => {
          if (err) reject(opensslError(args, err, stderr));
          else resolve({ stdout, stderr });
        });
      });
      next = steps.next(out);
    }
    return next.value;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the operations ------------------------------------------------------------------------------

function* caSteps(dir: string): Steps<CaFiles> {
  yield ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'];
  yield ['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', String(CA_VALIDITY_DAYS), '-subj', `/CN=${CA_COMMON_NAME}`,
    '-set_serial', serial(),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'];
  return { certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') };
}

function* keyAndCsrSteps(dir: string): Steps<{ keyPem: string; csrPem: string }> {
  yield ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'node.key'];
  // The subject is a placeholder: the manager decides the real one when it signs.
  yield ['req', '-new', '-key', 'node.key', '-sha256', '-subj', '/CN=pending', '-out', 'node.csr'];
  return { keyPem: readFileSync(join(dir, 'node.key'), 'utf8'), csrPem: readFileSync(join(dir, 'node.csr'), 'utf8') };
}

function* verifyCsrSteps(dir: string, csrPem: string): Steps<void> {
  checkCsrShape(csrPem);
  writeFileSync(join(dir, 'node.csr'), csrPem);
  // openssl 3.0 exits 0 even when the self-signature is wrong: read what it says.
  const { stdout, stderr } = yield ['req', '-in', 'node.csr', '-noout', '-verify'];
  const said = stdout + stderr;
  if (!/verify OK/i.test(said) || /fail/i.test(said)) throw new CaError('the certificate signing request is not signed by the key it carries');
}

function* signSteps(dir: string, ca: CaFiles, csrPem: string, id: NodeIdentity): Steps<string> {
  checkCsrShape(csrPem);
  checkIdentity(id);
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'node.csr'), csrPem);
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
  ];
  const sans = subjectAltNames(id);
  if (sans.length > 0) ext.push(`subjectAltName=${sans.join(',')}`);
  writeFileSync(join(dir, 'ext.cnf'), ext.join('\n') + '\n');
  // `x509 -req` checks the request's self-signature (proof that the joiner holds the key) and fails
  // if it is wrong; the subject comes from `id`, never from the request.
  yield ['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial(),
    '-days', String(NODE_CERT_VALIDITY_DAYS), '-sha256', '-extfile', 'ext.cnf',
    '-subj', `/O=${id.clusterId}/OU=swarm-${id.role}/CN=${id.nodeId}`, '-out', 'node.crt'];
  return readFileSync(join(dir, 'node.crt'), 'utf8');
}

/** The subjectAltName entries of a node certificate, in openssl's syntax (e.g. `IP:10.0.0.1`). */
export function subjectAltNames(id: NodeIdentity): string[] {
  const sans: string[] = [];
  if (id.etcdNames) sans.push(`DNS:${id.nodeId}`);
  if (id.addr !== undefined) sans.push(`IP:${id.addr}`);
  if (id.etcdNames) {
    if (id.addr !== '127.0.0.1') sans.push('IP:127.0.0.1');
    if (id.role === 'manager') sans.push(`DNS:${MANAGER_PEER_NAME}`);
  }
  return sans;
}

/** A random positive 127-bit serial number, as RFC 5280 asks (unique, at most 20 octets). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return '0x' + b.toString('hex');
}

function checkCsrShape(csrPem: string): void {
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/.test(csrPem.trim() + '\n')) {
    throw new CaError('not a PEM certificate signing request');
  }
}

function checkIdentity(id: NodeIdentity): void {
  for (const [k, v] of [['node ID', id.nodeId], ['cluster ID', id.clusterId]] as const) {
    if (!/^[0-9a-z]{1,64}$/.test(v)) throw new CaError(`${k} '${v}' must be 1 to 64 lowercase letters and digits`);
  }
  if (id.role !== 'manager' && id.role !== 'worker') throw new CaError(`role '${String(id.role)}' must be manager or worker`);
  if (id.addr !== undefined && isIP(id.addr) === 0) throw new CaError(`'${id.addr}' is not an IP address`);
}

// ---- public API ----------------------------------------------------------------------------------

/** A new root CA: EC P-256 key, self-signed, CN swarm-ca, 20 years. */
export function createCa(): CaFiles {
  return runSync(caSteps);
}

export function createCaAsync(): Promise<CaFiles> {
  return runAsync(caSteps);
}

/** A new EC P-256 private key and a certificate signing request for it (the key stays with the caller). */
export function createKeyAndCsr(): { keyPem: string; csrPem: string } {
  return runSync(keyAndCsrSteps);
}

export function createKeyAndCsrAsync(): Promise<{ keyPem: string; csrPem: string }> {
  return runAsync(keyAndCsrSteps);
}

/**
 * Signs a CSR as a node certificate. The subject comes from `id`, never from the CSR: a joiner
 * cannot name itself a manager or another node.
 */
export function signNodeCsr(ca: CaFiles, csrPem: string, id: NodeIdentity): string {
  return runSync((dir) => signSteps(dir, ca, csrPem, id));
}

export function signNodeCsrAsync(ca: CaFiles, csrPem: string, id: NodeIdentity): Promise<string> {
  return runAsync((dir) => signSteps(dir, ca, csrPem, id));
}

/** Checks that a CSR parses and is signed by the key it carries (proof that its sender holds the
 * key); throws CaError if not. */
export function verifyCsr(csrPem: string): void {
  runSync((dir) => verifyCsrSteps(dir, csrPem));
}

export function verifyCsrAsync(csrPem: string): Promise<void> {
  return runAsync((dir) => verifyCsrSteps(dir, csrPem));
}

/** The digest a join token carries for this CA: base-36 SHA-256 of the certificate's DER. */
export function caCertDigest(certPem: string): string {
  return caDigest(new X509Certificate(certPem).raw);
}

/** Saves a certificate (`<name>.crt`, 0644) and its key (`<name>.key`, 0600) in `dir` (made 0700). */
export function saveCertAndKey(dir: string, name: string, files: CaFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileDurably(join(dir, `${name}.key`), files.keyPem, 0o600);
  writeFileDurably(join(dir, `${name}.crt`), files.certPem, 0o644);
}

/** Loads what saveCertAndKey wrote, or undefined when either file is missing. */
export function loadCertAndKey(dir: string, name: string): CaFiles | undefined {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(crt) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

