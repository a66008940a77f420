// Counting a pool's gossip traffic with nftables inside the pool's own scratch namespace: one table,
// one output-hook chain, a counter per kind of gossip traffic on the gossip port. On lo every packet
// passes the output hook exactly once, so the counters hold each byte once; the namespace holds only
// this pool, so nothing else is counted. Serf's RPC port (7373) is not the gossip port and is not
// counted. Bytes are whole IPv4 packets (IP and UDP/TCP headers, TCP handshakes and ACKs included).
import { GOSSIP_PORT } from './gossip-shoal.js';
import { run, type ScratchNetns } from './gossip-pools.js';

const TABLE = 'shoalbench';

export interface Counts {
  udpPackets: number;
  udpBytes: number;
  tcpPackets: number;
  tcpBytes: number;
}

/** IPv4 (20) + UDP (8) header bytes per datagram: what separates nft's bytes from the UDP payload. */
export const UDP_IP_HEADER_BYTES = 28;

export async function installCounters(ns: ScratchNetns): Promise<void> {
  const script = [
    `add table inet ${TABLE}`,
    `add chain inet ${TABLE} out { type filter hook output priority 0; policy accept; }`,
    `add rule inet ${TABLE} out udp sport ${GOSSIP_PORT} counter comment "udp"`,
    `add rule inet ${TABLE} out tcp dport ${GOSSIP_PORT} counter comment "tcp-to"`,
    `add rule inet ${TABLE} out tcp sport ${GOSSIP_PORT} counter comment "tcp-from"`,
    '',
  ].join('\n');
  const [cmd, argv] = ns.wrap('nft', ['-f', '-']);
  await run(cmd, argv, script);
}

interface NftRule {
  rule?: { comment?: string; expr?: { counter?: { packets: number; bytes: number } }[] };
}

export async function readCounters(ns: ScratchNetns): Promise<Counts> {
  const [cmd, argv] = ns.wrap('nft', ['-j', 'list', 'table', 'inet', TABLE]);
  const items = (JSON.parse(await run(cmd, argv)) as { nftables: NftRule[] }).nftables;
  const counter = (comment: string) => {
    const c = items.find((i) => i.rule?.comment === comment)?.rule?.expr?.find((e) => e.counter)?.counter;
    if (!c) throw new Error(`nft counter "${comment}" not found in ${ns.name}`);
    return c;
  };
  const udp = counter('udp');
  const to = counter('tcp-to');
  const from = counter('tcp-from');
  return { udpPackets: udp.packets, udpBytes: udp.bytes, tcpPackets: to.packets + from.packets, tcpBytes: to.bytes + from.bytes };
}

export function diff(after: Counts, before: Counts): Counts {
  return {
    udpPackets: after.udpPackets - before.udpPackets,
    udpBytes: after.udpBytes - before.udpBytes,
    tcpPackets: after.tcpPackets - before.tcpPackets,
    tcpBytes: after.tcpBytes - before.tcpBytes,
  };
}
