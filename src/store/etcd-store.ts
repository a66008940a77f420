// The state store on etcd, the managers' Raft store: each table is the keys under
// `<prefix><table>/`, values JSON. This node keeps a copy of the whole prefix, loaded by one range
// read and kept current by a watch from the revision after it, so reads are local and synchronous
// (as an informer's cache is). A write is a transaction against etcd and resolves only once the watch
// has brought this node's copy to the revision it made, so a caller reads what it wrote. A batch is
// committed as transactions of at most maxTxnOps operations, each guarded by the store's fence (the
// leader's election key: a deposed leader's commit fails and changes nothing) and by the mod
// revisions its writes were decided against (a key changed meanwhile by anyone else fails it too).
// Values that fail their table's parser are never written; one that arrives by watch anyway (a
// bad peer, a hand edit) is dropped, counted and logged once per key. Keys are `<prefix><table>/<key>`,
// or, for what each node writes about itself, `<prefix><owner>/<table>/<key>` (the `owners` option),
// where etcd's RBAC lets only the owner write; an entry whose value names another owner than the
// prefix it sits under is dropped the same way, whatever the writer's permissions allowed.
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import type { CallOptions } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { CollectingBatch } from './batch.js';
import { StateError, type Batch, type Change, type Item, type Parser, type StateStore, type StateTable } from './state.js';
import type { Logger } from '../util/log.js';
import { classifyEtcdError, swarmErrorMessage } from '../etcd/client.js';

/** etcd's default --max-txn-ops: a transaction with more operations is refused. */
export const MAX_TXN_OPS = 128;
/** How long a write waits for this node's copy to show it before saying so. */
export const READ_YOUR_WRITE_TIMEOUT_MS = 10_000;

/** A compare every batch commit must pass, in etcd's terms (the election key's create revision). */
export interface Fence {
  key: string;
  createRevision: string;
}

export interface EtcdStateStoreOptions {
  client: Etcd3;
  /** Loads through this client instead, with serializable reads: one without `hasleader` lets a node
   * load the copy of a member that has lost its leader (stale, but what it last knew). */
  reader?: Etcd3;
  /** Where the tables live, ending in '/': `/shoal/objects/`. */
  prefix: string;
  log: Logger;
  /** The fence for batch commits, when this store's batches are a leader's decisions. */
  fence?: () => Fence | undefined;
  /** Options for each call (a deadline, `hasleader` metadata). */
  callOptions?: () => CallOptions;
  /** Tables under per-node prefixes: the node a value belongs to (it is written under `<prefix><owner>/`). */
  owners?: (table: string, key: string, value: unknown) => string;
  /**
   * Writes show in this node's copy at once, before etcd has them, and one key's writes reach etcd in
   * the order they were made: for entries only this node writes (its own status), whose writer plans
   * its next step from what it last wrote. A write that fails is taken back out of the copy.
   */
  localFirst?: boolean;
}

type Stored = { item: Item<unknown>; mod: string; fullKey: string };

export class EtcdStateStore implements StateStore {
  private readonly tables = new Map<string, EtcdTable<unknown>>();
  /** Every key under the prefix as last seen, by full key (values not yet parsed by a table stay raw). */
  private readonly raw = new Map<string, IKeyValue>();
  private revision = 0;
  private readonly waiters: { revision: number; resolve: () => void }[] = [];
  private watcher: Watcher | undefined;
  private closed = false;
  readonly stats = { dropped: 0, watchResponses: 0, resyncs: 0, commits: 0, conflicts: 0 };
  private readonly warned = new Set<string>();

  constructor(private readonly o: EtcdStateStoreOptions) {
    if (!o.prefix.endsWith('/')) throw new Error(`the store's prefix must end in '/' (got '${o.prefix}')`);
  }

  /** Loads the prefix and starts following it; resolves once this node's copy is current. */
  async start(): Promise<void> {
    await this.resync();
    await this.follow();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
  }

  get localFirst(): boolean {
    return this.o.localFirst === true;
  }

  /** The revision this node's copy is at. */
  get currentRevision(): number {
    return this.revision;
  }

  table<T>(name: string, parse: Parser<T>): StateTable<T> {
    if (name.includes('/')) throw new Error(`table name '${name}' must not contain '/'`);
    let t = this.tables.get(name);
    if (!t) {
      t = new EtcdTable<unknown>(this, name, parse as Parser<unknown>);
      this.tables.set(name, t);
      for (const kv of this.raw.values()) if (this.tableOf(kv.key.toString()) === name) this.apply(kv, false);
    }
    return t as StateTable<T>;
  }

