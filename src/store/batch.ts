// A batch over any state store's tables: writes are collected in order, reads show the table's
// current values overlaid with the batch's own pending writes, and commit hands the writes to each
// table in the order they were made. Shared by every store; a store whose engine has transactions
// (etcd) replaces commit with one of its own.
import type { Batch, BatchTable, Change, Item, StateTable } from './state.js';

export type Pending = { value: unknown } | { deleted: true };

export interface Write {
  table: StateTable<unknown>;
  key: string;
  pending: Pending;
  /** What the store said of the key when the write was decided (see CollectingBatch's stamp). */
  stamp: unknown;
}

export class CollectingBatch implements Batch {
  private readonly writes: Write[] = [];

  /** stamp: what to remember of a key's current state when a write to it is decided (a store's version of it). */
  constructor(private readonly stamp: (table: StateTable<unknown>, key: string) => unknown = () => undefined) {}

  /** The latest pending write per table and key. */
  private readonly latest = new Map<StateTable<unknown>, Map<string, Pending>>();

  get size(): number {
    return this.writes.length;
  }

  table<T>(of: StateTable<T>): BatchTable<T> {
    return new OverlayTable<T>(of, this.pendingOf(of as StateTable<unknown>), (key, pending) => this.record(of as StateTable<unknown>, key, pending));
  }

  /** The collected writes, oldest first (for stores that commit them their own way). */
  collected(): readonly Write[] {
    return this.writes;
  }

  /** Forgets every collected write. */
  clear(): void {
    this.writes.splice(0);
    this.latest.clear();
  }

  async commit(): Promise<void> {
    const writes = this.writes.slice();
    this.clear();
    for (const w of writes) {
      if ('deleted' in w.pending) await w.table.delete(w.key);
      else await w.table.put(w.key, w.pending.value);
    }
  }

  private pendingOf(table: StateTable<unknown>): Map<string, Pending> {
    let m = this.latest.get(table);
    if (!m) this.latest.set(table, (m = new Map()));
    return m;
  }

  private record(table: StateTable<unknown>, key: string, pending: Pending): void {
    this.writes.push({ table, key, pending, stamp: this.stamp(table, key) });
    this.pendingOf(table).set(key, pending);
  }
}

class OverlayTable<T> implements BatchTable<T> {
  constructor(
    private readonly base: StateTable<T>,
    private readonly pending: Map<string, Pending>,
    private readonly record: (key: string, pending: Pending) => void,
  ) {}

  get name(): string {
    return this.base.name;
  }

  get(key: string): Item<T> | undefined {
    const p = this.pending.get(key);
    if (!p) return this.base.get(key);
    if ('deleted' in p) return undefined;
    return { key, value: p.value as T, index: this.base.get(key)?.index ?? 0 };
  }

  list(): Item<T>[] {
    if (this.pending.size === 0) return this.base.list();
    const out = this.base.list().filter((i) => !this.pending.has(i.key));
    for (const key of this.pending.keys()) {
      const item = this.get(key);
      if (item) out.push(item);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watch(fn: (change: Change<T>) => void): () => void {
    return this.base.watch(fn);
  }

  put(key: string, value: T): void {
    this.record(key, { value });
  }

  delete(key: string): void {
    if (this.get(key) !== undefined) this.record(key, { deleted: true });
  }
}
