// Zero-conf discovery of a swarm manager on the local network (mDNS / DNS-SD, RFC 6762 and 6763,
// through `bonjour-service`). A manager that can admit nodes (it holds the CA key and runs the join
// server) advertises `_shoal-manager._tcp` with its advertise address, the join port and the
// cluster's CA digest: never a secret. A node told to `swarm join --token T` without an address
// browses for it and takes the first manager whose CA digest is the token's. Both ends send and
// listen on the interface that holds the node's advertise address only; the join that follows still
// checks the manager's certificate against the token's digest before it sends the secret, so a
// rogue advertiser costs a failed join, never the token (docs/decisions/0017-mdns-discovery.md).
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import Bonjour from 'bonjour-service';
import { whenListening } from '../util/listen.js';
import type { Logger } from '../util/log.js';
import { isId } from './ids.js';

/**
 * The DNS-SD service type (`_shoal-manager._tcp.local`). shoal's own: Docker Swarm does no mDNS,
 * so there is no type to share; a DNS-SD service name may hold at most 15 characters.
 */
export const MDNS_SERVICE_TYPE = 'shoal-manager';

/**
 * How long a joiner browses before it gives up. A manager answers a query within 20-120 ms
 * (RFC 6762 §6) and the measured discovery in the lab took well under a second; 10 s leaves room
 * for four queries (at 0, 1, 3 and 7 s) on a lossy network, and is still short enough that a user
 * with no manager on the network soon gets the message telling them to give its address.
 */
export const DISCOVERY_TIMEOUT_MS = 10_000;

/** First re-query interval, doubling after each (RFC 6762 §5.2: at least 1 s, then at least doubling). */
export const REQUERY_FIRST_MS = 1_000;

/** How long `stop()` waits for the goodbye (TTL 0) to be sent before it closes the socket anyway. */
export const GOODBYE_TIMEOUT_MS = 1_000;

/** mDNS's well-known IPv4 group and port (RFC 6762 §3). */
export const MDNS_GROUP = '224.0.0.251';
export const MDNS_PORT = 5353;

/** Version of the TXT record's keys: a joiner ignores adverts of a version it does not know. */
export const TXT_VERSION = '1';

/** What a manager says about itself. */
export interface ManagerAdvert {
  /** The manager's advertise address, where its join server listens. */
  addr: string;
  /** The join (cluster management) port. */
  port: number;
  /** Base-36 SHA-256 of the cluster's root CA certificate: the token's first part. */
  caDigest: string;
  nodeId: string;
}

export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
}

const CA_DIGEST = /^[0-9a-z]{50}$/;

// ---- the TXT record (pure) ----

/** The TXT record's key/value pairs for an advert (the port goes in the SRV record). */
export function advertTxt(a: Omit<ManagerAdvert, 'port'>): Record<string, string> {
  return { v: TXT_VERSION, ca: a.caDigest, addr: a.addr, id: a.nodeId };
}

/**
 * The key/value pairs of a raw TXT record (an array of strings, each `key=value`, as dns-packet
 * decodes it). Keys are case-insensitive and only a key's first occurrence counts (RFC 6763 §6.4);
 * strings without `=` or with an empty key are skipped. Anything that is not a TXT record gives {}.
 */
export function decodeTxt(raw: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const items = Buffer.isBuffer(raw) ? [raw] : Array.isArray(raw) ? raw : [];
  for (const item of items) {
    const s = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : undefined;
    if (s === undefined) continue;
    const eq = s.indexOf('=');
    if (eq <= 0) continue;
    const key = s.slice(0, eq).toLowerCase();
    if (!out.has(key)) out.set(key, s.slice(eq + 1));
  }
  return out;
}

/** An advert from a raw TXT record and the SRV record's port, or why it is not one. */
export function parseAdvert(rawTxt: unknown, port: unknown): ManagerAdvert | { invalid: string } {
  const txt = decodeTxt(rawTxt);
  const v = txt.get('v');
  if (v !== TXT_VERSION) return { invalid: v === undefined ? 'no TXT version (v=)' : `TXT version ${JSON.stringify(v)}, this node reads ${TXT_VERSION}` };
  const caDigest = txt.get('ca') ?? '';
  if (!CA_DIGEST.test(caDigest)) return { invalid: 'the CA digest (ca=) is not 50 base-36 characters' };
  const addr = txt.get('addr') ?? '';
  if (!isIPv4(addr)) return { invalid: 'the address (addr=) is not an IPv4 address' };
  const nodeId = txt.get('id') ?? '';
  if (!isId(nodeId)) return { invalid: 'the node ID (id=) is not 25 base-36 characters' };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return { invalid: `the SRV port ${String(port)} is not 1..65535` };
  return { addr, port, caDigest, nodeId };
}

