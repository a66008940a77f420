// etcd3 clients the way shoal needs them: mutual TLS with a node certificate (etcd takes the user from
// its CN, so no password or token is sent), several endpoints, the `hasleader` metadata and a per-call
// deadline so that calls fail in milliseconds when the cluster has no leader instead of hanging 7 s,
// and fault handling without etcd3's circuit breaker (which turns a few failures into "circuit breaker
// is open" for 5 s). Plus the classification of etcd errors into what a caller can act on, with
// Docker's message for a swarm that has lost its quorum.
import * as grpc from '@grpc/grpc-js';
import { ConstantBackoff, handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3, EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError, type IOptions,
} from 'etcd3';
import { etcdDefaults } from './tunables.js';

export interface EtcdClientTls {
  /** The cluster CA certificate, PEM. */
  caPem: string | Buffer;
  /** The node's certificate and key, PEM: the certificate's CN is the etcd user. */
  certPem: string | Buffer;
  keyPem: string | Buffer;
}

export interface EtcdClientOptions {
  /** `https://addr:2379` of every member to use (several: a call goes to another when one is down). */
  endpoints: readonly string[];
  tls: EtcdClientTls;
  /** Deadline of every unary call; default etcdDefaults.callDeadlineMs. Streams (watch, keepalive) have none. */
  callDeadlineMs?: number;
  /** Send `hasleader: true` so a member without a leader refuses at once (default true). */
  requireLeader?: boolean;
}

/** Docker's answer when the managers have no quorum (daemon/cluster: errNoLeader... as the CLI shows it). */
export const NO_LEADER_MESSAGE = "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";

export type EtcdErrorKind = 'no-leader' | 'unavailable' | 'permission-denied' | 'timeout' | 'other';

/** Per-call gRPC credentials that add `hasleader: true` (etcd's WithRequireLeader). */
function requireLeaderCredentials(): grpc.CallCredentials {
  return grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    callback(null, md);
  });
}

/** The etcd3 options createEtcdClient uses (exported for tests and for a single-endpoint variant). */
export function etcdClientOptions(opts: EtcdClientOptions): IOptions {
  if (opts.endpoints.length === 0) throw new Error('an etcd client needs at least one endpoint (https://ADDR:2379)');
  for (const e of opts.endpoints) {
    if (!/^https:\/\/\S+:\d+$/.test(e)) throw new Error(`etcd endpoint '${e}' must look like https://ADDR:PORT (shoal's etcd speaks TLS only)`);
  }
  const deadlineMs = opts.callDeadlineMs ?? etcdDefaults.callDeadlineMs;
  const credentials = (opts.requireLeader ?? true) ? requireLeaderCredentials() : undefined;
  return {
    hosts: [...opts.endpoints],
    credentials: {
      rootCertificate: Buffer.from(opts.tls.caPem),
      certChain: Buffer.from(opts.tls.certPem),
      privateKey: Buffer.from(opts.tls.keyPem),
    },
    defaultCallOptions: (ctx) => ({
      ...(credentials ? { credentials } : {}),
      ...(ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }),
    }),
    faultHandling: {
      // No per-host circuit breaker: a host that failed is simply tried again next time.
      host: () => noop,
      // A call that failed on one member for a network or server reason is tried once on each other
      // member, at once. Not after its deadline passed: that would multiply the caller's wait.
      global: retry(handleWhen((e) => isRecoverableError(e) && !(e instanceof GRPCDeadlineExceededError) && classifyEtcdError(e) !== 'timeout'), {
        maxAttempts: opts.endpoints.length - 1,
        backoff: new ConstantBackoff(0),
      }),
    },
    grpcOptions: {
      // Notice a silently dead member (a VM gone, no RST) within ~15 s instead of the kernel's minutes.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
  };
}

/** An etcd3 client for shoal's etcd: close() it when done. */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  return new Etcd3(etcdClientOptions(opts));
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** What kind of failure an error from an etcd call is. */
export function classifyEtcdError(err: unknown): EtcdErrorKind {
  const msg = messageOf(err);
  if (/no leader|leader changed|previous leader failure/i.test(msg)) return 'no-leader';
  if (err instanceof EtcdPermissionDeniedError || /permission denied|PERMISSION_DENIED/i.test(msg)) return 'permission-denied';
  if (err instanceof GRPCDeadlineExceededError || /deadline exceeded|DEADLINE_EXCEEDED|request timed out/i.test(msg)) return 'timeout';
  if (
    err instanceof GRPCUnavailableError ||
    /UNAVAILABLE|No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|circuit breaker|not supported for learner|unhealthy cluster|too many requests/i.test(msg)
  ) return 'unavailable';
  return 'other';
}

/** Docker's message for errors that mean the managers have no quorum (no leader, or a call that timed
 * out waiting for one); undefined for the others, which the caller reports as they are. */
export function swarmErrorMessage(err: unknown): string | undefined {
  const kind = classifyEtcdError(err);
  return kind === 'no-leader' || kind === 'timeout' ? NO_LEADER_MESSAGE : undefined;
}
