// Benchmark: what the overlay costs and how fast it converges, in a 3-node lab (exec runtime):
//  1. TCP throughput task-to-task across nodes over VXLAN, against the same two node namespaces
//     talking directly on the underlay, in the same run (bench/net-peer.ts on both paths);
//  2. 64-byte TCP round trips on both paths (p50 / p99);
//     both also through the service VIP (task to VIP, DNAT to the same remote task) and through the
//     routing mesh (the client to node1's published port, carried to the task on node2);
//  3. the time from a task reaching `running` to being reachable (ping) from tasks on every other node.
// Cleans up the lab at the end, on error and on SIGINT/SIGTERM. Writes bench/out/overlay.{md,json}.
//
//   npm run build && npm run bench:overlay [-- --trials 5 --mbytes 256 --rounds 2000 --reach 10]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/cli/client.js';
import { Lab } from '../src/lab/driver.js';
import { projectRoot } from '../src/util/paths.js';
import { cleanUpOnExit } from './interrupt.js';

interface TaskJson { ID: string; NodeName: string; DesiredState: string; Status: { State: string; Timestamp: string; ContainerStatus?: { PID: number } }; NetworksAttachments: { Network?: { ID: string }; Addresses: string[] }[] }

const peer = join(projectRoot, 'dist', 'bench', 'net-peer.js');
const LABELS = {
  overlay: 'overlay: task on node1 to task on node2 (VXLAN)',
  task: 'task on node1 to the target task on node2, by its address',
  vip: 'the same through the target service\'s VIP (DNAT in the task)',
  mesh: 'routing mesh: client to node1:9200, task on node2',
  underlay: 'underlay: node1 to node2 directly',
};
const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const median = (xs: number[]) => quantile(xs, 0.5);

/** Runs a command to completion, returning stdout. */
function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(p);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
    });
  });
}

/** Starts a long-running command and resolves once it prints `ready`. */
function startServer(cmd: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(p);
    p.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(p); });
    p.on('exit', (code) => reject(new Error(`${cmd} exited ${code} before it was ready`)));
  });
}

const inTask = (pid: number) => ['-t', String(pid), '-n'];
const inNode = (lab: Lab, node: string) => [`--net=/run/netns/${lab.netns(node)}`];

async function throughput(ns: string[], host: string, port: number, bytes: number): Promise<number> {
  const r = JSON.parse(await run('nsenter', [...ns, process.execPath, peer, 'stream', host, String(port), String(bytes)])) as { bytes: number; ms: number };
  return (r.bytes * 8) / (r.ms * 1e6); // Gbit/s
}

async function roundTrips(ns: string[], host: string, port: number, rounds: number): Promise<number[]> {
  return (JSON.parse(await run('nsenter', [...ns, process.execPath, peer, 'rr', host, String(port), String(rounds)])) as { us: number[] }).us;
}

async function waitFor(what: string, fn: () => Promise<unknown>, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      return void (await fn());
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A service's running tasks as `shoal service ps` shows them. */
function tasksOf(lab: Lab, svc: string): TaskJson[] {
  return (lab.json<TaskJson[]>('node1', 'service', 'ps', svc, '--format', 'json') ?? []).filter((x) => x.DesiredState === 'running');
}

/**
 * First reply time (epoch ms) of pings every 10 ms from a task's namespace to ip, or undefined within
 * timeoutS. The pinging starts before the target is plumbed, so early echoes fail (and ARP gives up
 * for a while); ping is kept going until the first reply rather than stopping at the first error.
 */
function firstReply(pid: number, ip: string, timeoutS: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [...inTask(pid), 'ping', '-D', '-n', '-i', '0.01', '-w', String(timeoutS), ip], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(p);
    let out = '';
    let found: number | undefined;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\[(\d+\.\d+)\] \d+ bytes from/.exec(out);
      if (m && found === undefined) {
        found = Number(m[1]) * 1000;
        p.kill('SIGKILL');
      }
    });
    p.on('exit', () => { children.delete(p); resolve(found); });
  });
}

