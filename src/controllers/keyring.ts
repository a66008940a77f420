// The gossip keyring as a controller: on every node, the live keyring follows the desired one in the
// cluster settings (remembered for restarts) and the node reports the fingerprints it holds; on the
// leader, a rotation moves on once every alive node has confirmed its step, and a new one starts when
// the key has served its time. The steps themselves are pure (src/cluster/gossip-keys.ts).
import { randomBytes } from 'node:crypto';
import { applyKeyring, nextRotationStep, reportOf, startRotation } from '../cluster/gossip-keys.js';
import type { Keyring } from '../cluster/wire/security.js';
import { tunables } from '../config/tunables.js';
import { SETTINGS_KEY, type ClusterSettings } from '../model/cluster.js';
import type { NodeRecord, NodeStatus } from '../model/node.js';
import type { StateTable } from '../store/state.js';
import type { Logger } from '../util/log.js';
import { Reconciler } from './reconciler.js';

export interface KeyringControllerOptions {
  nodeId: string;
  /** The live keyring memberlist encrypts and decrypts with. */
  keyring: Keyring;
  settings: StateTable<ClusterSettings>;
  statuses: StateTable<NodeStatus>;
  /** This node's certificate (PEM), published with its status so others can check what it signs. */
  certPem?: string;
  isLeader(): boolean;
  /** The nodes gossip says are up: each must confirm a step before the next. */
  aliveNodes(): NodeRecord[];
  /** Called with the live keys (base64) whenever they change, to remember them for restarts. */
  remember(keys: string[]): void;
  /** Calls fn when membership changes; returns what stops it. */
  onMembership(fn: () => void): () => void;
  log: Logger;
}

/** A new AES-256 gossip key, base64 (Docker's are AES-128; memberlist takes 16, 24 or 32 bytes). */
export function newGossipKey(): string {
  return randomBytes(32).toString('base64');
}

export class KeyringController {
  private readonly loop: Reconciler;
  private readonly stops: (() => void)[] = [];

  constructor(private readonly o: KeyringControllerOptions) {
    this.o = { ...o };
    this.loop = new Reconciler('keyring', async () => this.pass(), { log: o.log, resyncMs: tunables.keyRotationTickMs });
  }

  start(): void {
    this.stops.push(this.o.settings.watch(() => this.loop.trigger()), this.o.statuses.watch(() => this.loop.trigger()), this.o.onMembership(() => this.loop.trigger()));
    this.loop.start();
  }

  /** This node's renewed certificate: published with its status; resolves once that write is done. */
  async useCertificate(pem: string): Promise<void> {
    this.o.certPem = pem;
    this.loop.trigger();
    await this.loop.settle();
  }

  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0)) stop();
    await this.loop.stop();
  }

  /** Resolves once a pass that started after this call has finished (the live keyring then follows the settings). */
  settle(): Promise<void> {
    return this.loop.settle();
  }

  /** Starts replacing the gossip key (throws RotationError while one is under way). */
  async rotate(): Promise<void> {
    const s = this.o.settings.get(SETTINGS_KEY)?.value;
    if (!s) throw new Error('the cluster settings have not reached this node yet; try again in a moment');
    await this.o.settings.put(SETTINGS_KEY, { ...s, gossip: startRotation(s.gossip, newGossipKey(), new Date().toISOString()) });
  }

  private async pass(): Promise<void> {
    this.follow();
    await this.report();
    if (this.o.isLeader()) await this.step();
  }

  /** Applies the desired keyring to the live one and remembers it. */
  private follow(): void {
    const desired = this.o.settings.get(SETTINGS_KEY)?.value.gossip;
    if (!desired || !applyKeyring(this.o.keyring, desired)) return;
    this.o.remember(this.o.keyring.list().map((k) => k.toString('base64')));
    this.o.log.info({ keyring: reportOf(this.o.keyring) }, 'gossip keyring changed');
  }

  /** Reports the fingerprints this node holds (and its certificate), when they differ from what it last reported. */
  private async report(): Promise<void> {
    const gossip = reportOf(this.o.keyring);
    const current = this.o.statuses.get(this.o.nodeId)?.value;
    if (current && current.gossip.primary === gossip.primary && current.gossip.keys.join() === gossip.keys.join() && current.cert === this.o.certPem) return;
    await this.o.statuses.put(this.o.nodeId, { id: this.o.nodeId, gossip, ...(this.o.certPem ? { cert: this.o.certPem } : {}), updatedAt: new Date().toISOString() });
  }

  /** On the leader: moves a rotation on when every alive node has confirmed its step; starts one when the key is old. */
  private async step(): Promise<void> {
    const s = this.o.settings.get(SETTINGS_KEY)?.value;
    if (!s) return;
    const now = new Date();
    if (!s.gossip.rotation && now.getTime() - Date.parse(s.gossip.rotatedAt) > tunables.gossipKeyRotationIntervalMs) {
      this.o.log.info('the gossip key has served its time: rotating it');
      return this.rotate();
    }
    const reports = this.o.aliveNodes().map((n) => this.o.statuses.get(n.id)?.value.gossip ?? { keys: [], primary: '' });
    const next = nextRotationStep(s.gossip, reports, now.toISOString());
    if (!next) return;
    this.o.log.info({ phase: next.rotation?.phase ?? 'done' }, 'gossip key rotation moves on');
    await this.o.settings.put(SETTINGS_KEY, { ...s, gossip: next });
  }
}
