// This node's part in a swarm: creating one (init), joining one (join over TLS), leaving, and
// running what a member runs: the managers' Raft store (control-plane.ts: an etcd member on each
// manager, the cluster's objects on it), gossip membership named by node ID with the endpoint table
// it carries, and on managers the join server. Persisted in <data-dir>/swarm so a restarted agent
// rejoins. The leader is whoever holds the etcd lease election; its batches are fenced by it.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileDurably } from '../util/durable-file.js';
import { join } from 'node:path';
import { caCertDigest, createCa, createKeyAndCsr, createKeyAndCsrAsync, installCertAndKey, loadCertAndKey, saveCertAndKey, signNodeCsr, signNodeCsrAsync, verifyCsrAsync, type CaFiles, type NodeRole } from './ca.js';
import { CertRenewer } from './cert-renewal.js';
import { clientUrl, ControlPlane, peerUrl, type RaftLocal } from './control-plane.js';
import { addLearner, removeMember } from '../etcd/membership.js';
import { addManagerUser, addWorkerUser, removeUser } from '../etcd/auth.js';
import { createEtcdClient, NO_LEADER_MESSAGE } from '../etcd/client.js';
import type { Etcd3 } from 'etcd3';
import { advertiseManager, type Advertisement } from './discovery.js';
import { newId } from './ids.js';
import { initialKeyring, primaryFirst, reportOf, RotationError, type KeyringReport } from './gossip-keys.js';
import { KeyringController, newGossipKey } from '../controllers/keyring.js';
import { ALREADY_IN_SWARM, NOT_A_MANAGER, NOT_IN_SWARM, NOT_IN_SWARM_HELP, SwarmError } from './errors.js';
import { NodeAdmin, type RoleChange } from './node-admin.js';
import { NodeSignatures } from './node-signatures.js';
import { endpointOwner } from '../model/endpoint.js';
import type { Entry } from '../store/entry.js';
import { PERHAPS_EARLY, type Refusal } from '../store/signing.js';
import { joinCluster, JoinServer, type Admission } from './join.js';
import { NODE_API_PORT, NodeApiServer, requestCertificate, type NodeIdentityFiles } from './node-api.js';
import type { LogLine, LogOptions } from '../runtime/runtime.js';
import { Memberlist } from './memberlist.js';
import { formatToken, newSecret } from './token.js';
import { Keyring } from './wire/security.js';
import type { ClusterView } from '../controllers/cluster-view.js';
import { nodeCertExpiryOf, parseJoinSecrets, SECRETS_KEY, SETTINGS_KEY, type ClusterSettings, type JoinSecrets } from '../model/cluster.js';
import type { Availability, NodeRecord, NodeStatus } from '../model/node.js';
import { defineClusterTables, type ClusterTables } from '../model/tables.js';
import { FilePersistence } from '../store/persistence.js';
import { StoreReplicator } from '../store/replicator.js';
import type { StateTable } from '../store/state.js';
import { ReplicatedStore } from '../store/store.js';
import { GossipStateStore } from '../store/table-store.js';
import type { Logger } from '../util/log.js';
import { packageVersion } from '../util/paths.js';
import { tunables } from '../config/tunables.js';

/** Tables whose entries belong to the node that wrote them, and are signed by it. */
const SIGNED_TABLES: ReadonlySet<string> = new Set(['endpoints']);

/** What this node keeps about its own membership (<data-dir>/swarm/state.json). */
interface LocalState {
  clusterId: string;
  nodeId: string;
  advertiseAddr: string;
  listenPort: number;
  gossipKeys: string[];
  peers: string[];
  /** How to reach the managers' Raft store (and, on a manager, how its member first started). */
  raft: RaftLocal;
}

/** What runs on a node while it is in a swarm (the agent's controllers). */
export interface SwarmMember {
  start(view: ClusterView): Promise<void>;
  /** Once, on the node that creates the swarm: the objects a new cluster starts with. */
  initCluster?(view: ClusterView): Promise<void>;
  /** A task of this node's log lines, for the node API (another node's `service logs`). */
  logs?(taskId: string, opts: LogOptions): AsyncIterable<LogLine>;
  /** 'leave': the node leaves the swarm, so remove what ran for it; 'shutdown': the agent stops, keep it running. */
  stop(reason: 'leave' | 'shutdown'): Promise<void>;
}

export interface SwarmOptions {
  dataDir: string;
  nodeName: string;
  gossipPort: number;
  log: Logger;
  member?: SwarmMember;
}

export interface InitRequest {
  advertiseAddr: string;
  listenPort: number;
  defaultAddrPool: string[];
  subnetSize: number;
  /** `--cert-expiry`: how long node certificates are valid (default Docker's 2160h). */
  certExpiryMs?: number;
}

