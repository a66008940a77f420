// Benchmark: shoal's gossip beside Serf (Debian's serf agent, memberlist 0.2.2) measured in the same
// run, and beside Serf's convergence model.
//   (a) failure detection: a pool of 5, one member killed with SIGKILL, time until every survivor
//       declares it failed; fresh pools, trials alternating between Serf and shoal.
//   (b) propagation: time for a ReplicatedStore.put on one node (a `serf event` for Serf) to reach
//       every node; real sockets for N = 10, the simulated transport for N = 50 and 200.
//   (c) bytes per second per node, idle and under churn, counted with nftables in each pool's own
//       scratch namespace (and by shoal's own counters as a cross-check).
// Real pools live in two scratch namespaces (one for Serf, one for shoal), removed at the end, on
// error and on SIGINT/SIGTERM/SIGHUP, with every process this run started.
// Prints tables and writes bench/out/gossip.md and bench/out/gossip.json.
//
//   npm run build && npm run bench:gossip [-- --only a,b,c (or b-real, b-sim) --trials-a 10 --trials-b 5
//                                             --cap-b 45 --phase 30 --n-real 10 --n-sim 50,200 --quick]
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { defaultMembershipConfig as lan } from '../src/cluster/config.js';
import { projectRoot } from '../src/util/paths.js';
import { diff, installCounters, readCounters, UDP_IP_HEADER_BYTES, type Counts } from './gossip-bytes.js';
import { secs, serfModelBytesPerSec, serfModelMs, summarize, type Summary } from './gossip-model.js';
import { liveChildren, now, ScratchNetns, SerfPool, ShoalProcessPool, SimPool, sleep, type GossipPool } from './gossip-pools.js';
import { cleanUpOnExit } from './interrupt.js';

// ---- options ----

interface Options {
  parts: Set<string>;
  trialsA: number;
  nA: number;
  trialsB: number;
  capBMs: number;
  nReal: number;
  nSim: number[];
  phaseMs: number;
}

