// The DNS server's batched UDP path (native/src/dns_fast.cc), seen from JavaScript: whether it is
// there, a listener's socket on it, and the mirror that keeps its copy of each view's templates
// equal to the view's answer cache. Answers are still decided in JavaScript; the native side only
// repeats, for many datagrams per system call, replies JavaScript has already encoded.
import { addon, type UdpFastSocket } from '../kernel/native.js';
import type { CacheMirror } from './cache.js';
import type { Template } from './template.js';

/** Whether the addon in use has the fast path (an addon built before it has not). */
export function fastUdpAvailable(): boolean {
  return typeof addon.UdpFast === 'function';
}

export function nativeMirror(viewId: number, maxEntries: number): CacheMirror {
  return {
    set: (t: Template) => addon.dnsFastPut(viewId, t.questionKey(), t.bytes, t.questionEnd, t.answerEnds, t.additionalEnds, t.shuffleCount, maxEntries),
    clear: () => addon.dnsFastClear(viewId),
  };
}

/** A UDP socket served natively; every datagram it cannot answer goes to onMiss, one by one. */
export function openFastUdp(fd: number, viewId: number, ednsUdpSize: number, onMiss: (msg: Buffer, port: number, address: string) => void): UdpFastSocket {
  return new addon.UdpFast(fd, viewId, ednsUdpSize, (bufs, ports, addresses) => {
    for (let i = 0; i < bufs.length; i++) onMiss(bufs[i]!, ports[i]!, addresses[i]!);
  });
}
