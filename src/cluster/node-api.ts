// The node API: what one node asks of another directly. HTTPS on every node with mutual TLS: both
// sides present their node certificate, and each accepts only a peer whose certificate the cluster's
// root CA signed. Authorization comes from the cluster, not the certificate: the caller's node ID
// (its certificate's CN) must be in the node table now, and a manager for what only managers see (a
// promoted node keeps the certificate it joined with). Routes:
//   GET /tasks/{id}/logs?follow=1&tail=N  a task's logs as NDJSON lines (callers: managers), for
//                                         `service logs` when the task runs elsewhere
//   POST /certificate                     a CSR (PEM) in, a certificate for the caller out, signed by
//                                         this manager for the role the node table gives the caller:
//                                         a promoted node's manager certificate, renewals (any member)
import { drainedOrClosed } from '../util/backpressure.js';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { LogLine, LogOptions } from '../runtime/runtime.js';
import type { Logger } from '../util/log.js';
import { whenListening } from '../util/listen.js';
import type { CaFiles } from './ca.js';

/**
 * The longest line a node's log stream may send (one JSON-encoded log line): Docker splits container
 * output into lines of at most 16 KiB, so a line many times that is a broken or hostile peer.
 */
export const MAX_REMOTE_LOG_LINE = 1024 * 1024;

/** The node API's port: next to the cluster management port (2377). */
export const NODE_API_PORT = 2378;

/** The largest CSR the node API reads: a P-256 or RSA-4096 CSR is 1-4 KiB. */
export const MAX_CSR_BYTES = 16 * 1024;

export interface NodeApiHandlers {
  /** Is this node ID a manager now? */
  isManager(nodeId: string): boolean;
  /** Is this node ID in the swarm's node table now? */
  isMember(nodeId: string): boolean;
  /** A certificate for the caller's CSR (managers); throws an Error with code NOT_FOUND elsewhere. */
  signCertificate(nodeId: string, csrPem: string): Promise<string>;
  /** A local task's log lines; throws an Error with code NOT_FOUND when this node has no such task. */
  logs(taskId: string, opts: LogOptions): AsyncIterable<LogLine>;
}

export interface NodeIdentityFiles {
  /** The cluster's root CA certificate. */
  caCert: string;
  /** This node's certificate and key. */
  node: CaFiles;
}

/** The node ID a peer's certificate names (its CN). */
function peerNodeId(sock: TLSSocket): string | undefined {
  const cn = sock.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) ? cn[0] : undefined;
}

export class NodeApiServer {
  private readonly server: https.Server;

  constructor(
    files: NodeIdentityFiles,
    private readonly handlers: NodeApiHandlers,
    private readonly log: Logger,
  ) {
    this.server = https.createServer({ cert: files.node.certPem, key: files.node.keyPem, ca: [files.caCert], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => void this.handle(req, res));
    this.server.on('tlsClientError', (_err, sock) => sock.destroy());
  }

  /** A renewed certificate: presented from the next handshake on (connections open now keep theirs). */
  useIdentity(files: NodeIdentityFiles): void {
    this.server.setSecureContext({ cert: files.node.certPem, key: files.node.keyPem, ca: [files.caCert], minVersion: 'TLSv1.2' });
  }

  async listen(port: number, host: string): Promise<number> {
    await whenListening(this.server, () => this.server.listen(port, host), (err) => this.log.warn({ err }, 'node API server error'));
    return (this.server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const caller = peerNodeId(req.socket as TLSSocket);
    const url = new URL(req.url ?? '/', 'https://node');
    const m = /^\/tasks\/([0-9a-z]{25})\/logs$/.exec(url.pathname);
    const fail = (status: number, message: string) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ message })); };
    if (req.method === 'POST' && url.pathname === '/certificate') {
      if (!caller || !this.handlers.isMember(caller)) return fail(403, `node ${caller ?? '(unnamed)'} is not in this swarm`);
      let csr = '';
      for await (const c of req) {
        csr += String(c);
        if (csr.length > MAX_CSR_BYTES) return fail(413, `a CSR is at most ${MAX_CSR_BYTES} bytes`);
      }
      try {
        const cert = await this.handlers.signCertificate(caller, csr);
        res.writeHead(200, { 'Content-Type': 'application/x-pem-file' });
        return void res.end(cert);
      } catch (err) {
        return fail((err as { code?: string }).code === 'NOT_FOUND' ? 404 : 400, (err as Error).message);
      }
    }
    if (!caller || !this.handlers.isManager(caller)) return fail(403, `node ${caller ?? '(unnamed)'} is not a manager: only managers read other nodes' task logs`);
    if (req.method !== 'GET' || !m) return fail(404, 'no such node API route');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const tail = url.searchParams.get('tail');
    const opts: LogOptions = { follow: url.searchParams.get('follow') === '1', signal: abort.signal, ...(tail ? { tail: Number(tail) } : {}) };
    try {
      const lines = this.handlers.logs(m[1]!, opts)[Symbol.asyncIterator]();
      const first = await lines.next();
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      if (!first.done) res.write(JSON.stringify(first.value) + '\n');
      for (let r = first; !r.done; ) {
        r = await lines.next();
        if (!r.done && !res.write(JSON.stringify(r.value) + '\n') && !(await drainedOrClosed(res))) {
          await lines.return?.(); // the caller went away: stop reading the logs
          break;
        }
      }
      res.end();
    } catch (err) {
      if (res.headersSent) return void res.destroy();
      const code = (err as { code?: string }).code;
      fail(code === 'NOT_FOUND' ? 404 : 500, (err as Error).message);
      if (code !== 'NOT_FOUND') this.log.warn({ err: (err as Error).message }, 'node API request failed');
    }
  }
}

