// This node's part in a swarm: creating one (init), joining one (join over TLS), leaving, and
// running what a member runs: gossip membership named by node ID, the replicated store carried by
// it, and on managers the join server. Persisted in <data-dir>/swarm so a restarted agent rejoins.
// The leader is the alive manager with the lowest node ID: every node computes the same answer
// from its membership view, so there is nothing to elect.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFileDurably } from '../util/durable-file.js';
import { join } from 'node:path';
import { caCertDigest, createCa, createKeyAndCsr, loadCertAndKey, saveCertAndKey, signNodeCsr, type NodeRole } from './ca.js';
import { advertiseManager, type Advertisement } from './discovery.js';
import { newId } from './ids.js';
import { initialKeyring, primaryFirst, reportOf, RotationError, type KeyringReport } from './gossip-keys.js';
import { KeyringController, newGossipKey } from '../controllers/keyring.js';
import { ALREADY_IN_SWARM, NOT_A_MANAGER, NOT_IN_SWARM, NOT_IN_SWARM_HELP, SwarmError } from './errors.js';
import { NodeAdmin } from './node-admin.js';
import { NodeSignatures } from './node-signatures.js';
import { endpointOwner } from '../model/endpoint.js';
import type { Entry } from '../store/entry.js';
import { PERHAPS_EARLY, type Refusal } from '../store/signing.js';
import { joinCluster, JoinServer, type Admission } from './join.js';
import { fetchSettings, NODE_API_PORT, NodeApiServer, type NodeIdentityFiles } from './node-api.js';
import type { LogLine, LogOptions } from '../runtime/runtime.js';
import { Memberlist } from './memberlist.js';
import { formatToken, newSecret } from './token.js';
import { Keyring } from './wire/security.js';
import type { ClusterView } from '../controllers/cluster-view.js';
import { SETTINGS_KEY, type ClusterSettings } from '../model/cluster.js';
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
}

export class Swarm {
  private store: ReplicatedStore | undefined;
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
  private catchingUp = false;

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
   * node was down, and then no peer could understand it: so it first catches up the settings from a
   * manager over TLS (one small request, a no-op when nothing changed), lets the keyring follow them,
   * and only then joins.
   */
  private async rejoin(peers: string[]): Promise<void> {
    const join = () => this.gossip?.join(peers).catch(() => 0) ?? Promise.resolve(0);
    await this.catchUpSettings();
    await this.keyringController?.settle();
    if ((await join()) === 0) this.opts.log.warn({ peers }, 'could not reach any known peer; waiting for them');
  }

