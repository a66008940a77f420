// Lifeguard's local health awareness: a score that rises when this node misses probes or must
// refute accusations (signs that *we* are slow) and stretches our probe timing accordingly.
export class Awareness {
  private score = 0;

  constructor(private readonly max: number) {}

  /** Adds delta (negative on success), clamped to [0, max-1]. */
  apply(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }

  get healthScore(): number {
    return this.score;
  }

  /** Scales a timeout by (score + 1). */
  scale(ms: number): number {
    return ms * (this.score + 1);
  }
}
