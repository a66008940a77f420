// One etcd member for this manager: its command line (a pure function of the configuration), its
// process (started under `setpriv --pdeathsig KILL` so it dies with the agent, optionally inside a
// given network namespace), waiting until /health says true, and supervision: a member that dies is
// restarted with backoff, except one the cluster removed (exit 0 + "permanently removed" in its log),
// which is reported as 'removed' and left stopped. A pidfile beside the data dir lets a new agent end
// an etcd a previous agent left running on the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, fstatSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MANAGER_PEER_NAME } from '../cluster/ca.js';
import { connectTcp } from './netns-socket.js';
import { etcdDefaults } from './tunables.js';

export interface EtcdTlsFiles {
  /** The cluster CA certificate (PEM file). */
  caFile: string;
  /** This node's certificate and key (CN = node ID, made with etcdNames: see src/cluster/ca.ts). */
  certFile: string;
  keyFile: string;
}

export interface EtcdMemberConfig {
  /** The member's name: the node ID. */
  nodeId: string;
  /** The address peers and remote clients reach this member on. */
  addr: string;
  dataDir: string;
  tls: EtcdTlsFiles;
  /** Shared by every member of one cluster: `shoal-<clusterId>` (initialClusterToken()). */
  clusterToken: string;
  /** `id=https://addr:2380,...`: every voter plus this member (initialClusterString()). */
  initialCluster: string;
  /** 'new' for the first member of a new cluster; 'existing' for a member added to a running one. */
  initialClusterState: 'new' | 'existing';
  /** Start once with --force-new-cluster (disaster recovery from this member's data); never on a restart. */
  forceNewCluster?: boolean;
  /** Where etcd's zap log goes (appended). */
  logFile: string;
  clientPort?: number;
  peerPort?: number;
  metricsPort?: number;
  /** Run etcd inside this network namespace (a file such as /run/netns/NAME) and probe it there. */
  netnsPath?: string;
  /** Where the running member's pid is kept; default `<dataDir>.pid`. */
  pidFile?: string;
  binary?: string;
  healthTimeoutMs?: number;
}

export class EtcdMemberError extends Error {
  override readonly name = 'EtcdMemberError';
}

/** The value of --initial-cluster-token for a cluster. */
export function initialClusterToken(clusterId: string): string {
  return `shoal-${clusterId}`;
}

/** `https://addr:port`, with brackets around an IPv6 address. */
export function httpsUrl(addr: string, port: number): string {
  return `https://${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
}

/** The --initial-cluster value for members given as name → peer URL. */
export function initialClusterString(members: ReadonlyArray<{ name: string; peerUrl: string }>): string {
  for (const m of members) {
    if (!/^[0-9a-z]{1,64}$/.test(m.name)) throw new EtcdMemberError(`member name '${m.name}' must be a node ID (1 to 64 lowercase letters and digits)`);
    if (!/^https:\/\/\S+:\d+$/.test(m.peerUrl)) throw new EtcdMemberError(`peer URL '${m.peerUrl}' of ${m.name} must look like https://ADDR:PORT`);
  }
  return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
}

/** etcd's command line for a member (flags that both 3.4 and 3.5 accept). */
export function etcdArgs(cfg: EtcdMemberConfig, opts: { forceNewCluster?: boolean } = {}): string[] {
  const clientPort = cfg.clientPort ?? etcdDefaults.clientPort;
  const peerPort = cfg.peerPort ?? etcdDefaults.peerPort;
  const metricsPort = cfg.metricsPort ?? etcdDefaults.metricsPort;
  const peerUrl = httpsUrl(cfg.addr, peerPort);
  const clientUrl = httpsUrl(cfg.addr, clientPort);
  const loopbackUrl = httpsUrl('127.0.0.1', clientPort);
  const listenClient = cfg.addr === '127.0.0.1' ? clientUrl : `${clientUrl},${loopbackUrl}`;
  const args = [
    `--name=${cfg.nodeId}`,
    `--data-dir=${cfg.dataDir}`,
    `--initial-cluster-token=${cfg.clusterToken}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--listen-client-urls=${listenClient}`,
    `--advertise-client-urls=${clientUrl}`,
    // Plain HTTP, loopback only: /health and /metrics without certificates, for the agent itself.
    `--listen-metrics-urls=http://127.0.0.1:${metricsPort}`,
    `--initial-cluster=${cfg.initialCluster}`,
    `--initial-cluster-state=${cfg.initialClusterState}`,
    '--client-cert-auth',
    `--trusted-ca-file=${cfg.tls.caFile}`,
    `--cert-file=${cfg.tls.certFile}`,
    `--key-file=${cfg.tls.keyFile}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${cfg.tls.caFile}`,
    `--peer-cert-file=${cfg.tls.certFile}`,
    `--peer-key-file=${cfg.tls.keyFile}`,
    // Only manager certificates carry this name: a worker's certificate cannot talk Raft.
    `--peer-cert-allowed-hostname=${MANAGER_PEER_NAME}`,
    '--logger=zap',
    '--log-outputs=stderr',
  ];
  if (opts.forceNewCluster) args.push('--force-new-cluster');
  return args;
}

