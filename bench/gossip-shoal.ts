// One shoal gossip node as the benchmark runs it: a Memberlist carrying a ReplicatedStore through a
// StoreReplicator, wired the way src/cluster/swarm.ts wires them (the replicator is the delegate and
// is attached to the memberlist), on any Transport. Used in-process on the simulated network and by
// bench/gossip-node.ts as a child process on real sockets.
import { randomBytes } from 'node:crypto';
import { Memberlist } from '../src/cluster/memberlist.js';
import type { MembershipConfig } from '../src/cluster/config.js';
import type { Transport } from '../src/cluster/transport.js';
import { StoreReplicator } from '../src/store/replicator.js';
import { ReplicatedStore, type Table } from '../src/store/store.js';
import type { Logger } from '../src/util/log.js';

export const BENCH_TABLE = 'bench';
export const GOSSIP_PORT = 7946;

/**
 * A value about the size of a service endpoint record, so that entries are realistic on the wire:
 * the pad is random hex, like the IDs such records hold, so compression gains what it would there.
 */
export interface BenchValue {
  seq: number;
  from: string;
  pad: string;
}

export function benchValue(seq: number, from: string): BenchValue {
  return { seq, from, pad: randomBytes(32).toString('hex') };
}

function parseBenchValue(v: unknown): BenchValue {
  const x = v as Partial<BenchValue> | null;
  if (typeof x?.seq !== 'number' || typeof x.from !== 'string' || typeof x.pad !== 'string') throw new Error('bench value needs seq, from and pad');
  return { seq: x.seq, from: x.from, pad: x.pad };
}

export interface ShoalNodeOptions {
  name: string;
  addr: string;
  port?: number;
  transport?: Transport;
  config?: Partial<MembershipConfig>;
  log: Logger;
}

export interface ShoalNode {
  readonly name: string;
  readonly addr: string;
  readonly memberlist: Memberlist;
  readonly store: ReplicatedStore;
  readonly table: Table<BenchValue>;
  readonly replicator: StoreReplicator;
  start(): Promise<void>;
  /** Hard stop: timers and sockets closed, no leave message (what kill -9 looks like to the others). */
  stop(): Promise<void>;
  /** Graceful: broadcast the leave, then stop. */
  leave(): Promise<void>;
}

export function createShoalNode(o: ShoalNodeOptions): ShoalNode {
  const store = new ReplicatedStore({ node: o.name });
  const table = store.defineTable(BENCH_TABLE, parseBenchValue);
  const replicator = new StoreReplicator(store);
  const memberlist = new Memberlist({
    name: o.name, addr: o.addr, port: o.port ?? GOSSIP_PORT, delegate: replicator, transport: o.transport, config: o.config, log: o.log,
  });
  replicator.attach(memberlist);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    replicator.close();
    await memberlist.shutdown();
  };
  return {
    name: o.name, addr: o.addr, memberlist, store, table, replicator,
    start: () => memberlist.start(),
    stop,
    leave: async () => {
      await memberlist.leave();
      await stop();
    },
  };
}
