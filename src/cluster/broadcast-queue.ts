// The transmit-limited broadcast queue: updates waiting to be piggybacked on outgoing packets. Each
// is handed out a bounded number of times in total; fresh and large ones first; a newer update about
// the same subject replaces the queued one.
import { retransmitLimit } from './config.js';

export interface Broadcast {
  /** Updates with the same subject (e.g. a node name) replace each other; undefined never replaces. */
  subject?: string;
  /** The encoded message, ready to put in a packet. */
  message: Uint8Array;
  /** Called once when the broadcast leaves the queue (sent out its budget, or replaced). */
  finished?: (reason: 'sent' | 'replaced' | 'reset') => void;
}

interface Item {
  b: Broadcast;
  transmits: number;
  id: number;
}

export class BroadcastQueue {
  private items: Item[] = [];
  private nextId = 0;

  constructor(
    private readonly retransmitMult: number,
    private readonly numNodes: () => number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  queue(b: Broadcast): void {
    if (b.subject !== undefined) {
      const kept: Item[] = [];
      for (const it of this.items) {
        if (it.b.subject === b.subject) it.b.finished?.('replaced');
        else kept.push(it);
      }
      this.items = kept;
    }
    this.items.push({ b, transmits: 0, id: this.nextId++ });
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
      for (const it of done) it.b.finished?.('sent');
    }
    return out;
  }

  reset(): void {
    for (const it of this.items) it.b.finished?.('reset');
    this.items = [];
  }
}