export class Swarm {
  private store: ReplicatedStore | undefined;
  private plane: ControlPlane | undefined;
  private stopRoleWatch: (() => void) | undefined;
  private changingRole = false;
  private secrets: StateTable<JoinSecrets> | undefined;
  private state: GossipStateStore | undefined;
  private tables: ClusterTables | undefined;
  private nodes: StateTable<NodeRecord> | undefined;
  private settings: StateTable<ClusterSettings> | undefined;
  private statuses: StateTable<NodeStatus> | undefined;
  private memberRunning = false;
  private keyring: Keyring | undefined;
  private gossip: Memberlist | undefined;
  private joinServer: JoinServer | undefined;
  private advert: Advertisement | undefined;
  private nodeApi: NodeApiServer | undefined;
  private identity: NodeIdentityFiles | undefined;
  private replicator: StoreReplicator | undefined;
  private local: LocalState | undefined;
  private readonly dir: string;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reapTimer: NodeJS.Timeout | undefined;
  private keyringController: KeyringController | undefined;
  private admin: NodeAdmin | undefined;
  private sigs: NodeSignatures | undefined;
  private renewer: CertRenewer | undefined;
  private stopRenewalWatch: (() => void) | undefined;
  /** The renewal under way (a scheduled one and a change of role never run at once). */
  private renewing: Promise<string> | undefined;

  constructor(private readonly opts: SwarmOptions) {
    this.dir = join(opts.dataDir, 'swarm');
  }

  get active(): boolean {
    return this.local !== undefined;
  }

  get nodeId(): string | undefined {
    return this.local?.nodeId;
  }

  /** The port this node's join listener uses (2377 unless `swarm init|join --listen-addr` said otherwise). */
  get listenPort(): number | undefined {
    return this.local?.listenPort;
  }

