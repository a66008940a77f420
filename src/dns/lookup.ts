// What a question means in a view: Docker's resolver semantics, as data (no wire format here).
// The name is tried whole in each network of the view in order, then split at each dot from the
// right as `<prefix>.<network name>` (so `web.frontend` is `web` in the network named frontend).
// A known name answers A (and ANY) from its addresses, SRV from its SRV records, and every other type
// with NOERROR and no data; PTR answers task addresses; everything else is the forwarder's.
import type { RecordSet, SrvRecord, ZoneSet } from './zones.js';

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;

export interface SrvTarget {
  name: string;
  addresses: string[];
}

export type Answer =
  | { kind: 'forward' }
  | { kind: 'nodata' }
  | { kind: 'a'; addresses: string[]; shuffle: boolean }
  | { kind: 'srv'; records: SrvRecord[]; targets: SrvTarget[] }
  | { kind: 'ptr'; target: string };

const FORWARD: Answer = Object.freeze({ kind: 'forward' });
const NODATA: Answer = Object.freeze({ kind: 'nodata' });

/** name: lowercase, no trailing dot. */
export function lookup(zones: ZoneSet, view: readonly string[], name: string, qtype: number, qclass: number): Answer {
  if (qclass !== CLASS_IN) return FORWARD;
  if (qtype === TYPE_PTR) {
    const ip = reverseIPv4(name);
    if (ip !== undefined) return lookupPtr(zones, view, ip);
  }
  const set = findName(zones, view, name);
  if (set === undefined) return FORWARD;
  return answerFor(zones, view, set, qtype);
}

/** The records of name in this view, in Docker's search order; undefined when the view does not know it. */
export function findName(zones: ZoneSet, view: readonly string[], name: string): RecordSet | undefined {
  for (const id of view) {
    const set = zones.get(id)?.names.get(name);
    if (set !== undefined) return set;
  }
  for (let dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1)) {
    const network = name.slice(dot + 1);
    const prefix = name.slice(0, dot);
    for (const id of view) {
      const zone = zones.get(id);
      if (zone === undefined || zone.name.toLowerCase() !== network) continue;
      const set = zone.names.get(prefix);
      if (set !== undefined) return set;
    }
  }
  return undefined;
}

function answerFor(zones: ZoneSet, view: readonly string[], set: RecordSet, qtype: number): Answer {
  if (qtype === TYPE_A || qtype === TYPE_ANY) {
    const addresses = uniqueIPv4(set.a);
    return addresses.length > 0 ? { kind: 'a', addresses, shuffle: set.shuffle === true } : NODATA;
  }
  if (qtype === TYPE_SRV && set.srv !== undefined && set.srv.length > 0) {
    return { kind: 'srv', records: set.srv, targets: srvTargets(zones, view, set.srv) };
  }
  return NODATA;
}

/** Addresses of the SRV targets this view knows, for the additional section. */
function srvTargets(zones: ZoneSet, view: readonly string[], records: readonly SrvRecord[]): SrvTarget[] {
  const seen = new Set<string>();
  const out: SrvTarget[] = [];
  for (const r of records) {
    const name = normalizeName(r.target);
    if (seen.has(name)) continue;
    seen.add(name);
    const addresses = uniqueIPv4(findName(zones, view, name)?.a ?? []);
    if (addresses.length > 0) out.push({ name: r.target, addresses });
  }
  return out;
}

function lookupPtr(zones: ZoneSet, view: readonly string[], ip: string): Answer {
  for (const id of view) {
    const target = zones.get(id)?.ptr.get(ip);
    if (target !== undefined) return { kind: 'ptr', target };
  }
  return FORWARD;
}

/** `4.3.2.1.in-addr.arpa` -> `1.2.3.4`; undefined for anything else. */
export function reverseIPv4(name: string): string | undefined {
  const suffix = '.in-addr.arpa';
  if (!name.endsWith(suffix)) return undefined;
  const parts = name.slice(0, -suffix.length).split('.');
  if (parts.length !== 4 || !parts.every(isOctet)) return undefined;
  return parts.reverse().map(Number).join('.');
}

function isOctet(s: string): boolean {
  return /^(0|[1-9][0-9]{0,2})$/.test(s) && Number(s) <= 255;
}

const IPV4_RE = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Valid IPv4 addresses in their first order, each once; anything else is skipped. */
function uniqueIPv4(addresses: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const a of addresses) {
    if (seen.has(a) || !isIPv4(a)) continue;
    seen.add(a);
    out.push(a);
  }
  return out;
}

/** Lowercase, without a trailing dot: the form zone names are keyed by. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
