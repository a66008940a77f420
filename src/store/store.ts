// The replicated store: typed tables of JSON values that every node holds a copy of. Local writes get
// a hybrid-logical-clock version and are handed to the replicator (gossip); remote entries are merged
// last-writer-wins; deletions are tombstones reaped after a while. Controllers watch tables.
// Consistency: available under partition, converges when the partition heals (docs/store.md).
import { EventEmitter } from 'node:events';
import { entryId, invalidEntryReason, supersedes, type Entry } from './entry.js';
import { HlcClock, type Hlc } from './hlc.js';
import type { Persistence } from './persistence.js';
import type { EntrySigner, EntryVerifier, Refusal } from './signing.js';

export interface StoreEvent {
  entry: Entry;
  /** 'local' for this node's own writes, 'remote' for merged entries, 'restore' when loaded from disk. */
  origin: 'local' | 'remote' | 'restore';
}

export interface Versioned<T> {
  key: string;
  value: T;
  version: Hlc;
}

/** Validates a table's values: returns the typed value, or throws an Error naming what is wrong. */
export type Parser<T> = (value: unknown) => T;

export interface StoreOptions {
  node: string;
  clock?: HlcClock;
  persistence?: Persistence;
  /** How long a deletion is remembered before it is reaped (NetworkDB keeps them 30 min). */
  tombstoneTtlMs?: number;
  /** Compact the on-disk log after this many appended changes. */
  compactEvery?: number;
  now?: () => number;
  /**
   * Tables whose entries are signed by their writer: this node signs its own writes to them, and
   * an entry from elsewhere is merged only if the verifier accepts it.
   */
  signed?: { tables: ReadonlySet<string>; signer: EntrySigner; verifier: EntryVerifier; onRefused?: (entry: Entry, why: Refusal) => void };
}

export const DEFAULT_TOMBSTONE_TTL_MS = 30 * 60_000;
const DEFAULT_COMPACT_EVERY = 10_000;

export interface MergeResult {
  applied: Entry[];
  /** Entries older than what we hold (or equal to it): nothing to do. */
  stale: number;
  /** Malformed entries, or values the table's parser refused: dropped. */
  rejected: number;
  /** Entries of signed tables whose signature or ownership did not hold: dropped. */
  refused: number;
}

export class ReplicatedStore {
  readonly clock: HlcClock;
  private readonly entries = new Map<string, Entry>();
  private readonly parsers = new Map<string, Parser<unknown>>();
  private readonly events = new EventEmitter();
  private readonly tombstoneTtlMs: number;
  private readonly compactEvery: number;
  private readonly now: () => number;
  private readonly persistence: Persistence | undefined;
  /** Counters for observability: what merges dropped, what loading skipped. */
  readonly stats = { rejected: 0, stale: 0, applied: 0, reaped: 0, restoreSkipped: 0, refused: 0 };
  private readonly signed: StoreOptions['signed'];

  constructor(opts: StoreOptions) {
    this.now = opts.now ?? Date.now;
    this.clock = opts.clock ?? new HlcClock(opts.node, this.now);
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    this.compactEvery = opts.compactEvery ?? DEFAULT_COMPACT_EVERY;
    this.persistence = opts.persistence;
    this.signed = opts.signed;
    this.events.setMaxListeners(0);
  }

  /** Registers a table's value parser: values that fail it are refused on write and on merge. */
  defineTable<T>(name: string, parse: Parser<T>): Table<T> {
    this.parsers.set(name, parse as Parser<unknown>);
    return new Table<T>(this, name);
  }

  /** Loads what the persistence layer holds, as if merged, then compacts the log. */
  restore(): number {
    if (!this.persistence) return 0;
    const { entries, skipped } = this.persistence.load();
    this.stats.restoreSkipped += skipped;
    let n = 0;
    for (const e of entries) {
      const current = this.entries.get(entryId(e.table, e.key));
      if (!supersedes(e, current)) continue;
      this.entries.set(entryId(e.table, e.key), e);
      this.clock.witness(e.version);
      n++;
    }
    this.persistence.compact(this.snapshot());
    for (const e of this.entries.values()) this.events.emit('change', { entry: e, origin: 'restore' } satisfies StoreEvent);
    return n;
  }

  get<T>(table: string, key: string): Versioned<T> | undefined {
    const e = this.entries.get(entryId(table, key));
    return e && !e.deleted ? { key, value: e.value as T, version: e.version } : undefined;
  }

