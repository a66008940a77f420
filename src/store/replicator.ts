// Carries the replicated store over gossip, as Docker's NetworkDB does: each local write is broadcast
// as a memberlist user message (piggybacked, retransmitted a bounded number of times), and every
// node that learns an entry from gossip queues it again (memberlist never relays user messages on
// its own; Serf re-gossips its events the same way), so a write spreads epidemically, O(log N)
// rounds, instead of reaching only the few nodes its writer happens to send to. The whole table
// state rides every push-pull, so a node that missed messages (partition, restart) catches up.
// Gossip can lose a message (memberlist hands each out a bounded number of times), and push-pull
// repairs that only every 30 s; so every couple of seconds each node also sends one random peer a
// digest of its tables as of a moment ago (digest.ts), and a peer whose own digest differs
// push-pulls with it at once: a node that missed something triggers its own repair within seconds,
// at the cost of one small packet per node per interval when all is in sync.
// Payloads: [0x53 'S'][version 1][kind][JSON]. Malformed payloads are dropped and counted.
import type { Entry } from './entry.js';
import type { ReplicatedStore } from './store.js';
import { sameDigests, StoreDigest, type Digests } from './digest.js';
import { tunables } from '../config/tunables.js';

const MAGIC = 0x53;
const VERSION = 1;
const KIND_ENTRIES = 1;
const KIND_STATE = 2;
const KIND_DIGEST = 3;

/** A peer as the gossip layer knows it. */
export interface GossipPeer {
  name: string;
  addr: string;
  port: number;
  state: string;
}

/**
 * What the replicator needs of the gossip layer, which hands it user messages and push-pull state
 * through the replicator's notifyMsg / localState / mergeRemoteState (memberlist provides both).
 */
export interface GossipChannel {
  readonly members: { readonly selfName: string; get(name: string): GossipPeer | undefined; list(): GossipPeer[] };
  /** Queues a message for piggybacking on gossip; false if it can never fit in a packet. */
  broadcastUser(payload: Uint8Array, subject?: string): boolean;
  /** Sends a message to one peer, best effort. */
  sendUserTo(name: string, payload: Uint8Array): boolean;
  /** Push-pulls with the given addresses. */
  join(addrs: readonly string[]): Promise<number>;
}

interface DigestMessage {
  from: string;
  cutoff: number;
  digests: Digests;
}

export class ReplicationError extends Error {
  override readonly name = 'ReplicationError';
}

function frame(kind: number, entries: readonly Entry[]): Buffer {
  return Buffer.concat([Uint8Array.of(MAGIC, VERSION, kind), Buffer.from(JSON.stringify(entries))]);
}

function frameJson(kind: number, value: unknown): Buffer {
  return Buffer.concat([Uint8Array.of(MAGIC, VERSION, kind), Buffer.from(JSON.stringify(value))]);
}

function unframe(payload: Uint8Array, kind: number): unknown[] {
  const parsed = unframeJson(payload, kind);
  if (!Array.isArray(parsed)) throw new ReplicationError('store message must hold a list of entries');
  return parsed;
}

