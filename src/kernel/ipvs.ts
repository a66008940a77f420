// IPVS, the kernel's layer-4 load balancer, over generic netlink (no ipvsadm process): virtual
// services (by firewall mark, or by protocol + address + port) and their destinations, typed, with
// every kernel refusal a KernelError that names the operation, the namespace and what to do. The
// bytes are ipvs-wire.ts's; the transport is a generic netlink socket in a namespace (genl-socket.ts)
// or the in-memory fake (ipvs-fake.ts). Also the sysctls Docker sets for IPVS. Decision 0018.
import { afOf, decodeIp, encodeIp, familyOfAf, ipFamily, type IpFamily } from './encoding.js';
import { KernelError, isKernelError } from './errors.js';
import { GenlSocket, type GenlSocketOptions, type GenlTransport } from './genl-socket.js';
import {
  decodeDests, decodeFamily, decodeInfo, decodeServices, decodeTimeouts, encodeGetFamily, encodeIpvsRequest, GENL_ID_CTRL,
  inetAddr, interpretReply, IP_VS_CONN_F_BYPASS, IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_LOCALNODE,
  IP_VS_CONN_F_MASQ, IP_VS_CONN_F_TUNNEL, IP_VS_SCHEDNAME_MAXLEN, IP_VS_SVC_F_HASHED, IPVS_CMD, IPVS_GENL_NAME, versionText,
  type GenlMsg, type IpvsStats, type IpvsTimeouts, type WireDest, type WireService,
} from './ipvs-wire.js';
import { errnoName } from './netlink-errors.js';
import type { NetnsRef } from './netns.js';
import { runInNetns } from './run-in-netns.js';

export type { IpvsStats, IpvsTimeouts } from './ipvs-wire.js';

export type IpvsProtocol = 'tcp' | 'udp' | 'sctp';

/** IPPROTO_* numbers (linux/in.h). */
const PROTOCOL_NUMBER: Readonly<Record<IpvsProtocol, number>> = { tcp: 6, udp: 17, sctp: 132 };

/** A virtual service by firewall mark (what Docker uses: nftables/iptables mark the packets), or by protocol, address and port. */
export type IpvsServiceKey =
  | { fwmark: number; family?: IpFamily }
  | { protocol: IpvsProtocol; address: string; port: number };

export interface IpvsServiceSettings {
  /** Scheduler module name, e.g. 'rr' (round robin, Docker's choice), 'wrr', 'lc'; 'none' for none. Default 'rr'. */
  scheduler?: string;
  /** IP_VS_SVC_F_* bits (persistent 0x1, one-packet 0x4, scheduler flags 0x8..0x20). Default 0. */
  flags?: number;
  /** Persistence timeout in seconds (only with IP_VS_SVC_F_PERSISTENT). Default 0. */
  timeout?: number;
  /** Persistence granularity: an IPv4 mask like 0xffffffff, or an IPv6 prefix length (1-128). Default: a host (0xffffffff / 128). */
  netmask?: number;
  /** Persistence engine, e.g. 'sip'. Default none. */
  persistenceEngine?: string;
}

export type IpvsServiceSpec = IpvsServiceKey & IpvsServiceSettings;

/** A service as the kernel reports it. flags leave out IP_VS_SVC_F_HASHED, which the kernel sets on every service it holds. */
export type IpvsService = IpvsServiceKey & {
  family: IpFamily;
  scheduler: string;
  flags: number;
  timeout: number;
  netmask: number;
  persistenceEngine?: string;
  stats?: IpvsStats;
};

/** How IPVS forwards to a destination (IP_VS_CONN_F_*). Docker and shoal use 'masquerade' (NAT). */
export type IpvsForward = 'masquerade' | 'local' | 'tunnel' | 'route' | 'bypass';

const FORWARD_FLAG: Readonly<Record<IpvsForward, number>> = {
  masquerade: IP_VS_CONN_F_MASQ,
  local: IP_VS_CONN_F_LOCALNODE,
  tunnel: IP_VS_CONN_F_TUNNEL,
  route: IP_VS_CONN_F_DROUTE,
  bypass: IP_VS_CONN_F_BYPASS,
};

export interface IpvsDestinationKey {
  address: string;
  /** The destination's port; 0 with a fwmark service keeps each packet's own port. */
  port: number;
}

