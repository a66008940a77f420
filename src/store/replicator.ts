// Carries the replicated store over gossip, as Docker's NetworkDB does: each local write is broadcast
// as a memberlist user message (piggybacked, retransmitted a bounded number of times), and the whole
// table state rides every push-pull, so a node that missed messages (partition, restart) catches up.
// Payloads: [0x53 'S'][version 1][kind][JSON]. Malformed payloads are dropped and counted.
import type { GossipDelegate, Memberlist } from '../cluster/memberlist.js';
import type { Entry } from './entry.js';
import type { ReplicatedStore } from './store.js';

const MAGIC = 0x53;
const VERSION = 1;
const KIND_ENTRIES = 1;
const KIND_STATE = 2;

export class ReplicationError extends Error {
  override readonly name = 'ReplicationError';
}

function frame(kind: number, entries: readonly Entry[]): Buffer {
  return Buffer.concat([Uint8Array.of(MAGIC, VERSION, kind), Buffer.from(JSON.stringify(entries))]);
}

function unframe(payload: Uint8Array, kind: number): unknown[] {
  if (payload.length < 3 || payload[0] !== MAGIC) throw new ReplicationError('not a shoal store message');
  if (payload[1] !== VERSION) throw new ReplicationError(`store message version ${payload[1]} is not supported (this node speaks ${VERSION})`);
  if (payload[2] !== kind) throw new ReplicationError(`unexpected store message kind ${payload[2]}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload.subarray(3)).toString('utf8'));
  } catch (err) {
    throw new ReplicationError(`store message is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new ReplicationError('store message must hold a list of entries');
  return parsed;
}

export class StoreReplicator implements GossipDelegate {
  /** tooLargeForGossip: writes left to push-pull because they do not fit in one packet. */
  readonly stats = { broadcasts: 0, received: 0, mergedFromPushPull: 0, dropped: 0, tooLargeForGossip: 0 };
  private gossip: Memberlist | undefined;
  private readonly stopWatching: () => void;

  constructor(private readonly store: ReplicatedStore) {
    this.stopWatching = store.onLocalWrite((e) => this.broadcast(e));
  }

  /** Connects to the memberlist node (which must have been created with this object as its delegate). */
  attach(gossip: Memberlist): void {
    this.gossip = gossip;
  }

  notifyMsg(payload: Uint8Array): void {
    if (payload[0] !== MAGIC) return; // another application's message (e.g. Serf's) in a shared pool
    try {
      this.store.merge(unframe(payload, KIND_ENTRIES));
      this.stats.received++;
    } catch {
      this.stats.dropped++;
    }
  }

  localState(): Uint8Array {
    return frame(KIND_STATE, this.store.snapshot());
  }

  mergeRemoteState(state: Uint8Array): void {
    try {
      this.stats.mergedFromPushPull += this.store.merge(unframe(state, KIND_STATE)).applied.length;
    } catch {
      this.stats.dropped++;
    }
  }

  close(): void {
    this.stopWatching();
  }

  private broadcast(entry: Entry): void {
    if (!this.gossip) return;
    if (this.gossip.broadcastUser(frame(KIND_ENTRIES, [entry]), `${entry.table}/${entry.key}`)) this.stats.broadcasts++;
    else this.stats.tooLargeForGossip++;
  }
}
