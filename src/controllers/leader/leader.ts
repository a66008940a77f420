// What the leader runs: one reconcile loop that allocates (networks, ingress sandbox addresses,
// service VIPs and ports) and then schedules (tasks), in that order, deciding in one synchronous
// pass over a batch (its reads show its own writes, so nothing interleaves between deciding an
// address is free and recording that it is taken), then committing the batch. Every manager runs
// the loop; only the current leader's passes act.
import { throughBatch, type ClusterView, watchCluster } from '../cluster-view.js';
import { Reconciler } from '../reconciler.js';
import { AddressBook } from './address-book.js';
import { allocateIngressNodeAddrs, allocateNetworks, allocateServices } from './allocator.js';
import { schedule } from './scheduler.js';
import { tunables } from '../../config/tunables.js';

export class LeaderController {
  private readonly loop: Reconciler;
  private readonly cursors = new Map<string, string>();
  private readonly updateClock = new Map<string, number>();
  private readonly startedAt = Date.now();
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly view: ClusterView) {
    this.loop = new Reconciler('leader', async () => this.pass(), { log: view.log, resyncMs: tunables.leaderResyncMs });
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
    if (Date.now() - this.startedAt >= tunables.leaderSettleMs) return true;
    return this.view.nodes().every((n) => n.id === this.view.nodeId || this.view.nodeState(n.id) !== 'unknown');
  }

  /** Runs a pass now and waits for it (the API calls this so a create returns allocated). */
  settle(): Promise<void> {
    return this.loop.settle();
  }

  private async pass(): Promise<void> {
    if (!this.view.isLeader() || !this.settled()) return;
    const batch = this.view.batch();
    const view = throughBatch(this.view, batch);
    allocateNetworks(view);
    const book = () => new AddressBook(view.tables, this.cursors);
    allocateIngressNodeAddrs(view, book());
    allocateServices(view, book());
    schedule(view, book(), this.updateClock);
    await batch.commit();
  }
}
