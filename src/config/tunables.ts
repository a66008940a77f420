// Every timing and sizing knob of the agent's machinery, in one typed object, each with its default
// and the reason for it. (What an operator sets per node — socket, data dir, runtime, DNS — is the
// agent configuration in defaults.ts and agent-config.ts; these are the engine's own constants.)
// Modules read them from here and nowhere else, so a reader finds in one file how often everything
// happens and why.

export const tunables = {
  // ---- membership (gossip) ----
  /** How often a down member is retried. Serf uses 30 s; NetworkDB 1 s; a few seconds heals a LAN partition quickly without load. */
  reconnectIntervalMs: 3_000,
  /** How often a manager asks its etcd member whether it has a Raft leader (its /health, on loopback,
   * answers in milliseconds): `node ls` and writes refuse with Docker's no-leader message within this. */
  quorumCheckIntervalMs: 1_000,
  /** How long a manager's own member may not answer its status before the manager counts itself
   * without a leader: a status answers in milliseconds, but takes seconds on an emulated VM. */
  quorumSilenceMs: 5_000,
  /** How long a node waits for a manager to sign its CSR (promotion, demotion): signing takes ~50 ms. */
  certificateRequestTimeoutMs: 5_000,

  // ---- node certificate renewal (src/cluster/cert-renewal.ts) ----
  /**
   * A node renews its certificate at a random point between these fractions of its validity, as
   * swarmkit does (CertLowerRotationRange, CertUpperRotationRange): late enough not to sign needlessly
   * often, early enough that a third of the lifetime is left for retries should the managers be
   * unreachable, and spread so that the nodes of a cluster made together do not all ask at once.
   */
  certRenewalWindow: [0.5, 0.8] as const,
  /**
   * A certificate that will outlive the cluster's current --cert-expiry by more than this is renewed at
   * once (`swarm update --cert-expiry 1h` brings every certificate within the policy in seconds). The
   * slack covers clocks a little apart and the seconds a signature takes, so that the certificate a
   * renewal just brought never counts as outliving the policy.
   */
  certPolicySlackMs: 60_000,
  /** A failed renewal is retried after this, doubling each time (swarmkit starts at 5 s too)... */
  certRenewalRetryBaseMs: 5_000,
  /** ...up to this: a manager back after an outage is found within minutes, long before a certificate
   * past 80 % of even a 1 h lifetime (12 min left) expires. */
  certRenewalRetryMaxMs: 2 * 60_000,
  /** How often tombstones older than the store's TTL are reaped (NetworkDB checks every 5 s). */
  tombstoneReapIntervalMs: 5_000,
  /** How often the leader checks whether a gossip key rotation can move on (a step needs one gossip round trip). */
  keyRotationTickMs: 1_000,
  /** The leader replaces the gossip key this often, as swarmkit's key manager does (keyRotationInterval, 12 h). */
  gossipKeyRotationIntervalMs: 12 * 3600_000,

  // ---- the replicated tables' anti-entropy ----
  /** How often this node sends a peer its digest: one small packet a second. */
  antiEntropyIntervalMs: 1_000,
  /**
   * Digests leave out entries younger than this: relayed gossip reaches every node of 10 in about
   * 0.3 s and of 200 in under 0.8 s (bench/gossip), so a difference older than this is a lost write.
   */
  antiEntropySettleMs: 1_500,
  /** At most one repairing push-pull this often. */
  antiEntropyRepairIntervalMs: 1_000,

  // ---- the leader ----
  /** A full pass at least this often: restart delays and update delays are honoured to about this. */
  leaderResyncMs: 500,
  /**
   * A leader that has just started waits until gossip has told it whether each known node is up or
   * down, at most this long (about one probe round and a push-pull), so that it does not place every
   * new task on itself or count nodes it simply has not heard from yet.
   */
  leaderSettleMs: 3_000,
  /** Tasks kept per slot (or per node for global services), the running one included: Docker's task-history-limit. */
  taskHistoryLimit: 5,
  /** How long a network create waits for the leader's allocation before answering without it (Docker answers at once). */
  allocationWaitMs: 5_000,

  // ---- node controllers: a pass at least this often, should an event be missed ----
  taskResyncMs: 3_000,
  overlayResyncMs: 5_000,
  dnsResyncMs: 2_000,
  vipResyncMs: 2_000,
  ingressResyncMs: 2_000,

  // ---- tasks ----
  /** Tasks started at once on one node; more wait their turn (an engine handles a few well, many badly). */
  maxParallelStarts: 8,
  /** Tasks whose VIP table is programmed at once in a pass (each is an nsenter + nft run of about 15 ms). */
  vipParallelTasks: 4,
  /**
   * IPVS: how long a destination that left stays at weight 0 (no new connections, its established
   * ones kept) before it is deleted though it still has active connections. One with none goes at
   * the next pass. Short, because a backend that left is usually gone (its task stopped or its node
   * down), and with expire_nodest_conn the deletion ends its flows at once instead of a timeout.
   */
  lbQuiesceMs: 5_000,
  /**
   * How often a namespace's load-balancer nft table whose desired text has not changed is read back
   * (`nft -j list table`, one process) to see that it still holds what was applied. A change is
   * applied at once whatever this says; this only bounds how long a table changed behind the
   * agent's back stays wrong, at one process per task per period.
   */
  lbVerifyMs: 30_000,
  /**
   * ARP on a task's overlay interfaces: ask again every 100 ms, 30 times (the kernel's default is
   * every 1 s, 3 times: the same 3 s of patience). A task that looks up a peer a moment before this
   * node has programmed it then gets through within 0.1 s of the programming instead of up to 1 s.
   */
  arpRetransMs: 100,
  arpProbes: 30,
  /** How long a failed start waits to learn whether the process simply exited (then it failed, as in Docker). */
  exitGraceMs: 2_000,
  /**
   * How long the docker runtime lets its engine pull a missing image before giving up (the task is
   * then rejected with the engine's "No such image"). Docker sets no limit; an unreachable registry
   * would hold one of the node's start slots (maxParallelStarts) forever. Five minutes lets a large
   * image arrive over a slow link.
   */
  imagePullTimeoutMs: 300_000,
  /** How long a VXLAN create is retried while an old device with the same VNI is still going away. */
  vniReleaseWaitMs: 3_000,

  // ---- the exec runtime ----
  /** How long start() waits for the main process to be inside its namespaces. */
  execStartTimeoutMs: 10_000,
  /** How long stop() waits after SIGKILL, and remove() for the supervisor to finish. */
  execKillTimeoutMs: 10_000,
  /**
   * A task's exit is an event (inotify on its directory sees the supervisor's `exit` file appear,
   * docs/decisions/0027-event-driven-task-exits.md); this resync, per waiting task and jittered
   * ±25 %, only catches what inotify cannot: a supervisor killed before it recorded the exit, or an
   * event lost to a full inotify queue. Such an exit is learnt within this long. Each resync reads
   * the task's state files and /proc (about 7 opens): every 30 s costs nothing measurable at 100s
   * of tasks, where the 100 ms poll it replaced cost 0.3 % CPU per task.
   */
  execExitResyncMs: 30_000,
  /** How often a waiting task's state is read when its directory cannot be watched (fs.watch failed, e.g. the inotify watch limit is reached). */
  execWaitPollMs: 100,
  /** How often a followed exec log is read for new lines. */
  execLogFollowPollMs: 100,
} as const;

export type Tunables = typeof tunables;