function parseOptions(argv: string[]): Options {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (flag: string, dflt: number): number => {
    const v = get(flag);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${v}`);
    return n;
  };
  const quick = argv.includes('--quick');
  return {
    parts: new Set((get('--only') ?? 'a,b,c').split(',').map((s) => s.trim())),
    trialsA: int('--trials-a', quick ? 3 : 10),
    nA: int('--n-a', 5),
    trialsB: int('--trials-b', quick ? 2 : 5),
    capBMs: int('--cap-b', quick ? 20 : 45) * 1000,
    nReal: int('--n-real', 10),
    nSim: (get('--n-sim') ?? '50,200').split(',').map(Number),
    phaseMs: int('--phase', quick ? 10 : 30) * 1000,
  };
}

/** Waits for p, or ms at most (without leaving a timer behind). */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}

// ---- (a) failure detection ----

interface FailureTrial {
  victim: string;
  /** ms from the kill until the first / the last survivor declared the victim failed (Infinity: not within the cap). */
  first: number;
  all: number;
}

interface FailureRow {
  pool: string;
  transport: string;
  n: number;
  trials: FailureTrial[];
  all: Summary;
  first: Summary;
}

const FAILURE_CAP_MS = 60_000;
/** After the pool formed: steady state (a few probe rounds), plus a random phase against the probe ticks. */
const SETTLE_MS = 3_000;

async function failureTrial(pool: GossipPool, n: number): Promise<FailureTrial> {
  await pool.start(n);
  await sleep(SETTLE_MS + randomInt(1000));
  const victim = pool.names[randomInt(n)]!;
  const survivors = pool.names.filter((x) => x !== victim);
  const seen = new Map<string, number>();
  let listener: ((observer: string, member: string, state: string, t: number) => void) | undefined;
  const allSeen = new Promise<void>((resolve) => {
    listener = (observer, member, state, t) => {
      if (member !== victim || state !== 'failed' || !survivors.includes(observer) || seen.has(observer)) return;
      seen.set(observer, t);
      if (seen.size === survivors.length) resolve();
    };
    pool.on('member', listener);
  });
  const t0 = pool.kill(victim);
  await within(allSeen, FAILURE_CAP_MS);
  pool.off('member', listener!);
  const times = [...seen.values()].map((t) => t - t0);
  return { victim, first: times.length > 0 ? Math.min(...times) : Infinity, all: seen.size === survivors.length ? Math.max(...times) : Infinity };
}

function failureRow(pool: string, transport: string, n: number, trials: FailureTrial[]): FailureRow {
  return { pool, transport, n, trials, all: summarize(trials.map((t) => t.all)), first: summarize(trials.map((t) => t.first)) };
}

/** A pool that does not form (it happens, rarely, to either kind) is replaced by a fresh one, twice at most. */
async function withRetries<T>(what: string, make: (attempt: number) => GossipPool, body: (pool: GossipPool) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const pool = make(attempt);
    try {
      return await body(pool);
    } catch (err) {
      console.error(`  ${what}: ${(err as Error).message}`);
      if (attempt >= 2) throw err;
      console.error('  retrying with a fresh pool');
    } finally {
      await pool.close();
    }
  }
}

async function partA(o: Options, serfNs: ScratchNetns, shoalNs: ScratchNetns): Promise<FailureRow[]> {
  const serf: FailureTrial[] = [];
  const shoal: FailureTrial[] = [];
  for (let i = 0; i < o.trialsA; i++) {
    const prefix = (attempt: number) => `127.${attempt}.${i + 1}`;
    for (const [label, make, into] of [
      ['Serf', (a: number) => new SerfPool(serfNs, prefix(a)), serf],
      ['shoal', (a: number) => new ShoalProcessPool(shoalNs, prefix(a)), shoal],
    ] as const) {
      const r = await withRetries(`(a) trial ${i + 1} ${label}`, make, (pool) => failureTrial(pool, o.nA));
      into.push(r);
      console.log(`  (a) trial ${i + 1}/${o.trialsA} ${label.padEnd(5)}: ${r.victim} failed everywhere after ${secs(r.all)} s (first ${secs(r.first)} s)`);
    }
  }
  // The same measurement on the simulated transport, all trials at once (one network each): does the
  // simulation reproduce what the real sockets give?
  const sims = Array.from({ length: o.trialsA }, (_, i) => new SimPool({ latencyMs: 1, seed: 100 + i }));
  let sim: FailureTrial[];
  try {
    sim = await Promise.all(sims.map((p) => failureTrial(p, o.nA)));
  } finally {
    await Promise.all(sims.map((p) => p.close()));
  }
  console.log(`  (a) ${o.trialsA} trials on the simulated transport: median ${secs(summarize(sim.map((t) => t.all)).median)} s`);
  return [failureRow('Serf', 'loopback', o.nA, serf), failureRow('shoal', 'loopback', o.nA, shoal), failureRow('shoal', 'simulated', o.nA, sim)];
}

// ---- (b) propagation ----

interface PropagationTrial {
  origin: string;
  /** ms from the write until half / all of the nodes held it (Infinity: not within the cap). */
  half: number;
  all: number;
  /** Share of nodes holding it when the model says 99.9 % would, and at the cap. */
  atModel: number;
  reached: number;
}

interface PropagationRow {
  pool: string;
  transport: string;
  n: number;
  capMs: number;
  trials: PropagationTrial[];
  all: Summary;
  half: Summary;
  modelMs: number;
  modelHalfMs: number;
  /** Event-loop delay of this process while a simulated pool ran (p99, max; ms): is the simulation CPU-bound? */
  loopDelay?: { p99: number; max: number };
}

async function propagationTrial(pool: GossipPool, n: number, key: string, seq: number, capMs: number): Promise<PropagationTrial> {
  const origin = pool.names[randomInt(pool.names.length)]!;
  const got = new Map<string, number>();
  let t0 = Number.NaN;
  let listener: ((observer: string, k: string, t: number) => void) | undefined;
  const complete = new Promise<void>((resolve) => {
    listener = (observer, k, t) => {
      if (k !== key || got.has(observer)) return;
      got.set(observer, t);
      if (observer === origin) t0 = t;
      if (got.size === n) resolve();
    };
    pool.on('entry', listener);
  });
  const asked = now();
  await pool.write(origin, key, seq);
  await within(complete, capMs);
  pool.off('entry', listener!);
  if (Number.isNaN(t0)) t0 = asked;
  const times = [...got.values()].map((t) => t - t0).sort((a, b) => a - b);
  const modelMs = serfModelMs(n, 0.999);
  return {
    origin,
    half: times.length >= Math.ceil(n / 2) ? times[Math.ceil(n / 2) - 1]! : Infinity,
    all: times.length === n ? times[n - 1]! : Infinity,
    atModel: times.filter((t) => t <= modelMs).length / n,
    reached: times.length / n,
  };
}

async function propagation(pool: GossipPool, transport: string, n: number, trials: number, capMs: number): Promise<PropagationRow> {
  const out: PropagationTrial[] = [];
  for (let i = 0; i < trials; i++) {
    const key = `p${n}-${pool.label.replace(/\W+/g, '')}-${i + 1}-${randomBytes(2).toString('hex')}`;
    const r = await propagationTrial(pool, n, key, i + 1, capMs);
    out.push(r);
    console.log(`  (b) ${pool.label.padEnd(18)} N=${String(n).padEnd(3)} trial ${i + 1}/${trials}: all ${secs(r.all, capMs)} s, half ${secs(r.half, capMs)} s, ${(r.atModel * 100).toFixed(0)} % at the model's ${secs(serfModelMs(n, 0.999))} s`);
    await sleep(1000); // let the previous write's retransmissions drain
  }
  return {
    pool: pool.label, transport, n, capMs, trials: out,
    all: summarize(out.map((t) => t.all)), half: summarize(out.map((t) => t.half)),
    modelMs: serfModelMs(n, 0.999), modelHalfMs: serfModelMs(n, 0.5),
  };
}

