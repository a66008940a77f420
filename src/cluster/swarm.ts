// This node's part in a swarm: creating one (init), joining one (join over TLS), leaving, and
// running what a member runs: gossip membership named by node ID, the replicated store carried by
// it, and on managers the join server. Persisted in <data-dir>/swarm so a restarted agent rejoins.
// The leader is the alive manager with the lowest node ID: every node computes the same answer
// from its membership view, so there is nothing to elect.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caCertDigest, createCa, createKeyAndCsr, loadCertAndKey, saveCertAndKey, signNodeCsr, type NodeRole } from './ca.js';
import { advertiseManager, type Advertisement } from './discovery.js';
import { newId } from './ids.js';
import { applyKeyring, initialKeyring, nextRotationStep, primaryFirst, reportOf, RotationError, startRotation, type GossipKeyring, type KeyringReport } from './gossip-keys.js';
import { joinCluster, JoinServer, type Admission } from './join.js';
import { NODE_API_PORT, NodeApiServer, type NodeIdentityFiles } from './node-api.js';
import type { LogLine, LogOptions } from '../runtime/runtime.js';
import { Memberlist } from './memberlist.js';
import { formatToken, newSecret } from './token.js';
import { Keyring } from './wire/security.js';
import type { ClusterView } from '../controllers/cluster-view.js';
import { defineObjectTables, type ObjectTables } from '../model/tables.js';
import { FilePersistence } from '../store/persistence.js';
import { StoreReplicator } from '../store/replicator.js';
import { ReplicatedStore, type Table } from '../store/store.js';
import type { Logger } from '../util/log.js';
import { packageVersion } from '../util/paths.js';

export type Availability = 'active' | 'pause' | 'drain';

/** A node as the cluster records it (the store's `nodes` table, keyed by node ID). */
export interface NodeRecord {
  id: string;
  hostname: string;
  role: NodeRole;
  availability: Availability;
  labels: Record<string, string>;
  addr: string;
  engineVersion: string;
  createdAt: string;
  updatedAt: string;
}

/** Cluster-wide settings (the store's `cluster` table, key 'settings'). */
export interface ClusterSettings {
  id: string;
  createdAt: string;
  workerSecret: string;
  managerSecret: string;
  caDigest: string;
  defaultAddrPool: string[];
  subnetSize: number;
  /** The desired gossip keyring (gossip-keys.ts). */
  gossip: GossipKeyring;
}

/** What a node reports about itself (the store's `node-status` table, keyed by node ID, written only by that node). */
export interface NodeStatus {
  id: string;
  /** Fingerprints of the gossip keys it holds, and the one it encrypts with. */
  gossip: KeyringReport;
  updatedAt: string;
}

/** What this node keeps about its own membership (<data-dir>/swarm/state.json). */
interface LocalState {
  clusterId: string;
  nodeId: string;
  advertiseAddr: string;
  listenPort: number;
  gossipKeys: string[];
  peers: string[];
}

/** How often a down member is retried. Serf uses 30 s; NetworkDB 1 s; a few seconds heals a LAN partition quickly without load. */
export const RECONNECT_INTERVAL_MS = 3_000;

/** How often tombstones older than the store's TTL are reaped (NetworkDB checks every 5 s). */
export const REAP_INTERVAL_MS = 5_000;

/** How often the leader checks whether a gossip key rotation can move on (a step needs one gossip round trip). */
export const KEY_ROTATION_TICK_MS = 1_000;

/** The leader replaces the gossip key this often, as swarmkit's key manager does (keyRotationInterval, 12 h). */
export const GOSSIP_KEY_ROTATION_INTERVAL_MS = 12 * 3600_000;

/** Docker's Version.Index for a store version: increasing with every write to the entry. */
export function versionIndex(v: { wall: number; counter: number }): number {
  return v.wall * 1000 + Math.min(v.counter, 999);
}

