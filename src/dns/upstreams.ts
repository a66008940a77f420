// Where forwarded queries go: upstream resolvers given explicitly ("10.0.0.2", "10.0.0.2:5353",
// "[fd00::1]:53", "fe80::1%eth0") or read from a resolv.conf. Pure parsing, no sockets.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface Upstream {
  address: string;
  port: number;
}

/** systemd-resolved's stub listeners: the real upstreams are in SYSTEMD_RESOLV_CONF. */
export const SYSTEMD_STUBS: readonly string[] = ['127.0.0.53', '127.0.0.54'];
export const SYSTEMD_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';
/** Our own listeners' address: forwarding there would loop. */
export const EMBEDDED_DNS_ADDRESS = '127.0.0.11';

/** Nameserver addresses of a resolv.conf, in file order; comments and other lines ignored. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (m && isIP(stripScope(m[1]!)) !== 0) out.push(m[1]!);
  }
  return out;
}

export function parseUpstream(spec: string | Upstream): Upstream {
  if (typeof spec !== 'string') return checked(spec.address, spec.port, `${spec.address}:${spec.port}`);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (bracketed) return checked(bracketed[1]!, bracketed[2] === undefined ? 53 : Number(bracketed[2]), spec);
  const v4 = /^([0-9.]+):(\d+)$/.exec(spec);
  if (v4) return checked(v4[1]!, Number(v4[2]), spec);
  return checked(spec, 53, spec);
}

function checked(address: string, port: number, spec: string): Upstream {
  if (isIP(stripScope(address)) === 0) throw new TypeError(`upstream '${spec}' is not an IP address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`upstream '${spec}' has no valid port`);
  return { address, port };
}

function stripScope(address: string): string {
  const at = address.indexOf('%');
  return at < 0 ? address : address.slice(0, at);
}

export function upstreamFamily(u: Upstream): 4 | 6 {
  return isIP(stripScope(u.address)) === 6 ? 6 : 4;
}

export interface ResolvConfOptions {
  /** Where systemd-resolved keeps the real upstreams; read when the file names only its stub. */
  systemdResolvConf?: string;
  max: number;
  read?: (path: string) => string;
}

/**
 * The upstreams a resolv.conf names, at most `max`: our own 127.0.0.11 left out; when only
 * systemd-resolved's stub is named, the upstreams systemd-resolved itself uses (as Docker does), or
 * the stub when that file is missing or empty (the agent's namespace reaches it). A missing file
 * means no upstreams.
 */
export function upstreamsFromResolvConf(path: string, opts: ResolvConfOptions): Upstream[] {
  const read = opts.read ?? ((p: string) => readFileSync(p, 'utf8'));
  const tryRead = (p: string): string[] => {
    try {
      return parseResolvConf(read(p));
    } catch {
      return [];
    }
  };
  let servers = tryRead(path).filter((s) => s !== EMBEDDED_DNS_ADDRESS);
  if (servers.length > 0 && servers.every((s) => SYSTEMD_STUBS.includes(s))) {
    const real = tryRead(opts.systemdResolvConf ?? SYSTEMD_RESOLV_CONF).filter((s) => !SYSTEMD_STUBS.includes(s) && s !== EMBEDDED_DNS_ADDRESS);
    if (real.length > 0) servers = real;
  }
  return [...new Set(servers)].slice(0, opts.max).map((s) => parseUpstream(s));
}
