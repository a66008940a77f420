// Disaster recovery when a majority of the managers is gone for good: restart one member with
// --force-new-cluster from the data of the member that had committed the most (etcd discards what its
// own data had not seen committed). Which member that is must be read while they are all down: etcd
// 3.4 ships no offline tool, and a member started alone never serves clients (it waits for quorum to
// publish itself), so this reads the Raft state straight from the write-ahead log: the last HardState
// record (term, vote, commit) and the last entry's index.
//
// WAL format (etcd's wal package, stable since 3.0): files <seq>-<index>.wal under member/wal/, each a
// sequence of frames: an int64 little-endian length word (low 56 bits: record bytes; if the top bit
// is set, bits 56-58 give padding bytes), then a walpb.Record {1: type, 2: crc, 3: data}. Type 2 is a
// raftpb.Entry {1: Type, 2: Term, 3: Index, 4: Data}, type 3 a raftpb.HardState {1: term, 2: vote,
// 3: commit}. Files are preallocated: a zero length word ends the data.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { ROOT_PREFIX } from './keys.js';

export class RecoveryError extends Error {
  override readonly name = 'RecoveryError';
}

export interface RaftState {
  /** Highest commit index in the last saved HardState. */
  commit: bigint;
  term: bigint;
  /** Index of the last entry in the log (may exceed commit: entries not known committed). */
  lastIndex: bigint;
}

const ENTRY_TYPE = 2n;
const STATE_TYPE = 3n;

/** Reads a protobuf varint at `pos`: [value, next position]. */
function varint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new RecoveryError('truncated varint in the WAL');
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
    if (shift > 70n) throw new RecoveryError('varint too long in the WAL');
  }
}

/** The varint fields (and, for field `bytesField`, the bytes) of a protobuf message. */
function fields(buf: Buffer, bytesField?: number): { ints: Map<number, bigint>; bytes?: Buffer } {
  const ints = new Map<number, bigint>();
  let bytes: Buffer | undefined;
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = varint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = varint(buf, p1);
      ints.set(field, v);
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = varint(buf, p1);
      const end = p2 + Number(len);
      if (end > buf.length) throw new RecoveryError('truncated field in the WAL');
      if (field === bytesField) bytes = buf.subarray(p2, end);
      pos = end;
    } else if (wire === 5) {
      pos = p1 + 4;
    } else if (wire === 1) {
      pos = p1 + 8;
    } else {
      throw new RecoveryError(`unexpected protobuf wire type ${wire} in the WAL`);
    }
  }
  return bytes ? { ints, bytes } : { ints };
}

/** Folds one WAL file's records into `state`. A torn last frame (a crash mid-write) ends the file. */
export function scanWal(buf: Buffer, state: RaftState): void {
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const word = buf.readBigInt64LE(pos);
    if (word === 0n) return;
    const recBytes = Number(BigInt.asUintN(64, word) & 0x00ffffffffffffffn);
    const padBytes = word < 0n ? Number((BigInt.asUintN(64, word) >> 56n) & 0x7n) : 0;
    const start = pos + 8;
    const end = start + recBytes;
    if (end > buf.length) return;
    const record = fields(buf.subarray(start, end), 3);
    const type = record.ints.get(1) ?? 0n;
    const data = record.bytes ?? Buffer.alloc(0);
    if (type === ENTRY_TYPE) {
      const index = fields(data).ints.get(3) ?? 0n;
      if (index > state.lastIndex) state.lastIndex = index;
    } else if (type === STATE_TYPE) {
      const hs = fields(data).ints;
      const commit = hs.get(3) ?? 0n;
      if (commit > state.commit) state.commit = commit;
      state.term = hs.get(1) ?? state.term;
    }
    pos = end + padBytes;
  }
}

/** The Raft state a stopped member's data dir holds (read-only; the member must not be running). */
export function readRaftState(dataDir: string): RaftState {
  const walDir = join(dataDir, 'member', 'wal');
  let files: string[];
  try {
    files = readdirSync(walDir).filter((f) => f.endsWith('.wal')).sort();
  } catch (err) {
    throw new RecoveryError(`no etcd write-ahead log in ${walDir}: ${(err as Error).message}`);
  }
  if (files.length === 0) throw new RecoveryError(`no etcd write-ahead log in ${walDir}`);
  const state: RaftState = { commit: 0n, term: 0n, lastIndex: 0n };
  for (const f of files) scanWal(readFileSync(join(walDir, f)), state);
  return state;
}

/** The candidate that committed the most (then the longest log; the first of equals): the member to
 * restart with --force-new-cluster. */
export function pickRecoverySource<T extends { state: RaftState }>(candidates: readonly T[]): T {
  if (candidates.length === 0) throw new RecoveryError('no member data to recover from');
  const better = (a: RaftState, b: RaftState) => a.commit > b.commit || (a.commit === b.commit && a.lastIndex > b.lastIndex);
  return candidates.reduce((best, c) => (better(c.state, best.state) ? c : best));
}

/** Puts in flight when rewriting. */
const REWRITE_CONCURRENCY = 32;

/**
 * After --force-new-cluster, before anything else writes: puts every key under `prefix` again, with
 * its value and lease, so the Raft log holds what the forced member's database holds. Without this, a
 * write the database had applied but the WAL did not show committed lives on the forced member only,
 * and members that rejoin by log replay never get it (docs/decisions/0016, trap 3). Plain puts, no
 * txn compares: a compare is evaluated on each member's own state, which is exactly what differs, so
 * a guarded rewrite succeeded on the forced member and did nothing on the rejoined one. Keys whose
 * lease is gone are skipped (they were about to expire). Returns how many keys were rewritten.
 */
export async function rewriteAll(client: Etcd3, prefix = ROOT_PREFIX): Promise<number> {
  const res = await client.getAll().prefix(prefix).exec();
  const live = new Set((await client.leaseClient.leaseLeases()).leases.map((l) => l.ID));
  const todo = res.kvs.filter((kv) => kv.lease === undefined || kv.lease === '0' || live.has(kv.lease));
  for (let i = 0; i < todo.length; i += REWRITE_CONCURRENCY) {
    await Promise.all(todo.slice(i, i + REWRITE_CONCURRENCY).map((kv) => {
      const put = client.put(kv.key).value(kv.value);
      return (kv.lease === undefined || kv.lease === '0' ? put : put.lease(kv.lease)).exec();
    }));
  }
  return todo.length;
}