export class SwarmError extends Error {
  override readonly name = 'SwarmError';
  constructor(
    message: string,
    /** HTTP status the API answers with. */
    readonly status = 400,
  ) {
    super(message);
  }
}

export const NOT_IN_SWARM = 'This node is not part of a swarm';
export const ALREADY_IN_SWARM = 'This node is already part of a swarm. Use "shoal swarm leave" to leave this swarm and join another one.';
export const NOT_A_MANAGER = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";

function parseNode(v: unknown): NodeRecord {
  const n = v as Partial<NodeRecord>;
  if (typeof n?.id !== 'string' || typeof n.hostname !== 'string' || (n.role !== 'manager' && n.role !== 'worker')) throw new Error('node record needs id, hostname and role');
  if (!['active', 'pause', 'drain'].includes(n.availability as string)) throw new Error('node availability must be active, pause or drain');
  return n as NodeRecord;
}

function parseSettings(v: unknown): ClusterSettings {
  const s = v as Partial<ClusterSettings>;
  if (typeof s?.id !== 'string' || typeof s.workerSecret !== 'string' || typeof s.managerSecret !== 'string' || typeof s.caDigest !== 'string') throw new Error('cluster settings need id, secrets and CA digest');
  const g = s.gossip as Partial<GossipKeyring> | undefined;
  if (!g || !Array.isArray(g.keys) || g.keys.length === 0 || g.keys.some((k) => typeof k !== 'string') || typeof g.primary !== 'string' || !g.keys.includes(g.primary)) throw new Error('cluster settings need a gossip keyring whose primary is one of its keys');
  return s as ClusterSettings;
}

function parseNodeStatus(v: unknown): NodeStatus {
  const n = v as Partial<NodeStatus>;
  if (typeof n?.id !== 'string' || !Array.isArray(n.gossip?.keys) || typeof n.gossip?.primary !== 'string') throw new Error('node status needs id and gossip keyring report');
  return n as NodeStatus;
}

/** What runs on a node while it is in a swarm (the agent's controllers). */
export interface SwarmMember {
  start(view: ClusterView): Promise<void>;
  /** Once, on the node that creates the swarm: the objects a new cluster starts with. */
  initCluster?(view: ClusterView): void;
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
  private nodes: Table<NodeRecord> | undefined;
  private settings: Table<ClusterSettings> | undefined;
  private statuses: Table<NodeStatus> | undefined;
  private objects: ObjectTables | undefined;
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
  private rotationTimer: NodeJS.Timeout | undefined;
  private readonly stopWatching: (() => void)[] = [];

  constructor(private readonly opts: SwarmOptions) {
    this.dir = join(opts.dataDir, 'swarm');
  }

  get active(): boolean {
    return this.local !== undefined;
  }

  get nodeId(): string | undefined {
    return this.local?.nodeId;
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
    if (others.length > 0) void this.gossip!.join(others).catch((err: Error) => this.opts.log.warn({ err: err.message }, 'could not reach any known peer; waiting for them'));
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
    this.settings!.put('settings', { id: clusterId, createdAt: now, workerSecret: newSecret(), managerSecret: newSecret(), caDigest: caCertDigest(ca.certPem), defaultAddrPool: req.defaultAddrPool, subnetSize: req.subnetSize, gossip: initialKeyring(gossipKey, now) });
    this.putSelf('manager', now);
    this.opts.member?.initCluster?.(this.view());
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
    writeFileSync(join(this.dir, 'certs', 'ca.crt'), grant.caCert);
    saveCertAndKey(join(this.dir, 'certs'), 'node', { certPem: grant.nodeCert, keyPem: grant.keyPem });
    this.local = { clusterId: grant.clusterId, nodeId: grant.nodeId, advertiseAddr: req.advertiseAddr, listenPort: req.listenPort, gossipKeys: grant.gossipKeys, peers: grant.peers };
    this.saveLocal();
    await this.run();
    await this.gossip!.join(grant.peers);
    // The manager recorded us; our own record also goes out by gossip as soon as we are in.
    this.putSelf(grant.role, new Date().toISOString());
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
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    for (const stop of this.stopWatching.splice(0)) stop();
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
  }