async function simPropagation(n: number, o: Options): Promise<PropagationRow> {
  const pool = new SimPool({ latencyMs: 1, jitterMs: 0.5, seed: n });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  try {
    await pool.start(n);
    await sleep(SETTLE_MS);
    delay.enable();
    const row = await propagation(pool, 'simulated', n, o.trialsB, o.capBMs);
    delay.disable();
    return { ...row, loopDelay: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 } };
  } finally {
    delay.disable();
    await pool.close();
  }
}

// ---- (c) bytes per second per node ----

interface BandwidthRow {
  pool: string;
  n: number;
  phase: string;
  seconds: number;
  method: string;
  counts?: Counts;
  /** Per node and second: whole IP packets on the gossip port (nft), UDP payload (nft bytes minus headers). */
  udpIpBps?: number;
  tcpIpBps?: number;
  udpPayloadBps?: number;
  /** What shoal's own counters say (UDP payload and TCP payload sent), per node and second. */
  selfUdpBps?: number;
  selfTcpBps?: number;
}

type SelfCounter = () => Promise<{ udpBytes: number; udpPackets: number; streamBytes: number }>;

const CHURN_WRITE_EVERY_MS = 100;
const CHURN_REJOIN_PAUSE_MS = 2_000;

async function measureBytes(pool: GossipPool, ns: ScratchNetns | undefined, n: number, phase: string, self: SelfCounter | undefined, body: () => Promise<void>): Promise<BandwidthRow> {
  const before = ns ? await readCounters(ns) : undefined;
  const selfBefore = self ? await self() : undefined;
  const t0 = now();
  await body();
  const seconds = (now() - t0) / 1000;
  const row: BandwidthRow = { pool: pool.label, n, phase, seconds, method: ns ? 'nft counters in the pool namespace' : 'own counters (simulated transport)' };
  if (ns && before) {
    const c = diff(await readCounters(ns), before);
    row.counts = c;
    row.udpIpBps = c.udpBytes / seconds / n;
    row.tcpIpBps = c.tcpBytes / seconds / n;
    row.udpPayloadBps = (c.udpBytes - UDP_IP_HEADER_BYTES * c.udpPackets) / seconds / n;
  }
  if (self && selfBefore) {
    const s = await self();
    row.selfUdpBps = (s.udpBytes - selfBefore.udpBytes) / seconds / n;
    row.selfTcpBps = (s.streamBytes - selfBefore.streamBytes) / seconds / n;
  }
  console.log(`  (c) ${pool.label.padEnd(18)} N=${n} ${phase.padEnd(10)}: ${row.udpIpBps !== undefined ? `UDP ${row.udpIpBps.toFixed(0)} B/s/node, TCP ${row.tcpIpBps!.toFixed(0)} B/s/node (nft)` : ''}${row.selfUdpBps !== undefined ? ` self-counted UDP ${row.selfUdpBps.toFixed(0)} + TCP ${row.selfTcpBps!.toFixed(0)} B/s/node` : ''}`);
  return row;
}

