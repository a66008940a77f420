// The state store over the gossip-replicated tables (store.ts): every node holds every table and
// writes apply locally at once, then spread by gossip (docs/store.md says what that promises). A
// write resolves as soon as it is in this node's copy; the version's hybrid logical clock gives
// Docker's Version.Index.
import { CollectingBatch } from './batch.js';
import type { Hlc } from './hlc.js';
import type { Batch, Change, Item, Parser, StateStore, StateTable } from './state.js';
import { StateError } from './state.js';
import type { ReplicatedStore } from './store.js';

/** Docker's Version.Index for a store version: increasing with every write to the entry. */
export function versionIndex(v: Pick<Hlc, 'wall' | 'counter'>): number {
  return v.wall * 1000 + Math.min(v.counter, 999);
}

export class GossipStateStore implements StateStore {
  private readonly tables = new Map<string, StateTable<unknown>>();

  constructor(readonly replicated: ReplicatedStore) {}

  table<T>(name: string, parse: Parser<T>): StateTable<T> {
    const known = this.tables.get(name);
    if (known) return known as StateTable<T>;
    this.replicated.defineTable(name, parse);
    const t = new GossipTable<T>(this.replicated, name);
    this.tables.set(name, t as StateTable<unknown>);
    return t;
  }

  batch(): Batch {
    return new CollectingBatch();
  }
}

class GossipTable<T> implements StateTable<T> {
  constructor(
    private readonly store: ReplicatedStore,
    readonly name: string,
  ) {}

  get(key: string): Item<T> | undefined {
    const v = this.store.get<T>(this.name, key);
    return v && { key, value: v.value, index: versionIndex(v.version) };
  }

  list(): Item<T>[] {
    return this.store.list<T>(this.name).map((v) => ({ key: v.key, value: v.value, index: versionIndex(v.version) }));
  }

  watch(fn: (change: Change<T>) => void): () => void {
    return this.store.watch((ev) => fn({ key: ev.entry.key, value: ev.entry.deleted ? undefined : (ev.entry.value as T) }), this.name);
  }

  async put(key: string, value: T): Promise<void> {
    try {
      this.store.put(this.name, key, value);
    } catch (err) {
      throw new StateError(`cannot write ${this.name}/${key}: ${(err as Error).message}`);
    }
  }

  async delete(key: string): Promise<void> {
    this.store.delete(this.name, key);
  }
}