/** The whole command: [nsenter --net=NS] setpriv --pdeathsig KILL etcd ARGS (each one execs the next,
 * so the pid spawn returns is etcd's). */
export function etcdCommand(cfg: EtcdMemberConfig, opts: { forceNewCluster?: boolean } = {}): string[] {
  const ns = cfg.netnsPath !== undefined ? ['nsenter', `--net=${cfg.netnsPath}`] : [];
  return [...ns, 'setpriv', '--pdeathsig', 'KILL', cfg.binary ?? etcdDefaults.binary, ...etcdArgs(cfg, opts)];
}

/** True when a log excerpt says the member was removed from its cluster (it then exits 0 by itself):
 * 3.4 says "data-dir used by this member must be removed" when removed while running, and "the member
 * has been permanently removed from the cluster" when started again on its old data. */
export function saysRemoved(log: string): boolean {
  return /permanently removed from the cluster|data-dir used by this member must be removed/i.test(log);
}

/** The next restart delay: doubling from the first, capped. */
export function nextBackoff(previousMs: number | undefined): number {
  if (previousMs === undefined) return etcdDefaults.restartBackoffMs;
  return Math.min(previousMs * 2, etcdDefaults.restartBackoffMaxMs);
}

export interface EtcdExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what this run wrote to the log. */
  logTail: string;
}

/**
 * Events: 'exited' (EtcdExit) for every exit we did not ask for; 'restarted' (pid) after a supervised
 * restart; 'removed' (EtcdExit) when the cluster removed this member: it stays stopped and its data is
 * useless (wipeData() before it joins again); 'discarded' (dataDir) when start() threw away the data
 * of a first start that never became healthy.
 */
export class EtcdMember extends EventEmitter {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs: number | undefined;
  private startedAt = 0;
  private logOffset = 0;
  private forceNext: boolean;
  private removedFlag = false;
  /** Why the last spawn failed outright (a missing command), for start()'s error. */
  private spawnError: string | undefined;

