// Keeps a node's replicated tables on disk so that a restarted agent (even after kill -9) starts
// from what it had: a snapshot file plus a write-ahead log of every change since, appended and
// fdatasync'ed before the change is acknowledged. Compaction rewrites the snapshot atomically.
import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { syncDirectory } from '../util/durable-file.js';
import { join } from 'node:path';
import { invalidEntryReason, type Entry } from './entry.js';

export interface LoadResult {
  entries: Entry[];
  /** Lines of the log that could not be read (a write torn by a crash, or damage), skipped. */
  skipped: number;
}

export interface Persistence {
  load(): LoadResult;
  append(entries: readonly Entry[]): void;
  compact(all: readonly Entry[]): void;
  /** Number of changes appended since the last compaction. */
  readonly pending: number;
  close(): void;
}

const SNAPSHOT = 'store.snapshot.json';
const WAL = 'store.wal.jsonl';

export class FilePersistence implements Persistence {
  private walFd: number | undefined;
  private appended = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  get pending(): number {
    return this.appended;
  }

  load(): LoadResult {
    const entries: Entry[] = [];
    let skipped = 0;
    const snapshotPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapshotPath)) {
      let parsed: { entries?: unknown[] };
      try {
        parsed = JSON.parse(readFileSync(snapshotPath, 'utf8')) as { entries?: unknown[] };
      } catch (err) {
        throw new Error(`store snapshot ${snapshotPath} is damaged (${(err as Error).message}): move it aside and restart; the node then catches up from the cluster`);
      }
      for (const e of parsed.entries ?? []) {
        if (invalidEntryReason(e) === undefined) entries.push(e as Entry);
        else skipped++;
      }
    }
    const walPath = join(this.dir, WAL);
    if (existsSync(walPath)) {
      for (const line of readFileSync(walPath, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          const e: unknown = JSON.parse(line);
          if (invalidEntryReason(e) === undefined) {
            entries.push(e as Entry);
            this.appended++;
          } else skipped++;
        } catch {
          skipped++;
        }
      }
    }
    return { entries, skipped };
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.walFd ??= openSync(join(this.dir, WAL), 'a', 0o600);
    writeAll(this.walFd, Buffer.from(entries.map((e) => JSON.stringify(e)).join('\n') + '\n'));
    fdatasyncSync(this.walFd);
    this.appended += entries.length;
  }

  compact(all: readonly Entry[]): void {
    const tmp = join(this.dir, `${SNAPSHOT}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, Buffer.from(JSON.stringify({ format: 1, entries: all })));
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    // The rename must be on disk before the log it replaces is emptied.
    syncDirectory(this.dir);
    // The snapshot now holds everything the log did: start a new, empty log.
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = openSync(join(this.dir, WAL), 'w', 0o600);
    fdatasyncSync(this.walFd);
    this.appended = 0;
  }

  close(): void {
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }
}

/** Writes every byte (writeSync may write fewer than asked: on a full disk, or a signal). */
function writeAll(fd: number, bytes: Buffer): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}
