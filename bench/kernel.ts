// Benchmark: the cost of one kernel operation through src/kernel (one rtnetlink socket held open)
// against spawning `ip` / `bridge` for the same operation, in the same run, N iterations each.
// Works in a scratch namespace of its own, removed at the end, on error and on SIGINT/SIGTERM/SIGHUP.
// Prints a table and writes a markdown report to bench/out/kernel-<timestamp>.md.
//
//   npm run build && npm run bench:kernel [-- --iterations 300]
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createNetns, deleteNetns, netnsExists } from '../src/kernel/netns.js';
import { FLOOD_MAC, openRtnl, type Rtnl } from '../src/kernel/rtnl.js';
import { projectRoot } from '../src/util/paths.js';
import { cleanUpOnExit } from './interrupt.js';

const execFileP = promisify(execFile);

interface Case {
  name: string;
  /** The same add+delete (or up+down) pair, once through src/kernel and once through iproute2. */
  viaKernel: (rtnl: Rtnl, i: number) => Promise<void>;
  viaSpawn: (netns: string, i: number) => Promise<void>;
}

interface Stats {
  median: number;
  p90: number;
  opsPerSec: number;
}

interface Row {
  name: string;
  kernel: Stats;
  spawn: Stats;
}

const WARMUP = 10;

function parseIterations(argv: string[]): number {
  const at = argv.indexOf('--iterations');
  const value = at >= 0 ? Number(argv[at + 1]) : Number(process.env['SHOAL_BENCH_ITERATIONS'] ?? 200);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--iterations must be a positive integer, got ${argv[at + 1]}`);
  return value;
}

/** A distinct IP/MAC per iteration, so no iteration depends on the previous one's delete. */
function ipFor(i: number): string {
  return `10.77.${(i >> 8) & 0xff}.${i & 0xff}`;
}

function macFor(i: number): string {
  return `02:42:0a:4d:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

async function run(cmd: string, args: string[]): Promise<void> {
  await execFileP(cmd, args);
}

const CASES: Case[] = [
  {
    name: 'neighbour add + delete',
    viaKernel: async (rtnl, i) => {
      await rtnl.neighbours.add('vxlan0', ipFor(i), macFor(i));
      await rtnl.neighbours.delete('vxlan0', ipFor(i));
    },
    viaSpawn: async (ns, i) => {
      await run('ip', ['-n', ns, 'neigh', 'add', ipFor(i), 'lladdr', macFor(i), 'dev', 'vxlan0', 'nud', 'permanent']);
      await run('ip', ['-n', ns, 'neigh', 'del', ipFor(i), 'dev', 'vxlan0']);
    },
  },
  {
    name: 'fdb add + delete',
    viaKernel: async (rtnl, i) => {
      await rtnl.fdb.add('vxlan0', { mac: macFor(i), dst: '192.168.99.2' });
      await rtnl.fdb.delete('vxlan0', { mac: macFor(i), dst: '192.168.99.2' });
    },
    viaSpawn: async (ns, i) => {
      await run('bridge', ['-n', ns, 'fdb', 'add', macFor(i), 'dev', 'vxlan0', 'dst', '192.168.99.2', 'self', 'permanent']);
      await run('bridge', ['-n', ns, 'fdb', 'del', macFor(i), 'dev', 'vxlan0', 'dst', '192.168.99.2', 'self']);
    },
  },
  {
    name: 'fdb append + delete (flood entry)',
    viaKernel: async (rtnl, i) => {
      await rtnl.fdb.append('vxlan0', { mac: FLOOD_MAC, dst: ipFor(i) });
      await rtnl.fdb.delete('vxlan0', { mac: FLOOD_MAC, dst: ipFor(i) });
    },
    viaSpawn: async (ns, i) => {
      await run('bridge', ['-n', ns, 'fdb', 'append', FLOOD_MAC, 'dev', 'vxlan0', 'dst', ipFor(i)]);
      await run('bridge', ['-n', ns, 'fdb', 'del', FLOOD_MAC, 'dev', 'vxlan0', 'dst', ipFor(i), 'self']);
    },
  },
  {
    name: 'link up + down',
    viaKernel: async (rtnl) => {
      await rtnl.links.setUp('veth0');
      await rtnl.links.setDown('veth0');
    },
    viaSpawn: async (ns) => {
      await run('ip', ['-n', ns, 'link', 'set', 'veth0', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'veth0', 'down']);
    },
  },
];

function percentile(sorted: number[], p: number): number {
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at] ?? Number.NaN;
}

async function measure(iterations: number, once: (i: number) => Promise<void>): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await once(1_000_000 + i);
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await once(i);
    times.push(performance.now() - t0);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  return { median: percentile(times, 50), p90: percentile(times, 90), opsPerSec: (iterations / total) * 1000 };
}

