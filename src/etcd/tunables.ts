// Every default of the etcd layer, each with the reason it has that value (figures measured on this
// project's kind of machine: docs/decisions/0016-etcd-layer.md).

export const etcdDefaults = {
  /** etcd's well-known ports: clients, Raft peers, and the plain-HTTP metrics/health listener (loopback only). */
  clientPort: 2379,
  peerPort: 2380,
  metricsPort: 2381,
  /** The binary Debian's etcd-server package installs. */
  binary: 'etcd',
  /** How long start() waits for /health: a restart on existing data took 1.4-1.9 s, a fresh start up to
   * 0.83 s; 30 s leaves room for replaying a large WAL on a slow disk without hiding a member that is stuck. */
  healthTimeoutMs: 30_000,
  /** /health poll period: starts take 0.1-2 s, so 20 ms costs nothing and adds little latency. */
  healthPollMs: 20,
  /** Per-request deadline of one /health probe: it answers in milliseconds on loopback. */
  healthProbeTimeoutMs: 2_000,
  /** First and largest delay before restarting a crashed member, doubling in between: quick for a one-off
   * crash, and a member that crashes on start does not spin. */
  restartBackoffMs: 250,
  restartBackoffMaxMs: 10_000,
  /** A run this long counts as healthy again: the next crash restarts after the first delay. */
  restartResetAfterMs: 30_000,
  /** SIGTERM to exit took 7-11 ms; after this, SIGKILL. */
  stopTimeoutMs: 10_000,
  /** Bytes of the member's log quoted in errors (the last lines usually say why it failed). */
  logTailBytes: 3_000,
  /** Bytes of a run's log searched for "removed from the cluster" after an exit 0: etcd logs ~10 kB of
   * shutdown after saying it was removed. */
  removedScanBytes: 256 * 1024,
  /** Per-call deadline of client calls: without quorum a put otherwise hangs 7 s then fails with a
   * misleading error; 5 s is longer than any healthy call (p99 < 10 ms) by far. */
  callDeadlineMs: 5_000,
  /** Deadline of one status() probe of a single member: a live member answers in milliseconds. */
  statusDeadlineMs: 1_000,
  /** Promoting a learner: retry every 250 ms (the recipe's period), for at most 60 s (a 25 MB database
   * over an 8 Mbit/s link caught up in 28.5 s). */
  promoteRetryMs: 250,
  promoteTimeoutMs: 60_000,
  /** Leader lease TTL in seconds: the new leader takes over ~1 TTL after the old one dies (5 s measured),
   * and a shorter TTL risks losing leadership during a long GC pause or a busy disk. */
  electionTtlSeconds: 5,
};
