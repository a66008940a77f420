// The records of the DNS benchmark, made the same way for both servers: a cluster of services on
// one network, each with a VIP, task IPs (tasks.<svc>, shuffled) and per-task container names. The
// embedded server gets them as a Zone; dnsmasq as a hosts file; dnsperf gets one query file.
import type { RecordSet, Zone } from '../src/dns/zones.js';

export interface BenchRecords {
  zone: Zone;
  /** `/etc/hosts` format, one line per (address, name). */
  hostsFile: string;
  /** dnsperf's input: `name type` per line. */
  queryFile: string;
  queryCount: number;
}

export const BENCH_NETWORK_ID = 'benchnet0000';
export const BENCH_NETWORK_NAME = 'benchnet';

function vip(i: number): string {
  return `10.10.${i >> 8}.${i & 0xff}`;
}

function taskIp(svc: number, slot: number): string {
  const n = svc * 16 + slot;
  return `10.11.${(n >> 8) & 0xff}.${n & 0xff}`;
}

function taskId(svc: number, slot: number): string {
  return `${svc.toString(36).padStart(4, '0')}${slot.toString(36).padStart(2, '0')}x9q7k2m4p8r1t6v3`.slice(0, 25);
}

/**
 * services services with tasksPerService tasks each. Queries (all A, names both servers know): for
 * each service its name, tasks.<name> and the container name of its first task, so a third of the
 * answers carry tasksPerService shuffled records.
 */
export function benchRecords(services: number, tasksPerService: number): BenchRecords {
  const names = new Map<string, RecordSet>();
  const ptr = new Map<string, string>();
  const hosts: string[] = [];
  const queries: string[] = [];
  for (let s = 0; s < services; s++) {
    const svc = `svc-${s}`;
    const tasks = Array.from({ length: tasksPerService }, (_, slot) => taskIp(s, slot + 1));
    names.set(svc, { a: [vip(s)] });
    names.set(`tasks.${svc}`, { a: tasks, shuffle: true });
    hosts.push(`${vip(s)} ${svc}`);
    for (const ip of tasks) hosts.push(`${ip} tasks.${svc}`);
    tasks.forEach((ip, slot) => {
      const container = `${svc}.${slot + 1}.${taskId(s, slot + 1)}`;
      names.set(container, { a: [ip] });
      ptr.set(ip, `${container}.${BENCH_NETWORK_NAME}`);
      hosts.push(`${ip} ${container}`);
    });
    queries.push(`${svc} A`, `tasks.${svc} A`, `${svc}.1.${taskId(s, 1)} A`);
  }
  return {
    zone: { id: BENCH_NETWORK_ID, name: BENCH_NETWORK_NAME, names, ptr },
    hostsFile: hosts.join('\n') + '\n',
    queryFile: queries.join('\n') + '\n',
    queryCount: queries.length,
  };
}
