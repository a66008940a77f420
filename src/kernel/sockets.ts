// Which ports sockets of the agent's own network namespace (the node's) hold: listening TCP sockets
// and bound, unconnected UDP sockets, read from /proc/net/{tcp,tcp6,udp,udp6}. Read-only.
import { existsSync, readFileSync } from 'node:fs';

export interface BoundSocket {
  protocol: 'tcp' | 'udp';
  /** As the kernel shows it: 0.0.0.0, 127.0.0.1, ::, ... */
  address: string;
  port: number;
}

const TCP_LISTEN = '0A';
/** An unconnected UDP socket: it receives whatever arrives at its port. */
const UDP_UNCONNECTED = '07';

/** /proc/net/{tcp,udp}[6] text to the sockets that hold a port (pure). */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp'): BoundSocket[] {
  const out: BoundSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [hexAddr, hexPort] = (f[1] ?? '').split(':');
    if (!hexAddr || !hexPort) continue;
    if (f[3] !== (protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED)) continue;
    out.push({ protocol, address: hexAddr.length === 8 ? ipv4(hexAddr) : ipv6(hexAddr), port: parseInt(hexPort, 16) });
  }
  return out;
}

/** The kernel prints an IPv4 address as one 32-bit word in host (little-endian) order. */
function ipv4(hex: string): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(parseInt(hex, 16) >>> 0);
  return [...b].join('.');
}

/** An IPv6 address is four such words. */
function ipv6(hex: string): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32LE(parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0, i * 4);
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16));
  // The longest run of two or more zero groups becomes '::' (RFC 5952).
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** Every listening TCP and bound UDP socket of the node's namespace. */
export function boundSockets(): BoundSocket[] {
  const out: BoundSocket[] = [];
  for (const [file, protocol] of [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']] as const) {
    const path = `/proc/net/${file}`;
    if (existsSync(path)) out.push(...parseProcNet(readFileSync(path, 'utf8'), protocol));
  }
  return out;
}
