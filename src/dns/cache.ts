// The answer cache of one view: templates keyed by the question (lowercased name, qtype, qclass),
// found by the hash the scanner computed and confirmed byte by byte, so a hit allocates nothing.
// Emptied as a whole when a zone of the view changes, and when it reaches its size bound. A mirror
// (the native UDP path's copy of the view's templates) follows every set and clear.
import type { Template } from './template.js';
import { HEADER_SIZE, lowerByte, type ParsedQuery } from './wire.js';

interface Entry {
  template: Template;
  /** Lowercase question name + qtype + qclass, as in the template. */
  key: Uint8Array;
  /** Next entry with the same hash. */
  next: Entry | undefined;
}

/** Another copy of a view's cache that must hold the same templates (native/src/dns_fast.cc). */
export interface CacheMirror {
  set(template: Template): void;
  clear(): void;
}

export class AnswerCache {
  private readonly entries = new Map<number, Entry>();
  private count = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly mirror?: CacheMirror,
  ) {}

  get size(): number {
    return this.count;
  }

  /** The template for the question of msg (scanned into q), if cached. */
  get(msg: Uint8Array, q: ParsedQuery): Template | undefined {
    for (let e = this.entries.get(q.hash); e !== undefined; e = e.next) {
      if (sameQuestion(e.key, msg, q)) return e.template;
    }
    return undefined;
  }

  set(q: ParsedQuery, template: Template): void {
    if (this.count >= this.maxEntries) this.clear();
    const head = this.entries.get(q.hash);
    this.entries.set(q.hash, { template, key: template.questionKey(), next: head });
    this.count++;
    this.mirror?.set(template);
  }

  clear(): void {
    this.entries.clear();
    this.count = 0;
    this.mirror?.clear();
  }
}

/** key against the question of msg: the name compared case-insensitively, qtype and qclass exactly. */
function sameQuestion(key: Uint8Array, msg: Uint8Array, q: ParsedQuery): boolean {
  const nameLen = q.nameEnd - HEADER_SIZE;
  if (key.length !== nameLen + 4) return false;
  for (let i = 0; i < nameLen; i++) {
    if (key[i] !== lowerByte(msg[HEADER_SIZE + i]!)) return false;
  }
  for (let i = nameLen; i < nameLen + 4; i++) {
    if (key[i] !== msg[HEADER_SIZE + i]) return false;
  }
  return true;
}