/** Reads a task's log lines from the node that runs it, as this node (its certificate), checking the peer is that node. */
export async function* remoteLogs(files: NodeIdentityFiles, target: { nodeId: string; addr: string; port?: number }, taskId: string, opts: LogOptions): AsyncGenerator<LogLine> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.request({
      host: target.addr, port: target.port ?? NODE_API_PORT, method: 'GET',
      path: `/tasks/${taskId}/logs?follow=${opts.follow ? 1 : 0}${opts.tail !== undefined ? `&tail=${opts.tail}` : ''}`,
      cert: files.node.certPem, key: files.node.keyPem, ca: [files.caCert], minVersion: 'TLSv1.2',
      // The certificate must be the cluster's and name the node we mean to ask.
      checkServerIdentity: (_host, cert) => (cert.subject?.CN === target.nodeId ? undefined : new Error(`node API at ${target.addr} presented ${String(cert.subject?.CN)}, not ${target.nodeId}`)),
      ...(opts.signal ? { signal: opts.signal } : {}),
    }, resolve);
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    let body = '';
    for await (const c of res) body += String(c);
    let message = body;
    try { message = (JSON.parse(body) as { message: string }).message; } catch { /* keep the text */ }
    throw Object.assign(new Error(`node ${target.nodeId}: ${message}`), { code: res.statusCode === 404 ? 'NOT_FOUND' : 'FAILED' });
  }
  let rest = '';
  for await (const chunk of res) {
    rest += String(chunk);
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    if (rest.length > MAX_REMOTE_LOG_LINE) {
      res.destroy();
      throw Object.assign(new Error(`node ${target.nodeId} sent a log line of more than ${MAX_REMOTE_LOG_LINE} bytes without an end: stopped reading its logs`), { code: 'FAILED' });
    }
    for (const l of lines) if (l) yield JSON.parse(l) as LogLine;
  }
}

/** Asks a manager to sign this node's CSR (over mutual TLS with its current certificate); the new certificate, PEM. */
export async function requestCertificate(files: NodeIdentityFiles, target: { nodeId: string; addr: string; port?: number }, csrPem: string, timeoutMs: number): Promise<string> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = https.request({
      host: target.addr, port: target.port ?? NODE_API_PORT, method: 'POST', path: '/certificate', timeout: timeoutMs,
      cert: files.node.certPem, key: files.node.keyPem, ca: [files.caCert], minVersion: 'TLSv1.2',
      checkServerIdentity: (_host, cert) => (cert.subject?.CN === target.nodeId ? undefined : new Error(`node API at ${target.addr} presented ${String(cert.subject?.CN)}, not ${target.nodeId}`)),
    }, resolve);
    req.on('timeout', () => req.destroy(new Error(`node ${target.nodeId} at ${target.addr} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(csrPem);
  });
  let body = '';
  for await (const c of res) body += String(c);
  if (res.statusCode !== 200) {
    let message = body;
    try { message = (JSON.parse(body) as { message: string }).message; } catch { /* keep the text */ }
    throw new Error(`node ${target.nodeId}: ${message}`);
  }
  return body;
}
