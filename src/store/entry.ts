// The unit of replication: one key of one table at one version, live or a tombstone. Merging two
// copies of an entry keeps the newer version (last writer wins), the same way on every node.
import { compareHlc, type Hlc } from './hlc.js';

export interface Entry {
  table: string;
  key: string;
  version: Hlc;
  /** The value as JSON-compatible data; undefined for a tombstone. */
  value?: unknown;
  /** A deletion. Kept until reaped so that an older write arriving late cannot resurrect the key. */
  deleted: boolean;
  /** The writer's signature (base64), on tables whose entries are signed (signing.ts). */
  sig?: string;
}

export function entryId(table: string, key: string): string {
  return `${table}\u0000${key}`;
}

/** True if `incoming` should replace `current` (no current entry, or a newer version). */
export function supersedes(incoming: Entry, current: Entry | undefined): boolean {
  return current === undefined || compareHlc(incoming.version, current.version) > 0;
}

/** Checks the shape of an entry that came from the network or the disk; returns a reason or undefined. */
export function invalidEntryReason(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const x = e as Record<string, unknown>;
  if (typeof x.table !== 'string' || x.table === '') return 'table must be a non-empty string';
  if (typeof x.key !== 'string' || x.key === '') return 'key must be a non-empty string';
  if (typeof x.deleted !== 'boolean') return 'deleted must be a boolean';
  const v = x.version as Record<string, unknown> | undefined;
  if (typeof v !== 'object' || v === null) return 'version missing';
  if (!Number.isSafeInteger(v.wall) || (v.wall as number) < 0) return 'version.wall must be a non-negative integer';
  if (!Number.isSafeInteger(v.counter) || (v.counter as number) < 0) return 'version.counter must be a non-negative integer';
  if (typeof v.node !== 'string' || v.node === '') return 'version.node must be a non-empty string';
  if (!x.deleted && x.value === undefined) return 'a live entry needs a value';
  if (x.sig !== undefined && (typeof x.sig !== 'string' || x.sig.length > 1024)) return 'sig must be a base64 string';
  return undefined;
}
