// Leader election among the managers on an etcd lease: each manager campaigns with a key under
// /shoal/election/<name>/ bound to its lease; the oldest key leads, and when the leader dies its lease
// expires after the TTL and the next one takes over. Being elected is not proof of still leading (a
// paused process learns late that its lease expired), so every write a leader makes must carry the
// fence: a compare on its campaign key's create revision, which fails once that key is gone.
import { EventEmitter } from 'node:events';
import type { ComparatorBuilder, Etcd3 } from 'etcd3';
import { ELECTION_PREFIX, ROOT_PREFIX } from './keys.js';
import { etcdDefaults } from './tunables.js';

export interface LeaderValue {
  nodeId: string;
  /** Why this manager campaigns (e.g. 'startup', 'promoted'): shown to whoever reads the leader. */
  reason: string;
  /** When it started campaigning, ISO 8601. */
  since: string;
}

export interface Fence {
  /** The full key of the leader's campaign. */
  key: string;
  /** Its create revision: the compare `Create(key) == createRevision` holds only while it leads. */
  createRevision: string;
}

export interface ElectionOptions {
  nodeId: string;
  /** Election name: keys live under /shoal/election/<name>/ (default 'leader'). */
  name?: string;
  /** Lease TTL in seconds (default etcdDefaults.electionTtlSeconds). */
  ttlSeconds?: number;
  reason?: string;
  /** Delay before campaigning again after losing the lease (default 1 s: the cluster may be without a leader). */
  recampaignMs?: number;
}

type Campaign = ReturnType<ReturnType<Etcd3['election']>['campaign']>;

/** The key prefix of an election's campaigns. */
export function electionPrefix(name: string): string {
  return `${ELECTION_PREFIX}${name}/`;
}

/**
 * Events: 'elected' (Fence) when this manager becomes leader; 'deposed' (reason: string) when it
 * learns it no longer is (lease lost, resigned, stopped); 'error' is never emitted — failures to
 * campaign are retried and reported as 'campaign-error' (Error).
 */
export class LeaderElection extends EventEmitter {
  private campaign: Campaign | undefined;
  private current: Fence | undefined;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  readonly name: string;
  readonly ttlSeconds: number;

  constructor(private readonly client: Etcd3, private readonly opts: ElectionOptions) {
    super();
    this.name = opts.name ?? 'leader';
    this.ttlSeconds = opts.ttlSeconds ?? etcdDefaults.electionTtlSeconds;
    if (!/^[a-z0-9-]{1,64}$/.test(this.name)) throw new Error(`election name '${this.name}' must be 1 to 64 lowercase letters, digits or dashes`);
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) throw new Error(`election TTL ${this.ttlSeconds} must be a whole number of seconds, at least 1`);
  }

  /** True while this manager believes it leads (check the fence in every write all the same). */
  get isLeader(): boolean {
    return this.current !== undefined;
  }

  /** The compare to put in every leader txn; throws when not leading. */
  fence(): Fence {
    if (!this.current) throw new Error(`${this.opts.nodeId} is not the leader of election '${this.name}'`);
    return this.current;
  }

  /** A txn that commits only while this manager leads: `fencedTxn().then(puts...).commit()`, then check
   * `succeeded`. */
  fencedTxn(): ComparatorBuilder {
    return fencedTxn(this.client, this.fence());
  }

  /** Starts campaigning (again after every lost lease) until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.campaignOnce();
  }

  /** Gives up leadership (the next candidate takes over at once) and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const campaign = this.campaign;
    this.campaign = undefined;
    this.depose('stopped');
    if (campaign) await campaign.resign().catch(() => undefined);
  }

  /** Who leads now, as written in its campaign key (undefined: nobody). */
  async leader(): Promise<LeaderValue | undefined> {
    const value = await this.client.namespace(ROOT_PREFIX).election(this.name, this.ttlSeconds).leader();
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value) as LeaderValue;
    } catch {
      return undefined;
    }
  }

  private campaignOnce(): void {
    if (this.stopped) return;
    const value: LeaderValue = { nodeId: this.opts.nodeId, reason: this.opts.reason ?? 'startup', since: new Date().toISOString() };
    // etcd3 puts an election's keys under <namespace>election/<name>/, hence the /shoal/ namespace.
    const campaign = this.client.namespace(ROOT_PREFIX).election(this.name, this.ttlSeconds).campaign(JSON.stringify(value));
    this.campaign = campaign;
    campaign.on('elected', () => {
      void this.onElected(campaign);
    });
    campaign.on('error', (err: Error) => {
      if (this.campaign !== campaign) return;
      this.campaign = undefined;
      campaign.resign().catch(() => undefined);
      this.depose(`lost the election lease: ${err.message}`);
      this.emit('campaign-error', err);
      this.retryTimer = setTimeout(() => this.campaignOnce(), this.opts.recampaignMs ?? 1_000);
    });
  }

  private async onElected(campaign: Campaign): Promise<void> {
    try {
      const key = await campaign.getCampaignKey();
      const kv = await this.client.get(key).exec();
      const createRevision = kv.kvs[0]?.create_revision;
      if (this.campaign !== campaign) return;
      if (createRevision === undefined) throw new Error(`the campaign key ${key} vanished as ${this.opts.nodeId} was elected`);
      this.current = { key, createRevision };
      this.emit('elected', this.current);
    } catch (err) {
      campaign.emit('error', err as Error);
    }
  }

  private depose(reason: string): void {
    if (!this.current) return;
    this.current = undefined;
    this.emit('deposed', reason);
  }
}

/** A txn guarded by a fence (see LeaderElection.fencedTxn). */
export function fencedTxn(client: Etcd3, fence: Fence): ComparatorBuilder {
  return client.if(fence.key, 'Create', '==', fence.createRevision);
}
