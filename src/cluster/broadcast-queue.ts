// The transmit-limited broadcast queue: updates waiting to be piggybacked on outgoing packets. Each
// is handed out a bounded number of times in total; fresh and large ones first; a newer update about
// the same subject replaces the queued one. The queue holds at most maxDepth updates: past that the
// ones already sent most often (then the oldest) are dropped, as Serf prunes its queues, so a burst of
// writes costs bounded memory and a bounded sort per packet; anti-entropy repairs what they carried.
import { retransmitLimit } from './config.js';

export interface Broadcast {
  /** Updates with the same subject (e.g. a node name) replace each other; undefined never replaces. */
  subject?: string;
  /** The encoded message, ready to put in a packet. */
  message: Uint8Array;
  /** Called once when the broadcast leaves the queue (sent out its budget, replaced, or dropped for room). */
  finished?: (reason: 'sent' | 'replaced' | 'reset' | 'dropped') => void;
}

interface Item {
  b: Broadcast;
  transmits: number;
  id: number;
}

export class BroadcastQueue {
  private items: Item[] = [];
  private readonly bySubject = new Map<string, Item>();
  private nextId = 0;
  /** Updates dropped to stay within maxDepth. */
  dropped = 0;

  constructor(
    private readonly retransmitMult: number,
    private readonly numNodes: () => number,
    /** At most this many updates wait (MembershipConfig.maxBroadcastQueueDepth). */
    private readonly maxDepth: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  queue(b: Broadcast): void {
    if (b.subject !== undefined) {
      const old = this.bySubject.get(b.subject);
      if (old) {
        this.items.splice(this.items.indexOf(old), 1);
        old.b.finished?.('replaced');
      }
    }
    const item = { b, transmits: 0, id: this.nextId++ };
    this.items.push(item);
    if (b.subject !== undefined) this.bySubject.set(b.subject, item);
    if (this.items.length > this.maxDepth) this.prune();
  }

  /** Drops the updates sent most often (then the oldest) until the queue is back to maxDepth. */
  private prune(): void {
    const order = [...this.items].sort((a, b) => b.transmits - a.transmits || a.id - b.id);
    const gone = new Set(order.slice(0, this.items.length - this.maxDepth));
    this.items = this.items.filter((it) => !gone.has(it));
    for (const it of gone) this.forget(it, 'dropped');
    this.dropped += gone.size;
  }

  private forget(it: Item, reason: 'sent' | 'reset' | 'dropped'): void {
    if (it.b.subject !== undefined && this.bySubject.get(it.b.subject) === it) this.bySubject.delete(it.b.subject);
    it.b.finished?.(reason);
  }

  /**
   * Messages for one packet: as many as fit in `limit` bytes, each costing `overhead` more (its
   * framing in a compound). Order: fewest transmits, then longest, then newest. Each one handed out
   * counts a transmit; one that reaches the retransmit limit leaves the queue.
   */
  take(overhead: number, limit: number): Uint8Array[] {
    if (this.items.length === 0) return [];
    const max = retransmitLimit(this.retransmitMult, this.numNodes());
    const order = [...this.items].sort((a, b) => a.transmits - b.transmits || b.b.message.length - a.b.message.length || b.id - a.id);
    const out: Uint8Array[] = [];
    let used = 0;
    const done = new Set<Item>();
    for (const it of order) {
      const cost = overhead + it.b.message.length;
      if (used + cost > limit) continue;
      used += cost;
      out.push(it.b.message);
      it.transmits++;
      if (it.transmits >= max) done.add(it);
    }
    if (done.size > 0) {
      this.items = this.items.filter((it) => !done.has(it));
      for (const it of done) this.forget(it, 'sent');
    }
    return out;
  }

  reset(): void {
    const all = this.items;
    this.items = [];
    for (const it of all) this.forget(it, 'reset');
  }
}
