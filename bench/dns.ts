// Benchmark: the embedded DNS server (src/dns) against dnsmasq, same machine, same run, same records
// and the same dnsperf query file, both listening on 127.0.0.11 inside a scratch namespace (made
// here, removed at the end, on error and on SIGINT/SIGTERM/SIGHUP, with every process started).
// Per round, servers in rotating order: an unthrottled dnsperf run (qps, latency percentiles from
// dnsperf -v) and one throttled to 20k qps (p99). Also the server's CPU time per query, which the
// load other processes put on this 2-core machine disturbs far less than qps. `naive` is the plain
// dgram + dns-packet server the embedded one replaced (the "before"); `floor` answers every query
// with one fixed record and no DNS logic at all (what Node's dgram alone costs; not a DNS server).
// Then (bench/dns-converge.ts) the time from `service scale` to every node's DNS answering the new
// set, in a 3-node lab. Writes bench/out/dns.md and bench/out/dns.json.
//
//   npm run build && npm run bench:dns [-- --rounds 3 --seconds 10 --clients 4 --servers embedded,dnsmasq,naive,floor --converge 5]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probe } from '../src/dns/client.js';
import { DnsServer } from '../src/dns/server.js';
import { createNetns, deleteNetns, Netns, netnsExists } from '../src/kernel/netns.js';
import { projectRoot } from '../src/util/paths.js';
import { benchRecords } from './dns-records.js';
import { scaleConvergence, type ConvergeResult } from './dns-converge.js';
import { cleanUpOnExit } from './interrupt.js';

type ServerKind = 'embedded' | 'dnsmasq' | 'naive' | 'floor';

interface Options {
  rounds: number;
  seconds: number;
  clients: number;
  throttle: number;
  services: number;
  tasks: number;
  servers: ServerKind[];
  /** Namespaces for the many-listeners measurement (0 = skip it). */
  listeners: number;
  /** Scale trials (up and down) for the convergence measurement in a lab (0 = skip it). */
  converge: number;
}

interface Server {
  kind: ServerKind;
  port: number;
  child: ChildProcess & { pid: number };
}

interface RunResult {
  server: ServerKind;
  round: number;
  throttled: boolean;
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Server CPU (user + system) per completed query, microseconds. */
  cpuUsPerQuery: number;
  responseCodes: string;
}

const ADDRESS = '127.0.0.11';
const PORTS: Record<ServerKind, number> = { dnsmasq: 5300, embedded: 5301, naive: 5302, floor: 5303 };
const CLK_TCK = 100;

function parseOptions(argv: string[]): Options {
  const get = (name: string, fallback: string): string => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1]! : fallback;
  };
  const int = (name: string, fallback: number): number => {
    const v = Number(get(name, String(fallback)));
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
    return v;
  };
  const servers = get('servers', 'embedded,dnsmasq,naive,floor').split(',') as ServerKind[];
  for (const s of servers) if (!(s in PORTS)) throw new Error(`unknown server ${s} (${Object.keys(PORTS).join(', ')})`);
  return {
    rounds: int('rounds', 3),
    seconds: int('seconds', 10),
    clients: int('clients', 4),
    throttle: int('throttle', 20000),
    services: int('services', 100),
    converge: Number(get('converge', '5')),
    tasks: int('tasks', 4),
    servers,
    listeners: Number(get('listeners', '200')),
  };
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
}

async function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  let text = '';
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${re}' from the server within ${timeoutMs} ms; got: ${text}`)), Math.max(0, deadline - Date.now()));
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = re.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stdout!.once('end', () => reject(new Error(`server output ended before '${re}': ${text}`)));
  });
}

function digIn(netns: string, port: number, name: string): string {
  return execFileSync('ip', ['netns', 'exec', netns, 'dig', `@${ADDRESS}`, '-p', String(port), '+short', '+tries=1', '+time=1', name, 'A'], { encoding: 'utf8' }).trim();
}

async function waitAnswering(netns: string, port: number, name: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const out = digIn(netns, port, name);
      if (out !== '') return out;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`nothing answers ${name} on ${ADDRESS}:${port}`);
}

