// The joiner's side: connect to a manager's cluster port without trusting anything yet, check that
// what it presents is this cluster's (a CA whose digest is the token's, and a manager certificate
// signed by that CA and valid now) and only then send the token's secret, the node's name and
// address, and a CSR for a key made here that never leaves this node. The grant that comes back is
// checked too: the CA must be the token's and the certificate must be for our key, signed by it.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { createKeyAndCsrAsync } from './ca.js';
import {
  DEFAULT_JOIN_TIMEOUT_MS, encodeMessage, JoinError, readLine,
  type JoinGrant, type JoinRequest,
} from './join-protocol.js';
import { caDigest, parseToken } from './token.js';

export interface JoinOptions {
  /** The manager's address (IP or name) and cluster port, usually 2377. */
  host: string;
  port: number;
  /** SWMTKN-1-<CA digest>-<secret> */
  token: string;
  nodeName: string;
  /** This node's IP address as other nodes reach it. */
  advertiseAddr: string;
  /** The whole join (key, connection, answer) must finish within this; default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What joinCluster gives back: the grant and this node's new private key (PEM), to keep 0600. */
export type JoinResult = JoinGrant & { keyPem: string };

/**
 * Joins a cluster through one of its managers. Rejects with TokenError for a malformed token,
 * CaError when openssl cannot make this node's key, and JoinError for everything else (manager not
 * reachable or not this cluster's, token refused, timeout, abort).
 */
export async function joinCluster(o: JoinOptions): Promise<JoinResult> {
  const token = parseToken(o.token);
  const where = `${o.host}:${o.port}`;
  if (isIP(o.advertiseAddr) === 0) throw new JoinError(`advertise address '${o.advertiseAddr}' is not an IP address`);
  const timeoutMs = o.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;

  let sock: tls.TLSSocket | undefined;
  let cleanup = () => {};
  // Settles on timeout or abort; races with the work below, which stops at its next step.
  const stop = new Promise<never>((_, reject) => {
    const abort = () => reject(new JoinError(`the join through the manager at ${where} was aborted`));
    const timer = setTimeout(() => reject(new JoinError(`no answer from the manager at ${where} within ${timeoutMs} ms`)), timeoutMs);
    o.signal?.addEventListener('abort', abort, { once: true });
    cleanup = () => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', abort);
      sock?.destroy();
    };
    if (o.signal?.aborted) abort();
  });
  let stopped = false;
  stop.catch(() => (stopped = true));

  const work = async (): Promise<JoinResult> => {
    const { keyPem, csrPem } = await createKeyAndCsrAsync();
    if (stopped) throw new JoinError('stopped');
    sock = tls.connect({ host: o.host, port: o.port, rejectUnauthorized: false, minVersion: 'TLSv1.2', ...(isIP(o.host) ? {} : { servername: o.host }) });
    const s = sock;
    s.on('error', () => {}); // reported through the promises below
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('error', (err: Error) => reject(new JoinError(`cannot reach the manager at ${where}: ${err.message}`)));
      s.once('close', () => reject(new JoinError(`the manager at ${where} closed the connection during the TLS handshake`)));
    });

    // Nothing secret has been sent yet; it is sent only to a manager of the token's cluster.
    const problem = checkManagerChain(s, token.caDigest);
    if (problem) {
      s.destroy();
      throw new JoinError(`the manager at ${where} does not present this cluster's CA: the token belongs to another cluster, or someone is in the middle (${problem})`);
    }

    const reply = readLine(s);
    s.write(encodeMessage({ secret: token.secret, nodeName: o.nodeName, advertiseAddr: o.advertiseAddr, csr: csrPem } satisfies JoinRequest));
    let line: string;
    try {
      line = await reply;
    } catch (err) {
      throw new JoinError(`the manager at ${where} did not answer: ${(err as Error).message}`);
    }
    s.end();
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new JoinError(`the manager at ${where} sent a malformed reply`);
    }
    const r = parsed as { error?: unknown; grant?: unknown };
    if (typeof r?.error === 'string') throw new JoinError(r.error);
    const grant = checkGrant(r?.grant, token.caDigest, keyPem);
    if (typeof grant === 'string') throw new JoinError(`the manager at ${where} sent an unusable grant: ${grant}`);
    return { ...grant, keyPem };
  };

  try {
    return await Promise.race([work(), stop]);
  } finally {
    cleanup();
  }
}