/** The agent's API on node1, asked directly (a `shoal` process per poll would cost more than what is measured). */
async function tasksViaApi(api: ApiClient, svc: string): Promise<TaskJson[]> {
  return (await api.get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [svc], 'desired-state': ['running'] }))}`)).body;
}

async function reachability(api: ApiClient, probes: TaskJson[], i: number): Promise<{ fromRunning: number; fromCreate: number }> {
  const name = `reach${i}`;
  const created = Date.now();
  const { ID } = (await api.request<{ ID: string }>('POST', '/services/create', { Name: name, TaskTemplate: { ContainerSpec: { Image: 'host', Command: ['/bin/busybox', 'sleep', '1000000'] }, Placement: { Constraints: ['node.hostname==node3'] }, Networks: [{ Target: 'benchnet' }] }, Mode: { Replicated: { Replicas: 1 } } })).body;
  let target: TaskJson | undefined;
  for (let k = 0; k < 1000 && !target?.NetworksAttachments[0]; k++) {
    target = (await tasksViaApi(api, ID))[0];
    if (!target?.NetworksAttachments[0]) await new Promise((r) => setTimeout(r, 5));
  }
  const ip = target!.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;
  // Pinging starts as soon as the task has its address: before its node has started or plumbed it.
  const replies = await Promise.all(probes.map((p) => firstReply(p.Status.ContainerStatus!.PID, ip, 20)));
  if (replies.some((r) => r === undefined)) throw new Error(`${name} (${ip}) was not reachable from every node within 20 s`);
  const running = (await tasksViaApi(api, ID))[0]!;
  const reached = Math.max(...(replies as number[]));
  await api.request('DELETE', `/services/${ID}`);
  return { fromRunning: reached - Date.parse(running.Status.Timestamp), fromCreate: reached - created };
}

async function main(): Promise<void> {
  const trials = arg('trials', 5);
  const bytes = arg('mbytes', 256) * 1024 * 1024;
  const rounds = arg('rounds', 2000);
  const reachTrials = arg('reach', 10);
  const lab = new Lab('bo');
  cleanups.push(() => { lab.run('down'); });
  console.log('overlay bench: bringing up a 3-node lab (exec runtime)');
  const up = lab.run('up', '--nodes', '3', '--runtime', 'exec', '--dns-upstream', 'none');
  if (up.status !== 0) throw new Error(`lab up failed: ${up.err}`);
  lab.shoal('node1', 'network', 'create', 'benchnet');
  const holders = lab.shoal('node1', 'service', 'create', '-q', '--name', 'peer', '--mode', 'global', '--network', 'benchnet', 'host', '/bin/busybox', 'sleep', '1000000');
  if (holders.status !== 0) throw new Error(`service create failed: ${holders.err}`);
  const tasks = tasksOf(lab, 'peer').sort((a, b) => a.NodeName.localeCompare(b.NodeName));
  const [t1, t2] = tasks as [TaskJson, TaskJson];
  const ip2 = t2.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!;

  await startServer('nsenter', [...inTask(t2.Status.ContainerStatus!.PID), process.execPath, peer, 'serve', '9100']);
  await startServer('nsenter', [...inNode(lab, 'node2'), process.execPath, peer, 'serve', '9101']);
  // One task on node2 behind a VIP and a published port: the same program, as the task itself.
  const target = lab.shoal('node1', 'service', 'create', '-q', '--name', 'target', '--constraint', 'node.hostname==node2', '--network', 'benchnet', '--publish', '9200:9102', 'host', process.execPath, peer, 'serve', '9102');
  if (target.status !== 0) throw new Error(`service create target failed: ${target.err}`);
  const benchnet = lab.json<{ Id: string }[]>('node1', 'network', 'inspect', 'benchnet')![0]!.Id;
  const vip = lab.json<{ Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[]>('node1', 'service', 'inspect', 'target')![0]!.Endpoint.VirtualIPs.find((v) => v.NetworkID === benchnet)!.Addr.split('/')[0]!;
  const targetIp = tasksOf(lab, 'target')[0]!.NetworksAttachments.find((a) => a.Network?.ID === benchnet)!.Addresses[0]!.split('/')[0]!;
  const overlayNs = inTask(t1.Status.ContainerStatus!.PID);
  const underlayNs = inNode(lab, 'node1');
  const clientNs = inNode(lab, 'client');
  await waitFor('the VIP and the routing mesh to lead to the target task', async () => {
    await roundTrips(overlayNs, vip, 9102, 1);
    await roundTrips(clientNs, '192.168.56.101', 9200, 1);
  });
  const paths: Record<keyof typeof LABELS, { ns: string[]; host: string; port: number }> = {
    overlay: { ns: overlayNs, host: ip2, port: 9100 },
    task: { ns: overlayNs, host: targetIp, port: 9102 },
    vip: { ns: overlayNs, host: vip, port: 9102 },
    mesh: { ns: clientNs, host: '192.168.56.101', port: 9200 },
    underlay: { ns: underlayNs, host: '192.168.56.102', port: 9101 },
  };
  type Path = keyof typeof paths;
  const names = Object.keys(paths) as Path[];

  console.log(`overlay bench: throughput, ${trials} × ${bytes >> 20} MiB per path, alternating`);
  const tput = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Path, number[]>;
  for (let i = 0; i < trials; i++) for (const n of names) tput[n].push(await throughput(paths[n].ns, paths[n].host, paths[n].port, bytes));
  // In blocks of 200, the paths taking turns, so that a busy moment of the machine falls on all of them alike.
  console.log(`overlay bench: ${rounds} round trips per path, alternating in blocks of 200`);
  const rtt = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Path, number[]>;
  for (let done = 0; done < rounds; done += 200) for (const n of names) rtt[n].push(...(await roundTrips(paths[n].ns, paths[n].host, paths[n].port, Math.min(200, rounds - done))));

  console.log(`overlay bench: reachability, ${reachTrials} tasks`);
  const probes = tasks.filter((x) => x.NodeName !== 'node3');
  const reach: { fromRunning: number; fromCreate: number }[] = [];
  const api = new ApiClient(`/run/shoal/${lab.netns('node1')}/shoal.sock`);
  for (let i = 0; i < reachTrials; i++) reach.push(await reachability(api, probes, i));

  const result = {
    date: new Date().toISOString(),
    machine: { kernel: release(), cpus: cpus().length, node: process.version },
    throughputGbps: Object.fromEntries(names.map((n) => [n, { trials: tput[n], median: median(tput[n]), ratioToUnderlay: median(tput[n]) / median(tput.underlay) }])),
    rttUs: Object.fromEntries(names.map((n) => [n, { p50: quantile(rtt[n], 0.5), p99: quantile(rtt[n], 0.99), ratioP50ToUnderlay: quantile(rtt[n], 0.5) / quantile(rtt.underlay, 0.5) }])),
    reachMs: { fromRunning: reach.map((r) => r.fromRunning), fromCreate: reach.map((r) => r.fromCreate), medianFromRunning: median(reach.map((r) => r.fromRunning)), maxFromRunning: Math.max(...reach.map((r) => r.fromRunning)), medianFromCreate: median(reach.map((r) => r.fromCreate)) },
  };
  const f = (n: number, d = 2) => n.toFixed(d);
  const md = [
    '# bench/overlay', '', `${result.date}, kernel ${result.machine.kernel}, ${result.machine.cpus} CPUs, Node ${result.machine.node}. A 3-node netns lab, exec runtime; the same two node namespaces on both paths.`, '',
    '| path | TCP throughput, median of ' + trials + ' × ' + (bytes >> 20) + ' MiB | / underlay | 64-byte round trip p50 | p99 | p50 / underlay |', '|---|---:|---:|---:|---:|---:|',
    ...names.map((n) => `| ${LABELS[n]} | ${f(result.throughputGbps[n]!.median)} Gbit/s | ${f(result.throughputGbps[n]!.ratioToUnderlay)} | ${f(result.rttUs[n]!.p50, 0)} µs | ${f(result.rttUs[n]!.p99, 0)} µs | ${f(result.rttUs[n]!.ratioP50ToUnderlay)} |`),
    '', `Reachability (${reachTrials} tasks on node3, pinged from tasks on node1 and node2 every 10 ms):`, '',
    `- from the task's \`running\` status (written once it is plumbed and its endpoint is in the table) to reachable from every node: median ${f(result.reachMs.medianFromRunning, 0)} ms, max ${f(result.reachMs.maxFromRunning, 0)} ms`,
    `- from \`service create\` to reachable from every node: median ${f(result.reachMs.medianFromCreate, 0)} ms`,
    '',
  ].join('\n');
  const outDir = join(projectRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'overlay.md'), md);
  writeFileSync(join(outDir, 'overlay.json'), JSON.stringify(result, null, 2));
  console.log('\n' + md);
  console.log(`written: bench/out/overlay.md and overlay.json`);
}

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const fn of cleanups.splice(0).reverse()) fn();
}

cleanUpOnExit('stopping the bench processes and the lab', cleanup);
main().then(cleanup, (err: unknown) => { cleanup(); console.error(`overlay bench failed: ${(err as Error).message}`); process.exit(1); });
