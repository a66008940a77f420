// For bench/dns: the time from `service scale` to every node's DNS answering the new set of task
// addresses, in a 3-node lab (exec runtime). Each node's own resolver (its operator listener at
// 127.0.0.11:53) is asked from inside that node's namespace every 10 ms; the clock starts when the
// scale request is sent and stops when all three answer exactly the addresses of the service's
// running tasks. Scaling up includes starting the new tasks; scaling down includes stopping them.
import { ApiClient } from '../src/cli/client.js';
import { probe } from '../src/dns/client.js';
import { Netns } from '../src/kernel/netns.js';
import { Lab } from '../src/lab/driver.js';

interface TaskJson { DesiredState: string; Status: { State: string }; NetworksAttachments: { Addresses: string[] }[] }
interface ServiceJson { ID: string; Version: { Index: number }; Spec: Record<string, unknown> }

export interface ConvergeResult {
  trials: { direction: 'up' | 'down'; replicas: number; ms: number }[];
  medianUpMs: number;
  medianDownMs: number;
  maxMs: number;
}

const NODES = ['node1', 'node2', 'node3'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function runningAddresses(api: ApiClient, service: string): Promise<string[]> {
  const tasks = (await api.get<TaskJson[]>(`/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }))}`)).body;
  return tasks.filter((t) => t.Status.State === 'running').map((t) => t.NetworksAttachments[0]!.Addresses[0]!.split('/')[0]!).sort();
}

async function answer(ns: Netns, name: string): Promise<string[]> {
  try {
    const r = await probe({ address: '127.0.0.11', port: 53, netns: ns }, name, 'A', { timeoutMs: 200 });
    return (r.packet.answers ?? []).filter((a) => a.type === 'A').map((a) => String((a as { data: unknown }).data)).sort();
  } catch {
    return [];
  }
}

async function scaleOnce(api: ApiClient, svcName: string, replicas: number, namespaces: Netns[]): Promise<number> {
  const svc = (await api.get<ServiceJson>(`/services/${svcName}`)).body;
  const t0 = Date.now();
  await api.request('POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, { ...svc.Spec, Mode: { Replicated: { Replicas: replicas } } });
  for (;;) {
    const want = await runningAddresses(api, svc.ID);
    if (want.length === replicas) {
      const answers = await Promise.all(namespaces.map((ns) => answer(ns, `tasks.${svcName}`)));
      if (answers.every((a) => a.join() === want.join())) return Date.now() - t0;
    }
    if (Date.now() - t0 > 60_000) throw new Error(`${svcName} did not converge to ${replicas} in DNS on every node within 60 s`);
    await sleep(10);
  }
}

export async function scaleConvergence(trials: number, log: (s: string) => void): Promise<ConvergeResult> {
  const lab = new Lab('bc');
  const namespaces: Netns[] = [];
  try {
    const up = lab.run('up', '--nodes', '3', '--runtime', 'exec', '--dns-upstream', 'none');
    if (up.status !== 0) throw new Error(`lab up failed: ${up.err}`);
    lab.shoal('node1', 'network', 'create', 'benchnet');
    const created = lab.shoal('node1', 'service', 'create', '-q', '--name', 'web', '--replicas', '2', '--network', 'benchnet', 'host', '/bin/busybox', 'sleep', '1000000');
    if (created.status !== 0) throw new Error(`service create failed: ${created.err}`);
    for (const n of NODES) namespaces.push(Netns.open({ name: lab.netns(n) }));
    const api = new ApiClient(`/run/shoal/${lab.netns('node1')}/shoal.sock`);
    const out: ConvergeResult['trials'] = [];
    for (let i = 0; i < trials; i++) {
      for (const [direction, replicas] of [['up', 5], ['down', 2]] as const) {
        const ms = await scaleOnce(api, 'web', replicas, namespaces);
        out.push({ direction, replicas, ms });
        log(`scale convergence trial ${i + 1}/${trials}: ${direction} to ${replicas}: every node answers the new set after ${ms} ms`);
        await sleep(500);
      }
    }
    return {
      trials: out,
      medianUpMs: median(out.filter((x) => x.direction === 'up').map((x) => x.ms)),
      medianDownMs: median(out.filter((x) => x.direction === 'down').map((x) => x.ms)),
      maxMs: Math.max(...out.map((x) => x.ms)),
    };
  } finally {
    for (const ns of namespaces) ns.close();
    lab.run('down');
  }
}
