// The numbers the gossip benchmark compares against, and the summaries it prints: Serf's convergence
// model (shared/reference/anchors.md §4.2, from serf's website simulator) and order statistics of
// trials, some of which may have hit their time cap (kept as Infinity, printed as "> cap").

/** Serf's infection model: fraction of n nodes holding an update after `rounds` gossip rounds. */
export function serfModelFraction(n: number, rounds: number, fanout = 3, loss = 0, failed = 0): number {
  const c = fanout * 0.5 * (1 - loss) * (1 - failed);
  return 1 / (1 + (n + 1) * Math.exp(-c * rounds));
}

/**
 * Time (ms) until the model reaches `fraction` of n nodes. The simulator counts whole rounds, so
 * the time is rounded up to a multiple of the gossip interval (anchors.md: 1.4 s at 30, 2.0 s at 1000).
 */
export function serfModelMs(n: number, fraction: number, intervalMs = 200, fanout = 3): number {
  const c = fanout * 0.5;
  const rounds = Math.log((n + 1) * fraction / (1 - fraction)) / c;
  return Math.ceil(rounds - 1e-9) * intervalMs;
}

/** The simulator's bandwidth bound per node: a full 1400-byte packet to each of fanout peers per round, both ways. */
export function serfModelBytesPerSec(intervalMs = 200, fanout = 3, packetBytes = 1400): number {
  return packetBytes * fanout * (1000 / intervalMs) * 2;
}

export interface Summary {
  n: number;
  /** Trials that hit their cap before finishing. */
  censored: number;
  median: number;
  p90: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at]!;
}

/** Median as the mean of the two middle values for an even count (10 trials: the 5th and 6th). */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    censored: sorted.filter((v) => !Number.isFinite(v)).length,
    median: median(sorted),
    p90: percentile(sorted, 90),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** Seconds with two decimals; a censored value shows its cap. */
export function secs(ms: number, capMs?: number): string {
  if (Number.isNaN(ms)) return '-';
  if (!Number.isFinite(ms)) return capMs === undefined ? '> cap' : `> ${(capMs / 1000).toFixed(0)}`;
  return (ms / 1000).toFixed(2);
}
