// This node's part in the managers' Raft store (etcd): on a manager, its etcd member (started with
// the agent, supervised, stopped with it); on every node, a client that authenticates with the node's
// certificate (etcd's RBAC takes the user from its CN) and the state stores over it: the cluster's
// objects (managers write, everyone reads), what each node reports about itself (only that node
// writes its prefix), and on managers the join secrets and the leader election. See
// docs/decisions/0026-control-plane-on-etcd.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { bootstrapAuth } from '../etcd/auth.js';
import { createEtcdClient, ReloadableIdentity, type EtcdClientTls } from '../etcd/client.js';
import { LeaderElection, type LeaderValue } from '../etcd/election.js';
import { listMembers, promoteLearner, type MemberInfo } from '../etcd/membership.js';
import { rewriteAll } from '../etcd/recovery.js';
import { ELECTION_PREFIX, NODES_PREFIX, OBJECTS_PREFIX, SECRETS_PREFIX } from '../etcd/keys.js';
import { EtcdMember, httpsUrl, initialClusterToken } from '../etcd/member.js';
import { etcdDefaults } from '../etcd/tunables.js';
import { ownerOfEntry } from '../model/tables.js';
import { EtcdStateStore } from '../store/etcd-store.js';
import type { Logger } from '../util/log.js';
import { tunables } from '../config/tunables.js';

/** What a node keeps (in its swarm state) to reach the Raft store again after a restart. */
export interface RaftLocal {
  /** The managers' client URLs (`https://addr:2379`). */
  endpoints: string[];
  /** On a manager: how its member was first started (ignored once its data exists), and whether it has
   * become a voter (a member added to a running cluster starts as a learner). */
  member?: { initialCluster: string; state: 'new' | 'existing'; voter?: boolean };
}

export interface ControlPlaneOptions {
  nodeId: string;
  clusterId: string;
  addr: string;
  /** Holds ca.crt, node.crt and node.key. */
  certsDir: string;
  /** The member's data lives in `<dir>/data`, its log in `<dir>/etcd.log`. */
  dir: string;
  local: RaftLocal;
  /** A new cluster's first start: turn on RBAC with this manager as its first root user. */
  bootstrap?: boolean;
  /** Start the member once with --force-new-cluster on its data, then rewrite every key (recovery). */
  forceNewCluster?: boolean;
  /** Called once this manager's member, added as a learner, has become a voter (to remember it). */
  onVoter?: () => void;
  log: Logger;
}

/** The client URL of a manager's member. */
export function clientUrl(addr: string): string {
  return httpsUrl(addr, etcdDefaults.clientPort);
}

/** The peer URL of a manager's member. */
export function peerUrl(addr: string): string {
  return httpsUrl(addr, etcdDefaults.peerPort);
}

export class ControlPlane {
  readonly member: EtcdMember | undefined;
  readonly client: Etcd3;
  /** For reads: no `hasleader`, so a member cut off from its leader still serves its copy. */
  private readonly reader: Etcd3;
  /** A manager's own member only, for its view of the Raft leader. */
  private readonly own: Etcd3 | undefined;
  readonly objects: EtcdStateStore;
  readonly nodes: EtcdStateStore;
  /** Managers only. */
  readonly secrets: EtcdStateStore | undefined;
  private readonly campaigns: EtcdStateStore | undefined;
  readonly election: LeaderElection | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private leaderless = false;
  private raftMembers: MemberInfo[] = [];
  private checking = false;
  private lastAnswer = Date.now();
  private stopped = false;
  private loaded: Promise<void> | undefined;
  /** The certificate every client of this plane presents on its next connection (renewal switches it). */
  private readonly identity: ReloadableIdentity;

