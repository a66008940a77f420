// Counters of the DNS server, one set per transport. Plain numbers bumped on the hot path; read
// them any time (they only grow).

export interface TransportStats {
  /** Well-formed queries received (malformed packets are not queries; see malformed). */
  queries: number;
  /** Answered from cluster records (including NOERROR with no data, NOTIMP and BADVERS). */
  local: number;
  /** Handed to the forwarder. */
  forwarded: number;
  /** SERVFAIL sent because every upstream failed or none is configured. */
  servfail: number;
  /** REFUSED sent because too many forwarded queries were in flight. */
  refused: number;
  /** Packets dropped unanswered: not a query, or not a valid DNS message. */
  malformed: number;
  /** Replies sent with TC set because the answer did not fit the client's size. */
  truncated: number;
  /** Packets dropped because handling them failed (a bug or a socket error); should stay 0. */
  errors: number;
}

export interface DnsStats {
  udp: TransportStats;
  tcp: TransportStats;
}

export function emptyTransportStats(): TransportStats {
  return { queries: 0, local: 0, forwarded: 0, servfail: 0, refused: 0, malformed: 0, truncated: 0, errors: 0 };
}

export function emptyDnsStats(): DnsStats {
  return { udp: emptyTransportStats(), tcp: emptyTransportStats() };
}
