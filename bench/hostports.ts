// Benchmark: what a published port costs per new connection, host mode against the routing mesh, in a
// 2-node lab (exec runtime). The same busybox httpd is reached from the lab's client namespace
//  - directly: listening in node1's own namespace (no NAT at all);
//  - host mode: node1:9201, DNATed in node1's namespace straight to the task on node1;
//  - routing mesh: node1:9200, through node1's ingress sandbox to the same kind of task on node1;
// each target in turn within every round (so load from elsewhere falls on all three alike), a new
// TCP connection per request. Prints connections/s (median over rounds), p99 latency and the ratio
// to direct; cleans up the lab however it ends. Nothing is written to disk but the lab's own state.
//
//   npm run build && node dist/bench/hostports.js [--rounds 7 --requests 300]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../src/lab/driver.js';
import { cleanUpOnExit } from './interrupt.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive whole number`);
  return v;
}

const ROUNDS = arg('rounds', 7);
const REQUESTS = arg('requests', 300);
const TARGETS = { direct: 9202, host: 9201, mesh: 9200 } as const;
const NODE1 = '192.168.56.101';

/** Run in the client namespace: REQUESTS sequential GETs, one new connection each; prints JSON {ms, lat[]}. */
const CLIENT = `
const http = require('node:http');
const [port, n] = process.argv.slice(1).map(Number);
const lat = [];
const t0 = process.hrtime.bigint();
(async () => {
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    await new Promise((ok, fail) => http.get({ host: '${NODE1}', port, path: '/x', agent: false }, (r) => { r.resume(); r.on('end', ok); }).on('error', fail));
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6, lat }));
})().catch((e) => { console.error(e.message); process.exit(1); });`;

function main(): void {
  const lab = new Lab('hpb');
  const www = mkdtempSync(join(tmpdir(), 'shoal-hpb-'));
  writeFileSync(join(www, 'x'), 'x\n');
  let direct: ReturnType<typeof spawnSync> | undefined;
  const cleanup = () => {
    spawnSync('ip', ['netns', 'pids', lab.netns('node1')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).forEach((pid) => {
      const cmd = spawnSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).stdout;
      if (cmd.includes(`-p\u0000${TARGETS.direct}`)) spawnSync('kill', [pid]);
    });
    lab.run('down');
    rmSync(www, { recursive: true, force: true });
  };
  cleanUpOnExit('removing the bench lab', cleanup);
  const up = lab.run('up', '--nodes', '2', '--runtime', 'exec', '--dns-upstream', 'none');
  if (up.status !== 0) throw new Error(`lab up failed: ${up.err}`);
  const httpd = ['host', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', www];
  for (const [name, publish] of [['mesh', `${TARGETS.mesh}:80`], ['hostmode', `published=${TARGETS.host},target=80,mode=host`]] as const) {
    const r = lab.shoal('node1', 'service', 'create', '-q', '--name', name, '--constraint', 'node.hostname==node1', '--publish', publish, ...httpd);
    if (r.status !== 0) throw new Error(`service create ${name}: ${r.err}`);
  }
  direct = spawnSync('sh', ['-c', `ip netns exec ${lab.netns('node1')} /bin/busybox httpd -p ${TARGETS.direct} -h ${www}`]);
  if (direct.status !== 0) throw new Error('could not start the direct httpd');
  const once = (port: number, n: number) => {
    const r = spawnSync('ip', ['netns', 'exec', lab.netns('client'), process.execPath, '-e', CLIENT, String(port), String(n)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`requests to ${port} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { ms: number; lat: number[] };
  };
  for (const port of Object.values(TARGETS)) for (let i = 0; ; i++) {
    try { once(port, 3); break; } catch (err) { if (i > 50) throw err; spawnSync('sleep', ['0.3']); }
  }
  const rates: Record<string, number[]> = { direct: [], host: [], mesh: [] };
  const lats: Record<string, number[]> = { direct: [], host: [], mesh: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, port] of Object.entries(TARGETS)) {
      const r = once(port, REQUESTS);
      rates[name]!.push((REQUESTS / r.ms) * 1000);
      lats[name]!.push(...r.lat);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!;
  const base = median(rates.direct!);
  console.log(`new connections from the client namespace to node1, ${ROUNDS} rounds x ${REQUESTS} sequential requests`);
  console.log('target        conn/s (median)  ratio to direct  p99 ms');
  for (const name of Object.keys(TARGETS)) {
    console.log(`${name.padEnd(14)}${median(rates[name]!).toFixed(0).padStart(15)}  ${(median(rates[name]!) / base).toFixed(2).padStart(15)}  ${p99(lats[name]!).toFixed(2).padStart(6)}`);
  }
}

main();