  /** The node ID a data dir holds, if it was in a swarm (for cleanup without running). */
  static storedNodeId(dataDir: string): string | undefined {
    const file = join(dataDir, 'swarm', 'state.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LocalState).nodeId : undefined;
  }

  /** Resumes membership after a restart, if this node was in a swarm. */
  async resume(): Promise<void> {
    const file = join(this.dir, 'state.json');
    if (!existsSync(file)) return;
    this.local = JSON.parse(readFileSync(file, 'utf8')) as LocalState;
    await this.run();
    // Every node this one knew, not only the peers it joined through (the first manager had none).
    const known = this.nodeRecords().filter((n) => n.id !== this.local!.nodeId).map((n) => `${n.addr}:${this.opts.gossipPort}`);
    const others = [...new Set([...this.local.peers, ...known])].filter((p) => p !== `${this.local!.advertiseAddr}:${this.opts.gossipPort}`);
    // In the background: a peer that is down would hold the agent's start up for a TCP timeout.
    if (others.length > 0) void this.rejoin(others);
  }

  /**
   * Joins the known peers again after a restart. The gossip key may have been rotated while this
   * node was down, and then no peer could understand it: but the settings came from the managers'
   * store over TLS as the node started, so it lets the keyring follow them first, and only then joins.
   */
  private async rejoin(peers: string[]): Promise<void> {
    const join = () => this.gossip?.join(peers).catch(() => 0) ?? Promise.resolve(0);
    await this.keyringController?.settle();
    if ((await join()) === 0) this.opts.log.warn({ peers }, 'could not reach any known peer; waiting for them');
  }

  async init(req: InitRequest): Promise<string> {
    if (this.local) throw new SwarmError(ALREADY_IN_SWARM, 503);
    const ca = createCa();
    const nodeId = newId();
    const clusterId = newId();
    const { keyPem, csrPem } = createKeyAndCsr();
    const node = { certPem: signNodeCsr(ca, csrPem, { nodeId, role: 'manager', clusterId, addr: req.advertiseAddr, etcdNames: true, ...(req.certExpiryMs !== undefined ? { validityMs: req.certExpiryMs } : {}) }), keyPem };
    mkdirSync(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
    // The CA's key goes to the managers' store (every manager signs); only its certificate stays here.
    writeFileDurably(join(this.dir, 'certs', 'ca.crt'), ca.certPem, 0o644);
    saveCertAndKey(join(this.dir, 'certs'), 'node', node);
    const gossipKey = newGossipKey();
    rmSync(this.raftDir, { recursive: true, force: true });
    this.local = {
      clusterId, nodeId, advertiseAddr: req.advertiseAddr, listenPort: req.listenPort, gossipKeys: [gossipKey], peers: [`${req.advertiseAddr}:${this.opts.gossipPort}`],
      raft: { endpoints: [clientUrl(req.advertiseAddr)], member: { initialCluster: `${nodeId}=${peerUrl(req.advertiseAddr)}`, state: 'new' } },
    };
    this.saveLocal();
    try {
      await this.run({ bootstrap: true, beforeMember: async () => {
        const now = new Date().toISOString();
        await this.secrets!.put(SECRETS_KEY, { workerSecret: newSecret(), managerSecret: newSecret(), caCertPem: ca.certPem, caKeyPem: ca.keyPem });
        await this.settings!.put(SETTINGS_KEY, { id: clusterId, createdAt: now, caDigest: caCertDigest(ca.certPem), defaultAddrPool: req.defaultAddrPool, subnetSize: req.subnetSize, gossip: initialKeyring(gossipKey, now), ...(req.certExpiryMs !== undefined ? { nodeCertExpiryMs: req.certExpiryMs } : {}) });
        await this.putSelf('manager', now);
      } });
    } catch (err) {
      await this.abandon();
      throw err;
    }
    await this.opts.member?.initCluster?.(this.view());
    return nodeId;
  }

  /**
   * `swarm init --force-new-cluster` on a manager of a swarm that lost its majority: its etcd member
   * restarts once with --force-new-cluster, becoming a one-member cluster on its own data (every
   * object kept); then every key is written again so the new Raft log holds what its database holds
   * (docs/decisions/0016). The other managers are no longer members: they join again to come back.
   */
  async forceNewCluster(): Promise<string> {
    const l = this.local;
    if (!l) throw new SwarmError(NOT_IN_SWARM, 503);
    if (!l.raft.member) throw new SwarmError('--force-new-cluster recovers a swarm from one of its managers: this node is a worker. Run it on a manager', 400);
    this.opts.log.warn('forcing a new cluster from this manager\'s state: it becomes the only Raft member');
    await this.stop('shutdown');
    l.raft = { endpoints: [clientUrl(l.advertiseAddr)], member: { initialCluster: `${l.nodeId}=${peerUrl(l.advertiseAddr)}`, state: 'new' } };
    this.saveLocal();
    await this.run({ forceNewCluster: true });
    const peers = this.nodeRecords().filter((n) => n.id !== l.nodeId).map((n) => `${n.addr}:${this.opts.gossipPort}`);
    void this.gossip?.join(peers).catch(() => 0);
    return l.nodeId;
  }

  async join(req: { remote: string; token: string; advertiseAddr: string; listenPort: number }): Promise<NodeRole> {
    if (this.local) throw new SwarmError(ALREADY_IN_SWARM, 503);
    const [host, portText] = req.remote.includes(':') ? req.remote.split(':') as [string, string] : [req.remote, '2377'];
    let grant;
    try {
      grant = await joinCluster({ host, port: Number(portText), token: req.token, nodeName: this.opts.nodeName, advertiseAddr: req.advertiseAddr, timeoutMs: 10_000 });
    } catch (err) {
      throw new SwarmError((err as Error).message, 400);
    }
    mkdirSync(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
    writeFileDurably(join(this.dir, 'certs', 'ca.crt'), grant.caCert, 0o644);
    saveCertAndKey(join(this.dir, 'certs'), 'node', { certPem: grant.nodeCert, keyPem: grant.keyPem });
    rmSync(this.raftDir, { recursive: true, force: true });
    this.local = {
      clusterId: grant.clusterId, nodeId: grant.nodeId, advertiseAddr: req.advertiseAddr, listenPort: req.listenPort, gossipKeys: grant.gossipKeys, peers: grant.peers,
      raft: { endpoints: grant.raft.endpoints, ...(grant.role === 'manager' ? { member: { initialCluster: grant.raft.initialCluster!, state: 'existing' as const } } : {}) },
    };
    this.saveLocal();
    try {
      await this.run();
    } catch (err) {
      await this.abandon();
      throw err;
    }
    await this.gossip!.join(grant.peers);
    // The manager that admitted us wrote our node record; a manager joined Raft as a learner and became
    // a voter once it had caught up (ControlPlane.start).
    return grant.role;
  }

  async leave(force: boolean): Promise<void> {
    if (!this.local) throw new SwarmError(NOT_IN_SWARM, 503);
    const me = this.nodes!.get(this.local.nodeId)?.value;
    if (me?.role === 'manager' && !force) {
      const managers = this.nodes!.list().filter((n) => n.value.role === 'manager');
      const reason = managers.length <= 1
        ? 'Removing the last manager erases all current state of the swarm.'
        : 'Removing this node leaves fewer managers to keep the swarm available.';
      throw new SwarmError(`You are attempting to leave the swarm on a node that is participating as a manager. ${reason} Use \`--force\` to ignore this message.`, 503);
    }
    if (me?.role === 'manager') await this.leaveRaft();
    await this.stop('leave');
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.raftDir, { recursive: true, force: true });
    rmSync(join(this.opts.dataDir, 'store'), { recursive: true, force: true });
    this.local = undefined;
  }

  async stop(reason: 'leave' | 'shutdown' = 'shutdown'): Promise<void> {
    if (this.memberRunning) {
      this.memberRunning = false;
      await this.opts.member?.stop(reason);
    }
    if (this.gossip) {
      if (reason === 'leave') await this.gossip.leave(2000);
      await this.gossip.shutdown();
    }
    this.stopRoleWatch?.();
    this.stopRoleWatch = undefined;
    this.stopRenewalWatch?.();
    this.stopRenewalWatch = undefined;
    this.renewer?.stop();
    this.renewer = undefined;
    if (this.reconnectTimer) clearInterval(this.reconnectTimer);
    if (this.reapTimer) clearInterval(this.reapTimer);
    await this.keyringController?.stop();
    this.keyringController = undefined;
    await this.advert?.stop();
    this.advert = undefined;
    await this.joinServer?.close();
    await this.nodeApi?.close();
    this.nodeApi = undefined;
    this.replicator?.close();
    this.store?.close();
    await this.plane?.stop();
    this.plane = undefined;
    this.secrets = undefined;
    this.gossip = undefined;
    this.joinServer = undefined;
    this.store = undefined;
    this.state = undefined;
    this.tables = undefined;
    this.admin = undefined;
  }

  // ---- reads for the API ----

  requireManager(): void {
    if (!this.local) throw new SwarmError(NOT_IN_SWARM_HELP, 503);
    // The record decides, as in Docker: a node just promoted serves as a manager at once (its etcd user
    // already has the managers' role) while its own member is still being added.
    if (this.nodes?.get(this.local.nodeId)?.value.role !== 'manager') throw new SwarmError(NOT_A_MANAGER, 503);
    if (this.plane && !this.plane.hasQuorum) throw new SwarmError(NO_LEADER_MESSAGE, 503);
  }

  clusterSettings(): ClusterSettings | undefined {
    return this.settings?.get(SETTINGS_KEY)?.value;
  }

  /** Docker's Version.Index of the cluster object. */
  settingsIndex(): number {
    return this.settings?.get(SETTINGS_KEY)?.index ?? 0;
  }

  joinTokens(): { Worker: string; Manager: string } {
    const s = this.clusterSettings();
    const secrets = this.secrets?.get(SECRETS_KEY)?.value;
    if (!s || !secrets) throw new SwarmError('the cluster settings have not reached this node yet; try again in a moment', 503);
    return { Worker: formatToken(s.caDigest, secrets.workerSecret), Manager: formatToken(s.caDigest, secrets.managerSecret) };
  }

  /** `swarm update --cert-expiry`: node certificates are issued for this long from now on, and every node
   * whose certificate outlives it renews at once (cert-renewal.ts). The caller checked the minimum. */
  async setCertExpiry(ms: number): Promise<void> {
    const s = this.clusterSettings();
    if (!s) throw new SwarmError('the cluster settings have not reached this manager yet; try again in a moment', 503);
    if (s.nodeCertExpiryMs === ms) return;
    await this.settings!.put(SETTINGS_KEY, { ...s, nodeCertExpiryMs: ms });
  }

  /** Starts replacing the gossip key; the leader finishes it once every alive node has each step (gossip-keys.ts). */
  async rotateGossipKey(): Promise<void> {
    try {
      await this.keyringController!.rotate();
    } catch (err) {
      if (err instanceof RotationError) throw new SwarmError(err.message, 409);
      throw err;
    }
  }

  /** This node's live gossip keyring, as fingerprints. */
  gossipKeyring(): KeyringReport | undefined {
    return this.keyring ? reportOf(this.keyring) : undefined;
  }

  async rotateToken(which: 'worker' | 'manager'): Promise<void> {
    const s = this.secrets?.get(SECRETS_KEY)?.value;
    if (!s) throw new SwarmError('the join secrets have not reached this manager yet; try again in a moment', 503);
    await this.secrets!.put(SECRETS_KEY, which === 'worker' ? { ...s, workerSecret: newSecret() } : { ...s, managerSecret: newSecret() });
  }

  nodeRecords(): NodeRecord[] {
    return this.admin?.records() ?? [];
  }

  /** Node records with Docker's Version.Index. */
  nodeEntries(): { record: NodeRecord; index: number }[] {
    return this.admin?.entries() ?? [];
  }

  /** A node by ID, unique ID prefix or hostname; an unknown or ambiguous name is an error. */
  resolveNode(name: string): { record: NodeRecord; index: number } {
    return this.requireAdmin().resolve(name);
  }

  /** Updates a node's spec (role, availability, labels) if `version` still matches, like Docker's optimistic update. */
  updateNode(id: string, version: number, spec: { role: NodeRole; availability: Availability; labels: Record<string, string> }): Promise<void> {
    return this.requireAdmin().update(id, version, spec, this.raftRoleChange());
  }

  /**
   * A promotion grants the node the managers' permissions before its record says manager (the node
   * then gets a manager certificate and adds its own member). A demotion removes the node's member
   * and takes the permissions away: of another node, its member before the record changes; of this
   * manager itself, after, through the other managers (this manager talks to its own member only,
   * which the removal ends).
   */
  private raftRoleChange(): RoleChange {
    const self = this.local!.nodeId;
    const client = () => this.plane!.client;
    return {
      before: async (record, role) => {
        if (role === 'manager') await addManagerUser(client(), record.id);
        else if (record.id !== self) await removeMember(client(), record.id, { timeoutMs: 15_000 });
      },
      after: async (record, role) => {
        if (role !== 'worker') return;
        if (record.id !== self) return addWorkerUser(client(), record.id);
        await this.throughOtherManagers(async (others) => {
          await removeMember(others, self, { timeoutMs: 15_000 });
          await addWorkerUser(others, self);
        });
      },
    };
  }

  /** Runs fn with a client of the other managers' members. */
  private async throughOtherManagers(fn: (client: Etcd3) => Promise<void>): Promise<void> {
    const endpoints = this.nodeRecords().filter((n) => n.role === 'manager' && n.id !== this.local!.nodeId).map((n) => clientUrl(n.addr));
    const certs = join(this.dir, 'certs');
    const others = createEtcdClient({ endpoints, tls: { caPem: readFileSync(join(certs, 'ca.crt')), certPem: readFileSync(join(certs, 'node.crt')), keyPem: readFileSync(join(certs, 'node.key')) } });
    try {
      await fn(others);
    } finally {
      others.close();
    }
  }

  /** Removes a node from the cluster's records: only a node that is down, unless forced. */
  async removeNode(name: string, force: boolean): Promise<void> {
    const admin = this.requireAdmin();
    const { record } = admin.resolve(name);
    await admin.remove(name, force);
    // A removed node may no longer read the cluster's state, nor, for a manager, count in Raft.
    const client = this.plane!.client;
    if (record.role === 'manager') await removeMember(client, record.id, { timeoutMs: 15_000 }).catch((err: Error) => this.opts.log.warn({ node: record.id, err: err.message }, 'could not remove the node\'s etcd member'));
    await removeUser(client, record.id).catch((err: Error) => this.opts.log.warn({ node: record.id, err: err.message }, 'could not remove the node\'s etcd user'));
  }

  private requireAdmin(): NodeAdmin {
    if (!this.admin) throw new SwarmError(NOT_IN_SWARM_HELP, 503);
    return this.admin;
  }

  /** ready/down from the gossip view (our own node is always ready). */
  nodeState(id: string): 'ready' | 'down' | 'unknown' {
    if (id === this.local?.nodeId) return 'ready';
    const m = this.gossip?.members.get(id);
    if (!m) return 'unknown';
    return m.state === 'alive' || m.state === 'suspect' ? 'ready' : 'down';
  }

  /** A manager's MANAGER STATUS reachability: a voting Raft member this node hears is reachable; one
   * still catching up as a learner (just promoted or joined) is unknown, as is any when this node
   * cannot read the Raft membership (it is not a manager). */
  managerReachability(id: string): 'reachable' | 'unreachable' | 'unknown' {
    if (this.nodeState(id) !== 'ready') return 'unreachable';
    return this.plane?.raftRole(id) === 'voter' ? 'reachable' : 'unknown';
  }

  /** The manager holding the leader election (known on managers; workers do not read the election). */
  leaderId(): string | undefined {
    return this.plane?.leader()?.nodeId;
  }

  /** This node's certificate, key and the cluster's CA, for calling other nodes' node API. */
  nodeIdentity(): NodeIdentityFiles | undefined {
    return this.identity;
  }

  isLeader(): boolean {
    return this.plane?.isLeader ?? false;
  }

  selfAddr(): string | undefined {
    return this.local?.advertiseAddr;
  }

  /** Retries members that are down, through the addresses the node table knows (as Serf reconnects failed members). */
  private reconnect(): void {
    if (!this.gossip || !this.local) return;
    const down = this.nodeRecords().filter((n) => n.id !== this.local!.nodeId && this.nodeState(n.id) !== 'ready');
    const pick = down[Math.floor(Math.random() * down.length)];
    if (pick) void this.gossip.join([`${pick.addr}:${this.opts.gossipPort}`]).catch(() => {});
  }

  // ---- running ----

  private saveLocal(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileDurably(join(this.dir, 'state.json'), JSON.stringify(this.local, null, 2), 0o600);
  }

  private async putSelf(role: NodeRole, now: string): Promise<void> {
    const existing = this.nodes!.get(this.local!.nodeId)?.value;
    await this.nodes!.put(this.local!.nodeId, {
      id: this.local!.nodeId, hostname: this.opts.nodeName, role: existing?.role ?? role, availability: existing?.availability ?? 'active',
      labels: existing?.labels ?? {}, addr: this.local!.advertiseAddr, engineVersion: packageVersion, createdAt: existing?.createdAt ?? now, updatedAt: now,
    });
  }

  private get raftDir(): string {
    return join(this.opts.dataDir, 'etcd');
  }

  /**
   * Starts what a member runs: the Raft store first (a manager's member, then the copies), gossip,
   * the keyring, the node API, on managers the join server, then the controllers. `beforeMember` runs
   * once the store is up and before anything serves: init writes the new cluster's records there.
   */
  private async run(opts: { bootstrap?: boolean; forceNewCluster?: boolean; beforeMember?: () => Promise<void> } = {}): Promise<void> {
    const l = this.local!;
    const certs = join(this.dir, 'certs');
    const node = loadCertAndKey(certs, 'node');
    const caCertFile = join(certs, 'ca.crt');
    if (!node || !existsSync(caCertFile)) throw new SwarmError(`this node's certificate or the cluster's CA is missing from ${certs}: leave the swarm (\`shoal swarm leave --force\`) and join it again`, 500);
    if (!l.raft) throw new SwarmError('this node joined its swarm before shoal kept the cluster\'s state on etcd: leave the swarm (`shoal swarm leave --force`) and init or join again', 500);
    const caCert = readFileSync(caCertFile, 'utf8');
    this.plane = new ControlPlane({ nodeId: l.nodeId, clusterId: l.clusterId, addr: l.advertiseAddr, certsDir: certs, dir: this.raftDir, local: l.raft, bootstrap: opts.bootstrap === true, forceNewCluster: opts.forceNewCluster === true, log: this.opts.log,
      onVoter: () => { if (l.raft.member) { l.raft.member.voter = true; this.saveLocal(); } },
    });
    await this.plane.start();
    this.store = new ReplicatedStore({
      node: l.nodeId, persistence: new FilePersistence(join(this.opts.dataDir, 'store')),
      signed: { tables: SIGNED_TABLES, ...this.signatures(node.keyPem, caCert) },
    });
    this.state = new GossipStateStore(this.store);
    this.tables = defineClusterTables({ objects: this.plane.objects, nodes: this.plane.nodes, gossip: this.state });
    this.secrets = this.plane.secrets?.table('join', parseJoinSecrets);
    this.nodes = this.tables.nodes;
    this.settings = this.tables.settings;
    this.statuses = this.tables.nodeStatus;
    this.admin = new NodeAdmin({ nodes: this.nodes, selfId: l.nodeId, nodeState: (id) => this.nodeState(id) });
    this.keyring = Keyring.fromBase64(l.gossipKeys);
    this.store.restore();
    this.replicator = new StoreReplicator(this.store);
    this.gossip = new Memberlist({
      name: l.nodeId, addr: l.advertiseAddr, port: this.opts.gossipPort, keyring: this.keyring,
      delegate: this.replicator, log: this.opts.log.child({ component: 'gossip' }),
      config: { delegateMin: 0, delegateMax: 0, delegateVersion: 0 },
    });
    this.replicator.attach(this.gossip);
    await this.gossip.start();
    this.reconnectTimer = setInterval(() => this.reconnect(), tunables.reconnectIntervalMs);
    this.reconnectTimer.unref();
    this.reapTimer = setInterval(() => this.store?.reap(), tunables.tombstoneReapIntervalMs);
    this.reapTimer.unref();
    await opts.beforeMember?.();
    this.keyringController = new KeyringController({
      nodeId: l.nodeId, keyring: this.keyring, settings: this.settings, statuses: this.statuses, certPem: node.certPem, log: this.opts.log.child({ component: 'keyring' }),
      isLeader: () => this.isLeader(),
      aliveNodes: () => this.nodeRecords().filter((n) => this.nodeState(n.id) === 'ready'),
      remember: (keys) => { l.gossipKeys = keys; this.saveLocal(); },
      onMembership: (fn) => this.onMembership(fn),
    });
    this.keyringController.start();
    this.identity = { caCert, node };
    this.nodeApi = new NodeApiServer(this.identity, {
      isManager: (id) => this.nodes?.get(id)?.value.role === 'manager',
      isMember: (id) => this.nodes?.get(id) !== undefined,
      signCertificate: (id, csr) => this.signCertificate(id, csr),
      logs: (taskId, opts) => {
        if (!this.opts.member?.logs) throw Object.assign(new Error('this node runs no tasks'), { code: 'NOT_FOUND' });
        return this.opts.member.logs(taskId, opts);
      },
    }, this.opts.log.child({ component: 'node-api' }));
    await this.nodeApi.listen(NODE_API_PORT, l.advertiseAddr);
    if (this.plane.isManager) await this.startJoinServer(node);
    if (this.opts.member) {
      await this.opts.member.start(this.view());
      this.memberRunning = true;
    }
    this.stopRoleWatch = this.nodes.watch((c) => { if (c.key === l.nodeId) this.followRole(); });
    this.followRole();
    this.startRenewal();
  }

  /** Renews this node's certificate when cert-renewal.ts says, and plans again when the cluster's --cert-expiry changes. */
  private startRenewal(): void {
    this.renewer = new CertRenewer({
      current: () => this.identity!.node.certPem,
      policyMs: () => nodeCertExpiryOf(this.clusterSettings()),
      renew: () => this.renewCertificate(),
      log: this.opts.log.child({ component: 'cert-renewal' }),
    });
    this.renewer.start();
    let expiry = nodeCertExpiryOf(this.clusterSettings());
    this.stopRenewalWatch = this.settings!.watch(() => {
      const now = nodeCertExpiryOf(this.clusterSettings());
      if (now === expiry) return;
      expiry = now;
      this.renewer?.reschedule();
    });
  }

  /** A certificate for a member's CSR, for the role and address its record has now (managers only). */
  private async signCertificate(nodeId: string, csrPem: string): Promise<string> {
    const secrets = this.plane?.isManager ? this.secrets?.get(SECRETS_KEY)?.value : undefined;
    if (!secrets) throw Object.assign(new Error('this node is not a manager holding the cluster CA'), { code: 'NOT_FOUND' });
    const record = this.nodes?.get(nodeId)?.value;
    if (!record) throw new Error(`node ${nodeId} is not in this swarm`);
    await verifyCsrAsync(csrPem);
    return signNodeCsrAsync({ certPem: secrets.caCertPem, keyPem: secrets.caKeyPem }, csrPem, { nodeId, role: record.role, clusterId: this.local!.clusterId, addr: record.addr, etcdNames: true, validityMs: nodeCertExpiryOf(this.clusterSettings()) });
  }

  /** When this node's record names another role than the one it runs (promoted, demoted), it changes over. */
  private followRole(): void {
    const want = this.nodes?.get(this.local?.nodeId ?? '')?.value.role;
    const have = this.plane?.isManager ? 'manager' : 'worker';
    if (!want || want === have || this.changingRole) return;
    this.changingRole = true;
    void this.becomeRole(want)
      .catch((err: Error) => this.opts.log.error({ err: err.message, role: want }, 'could not change this node\'s role; it keeps running as before'))
      .finally(() => { this.changingRole = false; });
  }

  /**
   * Runs as the role the record now says: a certificate for it from a manager, then on a promotion
   * this node's own etcd member (added as a learner, a voter once caught up), on a demotion none;
   * the member's parts restart over it (tasks keep running, as across an agent restart).
   */
  private async becomeRole(role: NodeRole): Promise<void> {
    const l = this.local!;
    this.opts.log.info({ role }, 'this node\'s role changed; changing over');
    await this.renewCertificate();
    const others = this.nodeRecords().filter((n) => n.role === 'manager' && n.id !== l.nodeId).map((n) => clientUrl(n.addr));
    if (role === 'manager') {
      const learner = await addLearner(this.plane!.client, l.nodeId, peerUrl(l.advertiseAddr));
      l.raft = { endpoints: others, member: { initialCluster: learner.initialCluster, state: 'existing' } };
    } else {
      l.raft = { endpoints: others };
    }
    this.saveLocal();
    await this.stop('shutdown');
    rmSync(this.raftDir, { recursive: true, force: true });
    await this.runUntilItStarts();
    const peers = this.nodeRecords().filter((n) => n.id !== l.nodeId).map((n) => `${n.addr}:${this.opts.gossipPort}`);
    await this.gossip?.join(peers).catch(() => 0);
    this.opts.log.info({ role }, 'this node now runs as its new role');
  }

  /** Starts the member's parts again after a change of role, retrying until they start (a failed
   * start must not leave the node stopped; its tasks keep running meanwhile). */
  private async runUntilItStarts(): Promise<void> {
    for (let delay = 2_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        return await this.run();
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message, retryInMs: delay }, 'could not start this node\'s parts in its new role; retrying');
        await this.stop('shutdown').catch(() => undefined);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * A new key and a certificate for it, for this node's current role and the cluster's --cert-expiry,
   * installed and in use everywhere (installIdentity); resolves with the certificate. A manager that
   * holds the CA signs its own; another node asks every other manager at once and takes the first
   * answer. On failure nothing changes: the current certificate stays in use.
   */
  private renewCertificate(): Promise<string> {
    const run = async (): Promise<string> => {
      const { keyPem, csrPem } = await createKeyAndCsrAsync();
      const certPem = await this.signedForSelf(csrPem);
      await this.installIdentity({ certPem, keyPem });
      return certPem;
    };
    const next = (this.renewing ?? Promise.resolve('')).catch(() => '').then(run);
    this.renewing = next;
    return next;
  }

  private async signedForSelf(csrPem: string): Promise<string> {
    const self = this.local!.nodeId;
    if (this.plane?.isManager && this.secrets?.get(SECRETS_KEY) && this.nodes?.get(self)?.value.role === 'manager') return this.signCertificate(self, csrPem);
    const identity = this.identity!;
    const managers = this.nodeRecords().filter((n) => n.role === 'manager' && n.id !== self);
    if (managers.length === 0) throw new Error('no other manager is known to sign a certificate for this node');
    return Promise.any(managers.map((m) => requestCertificate(identity, { nodeId: m.id, addr: m.addr }, csrPem, tunables.certificateRequestTimeoutMs)))
      .catch((err: AggregateError) => { throw new Error(`no manager signed a new certificate: ${err.errors.map((e: Error) => e.message).join('; ')}`); });
  }

  /**
   * Puts a new certificate and key in place without a restart: the files (crash-safe, as a pair; the
   * etcd member reads them at its next handshake), the node API and join servers (next handshakes),
   * the etcd clients (next connections), the node API's clients (every call reads nodeIdentity()),
   * the certificate published in this node's status, and then the key gossip entries are signed with,
   * its own entries signed again so that every node, even one that never saw the old certificate,
   * can check them.
   */
  private async installIdentity(node: CaFiles): Promise<void> {
    installCertAndKey(join(this.dir, 'certs'), 'node', node);
    const identity = { caCert: this.identity!.caCert, node };
    this.identity = identity;
    this.nodeApi?.useIdentity(identity);
    this.joinServer?.useIdentity(node);
    this.plane?.useIdentity(node.certPem, node.keyPem);
    await this.keyringController?.useCertificate(node.certPem);
    this.sigs?.useKey(node.keyPem);
    const resigned = this.store?.resign() ?? 0;
    this.opts.log.info({ resigned }, 'this node\'s new certificate is in use');
  }

  /** On a manager: admits joiners, signing with the CA the managers' store holds. */
  private async startJoinServer(node: CaFiles): Promise<void> {
    const l = this.local!;
    const secrets = this.secrets?.get(SECRETS_KEY)?.value;
    if (!secrets) {
      this.opts.log.warn('the join secrets are not in the managers\' store; this manager admits no nodes');
      return;
    }
    const ca = { certPem: secrets.caCertPem, keyPem: secrets.caKeyPem };
    this.joinServer = new JoinServer({
      ca, node, certValidityMs: () => nodeCertExpiryOf(this.clusterSettings()), authority: {
        currentSecrets: () => {
          const s = this.secrets?.get(SECRETS_KEY)?.value;
          return s ? { worker: s.workerSecret, manager: s.managerSecret } : { worker: '', manager: '' };
        },
        admit: async (req) => this.admit(req),
      },
    });
    await this.joinServer.listen(l.listenPort, l.advertiseAddr);
    this.advert = await advertiseManager({ addr: l.advertiseAddr, port: l.listenPort, caDigest: caCertDigest(ca.certPem), nodeId: l.nodeId, log: this.opts.log.child({ component: 'mdns' }) })
      .catch((err: Error) => void this.opts.log.warn({ err: err.message }, 'not advertising this manager by mDNS; joiners must give its address'));
  }

  /** A manager leaving (forced): its member leaves the Raft cluster first, so the others do not count it. */
  private async leaveRaft(): Promise<void> {
    const plane = this.plane;
    const others = this.nodeRecords().some((n) => n.role === 'manager' && n.id !== this.local!.nodeId);
    if (!plane || !others) return;
    try {
      await removeMember(plane.client, this.local!.nodeId, { timeoutMs: 10_000 });
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not remove this manager\'s etcd member; the other managers still count it');
    }
  }

  /** Undoes a failed init or join: stops what started and forgets the swarm. */
  private async abandon(): Promise<void> {
    await this.stop('leave').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.raftDir, { recursive: true, force: true });
    this.local = undefined;
  }

