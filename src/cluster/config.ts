// Membership tunables, all in one place. Defaults equal hashicorp/memberlist's DefaultLANConfig so
// that a shoal node behaves like a Go node in the same pool and our numbers compare with theirs.
export interface MembershipConfig {
  /** Gossip port, UDP and TCP (Swarm and memberlist both use 7946). */
  bindPort: number;
  /** memberlist protocol version we speak by default; 2 is what every Go pool runs ("ProtocolVersion2Compatible"). */
  protocolVersion: number;
  /** Oldest and newest memberlist protocol we understand: 5 adds CRCs, 4 nacks, 3 TCP fallback pings. */
  protocolMin: number;
  protocolMax: number;
  /** Delegate (application) protocol triple advertised in Vsn; [2,5,4] brackets Serf pools (memberlist.md §2). */
  delegateMin: number;
  delegateMax: number;
  delegateVersion: number;
  /** Deadline for one TCP exchange (push-pull, TCP ping); LAN round trips are far below it. */
  tcpTimeoutMs: number;
  /**
   * TCP streams served at once (push-pulls, joins, fallback pings). A peer opens one per push-pull
   * interval, and joins come a few at a time; more at once is a flood, and each one may buffer up to
   * a whole message before it can be authenticated.
   */
  maxIncomingStreams: number;
  /** Updates waiting to be gossiped, at most (Serf's MaxQueueDepth); past it the most-sent are dropped and anti-entropy repairs. */
  maxBroadcastQueueDepth: number;
  /**
   * Bytes all incoming streams together may hold before their messages are complete (and so before
   * their encryption can be checked): a push-pull of a large pool is a few MiB, a legitimate burst a
   * few of them at once; past this a stream is dropped instead of growing memory without bound.
   */
  incomingStreamBudgetBytes: number;
  /** Members asked to ping a target we could not reach directly: enough to route around one bad link. */
  indirectChecks: number;
  /** Broadcasts are sent retransmitMult * ceil(log10(n+1)) times: enough to reach everyone with high probability. */
  retransmitMult: number;
  /** Suspicion lasts suspicionMult * log10(n) probe intervals at least: time for the suspect to refute. */
  suspicionMult: number;
  /** Without confirmations from others a suspicion lasts this many times longer (Lifeguard). */
  suspicionMaxTimeoutMult: number;
  /** Full state exchange with one random member this often: repairs what gossip missed. */
  pushPullIntervalMs: number;
  /** How long to wait for a direct ack before asking others; a LAN answers in well under a millisecond. */
  probeTimeoutMs: number;
  /** One member is probed per interval: failure detection time is a small multiple of it. */
  probeIntervalMs: number;
  /** Try a TCP ping too when UDP gets no answer: tells a UDP-only network problem from a dead node. */
  disableTcpPings: boolean;
  /** Local health multiplier cap (Lifeguard): a slow node probes at most 8x less often. */
  awarenessMaxMultiplier: number;
  /** Members each gossip round goes to, and how often rounds happen: 3 per 200 ms spreads news in O(log n) rounds. */
  gossipNodes: number;
  gossipIntervalMs: number;
  /** Dead members still get gossip this long, so that a wrongly declared node hears it and refutes. */
  gossipToTheDeadMs: number;
  /** Reject unencrypted traffic when a keyring is set; encrypt what we send. Both off only while rolling in a key. */
  gossipVerifyIncoming: boolean;
  gossipVerifyOutgoing: boolean;
  /** Compress TCP state and UDP compounds when that makes them smaller, as Go nodes do. */
  enableCompression: boolean;
  /** Largest UDP payload we build: fits a 1500-byte Ethernet frame with room for headers and encryption. */
  udpBufferSize: number;
  /** Queued incoming gossip messages before dropping (memberlist's HandoffQueueDepth). */
  handoffQueueDepth: number;
  /** Largest node metadata (memberlist's MetaMaxSize). */
  metaMaxSize: number;
}

export const defaultMembershipConfig: Readonly<MembershipConfig> = Object.freeze({
  bindPort: 7946,
  protocolVersion: 2,
  protocolMin: 1,
  protocolMax: 5,
  delegateMin: 2,
  delegateMax: 5,
  delegateVersion: 4,
  tcpTimeoutMs: 10_000,
  maxIncomingStreams: 32,
  maxBroadcastQueueDepth: 4096,
  incomingStreamBudgetBytes: 64 * 1024 * 1024,
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  pushPullIntervalMs: 30_000,
  probeTimeoutMs: 500,
  probeIntervalMs: 1_000,
  disableTcpPings: false,
  awarenessMaxMultiplier: 8,
  gossipNodes: 3,
  gossipIntervalMs: 200,
  gossipToTheDeadMs: 30_000,
  gossipVerifyIncoming: true,
  gossipVerifyOutgoing: true,
  enableCompression: true,
  udpBufferSize: 1400,
  handoffQueueDepth: 1024,
  metaMaxSize: 512,
});

/** memberlist's retransmitLimit: how many times one broadcast is handed out in total. */
export function retransmitLimit(retransmitMult: number, numNodes: number): number {
  return retransmitMult * Math.ceil(Math.log10(numNodes + 1));
}

/** memberlist's pushPullScale: the interval grows with log2 of the cluster size beyond 32 nodes. */
export function pushPullIntervalFor(intervalMs: number, numNodes: number): number {
  const threshold = 32;
  if (numNodes <= threshold) return intervalMs;
  const multiplier = Math.ceil(Math.log2(numNodes) - Math.log2(threshold)) + 1;
  return intervalMs * multiplier;
}
