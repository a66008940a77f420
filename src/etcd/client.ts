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
  /** Where the client takes its certificate from instead, so that a renewed one is used for every new
   * connection without rebuilding the client (certPem/keyPem are then ignored). */
  identity?: ReloadableIdentity;
}

/**
 * A node identity that can change under running etcd clients: gRPC asks it for the current CA,
 * certificate and key each time it opens a connection (grpc-js's certificate provider interface), so
 * after update() every new connection presents the new certificate. Connections already open keep
 * theirs: TLS checks a certificate's dates only at the handshake, as etcd does.
 */
export class ReloadableIdentity implements grpc.experimental.CertificateProvider {
  private ca: grpc.experimental.CaCertificateUpdate;
  private identity: grpc.experimental.IdentityCertificateUpdate;
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(tls: { caPem: string | Buffer; certPem: string | Buffer; keyPem: string | Buffer }) {
    this.ca = { caCertificate: Buffer.from(tls.caPem) };
    this.identity = { certificate: Buffer.from(tls.certPem), privateKey: Buffer.from(tls.keyPem) };
  }

  /** The certificate and key new connections present from now on. */
  update(certPem: string | Buffer, keyPem: string | Buffer): void {
    this.identity = { certificate: Buffer.from(certPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.identityListeners) l(this.identity);
  }

  /** The certificate new connections present (PEM). */
  get certPem(): string {
    return this.identity.certificate.toString();
  }

  get keyPem(): string {
    return this.identity.privateKey.toString();
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    l(this.ca);
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    l(this.identity);
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
  }
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
      certChain: Buffer.from(opts.tls.identity?.certPem ?? opts.tls.certPem),
      privateKey: Buffer.from(opts.tls.identity?.keyPem ?? opts.tls.keyPem),
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
  const client = new Etcd3(etcdClientOptions(opts));
  if (opts.tls.identity) useIdentity(client, opts.tls.identity);
  return client;
}

/**
 * etcd3 takes fixed PEM buffers only, and makes one set of gRPC channel credentials from them for all
 * its hosts, which then open their channels lazily, on the first call. Before any call, those
 * credentials are replaced by ones that ask `identity` at each connection. This reaches into etcd3's
 * connection pool (pool.hosts[].channelCredentials, etcd3 1.1): if that shape changes, this throws
 * rather than silently keeping a certificate that will expire.
 */
function useIdentity(client: Etcd3, identity: ReloadableIdentity): void {
  const hosts = (client as unknown as { pool?: { hosts?: { channelCredentials?: unknown; cachedServices?: object }[] } }).pool?.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0 || hosts.some((h) => !(h.channelCredentials instanceof grpc.ChannelCredentials) || Object.keys(h.cachedServices ?? {}).length > 0)) {
    throw new Error('this version of etcd3 does not keep its channel credentials where shoal replaces them (pool.hosts[].channelCredentials): certificate renewal cannot reach the etcd client');
  }
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(identity, identity);
  for (const h of hosts) h.channelCredentials = credentials;
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