function unframeJson(payload: Uint8Array, kind: number): unknown {
  if (payload.length < 3 || payload[0] !== MAGIC) throw new ReplicationError('not a shoal store message');
  if (payload[1] !== VERSION) throw new ReplicationError(`store message version ${payload[1]} is not supported (this node speaks ${VERSION})`);
  if (payload[2] !== kind) throw new ReplicationError(`unexpected store message kind ${payload[2]}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload.subarray(3)).toString('utf8'));
  } catch (err) {
    throw new ReplicationError(`store message is not valid JSON: ${(err as Error).message}`);
  }
  return parsed;
}

function parseDigestMessage(v: unknown): DigestMessage {
  const d = v as Partial<DigestMessage>;
  if (typeof d?.from !== 'string' || !Number.isSafeInteger(d.cutoff) || typeof d.digests !== 'object' || d.digests === null || Object.values(d.digests).some((x) => !Number.isSafeInteger(x))) throw new ReplicationError('a digest message needs from, cutoff and digests');
  return d as DigestMessage;
}

export class StoreReplicator {
  /** tooLargeForGossip: writes left to push-pull because they do not fit in one packet. */
  /** repairs: push-pulls started because a peer's digest differed from ours. */
  readonly stats = { broadcasts: 0, relayed: 0, received: 0, mergedFromPushPull: 0, dropped: 0, tooLargeForGossip: 0, digestsSent: 0, digestsChecked: 0, repairs: 0 };
  private gossip: GossipChannel | undefined;
  private readonly stopWatching: (() => void)[] = [];
  private readonly digest = new StoreDigest();
  private timer: NodeJS.Timeout | undefined;
  private lastRepair = 0;
  private name: string | undefined;

  constructor(private readonly store: ReplicatedStore) {
    for (const e of store.snapshot()) this.digest.update(e);
    this.stopWatching.push(store.watch((ev) => this.digest.update(ev.entry)));
    this.stopWatching.push(store.onLocalWrite((e) => this.broadcast(e)));
  }

  /** Connects to the memberlist node (which must have been created with this object as its delegate) and starts anti-entropy. */
  attach(gossip: GossipChannel): void {
    this.gossip = gossip;
    this.name = gossip.members.selfName;
    // A random first delay, so nodes started together do not send their digests in lockstep.
    const first = setTimeout(() => {
      this.sendDigest();
      this.timer = setInterval(() => this.sendDigest(), tunables.antiEntropyIntervalMs);
      this.timer.unref();
    }, Math.random() * tunables.antiEntropyIntervalMs);
    first.unref();
    this.timer = first;
  }

  notifyMsg(payload: Uint8Array): void {
    if (payload[0] !== MAGIC) return; // another application's message (e.g. Serf's) in a shared pool
    try {
      if (payload[2] === KIND_DIGEST) return this.checkDigest(parseDigestMessage(unframeJson(payload, KIND_DIGEST)));
      const { applied } = this.store.merge(unframe(payload, KIND_ENTRIES));
      this.stats.received++;
      // New to this node: pass it on. An entry already held is not, so each node relays a write once.
      for (const e of applied) if (this.gossip?.broadcastUser(frame(KIND_ENTRIES, [e]), `${e.table}/${e.key}`)) this.stats.relayed++;
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
    if (this.timer) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    for (const stop of this.stopWatching.splice(0)) stop();
  }

  private sendDigest(): void {
    const g = this.gossip;
    if (!g) return;
    const peers = g.members.list().filter((m) => m.name !== this.name && m.state === 'alive');
    const peer = peers[Math.floor(Math.random() * peers.length)];
    if (!peer) return;
    const cutoff = Date.now() - tunables.antiEntropySettleMs;
    if (g.sendUserTo(peer.name, frameJson(KIND_DIGEST, { from: this.name ?? '', cutoff, digests: this.digest.asOf(cutoff) } satisfies DigestMessage))) this.stats.digestsSent++;
  }

  /** A peer's digest: if ours differs as of the same moment, push-pull with it (at most every tunables.antiEntropyRepairIntervalMs). */
  private checkDigest(m: DigestMessage): void {
    const g = this.gossip;
    if (!g || m.from === this.name || !this.digest.covers(m.cutoff)) return;
    this.stats.digestsChecked++;
    if (sameDigests(this.digest.asOf(m.cutoff), m.digests)) return;
    const now = Date.now();
    const peer = g.members.get(m.from);
    if (!peer || peer.state !== 'alive' || now - this.lastRepair < tunables.antiEntropyRepairIntervalMs) return;
    this.lastRepair = now;
    this.stats.repairs++;
    void g.join([`${peer.addr}:${peer.port}`]).catch(() => undefined);
  }

  private broadcast(entry: Entry): void {
    if (!this.gossip) return;
    if (this.gossip.broadcastUser(frame(KIND_ENTRIES, [entry]), `${entry.table}/${entry.key}`)) this.stats.broadcasts++;
    else this.stats.tooLargeForGossip++;
  }
}
