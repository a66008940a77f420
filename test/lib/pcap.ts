// A small reader for classic pcap files, enough for the memberlist captures: UDP datagrams with
// their addresses, and TCP payload reassembled per connection direction. The captures in
// test/fixtures/memberlist were taken with tcpdump on `lo`, which Linux records as Ethernet (link
// type 1, zero MACs); Linux cooked (113, 276), raw IP (101, 228) and BSD loopback (0) also parse.
import { readFileSync } from 'node:fs';

export interface Datagram { src: string; dst: string; sport: number; dport: number; payload: Buffer; frame: number }
export interface TcpFlow { key: string; src: string; dst: string; sport: number; dport: number; payload: Buffer; firstFrame: number }
export interface Pcap { linkType: number; frames: number; udp: Datagram[]; tcp: TcpFlow[] }

interface Segment { seq: number; payload: Buffer; frame: number }

export const LINKTYPE_ETHERNET = 1;

/** Offset of the IPv4 header in a frame of this link type, or undefined when it is not IPv4. */
function ipv4Offset(linkType: number, pkt: Buffer): number | undefined {
  switch (linkType) {
    case 0: // BSD loopback: 4-byte address family in host order (2 = AF_INET)
      return pkt.length >= 4 && (pkt.readUInt32LE(0) === 2 || pkt.readUInt32BE(0) === 2) ? 4 : undefined;
    case 1: { // Ethernet, possibly one 802.1Q tag
      if (pkt.length < 14) return undefined;
      let type = pkt.readUInt16BE(12);
      let off = 14;
      if (type === 0x8100 && pkt.length >= 18) { type = pkt.readUInt16BE(16); off = 18; }
      return type === 0x0800 ? off : undefined;
    }
    case 101: case 228: // raw IP, raw IPv4
      return pkt.length > 0 && pkt[0]! >> 4 === 4 ? 0 : undefined;
    case 113: // Linux cooked v1: protocol at 14
      return pkt.length >= 16 && pkt.readUInt16BE(14) === 0x0800 ? 16 : undefined;
    case 276: // Linux cooked v2: protocol at 0
      return pkt.length >= 20 && pkt.readUInt16BE(0) === 0x0800 ? 20 : undefined;
    default:
      throw new Error(`pcap link type ${linkType} is not supported`);
  }
}

export function readPcap(path: string): Pcap {
  const f = readFileSync(path);
  if (f.length < 24) throw new Error(`${path}: too short for a pcap header`);
  const magicLE = f.readUInt32LE(0);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) le = true;
  else if (f.readUInt32BE(0) === 0xa1b2c3d4 || f.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error(`${path}: not a classic pcap file (magic ${f.subarray(0, 4).toString('hex')}; pcapng is not supported)`);
  const u32 = (off: number) => (le ? f.readUInt32LE(off) : f.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff;
  const udp: Datagram[] = [];
  const flows = new Map<string, { flow: Omit<TcpFlow, 'payload'>; segs: Segment[]; isn?: number }>();
  let off = 24;
  let frame = 0;
  while (off + 16 <= f.length) {
    const incl = u32(off + 8);
    if (off + 16 + incl > f.length) throw new Error(`${path}: record ${frame + 1} runs past the end of the file`);
    const pkt = f.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    frame++;
    const ipOff = ipv4Offset(linkType, pkt);
    if (ipOff === undefined) continue;
    const ip = pkt.subarray(ipOff);
    if (ip.length < 20) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const total = Math.min(ip.readUInt16BE(2), ip.length);
    if ((ip.readUInt16BE(6) & 0x3fff) !== 0) throw new Error(`${path}: frame ${frame} is an IP fragment, which this reader does not reassemble`);
    const proto = ip[9];
    const src = [...ip.subarray(12, 16)].join('.');
    const dst = [...ip.subarray(16, 20)].join('.');
    const l4 = ip.subarray(ihl, total);
    if (l4.length < 8) continue;
    const sport = l4.readUInt16BE(0);
    const dport = l4.readUInt16BE(2);
    if (proto === 17) {
      udp.push({ src, dst, sport, dport, payload: Buffer.from(l4.subarray(8, Math.min(l4.readUInt16BE(4), l4.length))), frame });
    } else if (proto === 6 && l4.length >= 20) {
      const seq = l4.readUInt32BE(4);
      const flags = l4[13]!;
      const dataOff = (l4[12]! >> 4) * 4;
      const key = `${src}:${sport}>${dst}:${dport}`;
      let s = flows.get(key);
      if (!s) flows.set(key, (s = { flow: { key, src, dst, sport, dport, firstFrame: frame }, segs: [] }));
      if (flags & 0x02) s.isn = (seq + 1) >>> 0; // SYN takes one sequence number
      const payload = l4.subarray(dataOff);
      if (payload.length > 0) s.segs.push({ seq, payload: Buffer.from(payload), frame });
    }
  }
  const tcp: TcpFlow[] = [];
  for (const { flow, segs, isn } of flows.values()) {
    if (segs.length === 0) continue;
    // Offsets relative to the first data byte (mod 2^32), then every byte placed once: a
    // retransmission or an overlap adds only what was not there yet.
    const base = isn ?? segs.reduce((m, s) => (((s.seq - m) | 0) < 0 ? s.seq : m), segs[0]!.seq);
    const ordered = segs.map((s) => ({ ...s, rel: (s.seq - base) >>> 0 })).sort((a, b) => a.rel - b.rel);
    const chunks: Buffer[] = [];
    let have = 0;
    for (const s of ordered) {
      if (s.rel > have) throw new Error(`${flow.key}: ${s.rel - have} bytes missing before frame ${s.frame}`);
      const fresh = s.payload.subarray(have - s.rel);
      if (fresh.length > 0) { chunks.push(fresh); have += fresh.length; }
    }
    tcp.push({ ...flow, payload: Buffer.concat(chunks), firstFrame: ordered[0]!.frame });
  }
  return { linkType, frames: frame, udp, tcp };
}
