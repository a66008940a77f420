// What the leader runs: one reconcile loop that allocates (networks, ingress sandbox addresses,
// service VIPs and ports) and then schedules (tasks), in that order, in one synchronous pass, so
// nothing interleaves between deciding an address is free and writing that it is taken. Every
// manager runs the loop; only the current leader's passes act.
import { type ClusterView, watchCluster } from '../cluster-view.js';
import { Reconciler } from '../reconciler.js';
import { AddressBook } from './address-book.js';
import { allocateIngressNodeAddrs, allocateNetworks, allocateServices } from './allocator.js';
import { schedule } from './scheduler.js';

/** A full pass at least this often: restart delays and update delays are honoured to about this. */
export const LEADER_RESYNC_MS = 500;
/**
 * A leader that has just started waits until gossip has told it whether each known node is up or
 * down, at most this long (about one probe round and a push-pull), so that it does not place every
 * new task on itself or count nodes it simply has not heard from yet.
 */
export const LEADER_SETTLE_MS = 3_000;

export class LeaderController {
  private readonly loop: Reconciler;
  private readonly cursors = new Map<string, string>();
  private readonly updateClock = new Map<string, number>();
  private readonly startedAt = Date.now();
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly view: ClusterView) {
    this.loop = new Reconciler('leader', async () => this.pass(), { log: view.log, resyncMs: LEADER_RESYNC_MS });
  }

  start(): void {
    this.unsubscribe.push(watchCluster(this.view, (t) => [t.networks, t.networkAllocations, t.services, t.serviceEndpoints, t.tasks, t.taskStatus, t.endpoints], () => this.loop.trigger()));
    this.loop.start();
  }

  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.loop.stop();
  }

  private settled(): boolean {
    if (Date.now() - this.startedAt >= LEADER_SETTLE_MS) return true;
    return this.view.nodes().every((n) => n.id === this.view.nodeId || this.view.nodeState(n.id) !== 'unknown');
  }

  /** Runs a pass now and waits for it (the API calls this so a create returns allocated). */
  settle(): Promise<void> {
    return this.loop.settle();
  }

  private pass(): void {
    if (!this.view.isLeader() || !this.settled()) return;
    allocateNetworks(this.view);
    const book = () => new AddressBook(this.view.tables, this.cursors);
    allocateIngressNodeAddrs(this.view, book());
    allocateServices(this.view, book());
    schedule(this.view, book(), this.updateClock);
  }
}