/** An interface's IPv4 subnet, to tell whether an answer came from the joiner's own network. */
export interface LocalSubnet {
  addr: string;
  prefixLen: number;
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function inSubnet(addr: string, subnet: LocalSubnet): boolean {
  if (!isIPv4(addr)) return false;
  const size = 2 ** (32 - subnet.prefixLen);
  return Math.floor(ipv4ToInt(addr) / size) === Math.floor(ipv4ToInt(subnet.addr) / size);
}

/**
 * Whether a joiner takes an advert: it must parse, name the token's CA, come from the address it
 * advertises (so the joiner connects only to a host that spoke on its link), and that address must
 * be on the joiner's own subnet.
 */
export function judgeAdvert(
  a: { rawTxt: unknown; port: unknown; from: unknown },
  want: { caDigest: string; subnet: LocalSubnet },
): { manager: ManagerAdvert } | { ignored: string } {
  const advert = parseAdvert(a.rawTxt, a.port);
  if ('invalid' in advert) return { ignored: `malformed advert: ${advert.invalid}` };
  if (advert.caDigest !== want.caDigest) return { ignored: `a manager of another swarm (CA digest ${advert.caDigest.slice(0, 12)}..., the token's is ${want.caDigest.slice(0, 12)}...)` };
  if (a.from !== advert.addr) return { ignored: `it advertises ${advert.addr} but answered from ${String(a.from)}` };
  if (!inSubnet(advert.addr, want.subnet)) return { ignored: `its address ${advert.addr} is not on this node's network ${want.subnet.addr}/${want.subnet.prefixLen}` };
  return { manager: advert };
}

// ---- the interface and the socket ----

interface LocalInterface extends LocalSubnet {
  name: string;
  internal: boolean;
}

/** The interface of this network namespace that holds `addr`. */
function interfaceOf(addr: string): LocalInterface | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && a.address === addr) {
        const prefixLen = Number(a.cidr?.split('/')[1] ?? 32);
        return { name, addr, prefixLen, internal: a.internal };
      }
    }
  }
  return undefined;
}

function requireInterface(addr: string, what: string): LocalInterface {
  if (!isIPv4(addr)) throw new DiscoveryError(`${what}: the advertise address '${addr}' is not an IPv4 address; give one with --advertise-addr`);
  const iface = interfaceOf(addr);
  if (!iface) throw new DiscoveryError(`${what}: no interface of this node holds the advertise address ${addr}; give this node's own address with --advertise-addr`);
  return iface;
}

/**
 * A UDP socket on port 5353 that hears the mDNS group on `addr`'s interface and sends from `addr`
 * only. It is set up here rather than by multicast-dns, which on any failure would quietly fall back
 * to the routing table (on a real host, the default route's interface).
 */
async function openMdnsSocket(addr: string, iface: LocalInterface): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  try {
    // Bound to the group, not to `addr`: a socket bound to a unicast address never sees datagrams sent to the group.
    await whenListening(socket, () => socket.bind(MDNS_PORT, MDNS_GROUP));
    socket.addMembership(MDNS_GROUP, addr);
    socket.setMulticastInterface(addr);
    socket.setMulticastTTL(255); // RFC 6762 §11: sent with TTL 255; link-local groups are never routed
    socket.setMulticastLoopback(true);
  } catch (err) {
    socket.close();
    throw new DiscoveryError(`cannot use mDNS on ${iface.name} (${addr}): ${(err as Error).message}; check that the interface is up and has multicast on (ip link set ${iface.name} multicast on)`);
  }
  return socket;
}

/** bonjour-service over our socket. `socket`/`bind` go to multicast-dns but are not in bonjour's types. */
function bonjourOn(socket: dgram.Socket, addr: string, log: Logger): Bonjour {
  const opts = { socket, bind: false, interface: addr } as unknown as ConstructorParameters<typeof Bonjour>[0];
  const b = new Bonjour(opts, (err: Error) => log.warn({ err: err.message }, 'mDNS send failed'));
  // The multicast-dns instance is private in bonjour's types; its 'error' event would otherwise be an uncaught exception.
  const mdns = (b as unknown as { server: { mdns: NodeJS.EventEmitter } }).server.mdns;
  mdns.on('error', (err: Error) => log.warn({ err: err.message }, 'mDNS socket error'));
  mdns.on('warning', (err: Error) => log.debug({ err: err.message }, 'mDNS warning (a malformed packet, most often)'));
  return b;
}

function destroy(b: Bonjour): Promise<void> {
  return new Promise((resolve) => b.destroy(() => resolve()));
}

// ---- the manager's side ----

export interface Advertisement {
  /** Sends a goodbye (TTL 0) and closes the socket. */
  stop(): Promise<void>;
}

/**
 * Advertises this manager on the interface that holds `addr`, until stop(). An address on the
 * loopback interface is not advertised (no other node could hear it).
 */
