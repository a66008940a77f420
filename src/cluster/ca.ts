// The cluster's root CA and node certificates, as Swarm has them: a self-signed EC P-256 root made at
// `swarm init` (CN swarm-ca, 20 years), and node certificates it signs (CN = node ID, OU = role,
// O = cluster ID, 90 days, the node's address as subjectAltName). Node.js cannot write X.509, so the
// openssl command does the signing, working in a private temporary directory that is always removed.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caDigest } from './token.js';

export const CA_VALIDITY_DAYS = 20 * 365;
export const NODE_CERT_VALIDITY_DAYS = 90;

export type NodeRole = 'manager' | 'worker';

export interface CaFiles {
  certPem: string;
  keyPem: string;
}

export class CaError extends Error {
  override readonly name = 'CaError';
}

function openssl(args: string[], cwd: string, input?: string): string {
  try {
    return execFileSync('openssl', args, { cwd, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new CaError('the openssl command is missing: install the openssl package (apt-get install openssl)');
    throw new CaError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}

function withScratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ca-'));
  chmodSync(dir, 0o700);
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A new root CA. */
export function createCa(): CaFiles {
  return withScratch((dir) => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', String(CA_VALIDITY_DAYS), '-subj', '/CN=swarm-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'], dir);
    return { certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') };
  });
}

/** A new private key and a certificate signing request for it (the key stays with the caller). */
export function createKeyAndCsr(): { keyPem: string; csrPem: string } {
  return withScratch((dir) => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'node.key'], dir);
    openssl(['req', '-new', '-key', 'node.key', '-subj', '/CN=pending', '-out', 'node.csr'], dir);
    return { keyPem: readFileSync(join(dir, 'node.key'), 'utf8'), csrPem: readFileSync(join(dir, 'node.csr'), 'utf8') };
  });
}

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  /** The node's address, written as subjectAltName. */
  addr?: string;
}

/**
 * Signs a CSR as a node certificate. The subject comes from `id`, never from the CSR: a joiner
 * cannot name itself a manager or another node.
 */
export function signNodeCsr(ca: CaFiles, csrPem: string, id: NodeIdentity): string {
  if (!/^-----BEGIN CERTIFICATE REQUEST-----/.test(csrPem.trim())) throw new CaError('not a PEM certificate signing request');
  for (const [k, v] of [['node ID', id.nodeId], ['cluster ID', id.clusterId]] as const) {
    if (!/^[0-9a-z]+$/.test(v)) throw new CaError(`${k} '${v}' must be lowercase letters and digits`);
  }
  if (id.addr !== undefined && isIP(id.addr) === 0) throw new CaError(`'${id.addr}' is not an IP address`);
  return withScratch((dir) => {
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'node.csr'), csrPem);
    const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth,clientAuth'];
    if (id.addr) ext.push(`subjectAltName=IP:${id.addr}`);
    writeFileSync(join(dir, 'ext.cnf'), ext.join('\n') + '\n');
    return openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${BigInt(Date.now()).toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days', String(NODE_CERT_VALIDITY_DAYS), '-sha256', '-extfile', 'ext.cnf', '-subj', `/O=${id.clusterId}/OU=swarm-${id.role}/CN=${id.nodeId}`], dir);
  });
}

/** The digest a join token carries for this CA. */
export function caCertDigest(certPem: string): string {
  return caDigest(new X509Certificate(certPem).raw);
}

/** Saves CA or node material: certificate 0644, key 0600. */
export function saveCertAndKey(dir: string, name: string, files: CaFiles): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, `${name}.crt`), files.certPem, { mode: 0o644 });
  writeFileSync(join(dir, `${name}.key`), files.keyPem, { mode: 0o600 });
}

export function loadCertAndKey(dir: string, name: string): CaFiles | undefined {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (!existsSync(crt) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}
