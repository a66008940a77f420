// The state store in memory, for tests and tools that need the interface without a cluster: one
// node's tables and nothing else. A write applies at once (before its promise settles) and gets the
// next store-wide revision as its index, as a Raft store numbers its writes.
import { EventEmitter } from 'node:events';
import { CollectingBatch } from './batch.js';
import { StateError, type Batch, type Change, type Item, type Parser, type StateStore, type StateTable } from './state.js';

export class MemoryStateStore implements StateStore {
  private readonly tables = new Map<string, MemoryTable<unknown>>();
  private revision = 0;

  table<T>(name: string, parse: Parser<T>): StateTable<T> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new MemoryTable<unknown>(name, parse, () => ++this.revision)));
    return t as StateTable<T>;
  }

  batch(): Batch {
    return new CollectingBatch();
  }
}

class MemoryTable<T> implements StateTable<T> {
  private readonly items = new Map<string, Item<T>>();
  private readonly events = new EventEmitter();

  constructor(
    readonly name: string,
    private readonly parse: Parser<T>,
    private readonly nextRevision: () => number,
  ) {
    this.events.setMaxListeners(0);
  }

  get(key: string): Item<T> | undefined {
    return this.items.get(key);
  }

  list(): Item<T>[] {
    return [...this.items.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  watch(fn: (change: Change<T>) => void): () => void {
    this.events.on('change', fn);
    return () => this.events.off('change', fn);
  }

  put(key: string, value: T): Promise<void> {
    let parsed: T;
    try {
      parsed = this.parse(value);
    } catch (err) {
      return Promise.reject(new StateError(`cannot write ${this.name}/${key}: ${(err as Error).message}`));
    }
    this.items.set(key, { key, value: parsed, index: this.nextRevision() });
    this.events.emit('change', { key, value: parsed } satisfies Change<T>);
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    if (this.items.delete(key)) this.events.emit('change', { key, value: undefined } satisfies Change<T>);
    return Promise.resolve();
  }
}