export async function advertiseManager(o: ManagerAdvert & { log: Logger }): Promise<Advertisement> {
  const what = 'cannot advertise this manager by mDNS';
  if (!CA_DIGEST.test(o.caDigest)) throw new DiscoveryError(`${what}: the CA digest must be 50 base-36 characters`);
  if (!isId(o.nodeId)) throw new DiscoveryError(`${what}: the node ID must be 25 base-36 characters`);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new DiscoveryError(`${what}: port ${o.port} is not 1..65535`);
  const iface = requireInterface(o.addr, what);
  if (iface.internal) {
    o.log.info({ addr: o.addr, interface: iface.name }, 'not advertising this manager by mDNS: its address is on the loopback interface');
    return { stop: async () => {} };
  }
  const bonjour = bonjourOn(await openMdnsSocket(o.addr, iface), o.addr, o.log);
  const service = bonjour.publish({
    name: `shoal-manager-${o.nodeId}`, // unique on the network: the probe (RFC 6762 §8) finds no other owner
    type: MDNS_SERVICE_TYPE,
    protocol: 'tcp',
    port: o.port,
    host: `shoal-${o.nodeId}.local`, // netns and clones share one hostname; the node ID does not repeat
    txt: advertTxt(o),
    disableIPv6: true,
  });
  // bonjour-service would add an A record for every address of every interface; only the advertise
  // address is the manager's to give. The records are first built after the probe, so this is in time.
  const allRecords = service.records.bind(service);
  service.records = () => allRecords().filter((r) => (r.type !== 'A' && r.type !== 'AAAA') || r.data === o.addr);
  o.log.info({ addr: o.addr, port: o.port, interface: iface.name, type: `_${MDNS_SERVICE_TYPE}._tcp.local` }, 'advertising this manager by mDNS');
  let stopped: Promise<void> | undefined;
  return {
    stop: () => (stopped ??= (async () => {
      const sent = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), GOODBYE_TIMEOUT_MS);
        service.stop(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      await destroy(bonjour);
      o.log.info({ goodbye: sent }, 'stopped advertising this manager by mDNS');
    })()),
  };
}

// ---- the joiner's side ----

export interface FindOptions {
  /** This node's advertise address: the interface that holds it is the only one used. */
  localAddr: string;
  /** The token's CA digest: managers of other swarms are ignored. */
  caDigest: string;
  timeoutMs?: number;
  log: Logger;
}

export function noManagerMessage(timeoutMs: number): string {
  return `no manager of this swarm answered on the local network within ${timeoutMs / 1000} s: give the manager's address, \`shoal swarm join --token T 192.168.56.101:2377\``;
}

/** Browses for a manager of the token's swarm; resolves with the first that qualifies (judgeAdvert). */
export async function findManager(o: FindOptions): Promise<ManagerAdvert> {
  const timeoutMs = o.timeoutMs ?? DISCOVERY_TIMEOUT_MS;
  const iface = requireInterface(o.localAddr, 'cannot look for a manager by mDNS');
  if (iface.internal) throw new DiscoveryError(`cannot look for a manager by mDNS: the advertise address ${o.localAddr} is on the loopback interface, where no other node answers; give this node's network address with --advertise-addr`);
  const bonjour = bonjourOn(await openMdnsSocket(o.localAddr, iface), o.localAddr, o.log);
  const started = Date.now();
  o.log.info({ interface: iface.name, addr: o.localAddr, type: `_${MDNS_SERVICE_TYPE}._tcp.local` }, 'looking for a manager by mDNS');
  const browser = bonjour.find({ type: MDNS_SERVICE_TYPE, protocol: 'tcp' });
  const told = new Set<string>();
  let requery: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ManagerAdvert>((resolve, reject) => {
      const consider = (s: Bonjour.Service & { rawTxt?: unknown }) => {
        const verdict = judgeAdvert({ rawTxt: s.rawTxt, port: s.port, from: s.referer?.address }, { caDigest: o.caDigest, subnet: iface });
        if ('manager' in verdict) {
          o.log.info({ manager: `${verdict.manager.addr}:${verdict.manager.port}`, nodeId: verdict.manager.nodeId, ms: Date.now() - started }, 'found a manager by mDNS');
          return resolve(verdict.manager);
        }
        const key = `${String(s.fqdn)} ${verdict.ignored}`;
        if (told.has(key)) return;
        told.add(key);
        o.log.info({ service: String(s.fqdn), from: s.referer?.address }, `ignoring an mDNS advert: ${verdict.ignored}`);
      };
      browser.on('up', consider);
      browser.on('txt-update', consider);
      browser.on('srv-update', consider);
      let interval = REQUERY_FIRST_MS;
      const again = () => {
        browser.update();
        interval *= 2;
        requery = setTimeout(again, interval);
      };
      requery = setTimeout(again, interval);
      deadline = setTimeout(() => reject(new DiscoveryError(noManagerMessage(timeoutMs))), timeoutMs);
    });
  } finally {
    clearTimeout(requery);
    clearTimeout(deadline);
    browser.stop();
    await destroy(bonjour);
  }
}
