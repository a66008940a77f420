// Benchmark: what the control plane costs a user, in a 3-node netns lab with three managers (exec
// runtime), for this build and, with --compare ROOT, for another built checkout in the same run
// (the state on gossip tables before etcd, say), alternating so that load from elsewhere falls on
// both alike. Per round:
//  - service create to converged: `shoal service create` of 3 replicas on an overlay, which returns
//    once every task runs (Docker's progress display waits for that);
//  - scale to DNS: `service scale N=6 -d`, then until every node's resolver answers tasks.N with 6
//    addresses;
// and once per lab, the resident memory (VmRSS) of each manager's agent and of its etcd member.
// Writes bench/out/control-plane.md and prints it.
//
//   npm run build && node dist/bench/control-plane.js [--rounds 5] [--compare /path/to/other/checkout]
import { readFileSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Lab } from '../src/lab/driver.js';
import { projectRoot } from '../src/util/paths.js';
import { cleanUpOnExit } from './interrupt.js';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ROUNDS = Number(option('rounds') ?? 5);
const COMPARE = option('compare');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive whole number');
if (COMPARE && !existsSync(join(COMPARE, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`--compare ${COMPARE}: no build there (run npm run build in it)`);

const NODES = ['node1', 'node2', 'node3'];
const SLEEPER = ['host', '/bin/busybox', 'sleep', '100000'];

interface Build {
  name: string;
  lab: Lab;
  createMs: number[];
  dnsMs: number[];
  rss: { node: string; agentMiB: number; etcdMiB?: number }[];
}

function ms(from: bigint): number {
  return Number(process.hrtime.bigint() - from) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function rssMiB(pid: string | undefined): number | undefined {
  if (!pid) return undefined;
  const m = /VmRSS:\s+(\d+) kB/.exec(spawnSync('cat', [`/proc/${pid.trim()}/status`], { encoding: 'utf8' }).stdout);
  return m ? Number(m[1]) / 1024 : undefined;
}

function check(r: { status: number | null; err: string }, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.err}`);
}

function setUp(b: Build): void {
  check(b.lab.run('up', '--nodes', '3', '--runtime', 'exec', '--dns-upstream', 'none'), `${b.name}: lab up`);
  check(b.lab.shoal('node1', 'node', 'promote', 'node2', 'node3'), `${b.name}: promote`);
  // Until every manager answers (a promoted node catches up before it votes).
  for (const deadline = Date.now() + 90_000; ; ) {
    if (NODES.every((n) => b.lab.shoal(n, 'node', 'ls').status === 0) && /Reachable[\s\S]*Reachable/.test(b.lab.shoal('node1', 'node', 'ls').out)) break;
    if (Date.now() > deadline) throw new Error(`${b.name}: the three managers did not settle`);
    spawnSync('sleep', ['1']);
  }
  check(b.lab.shoal('node1', 'network', 'create', '-d', 'overlay', 'benchnet'), `${b.name}: network create`);
}

function round(b: Build, i: number): void {
  const name = `b${i}`;
  const t0 = process.hrtime.bigint();
  check(b.lab.shoal(NODES[i % 3]!, 'service', 'create', '--name', name, '--replicas', '3', '--network', 'benchnet', ...SLEEPER), `${b.name}: service create`);
  b.createMs.push(ms(t0));
  const t1 = process.hrtime.bigint();
  check(b.lab.shoal(NODES[(i + 1) % 3]!, 'service', 'scale', '-d', `${name}=6`), `${b.name}: scale`);
  for (const deadline = Date.now() + 60_000; ; ) {
    const answers = NODES.map((n) => b.lab.exec(n, 'dig', '+short', '+tries=1', '+time=1', '@127.0.0.11', `tasks.${name}`).out.split('\n').filter(Boolean).length);
    if (answers.every((a) => a === 6)) break;
    if (Date.now() > deadline) throw new Error(`${b.name}: tasks.${name} did not reach 6 answers on every node (${answers.join(', ')})`);
  }
  b.dnsMs.push(ms(t1));
  check(b.lab.shoal('node1', 'service', 'rm', name), `${b.name}: service rm`);
}

function measureRss(b: Build): void {
  for (const n of NODES) {
    const agent = spawnSync('cat', [`/run/shoal/${b.lab.netns(n)}/agent.pid`], { encoding: 'utf8' }).stdout;
    const etcdPidFile = `/var/lib/shoal/${b.lab.netns(n)}/etcd/data.pid`;
    const etcd = existsSync(etcdPidFile) ? readFileSync(etcdPidFile, 'utf8') : undefined;
    const agentMiB = rssMiB(agent);
    if (agentMiB === undefined) throw new Error(`${b.name}: no agent process for ${n}`);
    const etcdMiB = rssMiB(etcd);
    b.rss.push({ node: n, agentMiB, ...(etcdMiB !== undefined ? { etcdMiB } : {}) });
  }
}

function report(builds: Build[]): string {
  const f = (x: number) => x.toFixed(0);
  const rows = builds.map((b) => {
    const rss = b.rss.map((r) => r.agentMiB + (r.etcdMiB ?? 0));
    const etcd = b.rss.some((r) => r.etcdMiB !== undefined) ? ` (etcd ${b.rss.map((r) => (r.etcdMiB ?? 0).toFixed(0)).join('/')})` : '';
    return `| ${b.name} | ${f(median(b.createMs))} (${b.createMs.map(f).join(', ')}) | ${f(median(b.dnsMs))} (${b.dnsMs.map(f).join(', ')}) | ${b.rss.map((r) => r.agentMiB.toFixed(0)).join('/')} | ${rss.map((x) => x.toFixed(0)).join('/')}${etcd} |`;
  });
  return [
    `# Control plane: create, scale and memory (${new Date().toISOString()}, ${ROUNDS} rounds, 3 managers, exec runtime)`,
    '',
    '| build | service create → converged, ms: median (all) | scale 3→6 → every node\'s DNS, ms: median (all) | agent RSS per manager, MiB | agent + etcd per manager, MiB |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function main(): void {
  const builds: Build[] = [{ name: `this build (${projectRoot})`, lab: new Lab('cpb'), createMs: [], dnsMs: [], rss: [] }];
  if (COMPARE) builds.push({ name: `compare (${COMPARE})`, lab: new Lab('cpc', COMPARE), createMs: [], dnsMs: [], rss: [] });
  cleanUpOnExit('removing the bench labs', () => { for (const b of builds) b.lab.run('down'); });
  for (const b of builds) setUp(b);
  for (let i = 0; i < ROUNDS; i++) for (const b of builds) round(b, i);
  for (const b of builds) measureRss(b);
  const text = report(builds);
  const out = join(projectRoot, 'bench', 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'control-plane.md'), text);
  console.log(text);
}

main();