  // ---- reads for the API ----

  requireManager(): void {
    if (!this.local) throw new SwarmError(`${NOT_IN_SWARM}. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again.`, 503);
    if (this.nodes!.get(this.local.nodeId)?.value.role !== 'manager') throw new SwarmError(NOT_A_MANAGER, 503);
  }

  clusterSettings(): ClusterSettings | undefined {
    return this.settings?.get('settings')?.value;
  }

  /** Docker's Version.Index of the cluster object. */
  settingsIndex(): number {
    const v = this.settings?.get('settings')?.version;
    return v ? versionIndex(v) : 0;
  }

  joinTokens(): { Worker: string; Manager: string } {
    const s = this.clusterSettings();
    if (!s) throw new SwarmError('the cluster settings have not reached this node yet; try again in a moment', 503);
    return { Worker: formatToken(s.caDigest, s.workerSecret), Manager: formatToken(s.caDigest, s.managerSecret) };
  }

  /** Starts replacing the gossip key; the leader finishes it once every alive node has each step (gossip-keys.ts). */
  rotateGossipKey(): void {
    const s = this.clusterSettings()!;
    try {
      this.settings!.put('settings', { ...s, gossip: startRotation(s.gossip, newGossipKey(), new Date().toISOString()) });
    } catch (err) {
      if (err instanceof RotationError) throw new SwarmError(err.message, 409);
      throw err;
    }
  }

  /** This node's live gossip keyring, as fingerprints. */
  gossipKeyring(): KeyringReport | undefined {
    return this.keyring ? reportOf(this.keyring) : undefined;
  }

  rotateToken(which: 'worker' | 'manager'): void {
    const s = this.clusterSettings()!;
    this.settings!.put('settings', which === 'worker' ? { ...s, workerSecret: newSecret() } : { ...s, managerSecret: newSecret() });
  }

  nodeRecords(): NodeRecord[] {
    return this.nodes?.list().map((n) => n.value) ?? [];
  }

  /** Node records with Docker's Version.Index. */
  nodeEntries(): { record: NodeRecord; index: number }[] {
    return this.nodes?.list().map((n) => ({ record: n.value, index: versionIndex(n.version) })) ?? [];
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

  /** A node by ID, unique ID prefix or hostname; an unknown or ambiguous name is an error. */
  resolveNode(name: string): { record: NodeRecord; index: number } {
    const all = this.nodes!.list();
    const exact = all.filter((n) => n.key === name);
    const byHost = all.filter((n) => n.value.hostname === name);
    const byPrefix = all.filter((n) => n.key.startsWith(name));
    const found = exact.length === 1 ? exact : byHost.length > 0 ? byHost : byPrefix;
    if (found.length === 0) throw new SwarmError(`No such node: ${name}`, 404);
    if (found.length > 1) throw new SwarmError(`node ${name} is ambiguous (${found.length} matches found)`, 400);
    const n = found[0]!;
    return { record: n.value, index: versionIndex(n.version) };
  }

  /** Updates a node's spec (role, availability, labels) if `version` still matches, like Docker's optimistic update. */
  updateNode(id: string, version: number, spec: { role: NodeRole; availability: Availability; labels: Record<string, string> }): void {
    const { record, index } = this.resolveNode(id);
    if (version !== index) throw new SwarmError(`update out of sequence: node ${record.id} is at version ${index}, not ${version}; read it again and retry`, 409);
    if (record.role === 'manager' && spec.role === 'worker') {
      const managers = this.nodeRecords().filter((n) => n.role === 'manager');
      if (managers.length <= 1) throw new SwarmError(`rpc error: attempting to demote the last manager of the swarm`, 400);
    }
    this.nodes!.put(record.id, { ...record, role: spec.role, availability: spec.availability, labels: spec.labels, updatedAt: new Date().toISOString() });
  }

  /** Removes a node from the cluster's records: only a node that is down, unless forced. */
  removeNode(name: string, force: boolean): void {
    const { record } = this.resolveNode(name);
    if (record.id === this.local?.nodeId) throw new SwarmError('rpc error: node ' + record.id + ' is this node; use `shoal swarm leave` on it instead', 400);
    if (this.nodeState(record.id) === 'ready' && !force) {
      throw new SwarmError(`rpc error: node ${record.id} is not down and can't be removed. Take it down first (\`shoal swarm leave\` on it) or use --force`, 400);
    }
    if (record.role === 'manager' && !force) throw new SwarmError(`rpc error: node ${record.id} is a cluster manager; demote it before removing it`, 400);
    this.nodes!.delete(record.id);
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
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify(this.local, null, 2), { mode: 0o600 });
  }

