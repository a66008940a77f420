// Text <-> wire encodings that rtnetlink needs: MAC addresses, IPv4/IPv6 addresses, CIDR prefixes,
// ports, address families and link names. Pure functions, no kernel access; bad input is an EINVAL
// KernelError.
import { isIPv4, isIPv6 } from 'node:net';
import { KernelError } from './errors.js';

export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

export type IpFamily = 4 | 6;

/** An address with its prefix length, as in '10.0.1.1/24'. */
export interface Cidr {
  family: IpFamily;
  address: string;
  prefixLen: number;
}

export function afOf(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function familyOfAf(af: number): IpFamily | undefined {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return undefined;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function isMac(text: string): boolean {
  return MAC_RE.test(text);
}

/** '02:42:0a:00:01:0c' -> 6 bytes. */
export function encodeMac(text: string): Buffer {
  if (!isMac(text)) throw new KernelError('EINVAL', 'MAC address', `'${text}' is not a MAC address like 02:42:0a:00:01:0c`);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** 6 bytes -> '02:42:0a:00:01:0c' (lower case, as iproute2 prints it). */
export function decodeMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** 4 or 6 for an address literal; undefined for anything else, including IPv6 with a zone ('fe80::1%eth0'). */
export function ipFamily(text: string): IpFamily | undefined {
  if (isIPv4(text)) return 4;
  if (isIPv6(text) && !text.includes('%')) return 6;
  return undefined;
}

/** An IPv4 or IPv6 literal -> 4 or 16 bytes in network order. */
export function encodeIp(text: string): Buffer {
  const family = ipFamily(text);
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  if (family === 6) return encodeIpv6(text);
  throw new KernelError('EINVAL', 'IP address', `'${text}' is not an IPv4 or IPv6 address`);
}

function encodeIpv6(text: string): Buffer {
  const groups = text.includes('.') ? embeddedIpv4AsHex(text) : text;
  const [head = '', rest] = groups.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  const out = Buffer.alloc(16);
  [...left, ...zeros, ...right].forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** '::ffff:1.2.3.4' -> '::ffff:102:304' */
function embeddedIpv4AsHex(text: string): string {
  const cut = text.lastIndexOf(':') + 1;
  const [a = 0, b = 0, c = 0, d = 0] = text.slice(cut).split('.').map(Number);
  return `${text.slice(0, cut)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** 4 or 16 bytes -> the canonical text form (RFC 5952 for IPv6, the form iproute2 prints). */
export function decodeIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) return decodeIpv6(Buffer.from(bytes));
  throw new KernelError('EINVAL', 'IP address', `${bytes.length} bytes is neither an IPv4 nor an IPv6 address`);
}

function decodeIpv6(bytes: Buffer): string {
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  const mapped = words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff;
  if (mapped) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  const run = longestZeroRun(words);
  const hex = words.map((w) => w.toString(16));
  if (run.length < 2) return hex.join(':');
  return `${hex.slice(0, run.start).join(':')}::${hex.slice(run.start + run.length).join(':')}`;
}

function longestZeroRun(words: number[]): { start: number; length: number } {
  let best = { start: 0, length: 0 };
  let start = -1;
  for (let i = 0; i <= words.length; i++) {
    if (i < words.length && words[i] === 0) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > best.length) best = { start, length: i - start };
      start = -1;
    }
  }
  return best;
}

/** '10.0.1.1/24' -> { family: 4, address: '10.0.1.1', prefixLen: 24 }. A bare address gets the full length. */
export function parseCidr(text: string): Cidr {
  const [address = '', len, extra] = text.split('/');
  const family = ipFamily(address);
  const max = family === 4 ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (family === undefined || extra !== undefined || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max || len === '') {
    throw new KernelError('EINVAL', 'CIDR', `'${text}' is not an address with prefix length like 10.0.1.1/24`);
  }
  return { family, address, prefixLen };
}

export function formatCidr(c: { address: string; prefixLen: number }): string {
  return `${c.address}/${c.prefixLen}`;
}

/** A big-endian u16 (VXLAN and FDB UDP ports travel this way). */
export function encodePort(port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new KernelError('EINVAL', 'UDP port', `${port} is not a port number`);
  const out = Buffer.alloc(2);
  out.writeUInt16BE(port);
  return out;
}

export function decodePort(bytes: Uint8Array): number {
  return Buffer.from(bytes).readUInt16BE(0);
}

/** Link names are at most IFNAMSIZ - 1 = 15 bytes. */
export const IFNAMSIZ = 16;

/** 1-15 bytes, no '/', ':' or whitespace: what the kernel accepts as an interface name. */
export function isValidLinkName(name: string): boolean {
  return name.length > 0 && Buffer.byteLength(name) <= IFNAMSIZ - 1 && !/[/:\s]/.test(name) && name !== '.' && name !== '..';
}

export function validateLinkName(name: string): void {
  if (!isValidLinkName(name)) {
    throw new KernelError('EINVAL', 'link name', `'${name}' is not a valid link name (1-15 characters, no '/', ':' or spaces)`);
  }
}
