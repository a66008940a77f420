// A small reader for classic pcap files of Ethernet (link type 1) IPv4 traffic, enough for the
// memberlist captures: UDP datagrams, and TCP payload reassembled per connection direction.
import { readFileSync } from 'node:fs';

export interface Datagram { src: string; dst: string; sport: number; dport: number; payload: Buffer; frame: number }
export interface TcpFlow { key: string; src: string; dst: string; sport: number; dport: number; payload: Buffer; firstFrame: number }

interface Segment { seq: number; payload: Buffer; frame: number }

export function readPcap(path: string): { udp: Datagram[]; tcp: TcpFlow[] } {
  const f = readFileSync(path);
  const magic = f.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4) throw new Error(`${path}: not a little-endian microsecond pcap (magic ${magic.toString(16)})`);
  const linktype = f.readUInt32LE(20);
  if (linktype !== 1) throw new Error(`${path}: link type ${linktype}, only Ethernet (1) is supported`);
  const udp: Datagram[] = [];
  const segments = new Map<string, { flow: Omit<TcpFlow, 'payload'>; segs: Segment[]; isn?: number }>();
  let off = 24;
  let frame = 0;
  while (off + 16 <= f.length) {
    const incl = f.readUInt32LE(off + 8);
    const pkt = f.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    frame++;
    if (pkt.readUInt16BE(12) !== 0x0800) continue; // IPv4 only
    const ip = pkt.subarray(14);
    const ihl = (ip[0]! & 0x0f) * 4;
    const total = ip.readUInt16BE(2);
    const proto = ip[9];
    const src = [...ip.subarray(12, 16)].join('.');
    const dst = [...ip.subarray(16, 20)].join('.');
    const l4 = ip.subarray(ihl, total);
    const sport = l4.readUInt16BE(0);
    const dport = l4.readUInt16BE(2);
    if (proto === 17) {
      udp.push({ src, dst, sport, dport, payload: Buffer.from(l4.subarray(8)), frame });
    } else if (proto === 6) {
      const seq = l4.readUInt32BE(4);
      const flags = l4[13]!;
      const dataOff = (l4[12]! >> 4) * 4;
      const key = `${src}:${sport}>${dst}:${dport}`;
      let s = segments.get(key);
      if (!s) segments.set(key, (s = { flow: { key, src, dst, sport, dport, firstFrame: frame }, segs: [] }));
      if (flags & 0x02) s.isn = seq + 1; // SYN
      const payload = l4.subarray(dataOff);
      if (payload.length > 0) s.segs.push({ seq, payload: Buffer.from(payload), frame });
    }
  }
  const tcp: TcpFlow[] = [];
  for (const { flow, segs } of segments.values()) {
    if (segs.length === 0) continue;
    const seen = new Set<number>();
    const ordered = segs.sort((a, b) => a.seq - b.seq).filter((s) => !seen.has(s.seq) && seen.add(s.seq));
    tcp.push({ ...flow, payload: Buffer.concat(ordered.map((s) => s.payload)), firstFrame: ordered[0]!.frame });
  }
  return { udp, tcp };
}