async function idle(pool: GossipPool, ns: ScratchNetns | undefined, n: number, ms: number, self?: SelfCounter): Promise<BandwidthRow> {
  return measureBytes(pool, ns, n, 'idle', self, () => sleep(ms));
}

async function churnWrites(pool: GossipPool, ns: ScratchNetns | undefined, n: number, ms: number, self?: SelfCounter): Promise<BandwidthRow> {
  return measureBytes(pool, ns, n, 'writes', self, async () => {
    const end = now() + ms;
    const pending: Promise<void>[] = [];
    for (let i = 0; now() < end; i++) {
      const origin = pool.names[randomInt(pool.names.length)]!;
      pending.push(pool.write(origin, `c${n}-${i}-${randomBytes(2).toString('hex')}`, i).catch((err: unknown) => console.error(`  write failed: ${(err as Error).message}`)));
      await sleep(CHURN_WRITE_EVERY_MS);
    }
    await Promise.all(pending);
  });
}

async function churnMembers(pool: GossipPool, ns: ScratchNetns | undefined, n: number, ms: number): Promise<BandwidthRow> {
  return measureBytes(pool, ns, n, 'membership', undefined, async () => {
    const end = now() + ms;
    while (now() < end) {
      const who = pool.names[1 + randomInt(pool.names.length - 1)]!;
      await pool.leave(who);
      await sleep(CHURN_REJOIN_PAUSE_MS);
      await pool.rejoin(who);
      await sleep(CHURN_REJOIN_PAUSE_MS);
    }
  });
}

// ---- report ----

interface Report {
  meta: Record<string, string>;
  failure: FailureRow[];
  propagation: PropagationRow[];
  bandwidth: BandwidthRow[];
}

type Cells = string[][];

function failureCells(rows: FailureRow[]): Cells {
  const serf = rows.find((r) => r.pool === 'Serf');
  const out: Cells = [['pool', 'transport', 'N', 'trials', 'median s', 'min s', 'max s', 'first survivor median s', 'median vs Serf']];
  for (const r of rows) {
    const vs = serf && r !== serf ? `${(((r.all.median - serf.all.median) / serf.all.median) * 100).toFixed(0)} %` : '';
    out.push([r.pool, r.transport, String(r.n), String(r.all.n), secs(r.all.median), secs(r.all.min), secs(r.all.max), secs(r.first.median), vs]);
  }
  return out;
}

function propagationCells(rows: PropagationRow[]): Cells {
  const out: Cells = [['N', 'pool', 'transport', 'trials', 'all: median s', 'all: p90 s', 'half: median s', 'model 99.9 % s', 'model 50 % s', 'reached at model time', 'reached by cap', 'capped']];
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  for (const r of rows) {
    out.push([String(r.n), r.pool, r.transport, String(r.all.n), secs(r.all.median, r.capMs), secs(r.all.p90, r.capMs), secs(r.half.median, r.capMs), secs(r.modelMs), secs(r.modelHalfMs),
      pct(mean(r.trials.map((t) => t.atModel))), pct(mean(r.trials.map((t) => t.reached))), r.all.censored > 0 ? `${r.all.censored} at ${r.capMs / 1000} s` : '']);
  }
  return out;
}

function bandwidthCells(rows: BandwidthRow[]): Cells {
  const f = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
  const out: Cells = [['pool', 'N', 'phase', 's', 'UDP IP B/s/node', 'TCP IP B/s/node', 'total B/s/node', 'UDP payload B/s/node', 'shoal self-count UDP+TCP B/s/node']];
  for (const r of rows) {
    const total = r.udpIpBps !== undefined ? r.udpIpBps + r.tcpIpBps! : undefined;
    const self = r.selfUdpBps !== undefined ? `${f(r.selfUdpBps)} + ${f(r.selfTcpBps)}` : '-';
    out.push([r.pool, String(r.n), r.phase, r.seconds.toFixed(0), f(r.udpIpBps), f(r.tcpIpBps), f(total), f(r.udpPayloadBps), self]);
  }
  return out;
}