  constructor(readonly config: EtcdMemberConfig) {
    super();
    this.forceNext = config.forceNewCluster ?? false;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** True once the cluster has removed this member. */
  get removed(): boolean {
    return this.removedFlag;
  }

  get pidFile(): string {
    return this.config.pidFile ?? `${this.config.dataDir.replace(/\/+$/, '')}.pid`;
  }

  /** Written beside the data dir once the member has been healthy: its data is then worth keeping. */
  get readyMarker(): string {
    return `${this.config.dataDir.replace(/\/+$/, '')}.ready`;
  }

  /** Ends a leftover etcd on our data dir, starts ours and waits until it reports healthy. When that
   * fails, the member stays supervised (a member waiting for quorum must keep running until the
   * others come back): call stop() to give up on it. */
  async start(opts: { waitHealthy?: boolean } = {}): Promise<void> {
    if (this.running) throw new EtcdMemberError(`etcd member ${this.config.nodeId} is already running (pid ${this.pid})`);
    this.stopping = false;
    this.removedFlag = false;
    await this.endLeftover();
    this.discardUnfinishedBootstrap();
    this.spawnOnce();
    if (opts.waitHealthy ?? true) await this.waitHealthy();
  }

  /** Records that the member has been healthy (its data is worth keeping across restarts): for a member
   * started without waiting, whose supervisor sees it healthy later. */
  markHealthy(): void {
    if (!existsSync(this.readyMarker)) writeFileSync(this.readyMarker, `${new Date().toISOString()}\n`);
  }

  /** Polls /health on the metrics listener until it says true; throws with the log's tail on timeout
   * or when the process exits first. */
  async waitHealthy(timeoutMs = this.config.healthTimeoutMs ?? etcdDefaults.healthTimeoutMs): Promise<number> {
    const start = Date.now();
    for (;;) {
      if (!this.running) {
        const why = this.spawnError ?? this.logTail();
        throw new EtcdMemberError(`etcd member ${this.config.nodeId} exited before it became healthy (see ${this.config.logFile}):\n${why}`);
      }
      if (await this.healthy()) {
        this.markHealthy();
        return Date.now() - start;
      }
      if (Date.now() - start > timeoutMs) {
        throw new EtcdMemberError(`etcd member ${this.config.nodeId} did not report healthy within ${timeoutMs} ms (a member without quorum never does; see ${this.config.logFile}):\n${this.logTail()}`);
      }
      await sleep(etcdDefaults.healthPollMs);
    }
  }

  /** One probe of http://127.0.0.1:<metrics>/health: true only for {"health":"true"}. */
  healthy(): Promise<boolean> {
    const port = this.config.metricsPort ?? etcdDefaults.metricsPort;
    return new Promise((resolve) => {
      const req = http.get({
        host: '127.0.0.1', port, path: '/health', timeout: etcdDefaults.healthProbeTimeoutMs,
        // No agent: with one (even agent: false), Node ignores createConnection.
        createConnection: () => connectTcp('127.0.0.1', port, this.config.netnsPath),
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
        res.on('error', () => resolve(false));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
    });
  }

  /** SIGTERM, and waits for the exit (SIGKILL after stopTimeoutMs). No restart follows. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child && this.running) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), etcdDefaults.stopTimeoutMs);
      await this.exited;
      clearTimeout(killer);
    }
    rmSync(this.pidFile, { force: true });
  }

  /** Removes the data dir (a removed member must start from nothing to join again). Only when stopped. */
  wipeData(): void {
    if (this.running) throw new EtcdMemberError(`stop etcd member ${this.config.nodeId} before wiping its data`);
    rmSync(this.config.dataDir, { recursive: true, force: true });
    rmSync(this.readyMarker, { force: true });
  }

  /**
   * A data dir from a first start that never became healthy is thrown away: etcd stopped while it
   * bootstraps a new cluster can leave a WAL without its own membership, and then never elects
   * itself (4 of 5 tries with SIGTERM right after the client port opened). Nothing was written to
   * such a member, so starting from nothing loses nothing. Emits 'discarded' (dataDir).
   */
  private discardUnfinishedBootstrap(): void {
    if (!existsSync(this.config.dataDir) || existsSync(this.readyMarker) || this.forceNext) return;
    rmSync(this.config.dataDir, { recursive: true, force: true });
    this.emit('discarded', this.config.dataDir);
  }

  /** What this run wrote to the log, its last `bytes` (default logTailBytes). */
  logTail(bytes: number = etcdDefaults.logTailBytes): string {
    let fd: number | undefined;
    try {
      fd = openSync(this.config.logFile, 'r');
      const size = fstatSync(fd).size;
      const from = Math.max(this.logOffset, size - bytes);
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      return buf.toString('utf8');
    } catch {
      return '';
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private spawnOnce(): void {
    const cfg = this.config;
    mkdirSync(dirname(cfg.logFile), { recursive: true });
    mkdirSync(dirname(cfg.dataDir), { recursive: true });
    const logFd = openSync(cfg.logFile, 'a');
    this.logOffset = statSync(cfg.logFile).size;
    const [cmd, ...args] = etcdCommand(cfg, { forceNewCluster: this.forceNext });
    this.spawnError = undefined;
    this.forceNext = false; // one start only: left in, it would throw the other members out again
    let child: ChildProcess;
    try {
      child = spawn(cmd!, args, { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    this.child = child;
    this.startedAt = Date.now();
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    this.exited = Promise.race([once(child, 'exit'), spawnError]).catch(() => undefined);
    child.once('error', (err: NodeJS.ErrnoException) => {
      const what = err.code === 'ENOENT' ? `${cmd} is not installed (etcd comes with Debian's etcd-server package, setpriv and nsenter with util-linux)` : err.message;
      this.spawnError = what;
      this.onExit({ code: null, signal: null, logTail: what });
    });
    child.once('exit', (code, signal) => this.onExit({ code, signal, logTail: this.logTail() }));
    if (child.pid !== undefined) writeFileSync(this.pidFile, `${child.pid}\n`);
  }

  private onExit(exit: EtcdExit): void {
    if (this.stopping) return;
    rmSync(this.pidFile, { force: true });
    // The removal message comes before a long shutdown log: search more than the tail.
    if (exit.code === 0 && saysRemoved(this.logTail(etcdDefaults.removedScanBytes))) {
      this.removedFlag = true;
      this.emit('removed', exit);
      return;
    }
    this.emit('exited', exit);
    if (Date.now() - this.startedAt >= etcdDefaults.restartResetAfterMs) this.backoffMs = undefined;
    this.backoffMs = nextBackoff(this.backoffMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.discardUnfinishedBootstrap();
      this.spawnOnce();
      this.emit('restarted', this.pid);
    }, this.backoffMs);
  }

  /** Ends an etcd that a previous agent started on this data dir (its pid in our pidfile, and its command
   * line naming our data dir), SIGTERM first, then SIGKILL. */
  private async endLeftover(): Promise<void> {
    const pid = leftoverPid(this.pidFile, this.config.dataDir);
    if (pid === undefined) {
      rmSync(this.pidFile, { force: true });
      return;
    }
    const tryKill = (sig: NodeJS.Signals) => { try { process.kill(pid, sig); } catch { /* gone */ } };
    tryKill('SIGTERM');
    for (let waited = 0; existsSync(`/proc/${pid}`) && waited < etcdDefaults.stopTimeoutMs; waited += 20) await sleep(20);
    if (existsSync(`/proc/${pid}`)) {
      tryKill('SIGKILL');
      for (let i = 0; existsSync(`/proc/${pid}`) && i < 250; i++) await sleep(20);
    }
    rmSync(this.pidFile, { force: true });
  }
}

/** The pid in `pidFile` if it is a live etcd serving `dataDir`. */
export function leftoverPid(pidFile: string, dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
  // A zombie has an empty cmdline; a recycled pid names something else.
  return cmdline.includes(`--data-dir=${dataDir}`) ? pid : undefined;
}