export interface IpvsDestinationSpec extends IpvsDestinationKey {
  /** Default 'masquerade'. */
  forward?: IpvsForward;
  /** Share of new connections; 0 quiesces (no new connections, established ones stay). Must be >= 0: the kernel says ERANGE. Default 1. */
  weight?: number;
  /** Connection thresholds; 0 means none. lower > upper is refused (ERANGE). Default 0. */
  upperThreshold?: number;
  lowerThreshold?: number;
}

export interface IpvsDestination extends Required<IpvsDestinationSpec> {
  family: IpFamily;
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats?: IpvsStats;
}

export interface IpvsInfo {
  /** IPVS version, e.g. '1.2.1'. */
  version: string;
  versionCode: number;
  /** Size of the connection hash table (ip_vs_conn_tab_bits). */
  connectionTableSize: number;
}

/** What Ipvs.open needs to know. */
export interface IpvsOpenOptions extends GenlSocketOptions {
  /** Run `modprobe ip_vs` when the family is missing, then look again. Default true (Docker does the same). */
  load?: boolean;
}

/** The error Ipvs.open throws when the kernel has no IPVS family (module absent and not loadable). */
export class IpvsUnavailableError extends KernelError {
  constructor(op: string, detail: string) {
    super('ENOENT', op, detail);
  }
}

export function isIpvsUnavailable(err: unknown): err is IpvsUnavailableError {
  return err instanceof IpvsUnavailableError;
}

export class Ipvs {
  private constructor(
    private readonly transport: GenlTransport,
    /** The IPVS genl family id in this kernel (allocated at module load). */
    readonly familyId: number,
  ) {}

