// Every default shoal uses, in one place, each with the reason it has that value.
import { hostname } from 'node:os';

export const defaults = {
  /** Where the agent serves its API and the CLI looks for it: a root-owned runtime dir, like /run/docker.sock. */
  apiSocket: '/run/shoal/shoal.sock',
  /** Persistent state (replicated tables, keys). /var/lib is where Debian keeps daemon state. */
  dataDir: '/var/lib/shoal',
  /** Node name shown in `node ls`. The hostname, as Docker uses; the netns lab overrides it since namespaces share one hostname. */
  nodeName: hostname(),
  /** pino level. info shows lifecycle events without per-packet noise. */
  logLevel: 'info' as const,
  /** auto = human-readable when stderr is a terminal, JSON lines otherwise (for journald and files). */
  logFormat: 'auto' as const,
  /** auto = docker when its socket answers, else exec; decided at start. */
  runtime: 'auto' as const,
  /** auto = IPVS where the kernel has it or can load it (modprobe ip_vs), as Docker's load balancer; else nftables. Decided at start. */
  lbBackend: 'auto' as const,
  /** The Docker Engine API version we answer as: 1.41 is what Debian 12's docker.io (20.10) speaks. */
  apiVersion: '1.41',
  /** Oldest API version we accept in a versioned path; docker CLI 20.10 negotiates down to 1.12 at the lowest. */
  minApiVersion: '1.12',
  /** Swarm's well-known ports: cluster management (TLS), gossip (TCP+UDP), VXLAN data path. */
  clusterPort: 2377,
  gossipPort: 7946,
  vxlanPort: 4789,
  /**
   * The operator DNS listener on the node, for `dig @127.0.0.11 web` from the node itself: the same
   * address tasks use, on the node's loopback only (systemd-resolved keeps 127.0.0.53/54).
   */
  dnsListen: '127.0.0.11:53',
  /** Where the node's upstream resolvers are named, for names that are not the cluster's. */
  resolvConf: '/etc/resolv.conf',
  /** How long a graceful shutdown may take before the agent exits anyway (systemd's default stop timeout is 90 s). */
  shutdownTimeoutMs: 10_000,
};

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type LogFormat = 'auto' | 'json' | 'pretty';
export type RuntimeKind = 'auto' | 'docker' | 'exec';

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];
export const RUNTIMES: readonly RuntimeKind[] = ['auto', 'docker', 'exec'];
export type LbSetting = 'auto' | 'ipvs' | 'nftables';
export const LB_BACKENDS: readonly LbSetting[] = ['auto', 'ipvs', 'nftables'];

/** Environment variable that names the agent socket for the CLI, like DOCKER_HOST. */
export const HOST_ENV = 'SHOAL_HOST';