  /**
   * Signing of the tables whose entries belong to one node (endpoints): this node signs with its key;
   * another node's entry is kept only if signed by its owner, checked against the certificate the
   * owner published in its status. A refusal is counted (the store's stats) and logged once per
   * writer and reason.
   */
  private signatures(keyPem: string, caCertPem: string): { signer: NodeSignatures; verifier: NodeSignatures; onRefused: (e: Entry, why: Refusal) => void } {
    const sigs = new NodeSignatures({
      keyPem, caCertPem,
      certOf: (id) => this.statuses?.get(id)?.value.cert,
      ownerOf: (e, current) => endpointOwner(e.key, e.deleted ? undefined : e.value, current && !current.deleted ? (current.value as { nodeId: string }) : undefined, (taskId) => this.tables?.tasks.get(taskId)?.value.nodeId),
    });
    this.sigs = sigs;
    const told = new Set<string>();
    const onRefused = (e: Entry, why: Refusal) => {
      const key = `${e.version.node}/${why}`;
      if (told.has(key)) return;
      told.add(key);
      if (PERHAPS_EARLY.has(why)) return this.opts.log.debug({ table: e.table, key: e.key, writer: e.version.node, why }, 'dropped a gossiped entry that came before what proves it (anti-entropy brings it again)');
      this.opts.log.warn({ table: e.table, key: e.key, writer: e.version.node, why }, 'dropped a gossiped entry its writer may not make (logged once per writer and reason; counted in the store stats)');
    };
    return { signer: sigs, verifier: sigs, onRefused };
  }

