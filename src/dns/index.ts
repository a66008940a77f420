// The embedded DNS server: what the DNS controller uses, and all it needs to know.
//
//   const dns = new DnsServer({ ttlSeconds: 5, forwarder: { resolvConf: '/etc/resolv.conf' }, log });
//   dns.zones.set({ id: netId, name: 'frontend', names, ptr });   // on every change of that network
//   dns.zones.delete(netId);                                       // network gone from this node
//   const l = await dns.listen({ netns, address: '127.0.0.11', port: 53, view: [netA, netB] });
//   l.setView([netA]);  await l.close();  await dns.close();
//   dns.stats.udp.queries / .local / .forwarded / .servfail / .refused / .malformed / .truncated / .errors
//
// Zones (zones.ts): one per network, `names: Map<lowercase name without trailing dot, { a, srv?, shuffle? }>`
// and `ptr: Map<ipv4, name>`. set() keeps the reference and costs O(views using that network): the
// answers cached for those views are dropped and rebuilt from the new zone on the next query.
// Views: a listener answers the name whole in each network of its view in order, then `a.b` as `a`
// in the view's network named `b`; case-insensitive. A known name without records of the asked type
// gets NOERROR with no answers; PTR answers task addresses; other names go to the forwarder
// (upstreams from a resolv.conf or given; SERVFAIL when none answers or none is configured).
// Listeners: UDP and TCP on one address and port, inside `netns` (sockets made there through the
// native addon) or the agent's own namespace; hundreds share one server, its caches and its loop.
export { DnsServer, type DnsListener, type DnsServerOptions, type ListenOptions } from './server.js';
export { ZoneSet, type RecordSet, type SrvRecord, type Zone } from './zones.js';
export { Forwarder, type ForwarderOptions, type ForwarderStats } from './forwarder.js';
export { parseResolvConf, parseUpstream, upstreamsFromResolvConf, type Upstream } from './upstreams.js';
export { DNS_TTL_SECONDS, defaultDnsConfig, defaultForwarderConfig, type DnsConfig, type ForwarderConfig } from './config.js';
export type { DnsStats, TransportStats } from './stats.js';
// For probing a resolver (tests, readiness checks such as "does every node answer the new task yet").
export { probe, exchange, type ProbeTarget, type ProbeOptions, type ProbeReply } from './client.js';
