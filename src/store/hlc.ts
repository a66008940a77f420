// Hybrid logical clock: versions that follow wall time but never go backwards and order every
// event across nodes. A version is (wall ms, counter, node); later wins, node name breaks ties.
export interface Hlc {
  /** Milliseconds since the epoch, as seen by the clock (never decreases on one node). */
  wall: number;
  /** Orders events within the same millisecond, and after a remote clock ahead of ours. */
  counter: number;
  /** The node that made the version; breaks ties so that every node picks the same winner. */
  node: string;
}

/** Negative if a is older than b, positive if newer, 0 only for the very same version. */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall - b.wall;
  if (a.counter !== b.counter) return a.counter - b.counter;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

export function formatHlc(v: Hlc): string {
  return `${v.wall}.${v.counter}@${v.node}`;
}

/** How far ahead of our wall clock a remote version may be before we refuse to follow it. */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

export class HlcClock {
  private wall = 0;
  private counter = 0;

  constructor(
    readonly node: string,
    private readonly physical: () => number = Date.now,
    private readonly maxDriftMs = DEFAULT_MAX_DRIFT_MS,
  ) {}

  /** A new version, newer than every version this clock has made or witnessed. */
  now(): Hlc {
    const pt = this.physical();
    if (pt > this.wall) {
      this.wall = pt;
      this.counter = 0;
    } else {
      this.counter++;
    }
    return { wall: this.wall, counter: this.counter, node: this.node };
  }

  /**
   * Moves the clock past a version seen from another node, so that our next write orders after it.
   * A version further ahead of our wall clock than maxDriftMs is not followed (returns false): one
   * node with a broken clock must not drag the cluster's clock into the future.
   */
  witness(remote: Hlc): boolean {
    const pt = this.physical();
    if (remote.wall - pt > this.maxDriftMs) return false;
    if (remote.wall > this.wall) {
      this.wall = remote.wall;
      this.counter = remote.counter;
    } else if (remote.wall === this.wall && remote.counter > this.counter) {
      this.counter = remote.counter;
    }
    return true;
  }
}