async function startServer(kind: ServerKind, netns: string, dir: string, opts: Options): Promise<Server> {
  const port = PORTS[kind];
  let child: ChildProcess;
  if (kind === 'dnsmasq') {
    child = spawn('ip', ['netns', 'exec', netns, 'dnsmasq', '-k', '-C', '/dev/null', '--pid-file=', '--no-resolv', '--no-hosts',
      `--addn-hosts=${join(dir, 'hosts')}`, `--port=${port}`, `--listen-address=${ADDRESS}`, '--bind-interfaces', '--local-ttl=5', '--user=root'], { stdio: 'ignore' });
  } else {
    child = spawn(process.execPath, [join(projectRoot, 'dist', 'bench', 'dns-serve.js'), '--netns', netns, '--address', ADDRESS, '--port', String(port),
      '--services', String(opts.services), '--tasks', String(opts.tasks), '--mode', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(child, /ready (\d+)/, 10_000);
  }
  if (child.pid === undefined) throw new Error(`could not start ${kind}`);
  const server = { kind, port, child: child as ChildProcess & { pid: number } };
  const answer = await waitAnswering(netns, port, 'tasks.svc-0');
  if (kind !== 'floor' && answer.split('\n').length !== opts.tasks) throw new Error(`${kind} answered tasks.svc-0 with ${JSON.stringify(answer)}, expected ${opts.tasks} addresses`);
  return server;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at]!;
}

/** dnsperf -v output: the summary figures and every query's latency ("> NOERROR name A 0.000123"). */
function parseDnsperf(text: string): Omit<RunResult, 'server' | 'round' | 'throttled' | 'cpuUsPerQuery'> {
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);
  const latencies: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('> ')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) latencies.push(v * 1000);
  }
  const sorted = Float64Array.from(latencies).sort();
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    responseCodes: /Response codes:\s+(.*)/.exec(text)?.[1]?.trim() ?? '',
  };
}

async function dnsperf(netns: string, server: Server, queryFile: string, outFile: string, opts: Options, throttled: boolean): Promise<Omit<RunResult, 'server' | 'round' | 'throttled' | 'cpuUsPerQuery'>> {
  const args = ['netns', 'exec', netns, 'dnsperf', '-s', ADDRESS, '-p', String(server.port), '-d', queryFile, '-l', String(opts.seconds), '-c', String(opts.clients), '-v'];
  if (throttled) args.push('-Q', String(opts.throttle));
  // dnsperf writes its per-query lines straight into the file: passing them through this process
  // would put it on the machine's two cores during the measurement, competing with server and client.
  const out = openSync(outFile, 'w');
  const child = spawn('ip', args, { stdio: ['ignore', out, 'pipe'] });
  closeSync(out);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`dnsperf exited ${code}: ${stderr}`);
  return parseDnsperf(readFileSync(outFile, 'utf8'));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface Summary {
  server: ServerKind;
  qpsMedian: number;
  qpsBest: number;
  p50: number;
  p99: number;
  cpuUsPerQuery: number;
  throttledQps: number;
  throttledP50: number;
  throttledP99: number;
  throttledP999: number;
  throttledLost: number;
}

function summarize(kind: ServerKind, runs: RunResult[]): Summary {
  const full = runs.filter((r) => r.server === kind && !r.throttled);
  const slow = runs.filter((r) => r.server === kind && r.throttled);
  return {
    server: kind,
    qpsMedian: median(full.map((r) => r.qps)),
    qpsBest: Math.max(...full.map((r) => r.qps)),
    p50: median(full.map((r) => r.p50)),
    p99: median(full.map((r) => r.p99)),
    cpuUsPerQuery: median(full.map((r) => r.cpuUsPerQuery)),
    throttledQps: median(slow.map((r) => r.qps)),
    throttledP50: median(slow.map((r) => r.p50)),
    throttledP99: median(slow.map((r) => r.p99)),
    throttledP999: median(slow.map((r) => r.p999)),
    throttledLost: slow.reduce((n, r) => n + r.lost, 0),
  };
}

const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : '-');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '-');
const f3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '-');

function table(summaries: Summary[], opts: Options): string[] {
  const head = ['server', 'qps (median)', 'qps (best)', 'p50 ms', 'p99 ms', 'CPU µs/query', `qps @${opts.throttle / 1000}k`, 'p50 ms', 'p99 ms', 'p99.9 ms', 'lost'];
  const rows = summaries.map((s) => [s.server, f0(s.qpsMedian), f0(s.qpsBest), f3(s.p50), f3(s.p99), f2(s.cpuUsPerQuery), f0(s.throttledQps), f3(s.throttledP50), f3(s.throttledP99), f3(s.throttledP999), String(s.throttledLost)]);
  return [head, ...rows].map((r) => r.join('\t'));
}

