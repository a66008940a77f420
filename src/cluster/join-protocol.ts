// The join protocol on the cluster port (2377), shared by the server (join-server.ts) and the client
// (join-client.ts). Over TLS, one request and one reply per connection, each one line of JSON of at
// most 64 KiB:
//   joiner -> manager  {"secret", "nodeName", "advertiseAddr", "csr"}       (only after the joiner
//                      has checked the manager's chain against the token's CA digest)
//   manager -> joiner  {"grant": {role, nodeId, clusterId, caCert, nodeCert, gossipKeys, peers}}
//                      or {"error": "..."}
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NodeRole } from './ca.js';

export const JOIN_PORT = 2377;
/** Largest request or reply line, newline included. */
export const MAX_JOIN_MESSAGE = 64 * 1024;
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;

export const INVALID_TOKEN = "invalid join token: it is not this cluster's current worker or manager token; get a valid one with `shoal swarm join-token worker` on a manager";

export class JoinError extends Error {
  override readonly name = 'JoinError';
}

export interface JoinRequest {
  /** The token's secret: sent only to a manager that proved it holds this cluster's CA. */
  secret: string;
  nodeName: string;
  /** The joiner's IP address, as other nodes reach it; written in its certificate. */
  advertiseAddr: string;
  /** PEM certificate signing request for a key the joiner keeps. */
  csr: string;
}

/** What the server asks the agent to admit: the role is the one the secret grants. */
export interface AdmitRequest {
  nodeName: string;
  advertiseAddr: string;
  role: NodeRole;
}

/** What the agent answers when it admits a node. */
export interface Admission {
  nodeId: string;
  clusterId: string;
  /** Gossip encryption keys, base64, primary first. */
  gossipKeys: string[];
  /** Gossip addresses ("ip:port") to join. */
  peers: string[];
  /** The managers' Raft store: their client URLs, and for a joining manager the --initial-cluster its
   * member starts with (it was added as a learner). */
  raft: { endpoints: string[]; initialCluster?: string };
}
export type AdmitResult = Admission;

/** Everything the joiner receives. */
export interface JoinGrant extends Admission {
  role: NodeRole;
  /** The cluster's root CA certificate, PEM (its digest is the token's). */
  caCert: string;
  /** The joiner's certificate, PEM, signed by that CA for the key of its CSR. */
  nodeCert: string;
}

/**
 * What the agent gives the join server; the server keeps no cluster state of its own. Both are asked
 * on every request, so a token rotation takes effect at once.
 */
export interface JoinAuthority {
  currentSecrets(): { worker: string; manager: string };
  admit(req: AdmitRequest): Promise<Admission>;
}

export type JoinReply = { grant: JoinGrant } | { error: string };

export function encodeMessage(m: JoinRequest | JoinReply): string {
  return JSON.stringify(m) + '\n';
}

const PEM_CSR = /^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\r?\n?$/;

/** Parses and checks a request line; throws JoinError saying what is wrong. */
export function parseRequest(line: string): JoinRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new JoinError('malformed join request: not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JoinError('malformed join request: not a JSON object');
  const r = v as Record<string, unknown>;
  for (const k of ['secret', 'nodeName', 'advertiseAddr', 'csr'] as const) {
    if (typeof r[k] !== 'string' || r[k] === '') throw new JoinError(`malformed join request: '${k}' must be a non-empty string`);
  }
  const req = { secret: r.secret, nodeName: r.nodeName, advertiseAddr: r.advertiseAddr, csr: r.csr } as JoinRequest;
  if (req.nodeName.length > 255 || /[\u0000-\u001f\u007f]/.test(req.nodeName)) {
    throw new JoinError("malformed join request: 'nodeName' must be at most 255 printable characters");
  }
  if (isIP(req.advertiseAddr) === 0) throw new JoinError(`malformed join request: advertise address '${req.advertiseAddr.slice(0, 64)}' is not an IP address`);
  if (!PEM_CSR.test(req.csr)) throw new JoinError("malformed join request: 'csr' is not a PEM certificate signing request");
  return req;
}

/**
 * Reads one newline-terminated line of at most `max` bytes (newline included) from a stream, and
 * stops listening once it has it. Rejects with JoinError when the line is too long or the stream
 * ends, closes or fails first.
 */
export function readLine(stream: Duplex, max = MAX_JOIN_MESSAGE): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (fn: () => void) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      fn();
    };
    const onData = (c: Buffer) => {
      const nl = c.indexOf(0x0a);
      const take = nl >= 0 ? nl + 1 : c.length;
      if (size + take > max) return done(() => reject(new JoinError(`join message larger than ${max} bytes`)));
      chunks.push(c.subarray(0, take));
      size += take;
      if (nl >= 0) {
        // Anything after the newline breaks the one-message rule and is ignored.
        done(() => resolve(Buffer.concat(chunks, size - 1).toString('utf8')));
      }
    };
    const onEnd = () => done(() => reject(new JoinError('the connection closed before a complete message')));
    const onError = (err: Error) => done(() => reject(new JoinError(`connection failed: ${err.message}`)));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onError);
  });
}