  private putSelf(role: NodeRole, now: string): void {
    const existing = this.nodes!.get(this.local!.nodeId)?.value;
    this.nodes!.put(this.local!.nodeId, {
      id: this.local!.nodeId, hostname: this.opts.nodeName, role: existing?.role ?? role, availability: existing?.availability ?? 'active',
      labels: existing?.labels ?? {}, addr: this.local!.advertiseAddr, engineVersion: packageVersion, createdAt: existing?.createdAt ?? now, updatedAt: now,
    });
  }

  private async run(): Promise<void> {
    const l = this.local!;
    this.store = new ReplicatedStore({ node: l.nodeId, persistence: new FilePersistence(join(this.opts.dataDir, 'store')) });
    this.nodes = this.store.defineTable('nodes', parseNode);
    this.settings = this.store.defineTable('cluster', parseSettings);
    this.statuses = this.store.defineTable('node-status', parseNodeStatus);
    this.objects = defineObjectTables(this.store);
    this.keyring = Keyring.fromBase64(l.gossipKeys);
    this.stopWatching.push(this.settings.watch(() => this.followKeyring()));
    this.stopWatching.push(this.statuses.watch(() => this.stepRotation()));
    this.store.restore();
    this.replicator = new StoreReplicator(this.store);
    this.gossip = new Memberlist({
      name: l.nodeId, addr: l.advertiseAddr, port: this.opts.gossipPort, keyring: this.keyring,
      delegate: this.replicator, log: this.opts.log.child({ component: 'gossip' }),
      config: { delegateMin: 0, delegateMax: 0, delegateVersion: 0 },
    });
    this.replicator.attach(this.gossip);
    await this.gossip.start();
    this.reconnectTimer = setInterval(() => this.reconnect(), RECONNECT_INTERVAL_MS);
    this.reconnectTimer.unref();
    this.reapTimer = setInterval(() => this.store?.reap(), REAP_INTERVAL_MS);
    this.reapTimer.unref();
    this.rotationTimer = setInterval(() => this.stepRotation(), KEY_ROTATION_TICK_MS);
    this.rotationTimer.unref();
    this.reportStatus();
    const ca = loadCertAndKey(join(this.dir, 'certs'), 'ca');
    const node = loadCertAndKey(join(this.dir, 'certs'), 'node');
    const caCertFile = join(this.dir, 'certs', 'ca.crt');
    if (node && existsSync(caCertFile)) {
      this.identity = { caCert: readFileSync(caCertFile, 'utf8'), node };
      this.nodeApi = new NodeApiServer(this.identity, {
        isManager: (id) => this.nodes?.get(id)?.value.role === 'manager',
        logs: (taskId, opts) => {
          if (!this.opts.member?.logs) throw Object.assign(new Error('this node runs no tasks'), { code: 'NOT_FOUND' });
          return this.opts.member.logs(taskId, opts);
        },
      }, this.opts.log.child({ component: 'node-api' }));
      await this.nodeApi.listen(NODE_API_PORT, l.advertiseAddr);
    }
    if (ca && node) {
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

  /** The cluster as controllers see it (cluster-view.ts). */
  private view(): ClusterView {
    const gossip = this.gossip!;
    return {
      nodeId: this.local!.nodeId,
      advertiseAddr: this.local!.advertiseAddr,
      tables: this.objects!,
      log: this.opts.log,
      isLeader: () => this.isLeader(),
      nodes: () => this.nodeRecords(),
      node: (id) => this.nodes?.get(id)?.value,
      nodeState: (id) => this.nodeState(id),
      settings: () => this.clusterSettings(),
      onMembership: (fn) => {
        const events = ['join', 'leave', 'update'] as const;
        for (const e of events) gossip.on(e, fn);
        const stopNodes = this.nodes!.watch(fn);
        return () => {
          for (const e of events) gossip.off(e, fn);
          stopNodes();
        };
      },
    };
  }

  private async admit(req: { nodeName: string; advertiseAddr: string; role: NodeRole }): Promise<Admission> {
    const id = newId();
    const now = new Date().toISOString();
    this.nodes!.put(id, { id, hostname: req.nodeName, role: req.role, availability: 'active', labels: {}, addr: req.advertiseAddr, engineVersion: packageVersion, createdAt: now, updatedAt: now });
    const keys = this.clusterSettings() ? primaryFirst(this.clusterSettings()!.gossip) : this.local!.gossipKeys;
    return { nodeId: id, clusterId: this.local!.clusterId, gossipKeys: keys, peers: [`${this.local!.advertiseAddr}:${this.opts.gossipPort}`] };
  }

  // ---- the gossip keyring ----

  /** Applies the desired keyring to the live one, remembers it for restarts, and reports it. */
  private followKeyring(): void {
    const desired = this.clusterSettings()?.gossip;
    if (!desired || !this.keyring || !this.local) return;
    if (!applyKeyring(this.keyring, desired)) return;
    this.local.gossipKeys = this.keyring.list().map((k) => k.toString('base64'));
    this.saveLocal();
    this.opts.log.info({ keyring: reportOf(this.keyring) }, 'gossip keyring changed');
    this.reportStatus();
  }

  private reportStatus(): void {
    if (!this.statuses || !this.keyring || !this.local) return;
    const gossip = reportOf(this.keyring);
    const current = this.statuses.get(this.local.nodeId)?.value;
    if (current && current.gossip.primary === gossip.primary && current.gossip.keys.join() === gossip.keys.join()) return;
    this.statuses.put(this.local.nodeId, { id: this.local.nodeId, gossip, updatedAt: new Date().toISOString() });
  }

  /** On the leader: moves a rotation on when every alive node has confirmed its step; starts one when the key is old. */
  private stepRotation(): void {
    if (!this.isLeader()) return;
    const s = this.clusterSettings();
    if (!s) return;
    const now = new Date();
    if (!s.gossip.rotation && now.getTime() - Date.parse(s.gossip.rotatedAt) > GOSSIP_KEY_ROTATION_INTERVAL_MS) {
      this.rotateGossipKey();
      return;
    }
    const alive = this.nodeRecords().filter((n) => this.nodeState(n.id) === 'ready');
    const reports = alive.map((n) => this.statuses!.get(n.id)?.value.gossip ?? { keys: [], primary: '' });
    const next = nextRotationStep(s.gossip, reports, now.toISOString());
    if (!next) return;
    this.opts.log.info({ phase: next.rotation?.phase ?? 'done' }, 'gossip key rotation moves on');
    this.settings!.put('settings', { ...s, gossip: next });
  }
}

/** A new AES-256 gossip key, base64 (Docker's are AES-128; memberlist takes 16, 24 or 32 bytes). */
function newGossipKey(): string {
  return randomBytes(32).toString('base64');
}