  /** Entries of signed tables this node dropped: forged, unsigned or from a node that does not own them. */
  refusedEntries(): number {
    return this.store?.stats.refused ?? 0;
  }

  /** The cluster as controllers see it (cluster-view.ts). */
  private view(): ClusterView {
    const objects = this.plane!.objects;
    return {
      nodeId: this.local!.nodeId,
      advertiseAddr: this.local!.advertiseAddr,
      tables: this.tables!,
      log: this.opts.log,
      // Batches are the objects' (the leader's pass, the API's guarded commits): fenced and revision-guarded.
      batch: () => objects.batch(),
      isLeader: () => this.isLeader(),
      nodes: () => this.nodeRecords(),
      node: (id) => this.nodes?.get(id)?.value,
      nodeState: (id) => this.nodeState(id),
      settings: () => this.clusterSettings(),
      onMembership: (fn) => this.onMembership(fn),
    };
  }

  /** Calls fn whenever a member joins, fails, leaves or changes, or a node record changes. */
  private onMembership(fn: () => void): () => void {
    const gossip = this.gossip!;
    const events = ['join', 'leave', 'update'] as const;
    for (const e of events) gossip.on(e, fn);
    const stopNodes = this.nodes!.watch(() => fn());
    return () => {
      for (const e of events) gossip.off(e, fn);
      stopNodes();
    };
  }