/** Why the presented chain is not a manager of the cluster whose CA has this digest, or undefined. */
function checkManagerChain(sock: tls.TLSSocket, wantDigest: string): string | undefined {
  const leaf = sock.getPeerCertificate(true);
  if (!leaf?.raw) return 'it presents no certificate';
  let ca: X509Certificate | undefined;
  const seen = new Set<string>();
  for (let c: tls.DetailedPeerCertificate | undefined = leaf; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    if (caDigest(c.raw) === wantDigest) ca = new X509Certificate(c.raw);
  }
  if (!ca) return "no certificate in its chain has the token's CA digest";
  const cert = new X509Certificate(leaf.raw);
  // The TLS handshake proved the manager holds the key of `cert`; this proves the CA vouches for it.
  if (!cert.verify(ca.publicKey)) return "its certificate is not signed by the token's CA";
  const now = Date.now();
  for (const [what, c] of [['its certificate', cert], ["the cluster's CA certificate", ca]] as const) {
    if (now < Date.parse(c.validFrom)) return `${what} is not valid before ${c.validFrom}`;
    if (now > Date.parse(c.validTo)) return `${what} expired on ${c.validTo}`;
  }
  // Every node has a certificate from this CA; only a manager may take join secrets.
  if (cert.fingerprint256 !== ca.fingerprint256 && !cert.subject.split('\n').includes('OU=swarm-manager')) return 'its certificate is not a manager certificate (OU=swarm-manager)';
  return undefined;
}

/** The grant, checked, or why it cannot be used. */
function checkGrant(g: unknown, wantDigest: string, keyPem: string): JoinGrant | string {
  if (typeof g !== 'object' || g === null) return 'no grant';
  const x = g as Record<string, unknown>;
  if (x.role !== 'worker' && x.role !== 'manager') return 'no role';
  for (const k of ['nodeId', 'clusterId', 'caCert', 'nodeCert'] as const) if (typeof x[k] !== 'string' || x[k] === '') return `no ${k}`;
  for (const k of ['gossipKeys', 'peers'] as const) {
    if (!Array.isArray(x[k]) || !(x[k] as unknown[]).every((v) => typeof v === 'string')) return `${k} must be a list of strings`;
  }
  const raft = x.raft as Record<string, unknown> | undefined;
  if (typeof raft !== 'object' || raft === null || !Array.isArray(raft.endpoints) || !raft.endpoints.every((e) => typeof e === 'string' && /^https:\/\/\S+:\d+$/.test(e))) return 'raft.endpoints must be a list of https://ADDR:PORT';
  if (x.role === 'manager' && (typeof raft.initialCluster !== 'string' || raft.initialCluster === '')) return 'a manager grant needs raft.initialCluster';
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(x.caCert as string);
    cert = new X509Certificate(x.nodeCert as string);
  } catch {
    return 'its certificates do not parse';
  }
  if (caDigest(ca.raw) !== wantDigest) return "its CA is not the token's";
  if (!cert.verify(ca.publicKey)) return 'the node certificate is not signed by the CA';
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return "the node certificate is not for this node's key";
  return {
    role: x.role, nodeId: x.nodeId as string, clusterId: x.clusterId as string, caCert: x.caCert as string, nodeCert: x.nodeCert as string,
    gossipKeys: x.gossipKeys as string[], peers: x.peers as string[],
    raft: { endpoints: raft.endpoints as string[], ...(typeof raft.initialCluster === 'string' ? { initialCluster: raft.initialCluster } : {}) },
  };
}