function printCells(title: string, cells: Cells): void {
  if (cells.length <= 1) return;
  console.log(`\n${title}`);
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  for (const row of cells) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

function mdTable(cells: Cells): string[] {
  if (cells.length <= 1) return ['(not run)'];
  return [`| ${cells[0]!.join(' | ')} |`, `|${cells[0]!.map(() => '---').join('|')}|`, ...cells.slice(1).map((r) => `| ${r.join(' | ')} |`)];
}

function markdown(r: Report): string {
  const serfBw = serfModelBytesPerSec();
  return [
    '# Gossip benchmark: shoal beside Serf and the Serf convergence model',
    '',
    ...Object.entries(r.meta).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '## (a) Failure detection',
    '',
    `A fresh pool of ${r.failure[0]?.n ?? '-'} per trial (Serf and shoal trials alternate), ${SETTLE_MS / 1000}-${SETTLE_MS / 1000 + 1} s after the pool formed one random member`,
    'is killed with SIGKILL (simulated: its transport is shut without a leave). "median/min/max" is the time until *every*',
    'survivor declared it failed (Serf: `EventMemberFailed` in each agent\'s log; shoal: the memberlist `leave` event with state',
    'dead), each observation timestamped when its line reached the benchmark. Both use memberlist\'s LAN defaults.',
    '',
    ...mdTable(failureCells(r.failure)),
    '',
    '## (b) Propagation of one write to every node',
    '',
    'shoal: `ReplicatedStore.put` on a random node -> `StoreReplicator` -> memberlist user message (gossip, piggybacked) ->',
    'merged by the others (and whatever the store\'s own anti-entropy repairs); timed from the origin\'s own store event to each',
    'node\'s store event. Serf: `serf event -coalesce=false`',
    'on a random agent, timed from the origin agent\'s "Received event" log line to every other agent\'s. "all" = 99.9 % of N for',
    'N < 1000. Model: Serf\'s simulator formula (anchors.md §4.2), fraction(x) = 1/(1+(N+1)e^(-fanout*0.5*x)), x in 200 ms rounds,',
    'fanout 3, rounded up to whole rounds. Trials that did not reach every node within the cap count as "> cap".',
    'Every node re-gossips an entry that was new to it (src/store/replicator.ts), as Serf does with user events.',
    '',
    ...mdTable(propagationCells(r.propagation)),
    '',
    ...r.propagation.filter((p) => p.loopDelay).map((p) => `- event-loop delay while ${p.pool} N=${p.n} ran: p99 ${p.loopDelay!.p99.toFixed(1)} ms, max ${p.loopDelay!.max.toFixed(1)} ms`),
    '',
    '## (c) Gossip bytes per second per node',
    '',
    'Each real pool runs in its own scratch network namespace; an nftables table there counts every packet leaving on the',
    'gossip port (UDP sport 7946, TCP dport/sport 7946) at the output hook, which on `lo` sees each packet once. Figures are',
    'whole IPv4 packets divided by N and the phase length; "UDP payload" subtracts 28 header bytes per datagram. For shoal the',
    'nodes\' own counters (Memberlist.stats: datagram and stream payload sent) are shown too. Phases: idle; writes = one write',
    `(shoal put / serf event, same payload) every ${CHURN_WRITE_EVERY_MS} ms on a random member; membership = a random member leaves`,
    `gracefully, ${CHURN_REJOIN_PAUSE_MS / 1000} s later rejoins under the same name, repeatedly. The Serf model's bandwidth bound is`,
    `${serfBw} B/s per node (${((serfBw * 8) / 1024).toFixed(1)} kbit/s as the simulator counts, 1 kbit = 1024 bit).`,
    '',
    ...mdTable(bandwidthCells(r.bandwidth)),
    '',
  ].join('\n');
}

// ---- main ----

function serfVersion(): string {
  const r = spawnSync('serf', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0]!.trim() : 'not installed';
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const tag = randomBytes(3).toString('hex');
  const serfNs = new ScratchNetns(`shgserf${tag}`);
  const shoalNs = new ScratchNetns(`shgshoal${tag}`);
  const pools: GossipPool[] = [];

  const cleanupSync = (): void => {
    for (const c of liveChildren) c.kill('SIGKILL');
    serfNs.remove();
    shoalNs.remove();
  };
  cleanUpOnExit(`stopping every agent and removing ${serfNs.name}, ${shoalNs.name}`, cleanupSync);

  const report: Report = {
    meta: {
      date: new Date().toISOString(),
      kernel: release(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      'load average at start': loadavg().map((x) => x.toFixed(2)).join(' '),
      serf: `${serfVersion()} (Debian serf 0.9.4, memberlist 0.2.2)`,
      'membership config': `memberlist LAN defaults: probe ${lan.probeIntervalMs} ms / timeout ${lan.probeTimeoutMs} ms, suspicion mult ${lan.suspicionMult} (max x${lan.suspicionMaxTimeoutMult}), gossip ${lan.gossipNodes} nodes / ${lan.gossipIntervalMs} ms, push-pull ${lan.pushPullIntervalMs / 1000} s, retransmit mult ${lan.retransmitMult}`,
      'simulated network': 'in-process SimNetwork, 1 ms one-way latency (+0.5 ms jitter in (b)), no loss',
      options: JSON.stringify({ ...o, parts: [...o.parts] }),
    },
    failure: [],
    propagation: [],
    bandwidth: [],
  };

  try {
    for (const ns of [serfNs, shoalNs]) {
      await ns.create();
      await installCounters(ns);
    }
    console.log(`gossip benchmark: namespaces ${serfNs.name}, ${shoalNs.name}\n`);

    if (o.parts.has('a')) report.failure = await partA(o, serfNs, shoalNs);

    const bReal = o.parts.has('b') || o.parts.has('b-real');
    const bSim = o.parts.has('b') || o.parts.has('b-sim');
    if (bReal || o.parts.has('c')) {
      const prefix = '127.0.200';
      const serf = new SerfPool(serfNs, prefix);
      const shoal = new ShoalProcessPool(shoalNs, prefix);
      pools.push(serf, shoal);
      await serf.start(o.nReal);
      await shoal.start(o.nReal);
      await sleep(SETTLE_MS);
      const shoalSelf: SelfCounter = () => shoal.selfCounted();
      if (o.parts.has('c')) {
        report.bandwidth.push(await idle(serf, serfNs, o.nReal, o.phaseMs));
        report.bandwidth.push(await idle(shoal, shoalNs, o.nReal, o.phaseMs, shoalSelf));
      }
      if (bReal) {
        report.propagation.push(await propagation(serf, 'loopback', o.nReal, o.trialsB, o.capBMs));
        report.propagation.push(await propagation(shoal, 'loopback', o.nReal, o.trialsB, o.capBMs));
      }
      if (o.parts.has('c')) {
        report.bandwidth.push(await churnWrites(serf, serfNs, o.nReal, o.phaseMs));
        report.bandwidth.push(await churnWrites(shoal, shoalNs, o.nReal, o.phaseMs, shoalSelf));
        report.bandwidth.push(await churnMembers(serf, serfNs, o.nReal, o.phaseMs));
        report.bandwidth.push(await churnMembers(shoal, shoalNs, o.nReal, o.phaseMs));
      }
      await serf.close();
      await shoal.close();
    }

    if (bSim) {
      for (const n of [o.nReal, ...o.nSim]) {
        report.propagation.push(await simPropagation(n, o));
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close().catch(() => {})));
    cleanupSync();
  }

  printCells(`(a) failure detection, pool of ${o.nA}, kill -9 -> every survivor says failed`, failureCells(report.failure));
  printCells('(b) one write reaching every node (model: Serf convergence simulator, 200 ms x fanout 3)', propagationCells(report.propagation));
  printCells('(c) gossip bytes per second per node', bandwidthCells(report.bandwidth));

  const outDir = join(projectRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'gossip.md'), markdown(report));
  writeFileSync(join(outDir, 'gossip.json'), `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  console.log(`\nreport: ${join(outDir, 'gossip.md')} (+ gossip.json)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exitCode = 1;
});
