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
