// The cluster's root CA and node certificates, as Swarm has them: a self-signed EC P-256 root made at
// `swarm init` (CN swarm-ca, 20 years), and node certificates it signs (CN = node ID, OU = role,
// O = cluster ID, the node's address as subjectAltName, valid for the cluster's --cert-expiry: 90
// days unless `swarm init|update --cert-expiry` said otherwise). Node.js can read and verify X.509
// but not write it, so the openssl command does the key generation and signing, working in a private
// (0700) temporary directory that is always removed. Every operation exists in a synchronous form
// (init, tests) and an asynchronous one (the join server, which must not stall the event loop); both
// run the same steps, written once as a generator of openssl command lines.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caDigest } from './token.js';
import { syncDirectory, writeFileDurably } from '../util/durable-file.js';

export const CA_VALIDITY_DAYS = 20 * 365;
/** The default validity of node certificates (Docker's --cert-expiry 2160h0m0s); the cluster's settings may say otherwise. */
export const NODE_CERT_VALIDITY_DAYS = DEFAULT_NODE_CERT_EXPIRY_MS / 86400_000;
/**
 * How far before the moment of signing a node certificate's notBefore is set: a node whose clock is
 * a little behind the signer's must not find its new certificate "not yet valid" (swarmkit backdates
 * by an hour; a few minutes covers NTP-synchronised machines and keeps a 1 h certificate mostly
 * forward-looking).
 */
export const CERT_BACKDATE_MS = 5 * 60_000;
export const CA_COMMON_NAME = 'swarm-ca';
/** Debian package that provides the openssl command (also listed in scripts/apt-packages). */
export const OPENSSL_PACKAGE = 'openssl';
const OPENSSL_TIMEOUT_MS = 30_000;

export type { NodeRole } from '../model/node.js';
import type { NodeRole } from '../model/node.js';
import { DEFAULT_NODE_CERT_EXPIRY_MS } from '../model/cluster.js';

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
  /** How long the certificate is valid from the moment it is signed (default: DEFAULT_NODE_CERT_EXPIRY_MS);
   * never past the CA's own expiry. */
  validityMs?: number;
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
  // `openssl ca` rather than `x509 -req`: it takes the validity as two instants (to the second), where
  // x509 in openssl 3.0 counts whole days, and a --cert-expiry of 1h must give a 1 h certificate. Its
  // database, serial file and policy live in the scratch directory; the policy keeps every field of
  // the subject we give (-subj, -preserveDN), never the request's. It also refuses a request whose
  // self-signature is wrong (proof that the caller holds the key).
  writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), serial().slice(2) + '\n');
  const { notBefore, notAfter } = validityWindow(Date.now(), id.validityMs ?? DEFAULT_NODE_CERT_EXPIRY_MS, new X509Certificate(ca.certPem));
  const { stderr } = yield ['ca', '-batch', '-config', 'ca.cnf', '-in', 'node.csr', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-notext',
    '-subj', `/O=${id.clusterId}/OU=swarm-${id.role}/CN=${id.nodeId}`, '-preserveDN',
    '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-extfile', 'ext.cnf', '-out', 'node.crt'];
  // openssl 3.0's `ca` exits 0 even when it refuses a request (a bad self-signature): no certificate then.
  const out = join(dir, 'node.crt');
  const pem = existsSync(out) ? readFileSync(out, 'utf8') : '';
  if (!pem.includes('BEGIN CERTIFICATE')) {
    const why = stderr.split('\n').find((l) => /did not match|error|unable|fail/i.test(l)) ?? 'no certificate was written';
    throw new CaError(`openssl ca failed: ${why.trim()}`);
  }
  return pem;
}

/** A private `openssl ca` configuration: every file in the scratch directory, no defaults from the system's. */
const CA_CONFIG = [
  '[ ca ]', 'default_ca = shoal',
  '[ shoal ]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'default_md = sha256',
  'policy = node_policy', 'unique_subject = no', 'email_in_dn = no', 'copy_extensions = none',
  '[ node_policy ]', 'organizationName = supplied', 'organizationalUnitName = supplied', 'commonName = supplied',
].join('\n') + '\n';

/**
 * A node certificate's validity: from a little before `now` (CERT_BACKDATE_MS, for clocks behind the
 * signer's) until `now + validityMs`, but never past the CA's own notAfter. Whole seconds, as X.509
 * times are.
 */
export function validityWindow(now: number, validityMs: number, ca: X509Certificate): { notBefore: number; notAfter: number } {
  if (!Number.isFinite(validityMs) || validityMs <= 0) throw new CaError(`a certificate's validity must be a positive duration, not ${validityMs} ms`);
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;
  const notAfter = second(Math.min(now + validityMs, Date.parse(ca.validTo)));
  return { notBefore: second(now - CERT_BACKDATE_MS), notAfter };
}

/** An instant as openssl's -startdate/-enddate take it: GeneralizedTime YYYYMMDDHHMMSSZ (UTC). */
function asn1Time(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
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

/**
 * Replaces a certificate and its key as a pair, so that a crash at any moment leaves either the old
 * pair or the new one (never a new key beside the old certificate): both are first written durably
 * as `<name>.next.key` and `<name>.next.crt` (key first), then renamed over the old ones (key first).
 * loadCertAndKey finishes a replacement a crash interrupted: a `.next.crt` means the pair was
 * complete; a lone `.next.key` means it was not, and is dropped. Readers of the files (etcd reads
 * them at each handshake) may, for the microseconds between the two renames, see the new key with
 * the old certificate: that one handshake fails and is retried.
 */
export function installCertAndKey(dir: string, name: string, files: CaFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileDurably(join(dir, `${name}.next.key`), files.keyPem, 0o600);
  writeFileDurably(join(dir, `${name}.next.crt`), files.certPem, 0o644);
  finishInstall(dir, name);
}

/** Completes an interrupted installCertAndKey (see there), or drops its incomplete half. */
function finishInstall(dir: string, name: string): void {
  const nextKey = join(dir, `${name}.next.key`);
  const nextCrt = join(dir, `${name}.next.crt`);
  if (!existsSync(nextCrt)) {
    if (existsSync(nextKey)) rmSync(nextKey, { force: true });
    return;
  }
  if (existsSync(nextKey)) renameSync(nextKey, join(dir, `${name}.key`));
  renameSync(nextCrt, join(dir, `${name}.crt`));
  syncDirectory(dir);
}

/** Loads what saveCertAndKey or installCertAndKey wrote, or undefined when either file is missing. */
export function loadCertAndKey(dir: string, name: string): CaFiles | undefined {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (existsSync(dir)) finishInstall(dir, name);
  if (!existsSync(crt) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
