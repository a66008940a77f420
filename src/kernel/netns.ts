// Network namespaces: named ones under /run/netns (so `ip -n NAME` sees them), handles to any
// namespace (by name, path or process), synchronous work inside one, sockets bound inside one,
// and per-namespace sysctls. Nothing here knows what a namespace is used for.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addon } from './native.js';
import { KernelError, toKernelError } from './errors.js';

export const NETNS_DIR = '/run/netns';

/** How callers name a namespace: the agent's own ('self'), a named one, a file (e.g. /proc/PID/ns/net) or a process. */
export type NetnsRef = 'self' | { name: string } | { path: string } | { pid: number };

export function netnsPath(ref: NetnsRef): string {
  if (ref === 'self') return '/proc/self/ns/net';
  if ('name' in ref) return join(NETNS_DIR, ref.name);
  if ('path' in ref) return ref.path;
  return `/proc/${ref.pid}/ns/net`;
}

export function describeNetns(ref: NetnsRef): string {
  if (ref === 'self') return 'self';
  if ('name' in ref) return ref.name;
  if ('path' in ref) return ref.path;
  return `pid ${ref.pid}`;
}

const NAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/;

/** An open handle on a namespace. The namespace stays alive while the handle is open. */
export class Netns {
  private closed = false;
  private constructor(
    readonly ref: NetnsRef,
    readonly fd: number,
  ) {}

  static open(ref: NetnsRef): Netns {
    const path = netnsPath(ref);
    try {
      return new Netns(ref, openSync(path, 'r'));
    } catch (err) {
      throw toKernelError(err, `open network namespace ${describeNetns(ref)}`);
    }
  }

  /** Runs fn with the calling thread inside this namespace. Only fn's synchronous part runs there. */
  run<T>(fn: () => T): T {
    this.assertOpen();
    return addon.runInNetns(this.fd, fn);
  }

  /** A socket bound inside this namespace, for net.Server.listen({fd}) or dgram.Socket.bind({fd}). */
  socket(kind: 'tcp' | 'udp', address: string, port: number): number {
    this.assertOpen();
    try {
      return addon.socketInNetns(this.fd, kind, address, port);
    } catch (err) {
      throw toKernelError(err, `${kind} socket ${address}:${port} in ${describeNetns(this.ref)}`);
    }
  }

  readSysctl(key: string): string {
    const path = sysctlPath(key);
    try {
      return this.run(() => readFileSync(path, 'utf8')).trim();
    } catch (err) {
      throw toKernelError(err, `read sysctl ${key} in ${describeNetns(this.ref)}`);
    }
  }

  writeSysctl(key: string, value: string | number): void {
    const path = sysctlPath(key);
    try {
      this.run(() => writeFileSync(path, String(value)));
    } catch (err) {
      throw toKernelError(err, `write sysctl ${key}=${value} in ${describeNetns(this.ref)}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private assertOpen(): void {
    if (this.closed) throw new KernelError('EBADF', `use of closed namespace handle ${describeNetns(this.ref)}`);
  }
}

/** Opens ref, runs fn with the handle, closes it. */
export async function withNetns<T>(ref: NetnsRef, fn: (ns: Netns) => T | Promise<T>): Promise<T> {
  const ns = Netns.open(ref);
  try {
    return await fn(ns);
  } finally {
    ns.close();
  }
}

export function sysctlPath(key: string): string {
  if (!/^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/.test(key) && !/^[a-z0-9_]+(\/[A-Za-z0-9_-]+)+$/.test(key)) {
    throw new KernelError('EINVAL', 'sysctl', `'${key}' is not a sysctl name like net.ipv4.ip_forward`);
  }
  return join('/proc/sys', key.includes('/') ? key : key.replaceAll('.', '/'));
}

export function validateNetnsName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new KernelError('EINVAL', 'netns name', `'${name}' must be 1-64 characters of letters, digits, '.', '_' or '-'`);
  }
}

/** Creates a named namespace (like `ip netns add NAME`). EEXIST if it is already there. */
export function createNetns(name: string): void {
  validateNetnsName(name);
  try {
    addon.createNamedNetns(NETNS_DIR, name);
  } catch (err) {
    throw toKernelError(err, `create network namespace ${name}`);
  }
}

/** Removes a named namespace (like `ip netns del NAME`). ENOENT if it is not there. */
export function deleteNetns(name: string): void {
  validateNetnsName(name);
  try {
    addon.deleteNamedNetns(join(NETNS_DIR, name));
  } catch (err) {
    throw toKernelError(err, `delete network namespace ${name}`);
  }
}

export function listNetns(): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).sort();
}

export function netnsExists(name: string): boolean {
  return existsSync(join(NETNS_DIR, name));
}