  /** IPVS in the namespace ref names, through a generic netlink socket born there. */
  static async open(ref: NetnsRef = 'self', options: IpvsOpenOptions = {}): Promise<Ipvs> {
    const sock = GenlSocket.open(ref, options);
    try {
      return await Ipvs.over(sock, options.load ?? true);
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  /** IPVS over any transport (the fake's, in tests). Resolves the 'IPVS' family first. */
  static async over(transport: GenlTransport, load = false): Promise<Ipvs> {
    const op = `resolve generic netlink family ${IPVS_GENL_NAME}`;
    let id = await resolveFamily(transport, IPVS_GENL_NAME, op);
    if (id === undefined && load) {
      const loaded = await modprobeIpvs();
      if (loaded !== true) {
        throw new IpvsUnavailableError(`${op} in ${transport.netns}`, `this kernel has no ip_vs (modprobe ip_vs failed: ${loaded}); IPVS needs the ip_vs module (a stock Debian kernel has it), or use the nftables backend`);
      }
      id = await resolveFamily(transport, IPVS_GENL_NAME, op);
    }
    if (id === undefined) throw new IpvsUnavailableError(`${op} in ${transport.netns}`, 'this kernel has no ip_vs (the IPVS generic netlink family is not registered); load the ip_vs module or use the nftables backend');
    return new Ipvs(transport, id);
  }

  get netns(): string {
    return this.transport.netns;
  }

  /** Every virtual service, in the kernel's order (address services, then fwmark services; hash order within each). */
  async listServices(): Promise<IpvsService[]> {
    const msgs = await this.call(IPVS_CMD.GET_SERVICE, {}, 'list ipvs services', true);
    return decodeServices(msgs).map(serviceFromWire);
  }

  /** One service, or undefined when there is none by that key. */
  async getService(key: IpvsServiceKey): Promise<IpvsService | undefined> {
    try {
      const msgs = await this.call(IPVS_CMD.GET_SERVICE, { service: keyToWire(key) }, `get ipvs service ${describeService(key)}`);
      const [svc] = decodeServices(msgs);
      return svc && serviceFromWire(svc);
    } catch (err) {
      if (isKernelError(err, 'ESRCH')) return undefined;
      throw err;
    }
  }

  /** Adds a service. EEXIST when it is there already; ENOENT when the scheduler module does not exist. */
  async addService(spec: IpvsServiceSpec): Promise<void> {
    await this.call(IPVS_CMD.NEW_SERVICE, { service: specToWire(spec) }, `add ipvs service ${describeService(spec)}`);
  }

  /** Changes a service's settings (scheduler, flags, timeout, netmask). ESRCH when there is no such service. */
  async updateService(spec: IpvsServiceSpec): Promise<void> {
    await this.call(IPVS_CMD.SET_SERVICE, { service: specToWire(spec) }, `update ipvs service ${describeService(spec)}`);
  }

  /** Deletes a service and its destinations. ESRCH when there is no such service. */
  async deleteService(key: IpvsServiceKey): Promise<void> {
    await this.call(IPVS_CMD.DEL_SERVICE, { service: keyToWire(key) }, `delete ipvs service ${describeService(key)}`);
  }

  /** The service's destinations, newest first (the kernel's order). A missing service lists none, as the kernel's dump does. */
  async listDestinations(key: IpvsServiceKey): Promise<IpvsDestination[]> {
    const msgs = await this.call(IPVS_CMD.GET_DEST, { service: keyToWire(key) }, `list ipvs destinations of ${describeService(key)}`, true);
    return decodeDests(msgs).map(destFromWire);
  }

  /** Adds a destination. ESRCH without the service, EEXIST when it is there, ERANGE for a negative weight or lower > upper threshold. */
  async addDestination(service: IpvsServiceKey, dest: IpvsDestinationSpec): Promise<void> {
    await this.call(IPVS_CMD.NEW_DEST, { service: keyToWire(service), dest: destToWire(dest, true) }, `add ipvs destination ${describeDest(dest)} to ${describeService(service)}`);
  }

  /** Changes a destination's weight, forwarding or thresholds (weight 0 quiesces it). ENOENT when it is not there. */
  async updateDestination(service: IpvsServiceKey, dest: IpvsDestinationSpec): Promise<void> {
    await this.call(IPVS_CMD.SET_DEST, { service: keyToWire(service), dest: destToWire(dest, true) }, `update ipvs destination ${describeDest(dest)} of ${describeService(service)}`);
  }

  /** Deletes a destination. ENOENT when it is not there, ESRCH without the service. */
  async deleteDestination(service: IpvsServiceKey, dest: IpvsDestinationKey): Promise<void> {
    await this.call(IPVS_CMD.DEL_DEST, { service: keyToWire(service), dest: destToWire(dest, false) }, `delete ipvs destination ${describeDest(dest)} of ${describeService(service)}`);
  }

  /** Deletes every service (and so every destination) in the namespace. */
  async flush(): Promise<void> {
    await this.call(IPVS_CMD.FLUSH, {}, 'flush ipvs');
  }

  async info(): Promise<IpvsInfo> {
    const [msg] = await this.call(IPVS_CMD.GET_INFO, {}, 'get ipvs info');
    if (!msg) throw new KernelError('EBADMSG', `get ipvs info in ${this.netns}`, 'the kernel answered GET_INFO with no message');
    const { versionCode, connTabSize } = decodeInfo(msg);
    return { version: versionText(versionCode), versionCode, connectionTableSize: connTabSize };
  }

  /** Connection timeouts in seconds: TCP established, TCP FIN_WAIT, UDP (ipvsadm --set). */
  async timeouts(): Promise<Required<IpvsTimeouts>> {
    const [msg] = await this.call(IPVS_CMD.GET_CONFIG, {}, 'get ipvs timeouts');
    if (!msg) throw new KernelError('EBADMSG', `get ipvs timeouts in ${this.netns}`, 'the kernel answered GET_CONFIG with no message');
    return decodeTimeouts(msg);
  }

  /** Sets connection timeouts in seconds; a timeout left out (or 0) stays as it is. */
  async setTimeouts(t: IpvsTimeouts): Promise<void> {
    for (const [name, v] of Object.entries(t)) if (v !== undefined) checkU32(v, `timeout ${name}`, 'set ipvs timeouts');
    await this.call(IPVS_CMD.SET_CONFIG, { timeouts: t }, `set ipvs timeouts ${JSON.stringify(t)}`);
  }

  close(): void {
    this.transport.close();
  }

  private async call(cmd: number, parts: Parameters<typeof encodeIpvsRequest>[1], op: string, dump = false): Promise<GenlMsg[]> {
    const msgs = await this.transport.request(this.familyId, encodeIpvsRequest(cmd, parts), { dump, op });
    let reply;
    try {
      reply = interpretReply(msgs, this.familyId);
    } catch (err) {
      throw new KernelError('EBADMSG', `${op} in ${this.netns}`, (err as Error).message);
    }
    if (!reply.ok) throw ipvsError(cmd, reply.errno, `${op} in ${this.netns}`);
    return reply.messages;
  }
}

/** The family's id, or undefined when the kernel has no family by that name (ENOENT). */
export async function resolveFamily(transport: GenlTransport, name: string, op = `resolve generic netlink family ${name}`): Promise<number | undefined> {
  const msgs = await transport.request(GENL_ID_CTRL, encodeGetFamily(name), { dump: false, op });
  const reply = interpretReply(msgs, GENL_ID_CTRL);
  if (!reply.ok) {
    if (reply.errno === 2) return undefined;
    const { code, description } = errnoName(reply.errno);
    throw new KernelError(code, `${op} in ${transport.netns}`, description);
  }
  const [msg] = reply.messages;
  if (!msg) throw new KernelError('EBADMSG', `${op} in ${transport.netns}`, 'nlctrl answered with no message');
  return decodeFamily(msg).id;
}

/** `modprobe ip_vs`: true when it worked, else what it said. */
async function modprobeIpvs(): Promise<true | string> {
  try {
    const r = await runInNetns('self', 'modprobe', ['ip_vs'], { missing: 'install kmod (apt-get install kmod)' });
    return r.status === 0 ? true : r.stderr.trim() || `exit status ${r.status}`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A KernelError for an IPVS refusal, with what the errno means for this command and what to do. */
export function ipvsError(cmd: number, errno: number, op: string): KernelError {
  const { code, description } = errnoName(errno);
  const svcCmd = cmd === IPVS_CMD.NEW_SERVICE || cmd === IPVS_CMD.SET_SERVICE;
  const destCmd = cmd === IPVS_CMD.NEW_DEST || cmd === IPVS_CMD.SET_DEST || cmd === IPVS_CMD.DEL_DEST;
  let detail = description;
  if (code === 'ESRCH') detail = 'no such virtual service (add the service first)';
  else if (code === 'EEXIST') detail = destCmd ? 'the destination is already in the service (update it instead)' : 'the virtual service exists already (update it instead)';
  else if (code === 'ENOENT' && svcCmd) detail = 'no such scheduler or persistence engine (is its ip_vs_<name> module available?)';
  else if (code === 'ENOENT' && destCmd) detail = 'no such destination in the service';
  else if (code === 'ERANGE' && destCmd) detail = 'weight must be >= 0 and the lower threshold no higher than the upper one';
  else if (code === 'EINVAL') detail = 'the kernel refused the request as invalid (a missing or malformed attribute, or a family mismatch)';
  else if (code === 'EPERM') detail = 'IPVS changes need CAP_NET_ADMIN in the namespace';
  return new KernelError(code, op, `${detail} (${code})`);
}

// ---- typed <-> wire ----

function checkU32(v: number, what: string, op: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new KernelError('EINVAL', op, `${what} ${v} is not an integer in 0..4294967295`);
}

function checkPort(v: number, op: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new KernelError('EINVAL', op, `port ${v} is not a port number`);
}

function isFwmarkKey(key: IpvsServiceKey): key is { fwmark: number; family?: IpFamily } {
  return 'fwmark' in key && key.fwmark !== undefined;
}

export function describeService(key: IpvsServiceKey): string {
  if (isFwmarkKey(key)) return `fwmark ${key.fwmark}${key.family === 6 ? ' (IPv6)' : ''}`;
  const addr = ipFamily(key.address) === 6 ? `[${key.address}]` : key.address;
  return `${key.protocol} ${addr}:${key.port}`;
}

function describeDest(d: IpvsDestinationKey): string {
  return ipFamily(d.address) === 6 ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}

/** The identifying attributes of a service: AF + FWMARK, or AF + PROTOCOL + ADDR + PORT. */
export function keyToWire(key: IpvsServiceKey): WireService {
  const op = `ipvs service ${JSON.stringify(key)}`;
  if (isFwmarkKey(key)) {
    checkU32(key.fwmark, 'fwmark', op);
    if (key.fwmark === 0) throw new KernelError('EINVAL', op, 'fwmark 0 marks nothing: use 1..4294967295');
    const family = key.family ?? 4;
    if (family !== 4 && family !== 6) throw new KernelError('EINVAL', op, `family ${String(family)} is neither 4 nor 6`);
    return { af: afOf(family), fwmark: key.fwmark };
  }
  const k = key as { protocol: IpvsProtocol; address: string; port: number };
  const proto = PROTOCOL_NUMBER[k.protocol];
  if (proto === undefined) throw new KernelError('EINVAL', op, `protocol '${String(k.protocol)}' is not tcp, udp or sctp`);
  const family = ipFamily(k.address);
  if (family === undefined) throw new KernelError('EINVAL', op, `'${k.address}' is not an IPv4 or IPv6 address`);
  checkPort(k.port, op);
  return { af: afOf(family), protocol: proto, addr: inetAddr(encodeIp(k.address)), port: k.port };
}

/** A full service for NEW/SET_SERVICE: the key plus SCHED_NAME, FLAGS (mask all bits), TIMEOUT and NETMASK, all of which the kernel requires. */
export function specToWire(spec: IpvsServiceSpec): WireService {
  const w = keyToWire(spec);
  const op = `ipvs service ${describeService(spec)}`;
  const scheduler = spec.scheduler ?? 'rr';
  if (scheduler.length === 0 || Buffer.byteLength(scheduler) >= IP_VS_SCHEDNAME_MAXLEN || scheduler.includes('\0')) {
    throw new KernelError('EINVAL', op, `scheduler '${scheduler}' must be 1-${IP_VS_SCHEDNAME_MAXLEN - 1} bytes`);
  }
  const flags = spec.flags ?? 0;
  const timeout = spec.timeout ?? 0;
  const v6 = w.af === afOf(6);
  const netmask = spec.netmask ?? (v6 ? 128 : 0xffffffff);
  checkU32(flags, 'flags', op);
  checkU32(timeout, 'timeout', op);
  checkU32(netmask, 'netmask', op);
  const out: WireService = { ...w, schedName: scheduler, flags: { flags: flags & ~IP_VS_SVC_F_HASHED, mask: 0xffffffff }, timeout, netmask };
  if (spec.persistenceEngine !== undefined) out.peName = spec.persistenceEngine;
  return out;
}

export function serviceFromWire(w: WireService): IpvsService {
  const family = familyOfAf(w.af ?? 0);
  if (family === undefined) throw new KernelError('EAFNOSUPPORT', 'decode ipvs service', `address family ${w.af} is neither AF_INET nor AF_INET6`);
  const common = {
    family,
    scheduler: w.schedName ?? 'none',
    flags: (w.flags?.flags ?? 0) & ~IP_VS_SVC_F_HASHED,
    timeout: w.timeout ?? 0,
    netmask: w.netmask ?? 0,
    ...(w.peName !== undefined ? { persistenceEngine: w.peName } : {}),
    ...(w.stats !== undefined ? { stats: w.stats } : {}),
  };
  if (w.fwmark !== undefined && w.fwmark !== 0) return { fwmark: w.fwmark, ...common };
  const protocol = (Object.keys(PROTOCOL_NUMBER) as IpvsProtocol[]).find((p) => PROTOCOL_NUMBER[p] === w.protocol);
  if (protocol === undefined) throw new KernelError('EPROTONOSUPPORT', 'decode ipvs service', `protocol ${w.protocol} is not tcp, udp or sctp`);
  return { protocol, address: addressOf(family, w.addr), port: w.port ?? 0, ...common };
}

function addressOf(family: IpFamily, addr: Buffer | undefined): string {
  const bytes = addr ?? Buffer.alloc(16);
  return decodeIp(bytes.subarray(0, family === 4 ? 4 : 16));
}

/** A destination for NEW/SET_DEST (full: FWD_METHOD, WEIGHT and both thresholds, which the kernel requires) or DEL_DEST (address and port). */
export function destToWire(d: IpvsDestinationSpec, full: boolean): WireDest {
  const op = `ipvs destination ${JSON.stringify(d)}`;
  const family = ipFamily(d.address);
  if (family === undefined) throw new KernelError('EINVAL', op, `'${d.address}' is not an IPv4 or IPv6 address`);
  checkPort(d.port, op);
  const w: WireDest = { addr: inetAddr(encodeIp(d.address)), port: d.port };
  if (full) {
    const forward = d.forward ?? 'masquerade';
    const fwd = FORWARD_FLAG[forward];
    if (fwd === undefined) throw new KernelError('EINVAL', op, `forwarding '${String(forward)}' is not one of ${Object.keys(FORWARD_FLAG).join(', ')}`);
    const weight = d.weight ?? 1;
    // Sent as the kernel's int: a negative weight goes out as its two's complement and the kernel answers ERANGE.
    if (!Number.isInteger(weight) || weight < -0x80000000 || weight > 0x7fffffff) throw new KernelError('EINVAL', op, `weight ${weight} is not a 32-bit integer`);
    const u = d.upperThreshold ?? 0;
    const l = d.lowerThreshold ?? 0;
    checkU32(u, 'upper threshold', op);
    checkU32(l, 'lower threshold', op);
    Object.assign(w, { fwdMethod: fwd, weight: weight >>> 0, uThresh: u, lThresh: l });
  }
  w.af = afOf(family);
  return w;
}

export function destFromWire(w: WireDest): IpvsDestination {
  const family = familyOfAf(w.af ?? 0) ?? 4;
  const fwd = (w.fwdMethod ?? 0) & IP_VS_CONN_F_FWD_MASK;
  const forward = (Object.keys(FORWARD_FLAG) as IpvsForward[]).find((f) => FORWARD_FLAG[f] === fwd) ?? 'masquerade';
  return {
    address: addressOf(family, w.addr),
    port: w.port ?? 0,
    family,
    forward,
    weight: (w.weight ?? 0) | 0,
    upperThreshold: w.uThresh ?? 0,
    lowerThreshold: w.lThresh ?? 0,
    activeConnections: w.activeConns ?? 0,
    inactiveConnections: w.inactConns ?? 0,
    persistentConnections: w.persistConns ?? 0,
    ...(w.stats !== undefined ? { stats: w.stats } : {}),
  };
}

// ---- sysctls ----

/**
 * The IPVS sysctls Docker sets in every namespace where it uses IPVS (libnetwork), with why. They
 * exist per namespace once ip_vs is loaded (net/ipv4/vs/).
 */
export const IPVS_SYSCTLS: ReadonlyArray<{ key: string; value: number; why: string }> = [
  {
    key: 'net.ipv4.vs.conn_reuse_mode',
    value: 0,
    why: 'with 1 (the default) IPVS drops the first SYN of a new connection that reuses a source port of a connection still in TIME_WAIT, so a busy client sees 1 s connect delays (moby#35082, fixed in Docker by moby/libnetwork#2491); with 0 the new connection takes over the old entry and its backend',
  },
  {
    key: 'net.ipv4.vs.expire_nodest_conn',
    value: 1,
    why: 'connections to a destination that was deleted are expired at their next packet instead of black-holing until they time out',
  },
  {
    key: 'net.ipv4.vs.expire_quiescent_template',
    value: 1,
    why: 'persistence templates pointing at a weight-0 (quiesced) destination expire, so new connections stop going to a backend being removed',
  },
];

/** What the sysctl writers accept: a Netns handle (netns.ts) has this method. */
export interface SysctlWriter {
  writeSysctl(key: string, value: string | number): void;
}

/**
 * Sets Docker's IPVS sysctls through w (e.g. `withNetns(ref, (ns) => setIpvsSysctls(ns))`). Fails
 * with ENOENT naming the missing sysctl when ip_vs is not loaded in this kernel.
 */
export function setIpvsSysctls(w: SysctlWriter, sysctls = IPVS_SYSCTLS): void {
  for (const { key, value } of sysctls) {
    try {
      w.writeSysctl(key, value);
    } catch (err) {
      const e = err instanceof KernelError ? err : new KernelError('EUNKNOWN', `write sysctl ${key}=${value}`, String(err));
      if (e.code === 'ENOENT') throw new KernelError('ENOENT', e.op, `${key} does not exist: the ip_vs module is not loaded in this kernel (modprobe ip_vs)`);
      throw e;
    }
  }
}