  private async admit(req: { nodeName: string; advertiseAddr: string; role: NodeRole }): Promise<Admission> {
    const plane = this.plane!;
    const id = newId();
    const now = new Date().toISOString();
    // Its etcd user first: once the record exists, the node may connect at any moment.
    if (req.role === 'manager') await addManagerUser(plane.client, id);
    else await addWorkerUser(plane.client, id);
    const learner = req.role === 'manager' ? await addLearner(plane.client, id, peerUrl(req.advertiseAddr)) : undefined;
    await this.nodes!.put(id, { id, hostname: req.nodeName, role: req.role, availability: 'active', labels: {}, addr: req.advertiseAddr, engineVersion: packageVersion, createdAt: now, updatedAt: now });
    const keys = this.clusterSettings() ? primaryFirst(this.clusterSettings()!.gossip) : this.local!.gossipKeys;
    const endpoints = this.nodeRecords().filter((n) => n.role === 'manager' && n.id !== id).map((n) => clientUrl(n.addr));
    return {
      nodeId: id, clusterId: this.local!.clusterId, gossipKeys: keys, peers: [`${this.local!.advertiseAddr}:${this.opts.gossipPort}`],
      raft: { endpoints, ...(learner ? { initialCluster: learner.initialCluster } : {}) },
    };
  }

}