  list<T>(table: string): Versioned<T>[] {
    const out: Versioned<T>[] = [];
    for (const e of this.entries.values()) {
      if (e.table === table && !e.deleted) out.push({ key: e.key, value: e.value as T, version: e.version });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** A local write. The value is validated by the table's parser before anything changes. */
  put(table: string, key: string, value: unknown): Entry {
    const parsed = this.parse(table, value);
    return this.commitLocal({ table, key, value: parsed, deleted: false, version: this.clock.now() });
  }

  /** A local delete; returns undefined if the key holds no live value. */
  delete(table: string, key: string): Entry | undefined {
    const current = this.entries.get(entryId(table, key));
    if (!current || current.deleted) return undefined;
    return this.commitLocal({ table, key, deleted: true, version: this.clock.now() });
  }

  /**
   * Writes this node's own live entries of signed tables again, each as a new version signed with the
   * signer's current key (after this node's key was renewed): every node takes the new versions, and
   * one that never saw the old certificate can check them. Returns how many.
   */
  resign(): number {
    if (!this.signed) return 0;
    const me = this.clock.node;
    const own = [...this.entries.values()].filter((e) => !e.deleted && e.version.node === me && this.signed!.tables.has(e.table));
    for (const e of own) this.commitLocal({ table: e.table, key: e.key, value: e.value, deleted: false, version: this.clock.now() });
    return own.length;
  }

  /** Merges entries from another node (gossip or push-pull); the newer version of each key wins. */
  merge(incoming: readonly unknown[]): MergeResult {
    const result: MergeResult = { applied: [], stale: 0, rejected: 0, refused: 0 };
    for (const raw of this.signedLast(incoming)) {
      if (invalidEntryReason(raw) !== undefined) {
        result.rejected++;
        continue;
      }
      const e = raw as Entry;
      if (!e.deleted && this.parsers.has(e.table)) {
        try {
          this.parse(e.table, e.value);
        } catch {
          result.rejected++;
          continue;
        }
      }
      const current = this.entries.get(entryId(e.table, e.key));
      if (!supersedes(e, current)) {
        result.stale++;
        continue;
      }
      if (this.signed?.tables.has(e.table)) {
        const why = this.signed.verifier.check(e, current);
        if (why !== undefined) {
          result.refused++;
          this.signed.onRefused?.(e, why);
          continue;
        }
      }
      // A version far ahead of our wall clock (a node with a broken clock) would win every later write to its key.
      if (!this.clock.witness(e.version)) {
        result.rejected++;
        continue;
      }
      const sig = e.sig !== undefined ? { sig: e.sig } : {};
      const entry: Entry = e.deleted
        ? { table: e.table, key: e.key, deleted: true, version: e.version, ...sig }
        : { table: e.table, key: e.key, deleted: false, version: e.version, value: e.value, ...sig };
      this.entries.set(entryId(e.table, e.key), entry);
      result.applied.push(entry);
    }
    this.stats.applied += result.applied.length;
    this.stats.rejected += result.rejected;
    this.stats.stale += result.stale;
    this.stats.refused += result.refused;
    this.persist(result.applied);
    for (const entry of result.applied) this.events.emit('change', { entry, origin: 'remote' } satisfies StoreEvent);
    return result;
  }

  /** Entries of signed tables after the others: a push-pull brings the records that prove them (certificates, owners) first. */
  private signedLast(incoming: readonly unknown[]): readonly unknown[] {
    const signed = this.signed?.tables;
    if (!signed) return incoming;
    const isSigned = (e: unknown) => typeof e === 'object' && e !== null && signed.has((e as { table?: string }).table ?? '');
    return [...incoming.filter((e) => !isSigned(e)), ...incoming.filter(isSigned)];
  }

  /** The entry this node holds for a key, tombstone or not, with its version: what another node can merge. */
  entry(table: string, key: string): Entry | undefined {
    return this.entries.get(entryId(table, key));
  }

  /** Every entry this node holds, tombstones included: what a push-pull sends. */
  snapshot(): Entry[] {
    return [...this.entries.values()];
  }

  /** Removes tombstones older than the TTL; returns how many. */
  reap(): number {
    const cutoff = this.now() - this.tombstoneTtlMs;
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.deleted && e.version.wall < cutoff) {
        this.entries.delete(id);
        n++;
      }
    }
    this.stats.reaped += n;
    if (n > 0) this.persistence?.compact(this.snapshot());
    return n;
  }

  /** Calls listener for every change (local, remote, restore), optionally only for one table. Returns an unsubscribe function. */
  watch(listener: (ev: StoreEvent) => void, table?: string): () => void {
    const fn = (ev: StoreEvent) => {
      if (table === undefined || ev.entry.table === table) listener(ev);
    };
    this.events.on('change', fn);
    return () => this.events.off('change', fn);
  }

  /** Calls listener with each local write, for the replicator to broadcast. */
  onLocalWrite(listener: (entry: Entry) => void): () => void {
    this.events.on('local', listener);
    return () => this.events.off('local', listener);
  }

  close(): void {
    this.persistence?.close();
  }

  private parse(table: string, value: unknown): unknown {
    const parser = this.parsers.get(table);
    if (!parser) throw new Error(`table '${table}' is not defined in this store`);
    return parser(value);
  }

  private commitLocal(unsigned: Entry): Entry {
    const entry = this.signed?.tables.has(unsigned.table) ? { ...unsigned, sig: this.signed.signer.sign(unsigned) } : unsigned;
    this.entries.set(entryId(entry.table, entry.key), entry);
    this.persist([entry]);
    this.events.emit('local', entry);
    this.events.emit('change', { entry, origin: 'local' } satisfies StoreEvent);
    return entry;
  }

  private persist(entries: readonly Entry[]): void {
    if (!this.persistence || entries.length === 0) return;
    this.persistence.append(entries);
    if (this.persistence.pending >= this.compactEvery) this.persistence.compact(this.snapshot());
  }
}

/** A typed view of one table. */
export class Table<T> {
  constructor(
    private readonly store: ReplicatedStore,
    readonly name: string,
  ) {}

  get(key: string): Versioned<T> | undefined {
    return this.store.get<T>(this.name, key);
  }

  list(): Versioned<T>[] {
    return this.store.list<T>(this.name);
  }

  put(key: string, value: T): Entry {
    return this.store.put(this.name, key, value);
  }

  delete(key: string): Entry | undefined {
    return this.store.delete(this.name, key);
  }

  watch(listener: (ev: StoreEvent) => void): () => void {
    return this.store.watch(listener, this.name);
  }
}