/** Many FDB adds fired at once through the bounded socket, then as many deletes: throughput, not latency. */
async function burst(rtnl: Rtnl, count: number): Promise<{ addsPerSec: number; peakInFlight: number }> {
  const macs = Array.from({ length: count }, (_, i) => macFor(20_000 + i));
  const t0 = performance.now();
  await Promise.all(macs.map((mac) => rtnl.fdb.add('vxlan0', { mac, dst: '192.168.99.3' })));
  const ms = performance.now() - t0;
  await Promise.all(macs.map((mac) => rtnl.fdb.delete('vxlan0', { mac, dst: '192.168.99.3' })));
  return { addsPerSec: (count / ms) * 1000, peakInFlight: rtnl.stats.peakInFlight };
}

const fmt = (ms: number): string => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));

function table(rows: Row[]): string[] {
  const head = ['operation (pair)', 'method', 'median ms', 'p90 ms', 'pairs/s', 'spawn/kernel (median)'];
  const lines = [head];
  for (const r of rows) {
    lines.push([r.name, 'src/kernel', fmt(r.kernel.median), fmt(r.kernel.p90), r.kernel.opsPerSec.toFixed(0), '']);
    lines.push(['', 'ip/bridge spawn', fmt(r.spawn.median), fmt(r.spawn.p90), r.spawn.opsPerSec.toFixed(0), `${(r.spawn.median / r.kernel.median).toFixed(1)}x`]);
  }
  return lines.map((cells) => cells.join('\t'));
}

function printTable(rows: Row[]): void {
  const cells = table(rows).map((l) => l.split('\t'));
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  for (const row of cells) console.log(row.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  '));
}

function markdown(rows: Row[], meta: Record<string, string>, burstLine: string): string {
  const cells = table(rows).map((l) => l.split('\t'));
  const md = [
    '# Kernel operation benchmark',
    '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`),
    '',
    'Each row times one pair of operations (add then delete, or up then down) awaited one after the other:',
    'through `src/kernel` over one rtnetlink socket opened inside the namespace (link names resolved to ifindex on every call),',
    'and by spawning `ip -n NS ...` / `bridge -n NS ...` twice. Process start is part of the spawn figure; that is the point.',
    `${WARMUP} warm-up pairs per row are not counted. pairs/s is iterations divided by the wall time of the row.`,
    '',
    `| ${cells[0]!.join(' | ')} |`,
    `|${cells[0]!.map((_, i) => (i >= 2 ? '---:' : '---')).join('|')}|`,
    ...cells.slice(1).map((row) => `| ${row.join(' | ')} |`),
    '',
    burstLine,
    '',
  ];
  return md.join('\n');
}

function iproute2Version(): string {
  try {
    return execFileSync('ip', ['-V'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const iterations = parseIterations(process.argv.slice(2));
  const netns = `shbench${randomBytes(3).toString('hex')}`;
  let rtnl: Rtnl | undefined;

  const cleanup = (): void => {
    rtnl?.close();
    rtnl = undefined;
    if (netnsExists(netns)) deleteNetns(netns);
  };
  cleanUpOnExit(`removing namespace ${netns}`, cleanup);

  try {
    createNetns(netns);
    rtnl = openRtnl({ name: netns });
    await rtnl.links.addVxlan('vxlan0', { vni: 4242, local: '192.168.99.1' });
    await rtnl.links.addVeth('veth0', { name: 'veth1' });

    console.log(`kernel benchmark in namespace ${netns}: ${iterations} iterations per row (+${WARMUP} warm-up)\n`);
    const rows: Row[] = [];
    for (const c of CASES) {
      const kernel = await measure(iterations, (i) => c.viaKernel(rtnl!, i));
      const spawn = await measure(iterations, (i) => c.viaSpawn(netns, i));
      rows.push({ name: c.name, kernel, spawn });
    }
    const b = await burst(rtnl, 1000);
    const burstLine = `Burst: 1000 FDB adds fired at once through src/kernel: ${b.addsPerSec.toFixed(0)} adds/s (peak ${b.peakInFlight} requests in flight, receive buffer ${rtnl.stats.recvBufferBytes} bytes).`;

    printTable(rows);
    console.log(`\n${burstLine}`);

    const now = new Date();
    const meta = {
      date: now.toISOString(),
      kernel: release(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      iproute2: iproute2Version(),
      iterations: String(iterations),
    };
    const outDir = join(projectRoot, 'bench', 'out');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `kernel-${now.toISOString().replace(/[:.]/g, '-')}.md`);
    writeFileSync(file, markdown(rows, meta, burstLine));
    console.log(`\nreport: ${file}`);
  } finally {
    cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
