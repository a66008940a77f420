// Loads the shoal_netns addon (native/src/netns.cc) and types what it exports.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { projectRoot } from '../util/paths.js';

export interface NetnsAddon {
  /** Calls fn with the calling thread inside the namespace nsFd refers to; only fn's synchronous work happens there. */
  runInNetns<T>(nsFd: number, fn: () => T): T;
  /** A non-blocking socket created inside the namespace and bound to address:port; returns its fd. */
  socketInNetns(nsFd: number, kind: 'tcp' | 'udp', address: string, port: number): number;
  createNamedNetns(dir: string, name: string): void;
  deleteNamedNetns(path: string): void;
  gettid(): number;
  /** The DNS server's batched UDP path (native/src/dns_fast.cc). */
  UdpFast: new (fd: number, viewId: number, ednsUdpSize: number, onMisses: (bufs: Buffer[], ports: number[], addresses: string[]) => void) => UdpFastSocket;
  /** Publishes a pre-encoded reply (src/dns/template.ts) for a view's question. */
  dnsFastPut(viewId: number, questionKey: Uint8Array, bytes: Uint8Array, questionEnd: number, answerEnds: readonly number[], additionalEnds: readonly number[], shuffleCount: number, maxEntries: number): void;
  /** Forgets every reply published for a view. */
  dnsFastClear(viewId: number): void;
}

export interface UdpFastSocket {
  setView(viewId: number): void;
  send(reply: Uint8Array, port: number, address: string): void;
  /** The bound port. */
  port(): number | undefined;
  stats(): { packets: number; hits: number; misses: number; truncated: number; sendErrors: number };
  /** Stops polling and closes the socket. */
  close(): void;
}

const addonPath = join(projectRoot, 'native', 'build', 'Release', 'shoal_netns.node');

function load(): NetnsAddon {
  try {
    return createRequire(import.meta.url)(addonPath) as NetnsAddon;
  } catch (err) {
    throw new Error(`cannot load the native addon ${addonPath}: ${(err as Error).message}. Build it with \`npm install\` (or \`node native/build.mjs\`).`);
  }
}

export const addon: NetnsAddon = load();
