// The load-balancer interface: what the VIP controller (inside each task) and the routing mesh
// (inside the ingress sandbox) want a namespace to hold, computed once by the controllers, and the
// backends that make a namespace hold it (nftables.ts: DNAT with numgen; ipvs.ts: IPVS fwmark
// services marked by nftables). A backend reads back what the namespace holds, plans the difference
// and applies only that (docs/decisions/0021).
import type { NetnsRef } from '../../kernel/netns.js';
import type { PortConfig } from '../../model/service.js';

/** One VIP and the addresses that serve it, sorted; no backends means refuse. */
export interface VipRoute {
  vip: string;
  backends: string[];
}

/** A port the task's service publishes through the routing mesh, arriving on the task's ingress interface. */
export interface Redirect {
  ifname: string;
  protocol: 'tcp' | 'udp';
  published: number;
  target: number;
}

/** One published port and the ingress addresses of the tasks behind it. */
export interface PublishedPort {
  protocol: PortConfig['Protocol'];
  port: number;
  backends: string[];
}

/** What one task's namespace should hold: its networks' VIPs, and the redirects of its published ports. */
export interface TaskLbState {
  vips: readonly VipRoute[];
  redirects: readonly Redirect[];
}

/** What the ingress sandbox should hold: the published ports, and its own ingress address (the SNAT source). */
export interface SandboxLbState {
  ports: readonly PublishedPort[];
  ingressIp: string;
}

/** What one sync did: whether the kernel changed, the backends that left, and how many kernel calls or processes it cost. */
export interface SyncReport {
  changed: boolean;
  /** Backend addresses this namespace no longer balances to (their flows forgotten or expired). */
  removed: string[];
  /** nft processes run plus IPVS requests sent (dumps included). */
  calls: number;
}

export type LbKind = 'nftables' | 'ipvs';

export interface LoadBalancer {
  readonly kind: LbKind;
  /**
   * Makes the namespace (keyed by `key`, e.g. the task ID, for what the backend remembers between
   * passes) hold exactly `desired`. Throws a KernelError when the kernel refuses; the next call
   * plans again from what the kernel then holds.
   */
  syncTask(key: string, ns: NetnsRef, desired: TaskLbState): Promise<SyncReport>;
  syncSandbox(key: string, ns: NetnsRef, desired: SandboxLbState): Promise<SyncReport>;
  /** The namespace is gone (task stopped, sandbox removed): drop what is remembered about it. */
  forget(key: string): void;
}

/** The active backend and why it was chosen, for `shoal info` and the logs. */
export interface LbChoice {
  lb: LoadBalancer;
  kind: LbKind;
  /** e.g. "ipvs" or "nftables (ip_vs not available: ...)". */
  reason: string;
}

export type { LbSetting } from '../../config/defaults.js';

const PROTO_NUMBER = { tcp: 6, udp: 17, sctp: 132 } as const;

/**
 * The firewall mark of a VIP: its address as a 32-bit number. Derived, never allocated, so the IPVS
 * services read back from the kernel name their VIP without any table of ours (no VIP is 0.0.0.0).
 */
export function vipMark(vip: string): number {
  const n = vip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new Error(`'${vip}' is not an IPv4 address for a firewall mark`);
  return n;
}

/** The firewall mark of a published port in the ingress sandbox: IP protocol number << 16 | port (tcp 8080 = 0x61f90). */
export function portMark(protocol: PortConfig['Protocol'], port: number): number {
  return PROTO_NUMBER[protocol] * 0x10000 + port;
}

export function byAddress(a: string, b: string): number {
  const n = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}
