// Lifeguard's local-health-aware suspicion: a suspect is declared dead after a timeout that starts
// long and shrinks, on a log scale, as independent members confirm the suspicion.
import { setTimeout as schedule, clearTimeout } from 'node:timers';

/** The minimum suspicion timeout: suspicionMult * max(1, log10(n)) probe intervals (scale truncated to 1/1000). */
export function suspicionMinMs(suspicionMult: number, numNodes: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, numNodes)));
  return Math.floor(suspicionMult * Math.floor(nodeScale * 1000) * probeIntervalMs / 1000);
}

/** How many independent confirmations shorten a suspicion to its minimum; 0 in tiny clusters. */
export function wantedConfirmations(suspicionMult: number, numNodes: number): number {
  const k = suspicionMult - 2;
  return numNodes - 2 < k ? 0 : k;
}

/** Remaining timeout after c confirmations: max - (log(c+1)/log(k+1)) * (max - min), never below min. */
export function suspicionTimeoutMs(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/**
 * One suspicion timer. confirm(from) counts a new accuser (not the original one, not twice) and
 * brings the deadline forward; the timer fires onTimeout(confirmations) once.
 */
export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private readonly started: number;
  private timer: NodeJS.Timeout | undefined;
  private fired = false;

  constructor(
    from: string,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: (confirmations: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.confirmedBy.add(from);
    this.started = now();
    this.arm(k < 1 ? minMs : maxMs);
  }

  get confirmations(): number {
    return this.confirmedBy.size - 1;
  }

  /** Returns true if `from` is a new confirmation (and so worth re-broadcasting). */
  confirm(from: string): boolean {
    if (this.fired || this.confirmations >= this.k || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    const remaining = suspicionTimeoutMs(this.confirmations, this.k, this.minMs, this.maxMs) - (this.now() - this.started);
    this.arm(remaining);
    return true;
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.cancel();
    if (ms <= 0) {
      this.fire();
      return;
    }
    this.timer = schedule(() => this.fire(), ms);
    this.timer.unref?.();
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.timer = undefined;
    this.onTimeout(this.confirmations);
  }
}
