// The loop every controller runs: reconcile(desired, actual) as one idempotent pass, started
// whenever something may have changed (events only say *when*, never *what*), never two passes at
// once, triggers during a pass coalesced into one more pass, a failed pass retried with backoff,
// and a periodic resync so that a missed event costs at most one resync period.
import type { Logger } from '../util/log.js';

export interface ReconcilerOptions {
  log: Logger;
  /** Run a pass at least this often, event or not. */
  resyncMs: number;
  /** After a failed pass, wait this long (doubling up to maxBackoffMs) before the next. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class Reconciler {
  private dirty = false;
  private running: Promise<void> | undefined;
  private stopped = true;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Completed passes and failed ones, for tests and metrics. */
  readonly stats = { passes: 0, failures: 0 };

  constructor(
    readonly name: string,
    private readonly pass: () => Promise<void>,
    private readonly opts: ReconcilerOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.resyncTimer = setInterval(() => this.trigger(), this.opts.resyncMs);
    this.resyncTimer.unref();
    this.trigger();
  }

  /** Asks for a pass soon; cheap to call on every event. */
  trigger(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (!this.running && !this.retryTimer) this.running = this.loop();
  }

  /** Resolves once a pass that started after this call has finished (for callers that must see its effect). */
  async settle(): Promise<void> {
    this.trigger();
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      // A macrotask turn before every pass: triggers from a burst coalesce, and a pass that keeps
      // re-triggering itself can never starve I/O (the API, gossip) the way a microtask loop would.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.stopped) break;
      this.dirty = false;
      try {
        await this.pass();
        this.stats.passes++;
        this.failures = 0;
      } catch (err) {
        this.stats.failures++;
        this.failures++;
        const delay = Math.min((this.opts.backoffMs ?? 250) * 2 ** (this.failures - 1), this.opts.maxBackoffMs ?? 10_000);
        this.opts.log.warn({ controller: this.name, err: (err as Error).message, retryInMs: delay }, 'reconcile pass failed');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.trigger();
        }, delay);
        this.retryTimer.unref();
        break;
      }
    }
    this.running = undefined;
  }
}
