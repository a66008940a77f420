// Test helpers for anything that touches the kernel: scratch namespaces that are removed on teardown
// (also when the test fails), unique names, and iproute2 read-backs as JSON to check our work against.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNetns, deleteNetns, netnsExists, Netns } from '../../src/kernel/netns.js';

/** Anything with tap's teardown. */
export interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

/** A short unique name: `sht` + label + 4 hex chars. Link names must stay within 15 characters. */
export function uniqueName(label: string): string {
  return `sht${label}${randomBytes(2).toString('hex')}`;
}

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
