// The in-flight limiter of a netlink socket. Two bounds hold at once: at most `maxTasks` requests
// wait for their answer, and the replies they can produce (each task states a cost, e.g. bytes of
// receive buffer) stay within `capacity`; the rest queue in arrival order. Dumps run alone: on one
// netlink socket the kernel refuses a second dump while one is running (EBUSY), and the netlink
// package mixes up a dump's parts with other replies arriving between them. Pure scheduling; knows
// nothing of netlink messages.

export type TaskKind = 'shared' | 'exclusive';

export interface TaskOptions {
  /** 'exclusive' waits until nothing else runs and holds back everything queued after it. Default 'shared'. */
  kind?: TaskKind;
  /** What the task holds of capacity while it runs. Default 1. */
  cost?: number;
}

export interface LimiterOptions {
  maxTasks: number;
  /** Total cost of running tasks; a task costing more than this still runs, alone. Default: no limit. */
  capacity?: number;
}

export interface InFlightStats {
  /** Requests sent and not yet answered. */
  inFlight: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** The highest inFlight seen since the limiter was made. */
  peakInFlight: number;
  /** Sum of the costs of the running tasks, and its highest value so far. */
  cost: number;
  peakCost: number;
  /** Requests completed (answered or failed). */
  completed: number;
}

interface Waiter {
  kind: TaskKind;
  cost: number;
  start: () => void;
}

export class InFlightLimiter {
  readonly maxTasks: number;
  readonly capacity: number;
  private running = 0;
  private used = 0;
  private exclusiveRunning = false;
  private readonly queue: Waiter[] = [];
  private peak = 0;
  private peakUsed = 0;
  private done = 0;

  constructor(options: LimiterOptions) {
    const { maxTasks, capacity = Number.POSITIVE_INFINITY } = options;
    if (!Number.isInteger(maxTasks) || maxTasks < 1) throw new RangeError(`in-flight limit must be a positive integer, got ${maxTasks}`);
    if (!(capacity > 0)) throw new RangeError(`capacity must be positive, got ${capacity}`);
    this.maxTasks = maxTasks;
    this.capacity = capacity;
  }

  /** Runs fn once it fits; resolves or rejects as fn does. */
  run<T>(fn: () => Promise<T>, options: TaskOptions = {}): Promise<T> {
    const kind = options.kind ?? 'shared';
    const cost = options.cost ?? 1;
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.acquire(kind, cost);
        let result: Promise<T>;
        try {
          result = fn();
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(resolve, reject).finally(() => this.release(kind, cost));
      };
      this.queue.push({ kind, cost, start });
      this.dispatch();
    });
  }

  get stats(): InFlightStats {
    return { inFlight: this.running, queued: this.queue.length, peakInFlight: this.peak, cost: this.used, peakCost: this.peakUsed, completed: this.done };
  }

  private fits(w: Waiter): boolean {
    if (this.exclusiveRunning) return false;
    if (this.running === 0) return true;
    if (w.kind === 'exclusive') return false;
    return this.running < this.maxTasks && this.used + w.cost <= this.capacity;
  }

  /** Starts queued work from the head while it fits; strictly in order, so a waiting dump is not starved. */
  private dispatch(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!)) {
      this.queue.shift()!.start();
    }
  }

  private acquire(kind: TaskKind, cost: number): void {
    this.running++;
    this.used += cost;
    if (kind === 'exclusive') this.exclusiveRunning = true;
    this.peak = Math.max(this.peak, this.running);
    this.peakUsed = Math.max(this.peakUsed, this.used);
  }

  private release(kind: TaskKind, cost: number): void {
    this.running--;
    this.used -= cost;
    this.done++;
    if (kind === 'exclusive') this.exclusiveRunning = false;
    this.dispatch();
  }
}