function printTable(lines: string[]): void {
  const cells = lines.map((l) => l.split('\t'));
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  for (const row of cells) console.log(row.map((cell, c) => (c >= 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  '));
}

function markdown(lines: string[], runs: RunResult[], meta: Record<string, string>): string {
  const cells = lines.map((l) => l.split('\t'));
  return [
    '# Embedded DNS benchmark',
    '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`),
    '',
    'Every server listens on 127.0.0.11 (its own port) in one scratch namespace and is driven by dnsperf in that namespace',
    'with the same query file (A queries for service names, tasks.<service> and container names; all exist in every server;',
    '`floor` answers anything with one fixed record and does no DNS work: the cost of Node\'s dgram alone).',
    'Unthrottled runs give qps and latency percentiles (dnsperf -v, per query; with 100 queries outstanding per',
    'dnsperf thread these are queueing delays); throttled runs (-Q) give latency at a fixed rate. Medians over rounds;',
    'CPU µs/query is the server process\'s user+system time over completed queries. dnsperf shares the 2 cores.',
    '',
    `| ${cells[0]!.join(' | ')} |`,
    `|${cells[0]!.map((_, i) => (i >= 1 ? '---:' : '---')).join('|')}|`,
    ...cells.slice(1).map((row) => `| ${row.join(' | ')} |`),
    '',
    '## Every run',
    '',
    '| round | server | throttled | qps | p50 ms | p99 ms | p99.9 ms | max ms | lost | CPU µs/query | codes |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...runs.map((r) => `| ${r.round} | ${r.server} | ${r.throttled ? 'yes' : 'no'} | ${f0(r.qps)} | ${f3(r.p50)} | ${f3(r.p99)} | ${f3(r.p999)} | ${f3(r.max)} | ${r.lost} | ${f2(r.cpuUsPerQuery)} | ${r.responseCodes} |`),
    '',
  ].join('\n');
}

interface ListenerScale {
  listeners: number;
  openMs: number;
  /** Resident memory the listeners added, per listener. */
  rssKbPerListener: number;
  /** One query through each listener, from inside its namespace, all at once. */
  firstAnswersMs: number;
  answered: number;
  closeMs: number;
}

/**
 * One DnsServer in this process with a listener on 127.0.0.11:53 in each of `count` fresh namespaces
 * (as the controller will have one per task): time to open them, memory, one query through each.
 */
async function listenerScale(count: number, prefix: string, made: string[]): Promise<ListenerScale> {
  const names = Array.from({ length: count }, (_, i) => `${prefix}l${i}`);
  for (const name of names) {
    createNetns(name);
    made.push(name);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }
  const handles = names.map((name) => Netns.open({ name }));
  const server = new DnsServer();
  server.zones.set({ id: 'n', name: 'net', names: new Map([['web', { a: ['10.0.0.1'] }]]), ptr: new Map() });
  try {
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const listeners = [];
    for (const ns of handles) listeners.push(await server.listen({ netns: ns, address: ADDRESS, port: 53, view: ['n'] }));
    const openMs = performance.now() - t0;
    globalThis.gc?.();
    const rssKbPerListener = (process.memoryUsage().rss - rss0) / 1024 / count;
    const t1 = performance.now();
    const replies = await Promise.all(handles.map((ns) => probe({ address: ADDRESS, port: 53, netns: ns }, 'web', 'A', { timeoutMs: 5000 }).catch(() => undefined)));
    const firstAnswersMs = performance.now() - t1;
    const answered = replies.filter((r) => r?.packet.answers?.length === 1).length;
    const t2 = performance.now();
    await Promise.all(listeners.map((l) => l.close()));
    return { listeners: count, openMs, rssKbPerListener, firstAnswersMs, answered, closeMs: performance.now() - t2 };
  } finally {
    await server.close();
    for (const h of handles) h.close();
    for (const name of names) if (netnsExists(name)) deleteNetns(name);
  }
}

function version(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[0] ?? 'unknown';
  } catch (err) {
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return re.exec(out)?.[0] ?? 'unknown';
  }
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const netns = `shbdns${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-dns-'));
  const servers: Server[] = [];
  const extraNetns: string[] = [];

  const cleanupSync = (): void => {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    for (const name of [netns, ...extraNetns]) if (netnsExists(name)) deleteNetns(name);
    rmSync(dir, { recursive: true, force: true });
  };
  cleanUpOnExit(`stopping servers, removing namespace ${netns}`, cleanupSync);

  try {
    const records = benchRecords(opts.services, opts.tasks);
    writeFileSync(join(dir, 'hosts'), records.hostsFile);
    const queryFile = join(dir, 'queries.txt');
    writeFileSync(queryFile, records.queryFile);
    createNetns(netns);
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    for (const kind of opts.servers) servers.push(await startServer(kind, netns, dir, opts));

    const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`dns benchmark in namespace ${netns}: ${opts.rounds} rounds x ${opts.servers.join(', ')}, ${opts.seconds} s per run, ${opts.clients} dnsperf clients, ${records.queryCount} distinct queries (load ${loadBefore})\n`);
    const runs: RunResult[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!);
      for (const throttled of [false, true]) {
        for (const s of order) {
          const t0 = cpuTicks(s.child.pid);
          const r = await dnsperf(netns, s, queryFile, join(dir, 'dnsperf.out'), opts, throttled);
          const cpuUsPerQuery = ((cpuTicks(s.child.pid) - t0) * (1e6 / CLK_TCK)) / r.completed;
          runs.push({ server: s.kind, round, throttled, cpuUsPerQuery, ...r });
          console.log(`round ${round} ${s.kind.padEnd(8)} ${throttled ? `-Q ${opts.throttle}` : 'full    '}  ${f0(r.qps).padStart(6)} qps  p50 ${f3(r.p50)} ms  p99 ${f3(r.p99)} ms  lost ${r.lost}  cpu ${f2(cpuUsPerQuery)} µs/q`);
        }
      }
    }
    const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
    const serverStats: Record<string, string> = {};
    for (const s of servers) {
      if (s.kind === 'dnsmasq') continue;
      const statsLine = waitForLine(s.child, /^\{.*\}$/m, 5000).catch(() => undefined);
      await stopServer(s);
      serverStats[s.kind] = (await statsLine)?.[0] ?? '';
    }

    const summaries = opts.servers.map((k) => summarize(k, runs));
    console.log('');
    const lines = table(summaries, opts);
    printTable(lines);

    let scale: ListenerScale | undefined;
    let scaleLine = '';
    if (opts.listeners > 0) {
      scale = await listenerScale(opts.listeners, netns, extraNetns);
      scaleLine = `Listeners: ${scale.listeners} namespaces with a listener each (127.0.0.11:53, UDP+TCP) on one server: opened in ${f0(scale.openMs)} ms (${f2(scale.openMs / scale.listeners)} ms each), ${f0(scale.rssKbPerListener)} KiB RSS each; one query through every one at once: ${scale.answered}/${scale.listeners} answered in ${f0(scale.firstAnswersMs)} ms; closed in ${f0(scale.closeMs)} ms.`;
      console.log(`\n${scaleLine}`);
    }

    const now = new Date();
    const meta: Record<string, string> = {
      date: now.toISOString(),
      kernel: release(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      dnsperf: version('dnsperf', ['-h'], /Version [\d.]+/),
      dnsmasq: version('dnsmasq', ['--version'], /version [\d.]+/),
      'load average (1, 5, 15 min) before / after': `${loadBefore} / ${loadAfter}`,
      records: `${opts.services} services x ${opts.tasks} tasks (${records.zone.names.size} names), ${records.queryCount} distinct queries`,
      runs: `${opts.rounds} rounds, ${opts.seconds} s each, dnsperf -c ${opts.clients}, throttled at -Q ${opts.throttle}`,
      ...Object.fromEntries(Object.entries(serverStats).map(([k, v]) => [`${k} server counters`, `\`${v}\``])),
    };
    const outDir = join(projectRoot, 'bench', 'out');
    mkdirSync(outDir, { recursive: true });
    let converge: ConvergeResult | undefined;
    let convergeLine = '';
    if (opts.converge > 0) {
      converge = await scaleConvergence(opts.converge, (s) => console.log(s));
      convergeLine = `Scale convergence (3-node lab, exec runtime, ${opts.converge} trials each way): from the \`service scale\` request to every node's own resolver answering tasks.web with exactly the running tasks' addresses: up 2 -> 5 median ${f0(converge.medianUpMs)} ms, down 5 -> 2 median ${f0(converge.medianDownMs)} ms, worst ${f0(converge.maxMs)} ms (scaling up includes starting the tasks).`;
      console.log(`\n${convergeLine}`);
    }
    writeFileSync(join(outDir, 'dns.md'), markdown(lines, runs, meta) + (scaleLine ? `\n${scaleLine}\n` : '') + (convergeLine ? `\n${convergeLine}\n` : ''));
    writeFileSync(join(outDir, 'dns.json'), JSON.stringify({ meta, options: opts, summaries, runs, listenerScale: scale, scaleConvergence: converge }, null, 2) + '\n');
    console.log(`\nreport: ${join(outDir, 'dns.md')} (and dns.json)`);
  } finally {
    await Promise.all(servers.map((s) => stopServer(s)));
    cleanupSync();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