  constructor(private readonly o: ControlPlaneOptions) {
    const manager = o.local.member !== undefined;
    this.identity = new ReloadableIdentity(this.files());
    const tls = this.tls();
    if (manager) {
      this.member = new EtcdMember({
        nodeId: o.nodeId, addr: o.addr, dataDir: join(o.dir, 'data'), logFile: join(o.dir, 'etcd.log'),
        tls: { caFile: join(o.certsDir, 'ca.crt'), certFile: join(o.certsDir, 'node.crt'), keyFile: join(o.certsDir, 'node.key') },
        clusterToken: initialClusterToken(o.clusterId), initialCluster: o.local.member!.initialCluster, initialClusterState: o.local.member!.state,
        ...(o.forceNewCluster ? { forceNewCluster: true } : {}),
      });
      this.member.on('exited', (e: { code: number | null; signal: string | null }) => o.log.warn({ code: e.code, signal: e.signal }, 'the etcd member exited; restarting it'));
      this.member.on('removed', () => o.log.warn('this manager\'s etcd member was removed from the cluster'));
    }
    // A manager talks to its own member only, as a swarm manager to its own Raft node: cut off from the
    // majority, its calls fail at once with "no leader", and its copy never follows a member on the
    // wrong side of a partition. A worker talks to every manager it knows.
    const own = [clientUrl(o.addr)];
    const endpoints = manager ? own : o.local.endpoints;
    this.client = createEtcdClient({ endpoints, tls });
    this.reader = createEtcdClient({ endpoints, tls, requireLeader: false });
    this.own = manager ? createEtcdClient({ endpoints: own, tls, requireLeader: false, callDeadlineMs: tunables.quorumSilenceMs }) : undefined;
    const log = o.log.child({ component: 'raft-store' });
    this.election = manager ? new LeaderElection(this.client, { nodeId: o.nodeId, reason: o.bootstrap ? 'init' : 'startup' }) : undefined;
    const election = this.election;
    this.objects = new EtcdStateStore({ client: this.client, reader: this.reader, prefix: OBJECTS_PREFIX, log, fence: () => (election?.isLeader ? election.fence() : undefined) });
    this.nodes = new EtcdStateStore({ client: this.client, reader: this.reader, prefix: NODES_PREFIX, log, owners: ownerOfEntry, localFirst: true });
    this.secrets = manager ? new EtcdStateStore({ client: this.client, reader: this.reader, prefix: SECRETS_PREFIX, log }) : undefined;
    this.campaigns = manager ? new EtcdStateStore({ client: this.client, reader: this.reader, prefix: ELECTION_PREFIX, log }) : undefined;
  }

  get isManager(): boolean {
    return this.member !== undefined;
  }

  /**
   * Starts the member (on a manager) and loads the stores. On a new cluster it waits for the member
   * and turns RBAC on; after a restart it does not wait for quorum to load the copies (a member without
   * a leader still serves its own data), and retries until some member answers.
   */
  async start(): Promise<void> {
    if (this.member) {
      await this.member.start({ waitHealthy: this.o.bootstrap === true || this.o.forceNewCluster === true });
      if (this.o.local.member!.state === 'existing' && !this.o.local.member!.voter) await this.becomeVoter();
      if (this.o.bootstrap) await bootstrapAuth(this.client, [this.o.nodeId]);
      if (this.o.forceNewCluster) this.o.log.info({ keys: await rewriteAll(this.client) }, 'forced a new cluster: every key written again into the new Raft log');
      this.healthTimer = setInterval(() => void this.checkHealth(), tunables.quorumCheckIntervalMs);
      this.healthTimer.unref();
    }
    this.loaded = this.loadStores();
    await this.loaded;
    this.election?.start();
  }

  /**
   * A member added to a running cluster is a learner: it serves nothing but serializable reads until
   * the others promote it, which they do once it has caught up (asked through them, retried: ~5-10 s).
   */
  private async becomeVoter(): Promise<void> {
    const peers = createEtcdClient({ endpoints: this.o.local.endpoints, tls: this.tls() });
    try {
      const r = await promoteLearner(peers, this.o.nodeId, { peerUrl: peerUrl(this.o.addr) });
      this.o.log.info({ attempts: r.attempts, ms: r.ms }, 'this manager\'s etcd member is a voter');
      this.o.onVoter?.();
    } finally {
      peers.close();
    }
  }

