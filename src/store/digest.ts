// Per-table digests of a store's live entries, kept up to date incrementally, for anti-entropy: two
// nodes holding the same entries compute the same digest. A digest is asked "as of" a cutoff time,
// leaving out entries whose version is newer (still spreading by gossip), so that only a real
// divergence (a lost message) shows as a difference. XOR of 32-bit FNV-1a hashes of (table, key,
// version): order-free, updated in O(1) per change; the cutoff costs O(entries changed recently).
import { entryId, type Entry } from './entry.js';

/** Entries this recent are remembered one by one, so digests can be asked as of any cutoff inside it. */
export const RECENT_WINDOW_MS = 60_000;

export type Digests = Record<string, number>;

interface Recent {
  table: string;
  hash: number;
  wall: number;
}

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hashOf(e: Entry): number {
  return fnv1a(`${e.table}\u0000${e.key}\u0000${e.version.wall}\u0000${e.version.counter}\u0000${e.version.node}`);
}

export class StoreDigest {
  private readonly all = new Map<string, number>();
  private readonly hashes = new Map<string, { table: string; hash: number }>();
  private readonly recent = new Map<string, Recent>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The entry now held for its key (live or a tombstone). */
  update(e: Entry): void {
    const id = entryId(e.table, e.key);
    const old = this.hashes.get(id);
    if (old) {
      this.xor(old.table, old.hash);
      this.hashes.delete(id);
    }
    this.recent.delete(id);
    if (e.deleted) return;
    const hash = hashOf(e);
    this.xor(e.table, hash);
    this.hashes.set(id, { table: e.table, hash });
    if (e.version.wall >= this.now() - RECENT_WINDOW_MS) this.recent.set(id, { table: e.table, hash, wall: e.version.wall });
  }

  /** Digests of the live entries whose versions are older than cutoff (ms), by table. */
  asOf(cutoff: number): Digests {
    this.prune();
    const out: Digests = Object.fromEntries(this.all);
    for (const r of this.recent.values()) if (r.wall >= cutoff) out[r.table] = ((out[r.table] ?? 0) ^ r.hash) >>> 0;
    for (const [t, v] of Object.entries(out)) if (v === 0) delete out[t];
    return out;
  }

  /** Whether a cutoff is recent enough to be answered exactly. */
  covers(cutoff: number): boolean {
    return cutoff >= this.now() - RECENT_WINDOW_MS / 2;
  }

  private xor(table: string, hash: number): void {
    const v = ((this.all.get(table) ?? 0) ^ hash) >>> 0;
    if (v === 0) this.all.delete(table);
    else this.all.set(table, v);
  }

  private prune(): void {
    const oldest = this.now() - RECENT_WINDOW_MS;
    for (const [id, r] of this.recent) if (r.wall < oldest) this.recent.delete(id);
  }
}

export function sameDigests(a: Digests, b: Digests): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}
