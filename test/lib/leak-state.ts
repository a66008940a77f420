// What a test run could leave behind on this machine, read the same way before and after the run:
// named namespaces, links and nft tables in the runner's namespace, Docker containers made by shoal,
// and processes started from this checkout or living in a foreign network namespace.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/util/paths.js';

export interface LeakState {
  netns: string[];
  links: string[];
  nftTables: string[];
  containers: string[];
  processes: string[];
}

export const SNAPSHOT_FILE = join(projectRoot, '.tap', 'leak-snapshot.json');

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15000 });
  } catch {
    return undefined;
  }
}

function processes(): string[] {
  const own = readlinkSync('/proc/self/ns/net');
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmd === '') continue; // kernel thread or gone
      const netns = readlinkSync(`/proc/${pid}/ns/net`);
      const ours = cmd.includes(join(projectRoot, 'dist')) && !cmd.includes('tap');
      if (ours || netns !== own) out.push(`${pid} ${cmd}`);
    } catch {
      // the process ended while we looked
    }
  }
  return out.sort();
}

export function readLeakState(): LeakState {
  const links = JSON.parse(run('ip', ['-j', 'link', 'show']) ?? '[]') as { ifname: string }[];
  const tables = (run('nft', ['list', 'tables']) ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const containers = run('docker', ['ps', '-a', '--filter', 'label=io.shoal.managed', '--format', '{{.Names}}']) ?? '';
  return {
    netns: existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [],
    links: links.map((l) => l.ifname).sort(),
    nftTables: tables.sort(),
    containers: containers.split('\n').filter(Boolean).sort(),
    processes: processes(),
  };
}

/** What is in `after` and was not in `before`, per kind; processes compared by pid and command. */
export function leaks(before: LeakState, after: LeakState): Partial<Record<keyof LeakState, string[]>> {
  const out: Partial<Record<keyof LeakState, string[]>> = {};
  for (const key of Object.keys(after) as (keyof LeakState)[]) {
    const had = new Set(before[key]);
    const extra = after[key].filter((x) => !had.has(x));
    if (extra.length > 0) out[key] = extra;
  }
  return out;
}