  batch(): Batch {
    return new EtcdBatch(this);
  }

  // ---- writing ----

  /** Where a key is or would be deleted: undefined when, under per-node prefixes, nothing holds it. */
  placedAt(table: string, key: string): string | undefined {
    if (!this.o.owners) return this.keyOf(table, key);
    return (this.tables.get(table) as EtcdTable<unknown> | undefined)?.fullKeyOf(key);
  }

  /** The etcd key of a table's key: where it is now, or where a write of `value` puts it. */
  keyOf(table: string, key: string, value?: unknown): string {
    if (!this.o.owners) return `${this.o.prefix}${table}/${key}`;
    const current = (this.tables.get(table) as EtcdTable<unknown> | undefined)?.fullKeyOf(key);
    if (value === undefined && current !== undefined) return current;
    const owner = value === undefined ? undefined : this.o.owners(table, key, value);
    if (owner === undefined || owner.includes('/') || owner === '') throw new StateError(`cannot place ${table}/${key}: it names no node it belongs to`);
    return `${this.o.prefix}${owner}/${table}/${key}`;
  }

  /** Commits operations (chunked), each chunk guarded by the fence and the given compares; waits to see the result. */
  async commit(ops: { key: string; value?: string; expectMod?: string }[]): Promise<void> {
    let last = 0;
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS - 1) {
      const chunk = ops.slice(i, i + MAX_TXN_OPS - 1);
      const fence = this.o.fence?.();
      const compare = [
        ...(fence ? [{ key: Buffer.from(fence.key), target: 'Create' as const, result: 'Equal' as const, create_revision: fence.createRevision }] : []),
        ...chunk.filter((op) => op.expectMod !== undefined).map((op) => ({ key: Buffer.from(op.key), target: 'Mod' as const, result: 'Equal' as const, mod_revision: op.expectMod! })),
      ];
      const success = chunk.map((op) => op.value === undefined
        ? { request_delete_range: { key: Buffer.from(op.key) } }
        : { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value) } });
      let res;
      try {
        res = await this.o.client.kv.txn({ compare, success, failure: [] }, this.o.callOptions?.());
      } catch (err) {
        throw writeError(err);
      }
      this.stats.commits++;
      if (!res.succeeded) {
        this.stats.conflicts++;
        const fenced = fence !== undefined;
        throw new StateError(fenced
          ? 'the write was refused: this node is no longer the leader, or a value it decided on changed meanwhile; the next pass decides again'
          : 'the write was refused: a value it was decided on changed meanwhile; read it again and retry', 'conflict');
      }
      last = Number(res.header.revision);
    }
    if (last > 0) await this.waitFor(last);
  }

  /** Resolves once this node's copy has reached the revision. */
  waitFor(revision: number): Promise<void> {
    if (this.revision >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new StateError(`written at revision ${revision}, but this node's copy is still at ${this.revision} after ${READ_YOUR_WRITE_TIMEOUT_MS / 1000} s: its watch on the cluster store is behind`));
      }, READ_YOUR_WRITE_TIMEOUT_MS);
      const done = () => { clearTimeout(timer); resolve(); };
      this.waiters.push({ revision, resolve: done });
    });
  }

  // ---- following ----

  /** Reads the whole prefix and brings the copy to it, telling watchers what changed. */
  private async resync(): Promise<void> {
    this.stats.resyncs++;
    const reader = this.o.reader ?? this.o.client;
    const res = await reader.kv.range({ key: Buffer.from(this.o.prefix), range_end: prefixEnd(this.o.prefix), serializable: this.o.reader !== undefined }, this.o.callOptions?.());
    const seen = new Set<string>();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      seen.add(key);
      if (this.raw.get(key)?.mod_revision !== kv.mod_revision) this.apply(kv, true);
    }
    for (const key of [...this.raw.keys()]) if (!seen.has(key)) this.remove(key);
    this.advance(Number(res.header.revision));
  }

  private async follow(): Promise<void> {
    // Watched with the writer's client: with `hasleader`, a member that loses its leader ends the watch,
    // which then resumes on one that has one, instead of going quiet on the wrong side of a partition.
    const watcher = await this.o.client.watch().prefix(this.o.prefix).startRevision(String(this.revision + 1)).create();
    if (this.closed) return void (await watcher.cancel().catch(() => undefined));
    this.watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => this.onWatch(res));
    watcher.on('error', (err: Error) => {
      this.o.log.warn({ err: err.message }, 'the watch on the cluster store failed; reloading');
      void this.restart();
    });
  }

  /** After a compaction or a failed watch: reload and watch again. */
  private async restart(): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    for (let delay = 250; !this.closed; delay = Math.min(delay * 2, 5_000)) {
      try {
        await this.resync();
        await this.follow();
        return;
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'could not reload the cluster store');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private onWatch(res: IWatchResponse): void {
    this.stats.watchResponses++;
    if (res.compact_revision && res.compact_revision !== '0' && res.events.length === 0) {
      void this.restart();
      return;
    }
    for (const ev of res.events) {
      if (ev.type === 'Delete') this.remove(ev.kv.key.toString());
      else this.apply(ev.kv, true);
    }
    const last = res.events.at(-1);
    this.advance(Math.max(Number(res.header.revision), last ? Number(last.kv.mod_revision) : 0));
  }

  private advance(revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.revision <= revision) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** A full key's owner (per-node layout only), table and table key. */
  private split(fullKey: string): { owner?: string; table: string; key: string } | undefined {
    const parts = fullKey.slice(this.o.prefix.length).split('/');
    const [owner, table, ...rest] = this.o.owners ? parts : [undefined, ...parts];
    if (!table || rest.length === 0 || (this.o.owners && !owner)) return undefined;
    return { ...(owner !== undefined ? { owner } : {}), table, key: rest.join('/') };
  }

  private tableOf(fullKey: string): string | undefined {
    return this.split(fullKey)?.table;
  }

  private apply(kv: IKeyValue, notify: boolean): void {
    const fullKey = kv.key.toString();
    this.raw.set(fullKey, kv);
    const where = this.split(fullKey);
    const table = where === undefined ? undefined : this.tables.get(where.table);
    if (!table || where === undefined) return;
    const key = where.key;
    let value: unknown;
    try {
      value = table.parse(JSON.parse(kv.value.toString('utf8')));
      const owner = where.owner !== undefined ? this.o.owners!(where.table, key, value) : undefined;
      if (owner !== where.owner) throw new Error(`it belongs to node ${owner}, but sits under node ${where.owner}'s prefix`);
    } catch (err) {
      this.stats.dropped++;
      if (!this.warned.has(fullKey)) {
        this.warned.add(fullKey);
        this.o.log.warn({ key: fullKey, err: (err as Error).message }, 'a value in the cluster store is malformed; ignoring it');
      }
      if (table.fullKeyOf(key) === fullKey) table.drop(key, notify);
      return;
    }
    table.set(key, { item: { key, value, index: Number(kv.mod_revision) }, mod: kv.mod_revision, fullKey }, notify);
  }

  private remove(fullKey: string): void {
    this.raw.delete(fullKey);
    const where = this.split(fullKey);
    const table = where === undefined ? undefined : this.tables.get(where.table);
    if (table && where !== undefined && table.fullKeyOf(where.key) === fullKey) table.drop(where.key, true);
  }
}