  async init(req: InitRequest): Promise<string> {
    if (this.local) throw new SwarmError(ALREADY_IN_SWARM, 503);
    const ca = createCa();
    const nodeId = newId();
    const clusterId = newId();
    const { keyPem, csrPem } = createKeyAndCsr();
    const node = { certPem: signNodeCsr(ca, csrPem, { nodeId, role: 'manager', clusterId, addr: req.advertiseAddr }), keyPem };
    mkdirSync(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
    saveCertAndKey(join(this.dir, 'certs'), 'ca', ca);
    saveCertAndKey(join(this.dir, 'certs'), 'node', node);
    const gossipKey = newGossipKey();
    this.local = { clusterId, nodeId, advertiseAddr: req.advertiseAddr, listenPort: req.listenPort, gossipKeys: [gossipKey], peers: [`${req.advertiseAddr}:${this.opts.gossipPort}`] };
    this.saveLocal();
    await this.run();
    const now = new Date().toISOString();
    await this.settings!.put(SETTINGS_KEY, { id: clusterId, createdAt: now, workerSecret: newSecret(), managerSecret: newSecret(), caDigest: caCertDigest(ca.certPem), defaultAddrPool: req.defaultAddrPool, subnetSize: req.subnetSize, gossip: initialKeyring(gossipKey, now) });
    await this.putSelf('manager', now);
    await this.opts.member?.initCluster?.(this.view());
    return nodeId;
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
    this.local = { clusterId: grant.clusterId, nodeId: grant.nodeId, advertiseAddr: req.advertiseAddr, listenPort: req.listenPort, gossipKeys: grant.gossipKeys, peers: grant.peers };
    this.saveLocal();
    await this.run();
    await this.gossip!.join(grant.peers);
    // The manager recorded us; our own record also goes out by gossip as soon as we are in.
    await this.putSelf(grant.role, new Date().toISOString());
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
    await this.stop('leave');
    rmSync(this.dir, { recursive: true, force: true });
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
    if (this.nodes!.get(this.local.nodeId)?.value.role !== 'manager') throw new SwarmError(NOT_A_MANAGER, 503);
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
    if (!s) throw new SwarmError('the cluster settings have not reached this node yet; try again in a moment', 503);
    return { Worker: formatToken(s.caDigest, s.workerSecret), Manager: formatToken(s.caDigest, s.managerSecret) };
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
    const s = this.clusterSettings()!;
    await this.settings!.put(SETTINGS_KEY, which === 'worker' ? { ...s, workerSecret: newSecret() } : { ...s, managerSecret: newSecret() });
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
    return this.requireAdmin().update(id, version, spec);
  }

  /** Removes a node from the cluster's records: only a node that is down, unless forced. */
  removeNode(name: string, force: boolean): Promise<void> {
    return this.requireAdmin().remove(name, force);
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

  leaderId(): string | undefined {
    return this.nodeRecords().filter((n) => n.role === 'manager' && this.nodeState(n.id) === 'ready').map((n) => n.id).sort()[0];
  }

  /** This node's certificate, key and the cluster's CA, for calling other nodes' node API. */
  nodeIdentity(): NodeIdentityFiles | undefined {
    return this.identity;
  }

  isLeader(): boolean {
    return this.local !== undefined && this.leaderId() === this.local.nodeId;
  }

  selfAddr(): string | undefined {
    return this.local?.advertiseAddr;
  }

  /** Retries members that are down, through the addresses the node table knows (as Serf reconnects failed members). */
  private reconnect(): void {
    if (!this.gossip || !this.local) return;
    if (this.isolated()) void this.catchUpSettings();
    const down = this.nodeRecords().filter((n) => n.id !== this.local!.nodeId && this.nodeState(n.id) !== 'ready');
    const pick = down[Math.floor(Math.random() * down.length)];
    if (pick) void this.gossip.join([`${pick.addr}:${this.opts.gossipPort}`]).catch(() => {});
  }

  /** No other member answers while the node table knows others: perhaps the gossip key moved on while this node was away. */
  private isolated(): boolean {
    const self = this.local?.nodeId;
    const alive = this.gossip?.members.list().filter((m) => m.name !== self && m.state === 'alive').length ?? 0;
    return alive === 0 && this.nodeRecords().some((n) => n.id !== self);
  }

  /**
   * Asks the managers for the cluster settings over the node API (mutual TLS with this node's
   * certificate), all at once, and merges the first answer (it wins only if newer, as any merge): a
   * node that was down while the gossip key was rotated learns the new keyring this way, the keyring
   * controller applies it, and gossip works again. At most one attempt at a time.
   */
  private async catchUpSettings(): Promise<void> {
    if (this.catchingUp || !this.identity || !this.store) return;
    this.catchingUp = true;
    try {
      const identity = this.identity;
      const managers = this.nodeRecords().filter((n) => n.role === 'manager' && n.id !== this.local?.nodeId);
      if (managers.length === 0) return;
      // Every manager at once; the first answer counts (a manager that is down costs no waiting).
      try {
        const { m, entry } = await Promise.any(managers.map((m) => fetchSettings(identity, { nodeId: m.id, addr: m.addr }, tunables.settingsCatchUpTimeoutMs).then((entry) => ({ m, entry }))));
        if ((this.store?.merge([entry]).applied.length ?? 0) > 0) this.opts.log.info({ manager: m.hostname }, 'caught up the cluster settings (the gossip keyring) from a manager over TLS');
      } catch (err) {
        this.opts.log.debug({ errors: (err as AggregateError).errors?.map((e: Error) => e.message) }, 'no manager gave the cluster settings');
      }
    } finally {
      this.catchingUp = false;
    }
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

  private async run(): Promise<void> {
    const l = this.local!;
    const ca = loadCertAndKey(join(this.dir, 'certs'), 'ca');
    const node = loadCertAndKey(join(this.dir, 'certs'), 'node');
    const caCertFile = join(this.dir, 'certs', 'ca.crt');
    if (!node || !existsSync(caCertFile)) throw new SwarmError(`this node's certificate or the cluster's CA is missing from ${join(this.dir, 'certs')}: leave the swarm (\`shoal swarm leave --force\`) and join it again`, 500);
    const caCert = readFileSync(caCertFile, 'utf8');
    this.store = new ReplicatedStore({
      node: l.nodeId, persistence: new FilePersistence(join(this.opts.dataDir, 'store')),
      signed: { tables: SIGNED_TABLES, ...this.signatures(node.keyPem, caCert) },
    });
    this.state = new GossipStateStore(this.store);
    this.tables = defineClusterTables(this.state);
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
    this.keyringController = new KeyringController({
      nodeId: l.nodeId, keyring: this.keyring, settings: this.settings, statuses: this.statuses, certPem: node.certPem, log: this.opts.log.child({ component: 'keyring' }),
      isLeader: () => this.isLeader(),
      aliveNodes: () => this.nodeRecords().filter((n) => this.nodeState(n.id) === 'ready'),
      remember: (keys) => { l.gossipKeys = keys; this.saveLocal(); },
      onMembership: (fn) => this.onMembership(fn),
    });
    this.keyringController.start();
    {
      this.identity = { caCert, node };
      this.nodeApi = new NodeApiServer(this.identity, {
        isManager: (id) => this.nodes?.get(id)?.value.role === 'manager',
        isMember: (id) => this.nodes?.get(id) !== undefined,
        settings: () => (this.nodes?.get(l.nodeId)?.value.role === 'manager' ? this.store?.entry('cluster', SETTINGS_KEY) : undefined),
        logs: (taskId, opts) => {
          if (!this.opts.member?.logs) throw Object.assign(new Error('this node runs no tasks'), { code: 'NOT_FOUND' });
          return this.opts.member.logs(taskId, opts);
        },
      }, this.opts.log.child({ component: 'node-api' }));
      await this.nodeApi.listen(NODE_API_PORT, l.advertiseAddr);
    }
    if (ca) {
      this.joinServer = new JoinServer({
        ca, node, authority: {
          currentSecrets: () => {
            const s = this.clusterSettings();
            return s ? { worker: s.workerSecret, manager: s.managerSecret } : { worker: '', manager: '' };
          },
          admit: async (req) => this.admit(req),
        },
      });
      await this.joinServer.listen(l.listenPort, l.advertiseAddr);
      this.advert = await advertiseManager({ addr: l.advertiseAddr, port: l.listenPort, caDigest: caCertDigest(ca.certPem), nodeId: l.nodeId, log: this.opts.log.child({ component: 'mdns' }) })
        .catch((err: Error) => void this.opts.log.warn({ err: err.message }, 'not advertising this manager by mDNS; joiners must give its address'));
    }
    if (this.opts.member) {
      await this.opts.member.start(this.view());
      this.memberRunning = true;
    }
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
    const state = this.state!;
    return {
      nodeId: this.local!.nodeId,
      advertiseAddr: this.local!.advertiseAddr,
      tables: this.tables!,
      log: this.opts.log,
      batch: () => state.batch(),
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
    const id = newId();
    const now = new Date().toISOString();
    await this.nodes!.put(id, { id, hostname: req.nodeName, role: req.role, availability: 'active', labels: {}, addr: req.advertiseAddr, engineVersion: packageVersion, createdAt: now, updatedAt: now });
    const keys = this.clusterSettings() ? primaryFirst(this.clusterSettings()!.gossip) : this.local!.gossipKeys;
    return { nodeId: id, clusterId: this.local!.clusterId, gossipKeys: keys, peers: [`${this.local!.advertiseAddr}:${this.opts.gossipPort}`] };
  }
}
