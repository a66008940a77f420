// Joining a cluster over TLS on the cluster port (2377), the way a Swarm token works: the joiner
// checks that the manager presents the CA whose digest is in the token (so a token cannot be
// replayed to an impostor) before it sends the token's secret; the manager checks the secret
// against the current worker and manager secrets and answers with what the new node needs: its ID
// and role, the CA, a node certificate signed from the joiner's CSR (its key never leaves it), the
// gossip keyring and peers. One JSON line each way.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { createKeyAndCsr, signNodeCsr, type CaFiles, type NodeRole } from './ca.js';
import { caDigest, parseToken, secretsEqual } from './token.js';

export const MAX_JOIN_MESSAGE = 64 * 1024;

export interface JoinRequest {
  secret: string;
  nodeName: string;
  advertiseAddr: string;
  csr: string;
}

export interface Admission {
  nodeId: string;
  clusterId: string;
  /** Gossip encryption keys, base64, primary first. */
  gossipKeys: string[];
  /** Gossip addresses ("ip:port") to join. */
  peers: string[];
}

export interface JoinGrant extends Admission {
  role: NodeRole;
  caCert: string;
  nodeCert: string;
}

/** What the agent gives the join server: the current token secrets and a way to admit a node. */
export interface JoinAuthority {
  currentSecrets(): { worker: string; manager: string };
  admit(req: { nodeName: string; advertiseAddr: string; role: NodeRole }): Promise<Admission>;
}

export const INVALID_TOKEN = "invalid join token: it is not this cluster's current worker or manager token; print a valid one with `shoal swarm join-token worker` on a manager";

export class JoinError extends Error {
  override readonly name = 'JoinError';
}

export class JoinServer {
  private readonly server: tls.Server;
  readonly stats = { granted: 0, refused: 0, malformed: 0 };

  constructor(
    private readonly opts: { ca: CaFiles; node: CaFiles; authority: JoinAuthority; timeoutMs?: number },
  ) {
    this.server = tls.createServer({ cert: opts.node.certPem + opts.ca.certPem, key: opts.node.keyPem, minVersion: 'TLSv1.2' }, (sock) => this.serve(sock));
    this.server.on('tlsClientError', () => {});
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(sock: tls.TLSSocket): void {
    sock.setTimeout(this.opts.timeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    readLine(sock).then(
      async (line) => {
        const reply = await this.answer(line);
        sock.end(JSON.stringify(reply) + '\n');
      },
      (err: Error) => {
        this.stats.malformed++;
        sock.end(JSON.stringify({ error: err.message }) + '\n');
      },
    );
  }

  private async answer(line: string): Promise<{ error: string } | { grant: JoinGrant }> {
    let req: JoinRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      this.stats.malformed++;
      return { error: (err as Error).message };
    }
    const secrets = this.opts.authority.currentSecrets();
    const role: NodeRole | undefined = secretsEqual(req.secret, secrets.manager) ? 'manager' : secretsEqual(req.secret, secrets.worker) ? 'worker' : undefined;
    if (!role) {
      this.stats.refused++;
      return { error: INVALID_TOKEN };
    }
    try {
      const admission = await this.opts.authority.admit({ nodeName: req.nodeName, advertiseAddr: req.advertiseAddr, role });
      const nodeCert = signNodeCsr(this.opts.ca, req.csr, { nodeId: admission.nodeId, role, clusterId: admission.clusterId, addr: req.advertiseAddr });
      this.stats.granted++;
      return { grant: { ...admission, role, caCert: this.opts.ca.certPem, nodeCert } };
    } catch (err) {
      this.stats.refused++;
      return { error: `the manager could not admit this node: ${(err as Error).message}` };
    }
  }
}

function parseRequest(line: string): JoinRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new JoinError('malformed join request: not JSON');
  }
  const r = v as Partial<JoinRequest>;
  for (const k of ['secret', 'nodeName', 'advertiseAddr', 'csr'] as const) {
    if (typeof r?.[k] !== 'string' || r[k] === '') throw new JoinError(`malformed join request: '${k}' must be a non-empty string`);
  }
  return r as JoinRequest;
}

/** Reads one newline-terminated line of at most MAX_JOIN_MESSAGE bytes. */
function readLine(sock: tls.TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        cleanup();
        resolve(buf.slice(0, i));
      } else if (buf.length > MAX_JOIN_MESSAGE) {
        cleanup();
        reject(new JoinError(`join message larger than ${MAX_JOIN_MESSAGE} bytes`));
      }
    };
    const onEnd = () => { cleanup(); reject(new JoinError('the connection closed before a complete message')); };
    const cleanup = () => { sock.off('data', onData); sock.off('end', onEnd); };
    sock.on('data', onData);
    sock.on('end', onEnd);
  });
}

export interface JoinOptions {
  host: string;
  port: number;
  token: string;
  nodeName: string;
  advertiseAddr: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Joins through a manager: verifies it, proves the token, returns the grant and this node's new private key. */
export async function joinCluster(o: JoinOptions): Promise<JoinGrant & { keyPem: string }> {
  const token = parseToken(o.token);
  const where = `${o.host}:${o.port}`;
  const { keyPem, csrPem } = createKeyAndCsr();
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(new JoinError('join aborted'));
    const sock = tls.connect({ host: o.host, port: o.port, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    o.signal?.addEventListener('abort', () => fail(new JoinError('join aborted')), { once: true });
    const timer = setTimeout(() => fail(new JoinError(`no answer from the manager at ${where} within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    sock.on('error', (err: Error) => fail(new JoinError(`cannot reach the manager at ${where}: ${err.message}`)));
    sock.on('secureConnect', () => {
      const problem = checkManagerChain(sock, token.caDigest);
      if (problem) return fail(new JoinError(`the manager at ${where} does not present this cluster's CA (${problem}): the token belongs to another cluster, or someone is in the middle`));
      sock.write(JSON.stringify({ secret: token.secret, nodeName: o.nodeName, advertiseAddr: o.advertiseAddr, csr: csrPem } satisfies JoinRequest) + '\n');
      readLine(sock).then((line) => {
        if (settled) return;
        let reply: { error?: string; grant?: JoinGrant };
        try {
          reply = JSON.parse(line) as typeof reply;
        } catch {
          return fail(new JoinError(`the manager at ${where} sent a malformed reply`));
        }
        if (reply.error !== undefined) return fail(new JoinError(reply.error));
        if (!reply.grant) return fail(new JoinError(`the manager at ${where} sent no grant`));
        settled = true;
        clearTimeout(timer);
        sock.end();
        resolve({ ...reply.grant, keyPem });
      }, (err: Error) => fail(err));
    });
  });
}

/** Why the presented chain is not this cluster's, or undefined when it is. */
function checkManagerChain(sock: tls.TLSSocket, wantDigest: string): string | undefined {
  const leaf = sock.getPeerCertificate(true);
  if (!leaf || !leaf.raw) return 'no certificate';
  let ca: X509Certificate | undefined;
  const seen = new Set<string>();
  for (let c: tls.DetailedPeerCertificate | undefined = leaf; c && c.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    if (caDigest(c.raw) === wantDigest) ca = new X509Certificate(c.raw);
  }
  if (!ca) return 'no certificate in its chain matches the token';
  const cert = new X509Certificate(leaf.raw);
  if (!cert.verify(ca.publicKey)) return 'its certificate is not signed by that CA';
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return 'its certificate has expired or is not yet valid';
  return undefined;
}
