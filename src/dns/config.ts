// Every tunable of the embedded DNS server (src/dns/), each with its default and the reason for it.
// The server and the forwarder take a Partial of these; nothing else in src/dns/ hard-codes a limit.

export interface DnsConfig {
  /** TTL of answers from cluster records, in seconds. */
  ttlSeconds: number;
  /** UDP payload size we advertise in the OPT record we echo (what we accept; queries are small). */
  ednsUdpSize: number;
  /** Answers cached per view (distinct questions); past this the view's cache starts over. */
  maxCachedAnswersPerView: number;
  /** Open TCP connections per listener; further connections are closed at once. */
  maxTcpConnectionsPerListener: number;
  /** A TCP connection with no complete query for this long is closed. */
  tcpIdleTimeoutMs: number;
  /** Forwarded queries one TCP connection may have outstanding before we stop reading from it. */
  maxTcpPendingPerConnection: number;
  /** Serve UDP through the native batched path (native/src/dns_fast.cc) when the addon has it. */
  udpFastPath: boolean;
}

export interface ForwarderConfig {
  /** Upstreams tried per query, in order; more are ignored. */
  maxUpstreams: number;
  /** Wait for one upstream before trying the next. */
  upstreamTimeoutMs: number;
  /** Whole time a forwarded query may take before the client gets SERVFAIL. */
  forwardBudgetMs: number;
  /** Forwarded queries in flight across all listeners; past it the client gets REFUSED. */
  maxInFlight: number;
}

/**
 * 5 s: long enough that a busy client re-asks a few times a minute rather than on every connection,
 * short enough that a scaled or moved service is seen within seconds. Docker uses 600 s, which keeps
 * clients on a removed task's address for ten minutes.
 */
export const DNS_TTL_SECONDS = 5;

export const defaultDnsConfig: Readonly<DnsConfig> = Object.freeze({
  ttlSeconds: DNS_TTL_SECONDS,
  // 1232: the DNS flag day 2020 size, safe on any path; on loopback it only tells the client what we read.
  ednsUdpSize: 1232,
  // 4096 questions per view: a task asks for a handful of names; the bound only stops a flood of
  // distinct local questions (every qtype of every name) from growing memory without limit.
  maxCachedAnswersPerView: 4096,
  // 64 per task: a resolver stub opens one or two; the bound keeps one task from exhausting fds.
  maxTcpConnectionsPerListener: 64,
  // 10 s: RFC 7766 asks servers to close idle connections; glibc reuses a connection only within one lookup.
  tcpIdleTimeoutMs: 10_000,
  // 32: enough for a pipelining client; beyond it the connection waits (back-pressure instead of memory).
  maxTcpPendingPerConnection: 32,
  // On: dgram costs ~13 us of CPU per datagram whatever we do (bench/dns "floor"), the batched
  // native path a fraction of that; it answers only what JavaScript already encoded, so off is the
  // same server, slower (bench/dns runs both).
  udpFastPath: true,
});

export const defaultForwarderConfig: Readonly<ForwarderConfig> = Object.freeze({
  // 3: what resolv.conf allows (MAXNS) and what Docker uses.
  maxUpstreams: 3,
  // 1.5 s: a LAN or host resolver answers in milliseconds or not at all; three of them still fit the budget.
  upstreamTimeoutMs: 1500,
  // 4.5 s: below glibc's 5 s retry timeout, so the client sees our SERVFAIL before it gives up on us.
  forwardBudgetMs: 4500,
  // 1024: Docker's limit (maxConcurrent); each in-flight query holds a socket.
  maxInFlight: 1024,
});
