// The manager's side of the join: a TLS server on the cluster port presenting the manager's node
// certificate and the root CA (so a joiner can check them against its token before saying anything),
// that answers one request per connection. It keeps no cluster state: the current token secrets and
// the admission of a node come from the agent (JoinAuthority) on every request, so a rotated token
// stops working at once. It never lets a request stop it: a malformed, oversized or slow request gets
// an error reply or its connection closed, and the next connection is served.
import type net from 'node:net';
import tls from 'node:tls';
import { signNodeCsrAsync, verifyCsrAsync, type CaFiles, type NodeRole } from './ca.js';
import {
  DEFAULT_JOIN_TIMEOUT_MS, encodeMessage, INVALID_TOKEN, parseRequest, readLine,
  type JoinAuthority, type JoinReply, type JoinRequest,
} from './join-protocol.js';
import { secretsEqual } from './token.js';
import { whenListening } from '../util/listen.js';

export interface JoinServerOptions {
  /** The cluster's root CA: its certificate is presented, its key signs joiners' certificates. */
  ca: CaFiles;
  /** This manager's own certificate (signed by the CA, OU swarm-manager) and key. */
  node: CaFiles;
  authority: JoinAuthority;
  /** How long a client has to complete the TLS handshake and send its request. */
  timeoutMs?: number;
  /** Connections served at once; more are refused at accept. */
  maxConnections?: number;
  /** How long a joiner's certificate is valid (the cluster's --cert-expiry now); default the CA module's. */
  certValidityMs?: () => number;
}

export interface JoinServerStats {
  /** TCP connections accepted, whether or not TLS was completed. */
  connections: number;
  /** Bytes of request data received over all connections (after TLS). */
  bytesReceived: number;
  granted: number;
  refused: number;
  malformed: number;
  timedOut: number;
}

export class JoinServer {
  private readonly server: tls.Server;
  private readonly sockets = new Set<tls.TLSSocket>();
  /** Every TCP connection, including those still in the TLS handshake. */
  private readonly rawSockets = new Set<net.Socket>();
  private readonly timeoutMs: number;
  readonly stats: JoinServerStats = { connections: 0, bytesReceived: 0, granted: 0, refused: 0, malformed: 0, timedOut: 0 };

  constructor(private readonly opts: JoinServerOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
    this.server = tls.createServer({
      cert: opts.node.certPem.trim() + '\n' + opts.ca.certPem.trim() + '\n',
      key: opts.node.keyPem,
      minVersion: 'TLSv1.2',
      handshakeTimeout: this.timeoutMs,
    }, (sock) => this.serve(sock));
    this.server.maxConnections = opts.maxConnections ?? 64;
    this.server.on('connection', (raw: net.Socket) => {
      this.stats.connections++;
      this.rawSockets.add(raw);
      raw.on('close', () => this.rawSockets.delete(raw));
    });
    // A failed or timed-out handshake. Node reports a handshake timeout without closing the
    // connection, so close it here.
    this.server.on('tlsClientError', (_err, sock) => sock.destroy());
  }

  /** A renewed certificate of this manager: presented from the next handshake on. */
  useIdentity(node: CaFiles): void {
    this.server.setSecureContext({ cert: node.certPem.trim() + '\n' + this.opts.ca.certPem.trim() + '\n', key: node.keyPem, minVersion: 'TLSv1.2' });
  }

  /** Listens on host:port (port 0 for an ephemeral one) and resolves with the port. */
  async listen(port: number, host: string): Promise<number> {
    await whenListening(this.server, () => this.server.listen(port, host), () => {}); // after listening, errors are per connection
    return (this.server.address() as { port: number }).port;
  }

  /** Stops listening and closes every open connection. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      for (const s of this.rawSockets) s.destroy();
    });
  }

  private serve(sock: tls.TLSSocket): void {
    this.sockets.add(sock);
    // A deadline for the whole request, not an idle timer, so a byte now and then does not keep a
    // connection open.
    const deadline = setTimeout(() => {
      this.stats.timedOut++;
      sock.destroy();
    }, this.timeoutMs);
    sock.on('close', () => {
      clearTimeout(deadline);
      this.sockets.delete(sock);
    });
    sock.on('error', () => sock.destroy());
    sock.on('data', (c: Buffer) => (this.stats.bytesReceived += c.length));
    readLine(sock).then(
      async (line) => {
        clearTimeout(deadline);
        this.reply(sock, await this.answer(line));
      },
      (err: Error) => {
        clearTimeout(deadline);
        // Closed by the client or the deadline: no one to answer.
        if (sock.destroyed || sock.writableEnded) return;
        this.stats.malformed++;
        this.reply(sock, { error: err.message });
      },
    ).catch(() => sock.destroy());
  }

  private reply(sock: tls.TLSSocket, reply: JoinReply): void {
    if (sock.destroyed || sock.writableEnded) return;
    // Drain whatever else the client sends, so that closing does not reset the connection and lose
    // the reply; and do not wait for the client's own close for long.
    sock.resume();
    sock.end(encodeMessage(reply));
    setTimeout(() => sock.destroy(), this.timeoutMs).unref();
  }

  private async answer(line: string): Promise<JoinReply> {
    let req: JoinRequest;
    try {
      req = parseRequest(line);
    } catch (err) {
      this.stats.malformed++;
      return { error: (err as Error).message };
    }
    let role: NodeRole | undefined;
    try {
      role = this.roleFor(req.secret);
    } catch (err) {
      this.stats.refused++;
      return { error: `the manager cannot check join tokens right now: ${(err as Error).message}` };
    }
    if (!role) {
      this.stats.refused++;
      return { error: INVALID_TOKEN };
    }
    try {
      // Before admitting anything: the CSR must be signed by the key it carries.
      await verifyCsrAsync(req.csr);
    } catch (err) {
      this.stats.malformed++;
      return { error: `malformed join request: ${(err as Error).message}` };
    }
    try {
      const admission = await this.opts.authority.admit({ nodeName: req.nodeName, advertiseAddr: req.advertiseAddr, role });
      const nodeCert = await signNodeCsrAsync(this.opts.ca, req.csr, { nodeId: admission.nodeId, role, clusterId: admission.clusterId, addr: req.advertiseAddr, etcdNames: true,
        ...(this.opts.certValidityMs ? { validityMs: this.opts.certValidityMs() } : {}) });
      this.stats.granted++;
      return {
        grant: {
          role,
          nodeId: admission.nodeId,
          clusterId: admission.clusterId,
          caCert: this.opts.ca.certPem,
          nodeCert,
          gossipKeys: [...admission.gossipKeys],
          peers: [...admission.peers],
          raft: admission.raft,
        },
      };
    } catch (err) {
      this.stats.refused++;
      return { error: `the manager could not admit this node: ${(err as Error).message}` };
    }
  }

  /** The role the secret grants under the current tokens, compared in constant time. */
  private roleFor(secret: string): NodeRole | undefined {
    const current = this.opts.authority.currentSecrets();
    // Compare with both, always, so the time taken does not tell which one was close.
    const manager = current.manager !== '' && secretsEqual(secret, current.manager);
    const worker = current.worker !== '' && secretsEqual(secret, current.worker);
    return manager ? 'manager' : worker ? 'worker' : undefined;
  }
}
