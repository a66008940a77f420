// The state store as the controllers and the API see it, whatever keeps it underneath: typed tables
// of cluster objects, read from this node's copy (synchronous, always answering, possibly a moment
// behind the cluster) and written through the store (asynchronous: a write resolves once this node's
// own reads show it, or rejects naming why). A batch collects the writes of one decision (the
// leader's allocate-and-schedule pass) and commits them together; reads through a batch show its own
// pending writes, so a pass decides as if each write had already landed.
// Implementations: the gossip-replicated tables (table-store.ts over store.ts); the managers' Raft
// store (etcd) is meant to sit behind the same interface (docs/decisions/0019-state-store-interface.md).

/** One value of a table, as this node's copy holds it. */
export interface Item<T> {
  key: string;
  value: T;
  /** Docker's Version.Index: grows with every write of this key, so optimistic updates can be checked. */
  index: number;
}

/** What changed: the key, and its new value (undefined when it was deleted). */
export interface Change<T> {
  key: string;
  value: T | undefined;
}

export interface TableReader<T> {
  readonly name: string;
  get(key: string): Item<T> | undefined;
  /** Every live value, ordered by key. */
  list(): Item<T>[];
  /** Calls fn after every change of a key (local or learned from others); returns what stops it. */
  watch(fn: (change: Change<T>) => void): () => void;
}

/** A table written through the store. */
export interface StateTable<T> extends TableReader<T> {
  /** Writes a value (checked by the table's parser first: an invalid one rejects and changes nothing). */
  put(key: string, value: T): Promise<void>;
  /** Deletes a key; deleting a key that holds nothing is not an error. */
  delete(key: string): Promise<void>;
}

/** A table seen through a batch: writes are collected, reads show them. */
export interface BatchTable<T> extends TableReader<T> {
  put(key: string, value: T): void;
  delete(key: string): void;
}

/** Writes collected for one commit. */
export interface Batch {
  /** The batch's view of a table of the store. */
  table<T>(of: StateTable<T>): BatchTable<T>;
  /** How many writes are waiting. */
  readonly size: number;
  /** Applies every collected write, in order; rejects (naming why) if the store refused them. */
  commit(): Promise<void>;
}

/** Validates a table's values: returns the typed value, or throws an Error naming what is wrong. */
export type Parser<T> = (value: unknown) => T;

export interface StateStore {
  /** The table of that name, its values checked by the parser on every write. */
  table<T>(name: string, parse: Parser<T>): StateTable<T>;
  /** A new, empty batch over this store's tables. */
  batch(): Batch;
}

/** Why a write failed: a value its table refuses, a guard that no longer holds, no quorum, no permission, or the store out of reach. */
export type StateErrorReason = 'invalid' | 'conflict' | 'no-leader' | 'denied' | 'unavailable';

export class StateError extends Error {
  override readonly name = 'StateError';
  constructor(message: string, readonly reason: StateErrorReason = 'invalid') {
    super(message);
  }
}