/** What a failed write tells the caller: Docker's message when the managers have no quorum. */
function writeError(err: unknown): StateError {
  const noLeader = swarmErrorMessage(err);
  if (noLeader) return new StateError(noLeader, 'no-leader');
  const message = (err as Error).message;
  if (classifyEtcdError(err) === 'permission-denied') return new StateError(`the cluster store refused the write: ${message} (this node may not change it)`, 'denied');
  return new StateError(`could not write to the cluster store: ${message}`, 'unavailable');
}

/** The end of the range holding every key that starts with the prefix. */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1] = b[b.length - 1]! + 1;
  return b;
}

/** Writes made locally first and not yet confirmed (localFirst): the last value (undefined: deleted) and how many are in flight. */
type Pending<T> = { value: T | undefined; writes: number };

class EtcdTable<T> implements StateTable<T> {
  private readonly items = new Map<string, Stored>();
  private readonly events = new EventEmitter();
  private readonly pending = new Map<string, Pending<T>>();
  /** Per key, the tail of its chain of writes (localFirst). */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly store: EtcdStateStore,
    readonly name: string,
    readonly parse: Parser<T>,
  ) {
    this.events.setMaxListeners(0);
  }

  get(key: string): Item<T> | undefined {
    const p = this.pending.get(key);
    if (p) return p.value === undefined ? undefined : { key, value: p.value, index: this.items.get(key)?.item.index ?? 0 };
    return this.items.get(key)?.item as Item<T> | undefined;
  }

  /** The etcd key the copy holds a key under, if any. */
  fullKeyOf(key: string): string | undefined {
    return this.items.get(key)?.fullKey;
  }

  /** The mod revision the copy holds for a key ('0': none), for guarded writes. */
  modOf(key: string): string {
    return this.items.get(key)?.mod ?? '0';
  }

  list(): Item<T>[] {
    const keys = new Set([...this.items.keys(), ...this.pending.keys()]);
    return [...keys].map((k) => this.get(k)).filter((i): i is Item<T> => i !== undefined).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watch(fn: (change: Change<T>) => void): () => void {
    this.events.on('change', fn);
    return () => this.events.off('change', fn);
  }

  async put(key: string, value: T): Promise<void> {
    const op = { key: this.store.keyOf(this.name, key, value), value: this.encode(key, value) };
    if (!this.store.localFirst) return this.store.commit([op]);
    await this.locally(key, value, () => this.store.commit([op]));
  }

  async delete(key: string): Promise<void> {
    const at = this.store.placedAt(this.name, key);
    if (!this.store.localFirst) return at === undefined ? undefined : this.store.commit([{ key: at }]);
    await this.locally(key, undefined, () => (at === undefined ? Promise.resolve() : this.store.commit([{ key: at }])));
  }

  /** A localFirst write: in the copy now, sent after the key's earlier writes, taken back if it fails. */
  private async locally(key: string, value: T | undefined, send: () => Promise<void>): Promise<void> {
    const p = this.pending.get(key) ?? { value, writes: 0 };
    p.value = value;
    p.writes++;
    this.pending.set(key, p);
    this.events.emit('change', { key, value } satisfies Change<T>);
    const sent = (this.queues.get(key) ?? Promise.resolve()).then(send);
    const tail = sent.catch(() => undefined);
    this.queues.set(key, tail);
    try {
      await sent;
    } finally {
      if (this.queues.get(key) === tail) this.queues.delete(key);
      if (--p.writes === 0) {
        this.pending.delete(key);
        const now = this.items.get(key)?.item.value as T | undefined;
        if (now !== p.value) this.events.emit('change', { key, value: now } satisfies Change<T>);
      }
    }
  }

  /** The value as stored, after the table's parser has accepted it. */
  encode(key: string, value: T): string {
    try {
      return JSON.stringify(this.parse(value));
    } catch (err) {
      throw new StateError(`cannot write ${this.name}/${key}: ${(err as Error).message}`);
    }
  }

  set(key: string, stored: Stored, notify: boolean): void {
    this.items.set(key, stored);
    if (notify && !this.pending.has(key)) this.events.emit('change', { key, value: stored.item.value as T } satisfies Change<T>);
  }

  drop(key: string, notify: boolean): void {
    if (this.items.delete(key) && notify && !this.pending.has(key)) this.events.emit('change', { key, value: undefined } satisfies Change<T>);
  }
}

/**
 * A batch committed as guarded transactions: each key it writes must still be at the mod revision
 * this node's copy held when the first write to it was decided ('0': still absent), so a decision
 * made on a copy that has since been overtaken fails instead of overwriting. Several writes of one
 * key become the last of them (etcd refuses a transaction that names a key twice).
 */
class EtcdBatch extends CollectingBatch {
  constructor(private readonly store: EtcdStateStore) {
    super((table, key) => (table as unknown as EtcdTable<unknown>).modOf(key));
  }

  override async commit(): Promise<void> {
    const writes = this.collected().slice();
    this.clear();
    const ops = new Map<string, { key: string; value?: string; expectMod: string }>();
    for (const w of writes) {
      const table = w.table as unknown as EtcdTable<unknown>;
      const value = 'deleted' in w.pending ? undefined : table.encode(w.key, w.pending.value);
      const key = this.store.keyOf(table.name, w.key, 'deleted' in w.pending ? undefined : w.pending.value);
      const expectMod = ops.get(key)?.expectMod ?? (w.stamp as string);
      ops.set(key, { key, ...(value !== undefined ? { value } : {}), expectMod });
    }
    await this.store.commit([...ops.values()]);
  }
}
