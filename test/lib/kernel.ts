// Test helpers for anything that touches the kernel: scratch namespaces (optionally with an rtnetlink
// socket inside) and processes started in a namespace, all removed on teardown (also when the test
// fails), unique names, and iproute2 read-backs as JSON to check our work against.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNetns, deleteNetns, netnsExists, netnsPath, Netns } from '../../src/kernel/netns.js';
import { openRtnl, type Rtnl } from '../../src/kernel/rtnl.js';

/** Anything with tap's teardown. */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export { uniqueName } from '../../src/lab/driver.js';
import { uniqueName } from '../../src/lab/driver.js';

export interface ScratchNetns {
  name: string;
  ns: Netns;
}

/** A fresh named namespace with `lo` up, deleted when the test ends. */
export function scratchNetns(t: Teardown, label: string): ScratchNetns {
  const name = uniqueName(label);
  createNetns(name);
  const ns = Netns.open({ name });
  t.teardown(() => {
    ns.close();
    if (netnsExists(name)) deleteNetns(name);
  });
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, ns };
}

export interface ScratchRtnl extends ScratchNetns {
  rtnl: Rtnl;
}

/** A scratch namespace plus an rtnetlink socket inside it, closed on teardown. */
export function scratchRtnl(t: Teardown, label: string): ScratchRtnl {
  const scratch = scratchNetns(t, label);
  const rtnl = openRtnl({ name: scratch.name });
  t.teardown(() => rtnl.close());
  return { ...scratch, rtnl };
}

/**
 * Starts `ip netns exec NETNS ...command` (which execs, so the pid is the command's own) and resolves once
 * the process is inside the namespace. Killed, and waited for, on teardown.
 */
export async function spawnInNetns(t: Teardown, netns: string, command: string[]): Promise<ChildProcess & { pid: number }> {
  const child = spawn('ip', ['netns', 'exec', netns, ...command], { stdio: 'ignore' });
  const exited = once(child, 'exit').catch(() => undefined); // 'error' (ip missing) ends it too
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${command.join(' ')} in ${netns}`);
  const target = statSync(netnsPath({ name: netns })).ino;
  for (let i = 0; i < 200; i++) {
    try {
      if (statSync(`/proc/${pid}/ns/net`).ino === target) return child as ChildProcess & { pid: number };
    } catch {
      break; // gone
    }
    await sleep(10);
  }
  throw new Error(`${command.join(' ')} (pid ${pid}) did not enter namespace ${netns}`);
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `ip -n NS -j ARGS...` parsed. Pass netns undefined for the runner's own namespace. */
export function ipJson<T = unknown>(netns: string | undefined, args: string[]): T {
  const prefix = netns ? ['-n', netns] : [];
  const out = sh('ip', [...prefix, '-j', ...args]);
  return JSON.parse(out.trim() === '' ? '[]' : out) as T;
}

/** `bridge -n NS -j ARGS...` parsed. */
export function bridgeJson<T = unknown>(netns: string, args: string[]): T {
  const out = sh('bridge', ['-n', netns, '-j', ...args]);
  return JSON.parse(out.trim() === '' ? '[]' : out) as T;
}

/** One entry of `ip -d -j link show`, the fields the tests read. */
export interface IpLinkJson {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  master?: string;
  address?: string;
  link_netnsid?: number;
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; port?: number; local?: string; learning?: boolean; proxy?: boolean };
  };
}

/** `ip -n NETNS -d -j link show`, parsed. */
export function ipLinks(netns: string): IpLinkJson[] {
  return ipJson<IpLinkJson[]>(netns, ['-d', 'link', 'show']);
}

/** The link named dev as `ip -d -j link` shows it; undefined when there is none. */
export function ipLink(netns: string, dev: string): IpLinkJson | undefined {
  return ipLinks(netns).find((l) => l.ifname === dev);
}