  /** Resolves once every store holds a copy (for a joiner: before it starts its controllers). */
  ready(): Promise<void> {
    return this.loaded ?? Promise.resolve();
  }

  private async loadStores(): Promise<void> {
    const stores = [this.objects, this.nodes, this.secrets, this.campaigns].filter((s): s is EtcdStateStore => s !== undefined);
    for (let delay = 250, warned = false; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await Promise.all(stores.map((s) => s.start()));
        return;
      } catch (err) {
        if (this.stopped) throw err;
        if (!warned) this.o.log.warn({ err: (err as Error).message }, 'cannot load the cluster state from the managers yet; retrying');
        warned = true;
        await sleep(delay);
      }
    }
  }

  /** The leader, as its campaign key says: the oldest campaign under the election prefix. */
  leader(): LeaderValue | undefined {
    if (!this.campaigns) return undefined;
    const items = this.campaigns.table('leader', parseLeaderValue).list();
    return items.sort((a, b) => a.index - b.index)[0]?.value;
  }

  get isLeader(): boolean {
    return this.election?.isLeader ?? false;
  }

  /** False while this manager's member has no Raft leader (too few managers reachable). */
  get hasQuorum(): boolean {
    return !this.leaderless;
  }

  /** A manager's place in Raft as last read: 'voter', 'learner' (catching up), or undefined (not a member). */
  raftRole(nodeId: string): MemberInfo['role'] | undefined {
    return this.raftMembers.find((m) => m.name === nodeId && m.started)?.role;
  }

  /**
   * Asks the member whom it follows (its status names the Raft leader, 0 for none): a member cut off
   * from the majority has none within an election timeout. (Its /health would say the same, but also
   * fails when a linearizable read is slow on a loaded machine.)
   */
  private async checkHealth(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const status = await this.own!.maintenance.status().catch(() => undefined).finally(() => { this.checking = false; });
    // No answer is not "no leader" (a slow machine, a member restarting), unless it lasts.
    if (status === undefined && Date.now() - this.lastAnswer < tunables.quorumSilenceMs) return;
    if (status !== undefined) this.lastAnswer = Date.now();
    const healthy = status !== undefined && status.leader !== undefined && BigInt(status.leader) !== 0n;
    if (healthy) {
      this.member!.markHealthy();
      this.raftMembers = await listMembers(this.client).catch(() => this.raftMembers);
    }
    if (healthy === !this.leaderless) return;
    this.leaderless = !healthy;
    if (this.leaderless) this.o.log.warn('this manager\'s etcd member has no leader: too few managers are reachable; writes are refused until they return');
    else this.o.log.info('this manager\'s etcd member has a leader again');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    await this.election?.stop().catch(() => undefined);
    for (const s of [this.objects, this.nodes, this.secrets, this.campaigns]) await s?.close();
    this.client.close();
    this.reader.close();
    this.own?.close();
    await this.member?.stop();
  }

  /**
   * A renewed certificate: the clients present it on their next connections (those open now stay up).
   * The member needs nothing: etcd reads its certificate files again at every handshake (etcd 3.4's
   * transport: GetCertificate/GetClientCertificate load them each time), and the files were replaced.
   */
  useIdentity(certPem: string, keyPem: string): void {
    this.identity.update(certPem, keyPem);
  }

  private files(): EtcdClientTls {
    return {
      caPem: readFileSync(join(this.o.certsDir, 'ca.crt')),
      certPem: readFileSync(join(this.o.certsDir, 'node.crt')),
      keyPem: readFileSync(join(this.o.certsDir, 'node.key')),
    };
  }

  private tls(): EtcdClientTls {
    return { ...this.files(), identity: this.identity };
  }
}

function parseLeaderValue(v: unknown): LeaderValue {
  const l = v as Partial<LeaderValue>;
  if (typeof l?.nodeId !== 'string') throw new Error('a campaign names its node');
  return l as LeaderValue;
}
