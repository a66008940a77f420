// An in-memory IPVS that answers generic netlink bytes the way the kernel's ip_vs_ctl.c does, so
// code using Ipvs can be tested without ip_vs (this machine's kernel has none) and without root.
// It works on the wire: it parses each request with ipvs-wire.ts, applies the kernel's rules, and
// answers with the datagrams the kernel would send (replies, dump parts with NLM_F_MULTI packed into
// datagrams, NLMSG_DONE, ACKs, NLMSG_ERROR echoing the request). Rules and their sources are in
// decision 0018; what it does not model (statistics, connections, sync daemons, permissions) is too.
import { KernelError } from './errors.js';
import type { GenlTransport } from './genl-socket.js';
import { Ipvs } from './ipvs.js';
import {
  align4, attrMap, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, encodeDestNest, encodeFamilyReply, encodeGenl, encodeNlErr,
  encodeNlMsg, encodeServiceNest, GENL_HDRLEN, GENL_ID_CTRL, inetAddr, IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_TUNNEL,
  IP_VS_PENAME_MAXLEN, IP_VS_SCHEDNAME_MAXLEN, IP_VS_SVC_F_HASHED, IP_VS_VERSION_CODE, IPVS_CMD, IPVS_CMD_ATTR,
  IPVS_CMD_ATTR_MAX, IPVS_DEST_ATTR, IPVS_GENL_NAME, IPVS_GENL_VERSION, IPVS_INFO_ATTR, IPVS_SVC_ATTR, NLM_F_ACK,
  NLM_F_CAPPED, NLM_F_DUMP, NLM_F_MULTI, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, parseAttrs, parseNlMsgs,
  readString, u32Attr, zeroStats, type NlMsg,
} from './ipvs-wire.js';

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const E = { ENOENT: 2, ESRCH: 3, EEXIST: 17, EINVAL: 22, ERANGE: 34, EOPNOTSUPP: 95, EAFNOSUPPORT: 97 } as const;

/** The scheduler modules of a Debian kernel (CONFIG_IP_VS_* =m in Debian 12's config). */
export const DEBIAN_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'fo', 'ovf', 'lblc', 'lblcr', 'dh', 'sh', 'mh', 'sed', 'nq', 'twos'] as const;

export interface FakeIpvsOptions {
  /** The id nlctrl hands out for 'IPVS' (dynamic in a real kernel). Default 0x22. */
  familyId?: number;
  /** false: no ip_vs module, nlctrl answers ENOENT for 'IPVS' (as on this machine's kernel). Default true. */
  loaded?: boolean;
  /** Scheduler names that exist (ip_vs_<name> modules). Default DEBIAN_SCHEDULERS. */
  schedulers?: Iterable<string>;
  /** Persistence engines that exist. Default ['sip'] (Debian builds ip_vs_pe_sip). */
  persistenceEngines?: Iterable<string>;
  /** ip_vs_conn_tab_size (2^conn_tab_bits, Debian's default bits 12). */
  connTabSize?: number;
  /** Largest datagram a dump part is packed into; the kernel fills skbs of about a page (NLMSG_GOODSIZE) or more. Default 4096. */
  dumpDatagramBytes?: number;
}

/** HZ of Debian's kernels (CONFIG_HZ_250): SET_CONFIG refuses a timeout above INT_MAX / HZ seconds. */
const HZ = 250;
const INT_MAX = 0x7fffffff;

/** Default timeouts in seconds (ip_vs_proto_tcp.c ESTABLISHED 15 min, FIN_WAIT 2 min; ip_vs_proto_udp.c 5 min). */
const DEFAULT_TIMEOUTS = { tcp: 900, tcpFin: 120, udp: 300 };

interface Svc {
  af: number;
  protocol: number;
  /** 16 bytes; for IPv4 only the first 4 are used, the rest are zero. */
  addr: Buffer;
  port: number;
  fwmark: number;
  sched: string | undefined;
  pe: string | undefined;
  flags: number;
  timeout: number;
  netmask: number;
  /** Newest first, as list_add_rcu(&dest->n_list, &svc->destinations) leaves them. */
  dests: Dest[];
  /** Insertion counter: hash buckets hold the newest entry first (hlist_add_head_rcu). */
  born: number;
}

interface Dest {
  af: number;
  addr: Buffer;
  port: number;
  fwd: number;
  weight: number;
  uThresh: number;
  lThresh: number;
}

/** What a parsed IPVS_CMD_ATTR_SERVICE nest says, the kernel's ip_vs_service_user_kern. */
interface USvc {
  af: number;
  protocol: number;
  addr: Buffer;
  port: number;
  fwmark: number;
  sched?: string;
  pe?: string;
  flags: number;
  timeout: number;
  netmask: number;
}

interface UDest {
  af: number;
  addr: Buffer;
  port: number;
  fwd: number;
  weight: number;
  uThresh: number;
  lThresh: number;
  tunType: number;
  tunPort: number;
}

class Refused {
  constructor(readonly errno: number) {}
}

/** The attribute length rules of the kernel's nla policies (ip_vs_svc_policy, ip_vs_dest_policy): min for fixed types, max for binaries and strings. */
type Rule = { min: number } | { max: number } | { nulString: number };
const SVC_POLICY: Record<number, Rule> = {
  [IPVS_SVC_ATTR.AF]: { min: 2 },
  [IPVS_SVC_ATTR.PROTOCOL]: { min: 2 },
  [IPVS_SVC_ATTR.ADDR]: { max: 16 },
  [IPVS_SVC_ATTR.PORT]: { min: 2 },
  [IPVS_SVC_ATTR.FWMARK]: { min: 4 },
  [IPVS_SVC_ATTR.SCHED_NAME]: { nulString: IP_VS_SCHEDNAME_MAXLEN - 1 },
  [IPVS_SVC_ATTR.PE_NAME]: { nulString: IP_VS_PENAME_MAXLEN },
  [IPVS_SVC_ATTR.FLAGS]: { max: 8 },
  [IPVS_SVC_ATTR.TIMEOUT]: { min: 4 },
  [IPVS_SVC_ATTR.NETMASK]: { min: 4 },
};
const DEST_POLICY: Record<number, Rule> = {
  [IPVS_DEST_ATTR.ADDR]: { max: 16 },
  [IPVS_DEST_ATTR.PORT]: { min: 2 },
  [IPVS_DEST_ATTR.FWD_METHOD]: { min: 4 },
  [IPVS_DEST_ATTR.WEIGHT]: { min: 4 },
  [IPVS_DEST_ATTR.U_THRESH]: { min: 4 },
  [IPVS_DEST_ATTR.L_THRESH]: { min: 4 },
  [IPVS_DEST_ATTR.ACTIVE_CONNS]: { min: 4 },
  [IPVS_DEST_ATTR.INACT_CONNS]: { min: 4 },
  [IPVS_DEST_ATTR.PERSIST_CONNS]: { min: 4 },
  [IPVS_DEST_ATTR.ADDR_FAMILY]: { min: 2 },
  [IPVS_DEST_ATTR.TUN_TYPE]: { min: 1 },
  [IPVS_DEST_ATTR.TUN_PORT]: { min: 2 },
  [IPVS_DEST_ATTR.TUN_FLAGS]: { min: 2 },
};

/** nla_parse_nested with a policy: the attributes by type, or EINVAL (what ip_vs_genl_parse_* return for any policy failure). */
function parseNest(nest: Buffer | undefined, policy: Record<number, Rule>): Map<number, Buffer> {
  if (nest === undefined) throw new Refused(E.EINVAL);
  let attrs;
  try {
    attrs = parseAttrs(nest);
  } catch {
    throw new Refused(E.EINVAL);
  }
  const m = new Map<number, Buffer>();
  for (const a of attrs) {
    const rule = policy[a.type];
    if (rule && 'min' in rule && a.value.length < rule.min) throw new Refused(E.EINVAL);
    if (rule && 'max' in rule && a.value.length > rule.max) throw new Refused(E.EINVAL);
    if (rule && 'nulString' in rule) {
      const window = a.value.subarray(0, Math.min(a.value.length, rule.nulString + 1));
      if (window.length === 0 || !window.includes(0)) throw new Refused(E.EINVAL);
    }
    m.set(a.type, a.value);
  }
  return m;
}

/** nla_memcpy into a zeroed union nf_inet_addr. */
function memcpyAddr(v: Buffer): Buffer {
  return inetAddr(v);
}

/** ip_vs_addr_copy: IPv4 keeps only its 4 bytes. */
function normAddr(af: number, a: Buffer): Buffer {
  return af === AF_INET ? inetAddr(a.subarray(0, 4)) : inetAddr(a);
}

function addrEqual(af: number, a: Buffer, b: Buffer): boolean {
  return af === AF_INET ? a.subarray(0, 4).equals(b.subarray(0, 4)) : a.equals(b);
}

export class FakeIpvsKernel {
  readonly familyId: number;
  loaded: boolean;
  readonly schedulers: Set<string>;
  readonly persistenceEngines: Set<string>;
  /** Every IPVS request handled, in order (cmd and whether it was a dump): the 'kernel calls' a change cost. */
  readonly calls: Array<{ cmd: number; dump: boolean }> = [];
  private readonly connTabSize: number;
  private readonly dumpDatagramBytes: number;
  private services: Svc[] = [];
  /** The services by identity (the kernel's two hash tables, as one map). */
  private readonly index = new Map<string, Svc>();
  private born = 0;
  private timeouts = { ...DEFAULT_TIMEOUTS };
  private readonly injected: Array<{ cmd: number; errno: number }> = [];

  constructor(options: FakeIpvsOptions = {}) {
    this.familyId = options.familyId ?? 0x22;
    this.loaded = options.loaded ?? true;
    this.schedulers = new Set(options.schedulers ?? DEBIAN_SCHEDULERS);
    this.persistenceEngines = new Set(options.persistenceEngines ?? ['sip']);
    this.connTabSize = options.connTabSize ?? 4096;
    this.dumpDatagramBytes = options.dumpDatagramBytes ?? 4096;
  }

  /** The next request with this IPVS command fails with errno (a positive number, e.g. 12 for ENOMEM), before any rule runs. */
  failNext(cmd: number, errno: number): void {
    this.injected.push({ cmd, errno });
  }

  /** How many services and destinations it holds. */
  get size(): { services: number; destinations: number } {
    return { services: this.services.length, destinations: this.services.reduce((n, s) => n + s.dests.length, 0) };
  }

  /**
   * One datagram from a socket in, the datagrams the kernel would queue for that socket out. Every
   * message in the datagram is handled (netlink_rcv_skb), each answered as the kernel answers it.
   */
  handle(datagram: Buffer): Buffer[] {
    let msgs: NlMsg[];
    try {
      msgs = parseNlMsgs(datagram);
    } catch {
      return []; // the kernel drops a datagram whose headers do not add up
    }
    const out: Buffer[] = [];
    let off = 0;
    for (const m of msgs) {
      const raw = datagram.subarray(off, off + NLMSG_HDRLEN + m.payload.length);
      off += align4(NLMSG_HDRLEN + m.payload.length);
      if (!(m.flags & NLM_F_REQUEST)) continue; // netlink_rcv_skb skips non-requests
      out.push(...this.handleOne(m, raw));
    }
    return out;
  }

  private handleOne(m: NlMsg, raw: Buffer): Buffer[] {
    const reply = (payload: Buffer, flags = 0): Buffer => encodeNlMsg({ type: m.type, flags, seq: m.seq, port: m.port, payload });
    const ack = (errno: number): Buffer =>
      encodeNlMsg({ type: NLMSG_ERROR, flags: errno === 0 ? NLM_F_CAPPED : 0, seq: m.seq, port: m.port, payload: encodeNlErr(errno, raw, errno === 0) });
    try {
      if (m.payload.length < GENL_HDRLEN) throw new Refused(E.EINVAL);
      const cmd = m.payload.readUInt8(0);
      const attrs = m.payload.subarray(GENL_HDRLEN);
      const dump = (m.flags & NLM_F_DUMP) === NLM_F_DUMP;
      let answer: { reply?: Buffer; dump?: Buffer[] };
      if (m.type === GENL_ID_CTRL) answer = this.ctrl(cmd, attrs, dump);
      else if (m.type === this.familyId && this.loaded) answer = this.ipvs(cmd, attrs, dump);
      else throw new Refused(E.ENOENT); // genl_rcv_msg: no family with that id
      if (answer.dump) return this.packDump(answer.dump.map((p) => reply(p, NLM_F_MULTI)), m);
      const out = answer.reply ? [reply(answer.reply)] : [];
      if (m.flags & NLM_F_ACK) out.push(ack(0));
      return out;
    } catch (err) {
      if (err instanceof Refused) return [ack(err.errno)];
      throw err;
    }
  }

  /** Dump parts packed into datagrams of at most dumpDatagramBytes, NLMSG_DONE (int 0) appended to the last when it fits. */
  private packDump(parts: Buffer[], m: NlMsg): Buffer[] {
    const done = encodeNlMsg({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: m.seq, port: m.port, payload: Buffer.alloc(4) });
    const datagrams: Buffer[][] = [[]];
    let used = 0;
    for (const p of [...parts, done]) {
      if (used > 0 && used + p.length > this.dumpDatagramBytes) {
        datagrams.push([]);
        used = 0;
      }
      datagrams[datagrams.length - 1]!.push(p);
      used += p.length;
    }
    return datagrams.map((d) => Buffer.concat(d));
  }

  private ctrl(cmd: number, attrs: Buffer, dump: boolean): { reply: Buffer } {
    if (cmd !== CTRL_CMD_GETFAMILY || dump) throw new Refused(E.EOPNOTSUPP);
    const name = attrMap(attrs).get(CTRL_ATTR_FAMILY_NAME);
    if (!name) throw new Refused(E.EINVAL);
    if (readString(name) !== IPVS_GENL_NAME || !this.loaded) throw new Refused(E.ENOENT);
    return { reply: encodeFamilyReply({ id: this.familyId, name: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, hdrSize: 0, maxAttr: IPVS_CMD_ATTR_MAX }) };
  }

  // ---- ip_vs_genl_ops ----

  private ipvs(cmd: number, attrs: Buffer, dump: boolean): { reply?: Buffer; dump?: Buffer[] } {
    const hasDumpit = cmd === IPVS_CMD.GET_SERVICE || cmd === IPVS_CMD.GET_DEST || cmd === IPVS_CMD.GET_DAEMON;
    const hasDoit = cmd >= IPVS_CMD.NEW_SERVICE && cmd <= IPVS_CMD.FLUSH && cmd !== IPVS_CMD.GET_DEST && cmd !== IPVS_CMD.GET_DAEMON && cmd !== IPVS_CMD.SET_INFO;
    if (dump ? !hasDumpit : !hasDoit) throw new Refused(E.EOPNOTSUPP); // genl: no dumpit / doit for this command
    this.calls.push({ cmd, dump });
    const injected = this.injected.findIndex((i) => i.cmd === cmd);
    if (injected >= 0) throw new Refused(this.injected.splice(injected, 1)[0]!.errno);
    let top: Map<number, Buffer>;
    try {
      top = attrMap(attrs);
    } catch {
      throw new Refused(E.EINVAL);
    }
    if (dump && cmd === IPVS_CMD.GET_SERVICE) return { dump: this.sortedServices().map((s) => encodeGenl(IPVS_CMD.NEW_SERVICE, IPVS_GENL_VERSION, [this.fillService(s)])) };
    if (dump && cmd === IPVS_CMD.GET_DEST) return { dump: this.dumpDests(top.get(IPVS_CMD_ATTR.SERVICE)) };
    if (dump) return { dump: [] }; // GET_DAEMON: no sync daemons are modelled
    switch (cmd) {
      case IPVS_CMD.GET_SERVICE: {
        const { svc } = this.parseService(top.get(IPVS_CMD_ATTR.SERVICE), false);
        if (!svc) throw new Refused(E.ESRCH);
        return { reply: encodeGenl(IPVS_CMD.NEW_SERVICE, IPVS_GENL_VERSION, [this.fillService(svc)]) };
      }
      case IPVS_CMD.GET_INFO:
        return { reply: encodeGenl(IPVS_CMD.SET_INFO, IPVS_GENL_VERSION, [u32Attr(IPVS_INFO_ATTR.VERSION, IP_VS_VERSION_CODE), u32Attr(IPVS_INFO_ATTR.CONN_TAB_SIZE, this.connTabSize)]) };
      case IPVS_CMD.GET_CONFIG:
        return {
          reply: encodeGenl(IPVS_CMD.SET_CONFIG, IPVS_GENL_VERSION, [
            u32Attr(IPVS_CMD_ATTR.TIMEOUT_TCP, this.timeouts.tcp),
            u32Attr(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN, this.timeouts.tcpFin),
            u32Attr(IPVS_CMD_ATTR.TIMEOUT_UDP, this.timeouts.udp),
          ]),
        };
      case IPVS_CMD.NEW_DAEMON:
      case IPVS_CMD.DEL_DAEMON:
        throw new Refused(E.EOPNOTSUPP); // sync daemons are not modelled
      default:
        this.setCmd(cmd, top);
        return {};
    }
  }

  /** ip_vs_genl_set_cmd. */
  private setCmd(cmd: number, top: Map<number, Buffer>): void {
    if (cmd === IPVS_CMD.FLUSH) {
      this.services = [];
      this.index.clear();
      return;
    }
    if (cmd === IPVS_CMD.SET_CONFIG) return this.setConfig(top);
    if (cmd === IPVS_CMD.ZERO && !top.has(IPVS_CMD_ATTR.SERVICE)) return;
    const needFullSvc = cmd === IPVS_CMD.NEW_SERVICE || cmd === IPVS_CMD.SET_SERVICE;
    const { usvc, svc } = this.parseService(top.get(IPVS_CMD_ATTR.SERVICE), needFullSvc);
    if (cmd !== IPVS_CMD.NEW_SERVICE && !svc) throw new Refused(E.ESRCH);
    let udest: UDest | undefined;
    if (cmd === IPVS_CMD.NEW_DEST || cmd === IPVS_CMD.SET_DEST || cmd === IPVS_CMD.DEL_DEST) {
      udest = parseDest(top.get(IPVS_CMD_ATTR.DEST), cmd !== IPVS_CMD.DEL_DEST);
      if (udest.af === 0) udest.af = svc!.af;
      if (udest.af !== AF_INET && udest.af !== AF_INET6) throw new Refused(E.EAFNOSUPPORT);
      // Mixed-family pools only tunnel (and never with a sync daemon, which is not modelled: state 0).
      if (udest.af !== svc!.af && cmd !== IPVS_CMD.DEL_DEST && udest.fwd !== IP_VS_CONN_F_TUNNEL) throw new Refused(E.EINVAL);
    }
    switch (cmd) {
      case IPVS_CMD.NEW_SERVICE:
        if (svc) throw new Refused(E.EEXIST);
        return this.addService(usvc);
      case IPVS_CMD.SET_SERVICE:
        return this.editService(svc!, usvc);
      case IPVS_CMD.DEL_SERVICE:
        this.services = this.services.filter((s) => s !== svc);
        this.index.delete(identity(svc!));
        return;
      case IPVS_CMD.NEW_DEST:
        return addDest(svc!, udest!);
      case IPVS_CMD.SET_DEST:
        return editDest(svc!, udest!);
      case IPVS_CMD.DEL_DEST: {
        const d = lookupDest(svc!, udest!);
        if (!d) throw new Refused(E.ENOENT);
        svc!.dests = svc!.dests.filter((x) => x !== d);
        return;
      }
      case IPVS_CMD.ZERO:
        return;
      default:
        throw new Refused(E.EINVAL);
    }
  }

  /** ip_vs_genl_parse_service: the user's service and the existing one it names (if any). */
  private parseService(nest: Buffer | undefined, full: boolean): { usvc: USvc; svc: Svc | undefined } {
    const a = parseNest(nest, SVC_POLICY);
    const af = a.get(IPVS_SVC_ATTR.AF);
    const fw = a.get(IPVS_SVC_ATTR.FWMARK);
    const proto = a.get(IPVS_SVC_ATTR.PROTOCOL);
    const addr = a.get(IPVS_SVC_ATTR.ADDR);
    const port = a.get(IPVS_SVC_ATTR.PORT);
    if (!(af && (fw || (port && proto && addr)))) throw new Refused(E.EINVAL);
    const usvc: USvc = { af: af.readUInt16LE(0), protocol: 0, addr: Buffer.alloc(16), port: 0, fwmark: 0, flags: 0, timeout: 0, netmask: 0 };
    if (usvc.af !== AF_INET && usvc.af !== AF_INET6) throw new Refused(E.EAFNOSUPPORT);
    if (fw) {
      usvc.protocol = IPPROTO_TCP;
      usvc.fwmark = fw.readUInt32LE(0);
    } else {
      usvc.protocol = proto!.readUInt16LE(0);
      usvc.addr = memcpyAddr(addr!);
      usvc.port = port!.readUInt16BE(0);
    }
    // __ip_vs_svc_fwm_find (af, fwmark) or __ip_vs_service_find (af, protocol, address, port).
    const svc = this.index.get(identity(usvc));
    if (full) {
      const sched = a.get(IPVS_SVC_ATTR.SCHED_NAME);
      const flags = a.get(IPVS_SVC_ATTR.FLAGS);
      const timeout = a.get(IPVS_SVC_ATTR.TIMEOUT);
      const netmask = a.get(IPVS_SVC_ATTR.NETMASK);
      if (!(sched && flags && timeout && netmask)) throw new Refused(E.EINVAL);
      const f = Buffer.alloc(8);
      flags.copy(f);
      const [want, mask] = [f.readUInt32LE(0), f.readUInt32LE(4)];
      usvc.flags = (((svc?.flags ?? 0) & ~mask) | (want & mask)) >>> 0;
      usvc.sched = readString(sched);
      const pe = a.get(IPVS_SVC_ATTR.PE_NAME);
      if (pe) usvc.pe = readString(pe);
      usvc.timeout = timeout.readUInt32LE(0);
      // nla_get_be32: the raw bytes. An IPv4 mask is in network order; an IPv6 prefix length is the raw u32 (host order).
      usvc.netmask = usvc.af === AF_INET6 ? netmask.readUInt32LE(0) : netmask.readUInt32BE(0);
    }
    return { usvc, svc };
  }

  /** ip_vs_add_service. */
  private addService(u: USvc): void {
    const { sched, pe } = this.checkServiceSettings(u);
    const svc: Svc = {
      af: u.af, protocol: u.protocol, addr: normAddr(u.af, u.addr), port: u.port, fwmark: u.fwmark,
      sched, pe, flags: (u.flags | IP_VS_SVC_F_HASHED) >>> 0, timeout: u.timeout, netmask: u.netmask, dests: [], born: ++this.born,
    };
    this.services.push(svc);
    this.index.set(identity(svc), svc);
  }

  /** ip_vs_edit_service: same checks; the identity (and so its place in the hash) does not change. */
  private editService(svc: Svc, u: USvc): void {
    const { sched, pe } = this.checkServiceSettings(u);
    Object.assign(svc, { sched, pe, flags: (u.flags | IP_VS_SVC_F_HASHED) >>> 0, timeout: u.timeout, netmask: u.netmask });
  }

  /** Scheduler 'none' is none; any other must exist (ENOENT); so must a persistence engine; an IPv6 netmask is a prefix length 1..128. */
  private checkServiceSettings(u: USvc): { sched: string | undefined; pe: string | undefined } {
    const sched = u.sched === 'none' ? undefined : u.sched;
    if (sched !== undefined && !this.schedulers.has(sched)) throw new Refused(E.ENOENT);
    const pe = u.pe ? u.pe : undefined;
    if (pe !== undefined && !this.persistenceEngines.has(pe)) throw new Refused(E.ENOENT);
    if (u.af === AF_INET6 && (u.netmask < 1 || u.netmask > 128)) throw new Refused(E.EINVAL);
    return { sched, pe };
  }

  private setConfig(top: Map<number, Buffer>): void {
    const t = { ...this.timeouts };
    const get = (type: number): number | undefined => (top.has(type) ? top.get(type)!.readInt32LE(0) : undefined);
    const tcp = get(IPVS_CMD_ATTR.TIMEOUT_TCP) ?? t.tcp;
    const tcpFin = get(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN) ?? t.tcpFin;
    const udp = get(IPVS_CMD_ATTR.TIMEOUT_UDP) ?? t.udp;
    // ip_vs_set_timeout: each is an int in seconds; negative or above INT_MAX / HZ is EINVAL; 0 leaves it as it is.
    for (const v of [tcp, tcpFin, udp]) if (v < 0 || v > Math.floor(INT_MAX / HZ)) throw new Refused(E.EINVAL);
    this.timeouts = { tcp: tcp || t.tcp, tcpFin: tcpFin || t.tcpFin, udp: udp || t.udp };
  }

  /** ip_vs_genl_dump_dests: a service that cannot be parsed or found gives an empty dump, not an error. */
  private dumpDests(nest: Buffer | undefined): Buffer[] {
    let svc: Svc | undefined;
    try {
      svc = this.parseService(nest, false).svc;
    } catch (err) {
      if (err instanceof Refused) return [];
      throw err;
    }
    return (svc?.dests ?? []).map((d) => encodeGenl(IPVS_CMD.NEW_DEST, IPVS_GENL_VERSION, [fillDest(d)]));
  }

  /**
   * ip_vs_genl_dump_services' order: the address table's buckets, then the fwmark table's, each
   * bucket newest first. The kernel mixes the netns pointer into the bucket hash, so the real order
   * varies by namespace; the fake takes that term as 0 (decision 0018: callers must not rely on it).
   */
  private sortedServices(): Svc[] {
    const key = (s: Svc): [number, number, number] => [s.fwmark ? 1 : 0, bucketOf(s), -s.born];
    return [...this.services].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
  }

  /** ip_vs_genl_fill_service: attributes in the kernel's order, nests without NLA_F_NESTED, flags with mask ~0, zero stats. */
  private fillService(s: Svc): Buffer {
    const base = { af: s.af, schedName: s.sched ?? 'none', flags: { flags: s.flags, mask: 0xffffffff }, timeout: s.timeout, netmask: s.netmask, stats: zeroStats() };
    const id = s.fwmark ? { fwmark: s.fwmark } : { protocol: s.protocol, addr: s.addr, port: s.port };
    return encodeServiceNest({ ...base, ...id, ...(s.pe ? { peName: s.pe } : {}) }, false);
  }
}

/** What the kernel finds a service by: af + fwmark, or af + protocol + address (as the family compares it) + port. */
function identity(s: { af: number; fwmark: number; protocol: number; addr: Buffer; port: number }): string {
  if (s.fwmark) return `f/${s.af}/${s.fwmark}`;
  return `a/${s.af}/${s.protocol}/${normAddr(s.af, s.addr).toString('hex')}/${s.port}`;
}

/** IP_VS_SVC_TAB_BITS = 8: the bucket of ip_vs_svc_hashkey / ip_vs_svc_fwm_hashkey, netns term 0. */
function bucketOf(s: Svc): number {
  if (s.fwmark) return s.fwmark & 0xff;
  let fold = s.addr.readUInt32BE(0);
  if (s.af === AF_INET6) fold = (fold ^ s.addr.readUInt32BE(4) ^ s.addr.readUInt32BE(8) ^ s.addr.readUInt32BE(12)) >>> 0;
  return (s.protocol ^ fold ^ (s.port >> 8) ^ s.port) & 0xff;
}

/** ip_vs_genl_parse_dest. */
function parseDest(nest: Buffer | undefined, full: boolean): UDest {
  const a = parseNest(nest, DEST_POLICY);
  const addr = a.get(IPVS_DEST_ATTR.ADDR);
  const port = a.get(IPVS_DEST_ATTR.PORT);
  if (!(addr && port)) throw new Refused(E.EINVAL);
  const fam = a.get(IPVS_DEST_ATTR.ADDR_FAMILY);
  const u: UDest = { af: fam ? fam.readUInt16LE(0) : 0, addr: memcpyAddr(addr), port: port.readUInt16BE(0), fwd: 0, weight: 0, uThresh: 0, lThresh: 0, tunType: 0, tunPort: 0 };
  if (full) {
    const fwd = a.get(IPVS_DEST_ATTR.FWD_METHOD);
    const weight = a.get(IPVS_DEST_ATTR.WEIGHT);
    const uT = a.get(IPVS_DEST_ATTR.U_THRESH);
    const lT = a.get(IPVS_DEST_ATTR.L_THRESH);
    if (!(fwd && weight && uT && lT)) throw new Refused(E.EINVAL);
    u.fwd = fwd.readUInt32LE(0) & IP_VS_CONN_F_FWD_MASK;
    u.weight = weight.readInt32LE(0); // udest->weight is an int
    u.uThresh = uT.readUInt32LE(0);
    u.lThresh = lT.readUInt32LE(0);
    const tt = a.get(IPVS_DEST_ATTR.TUN_TYPE);
    const tp = a.get(IPVS_DEST_ATTR.TUN_PORT);
    if (tt) u.tunType = tt.readUInt8(0);
    if (tp) u.tunPort = tp.readUInt16BE(0);
  }
  return u;
}

/** ip_vs_lookup_dest: same family, address and port. */
function lookupDest(svc: Svc, u: UDest): Dest | undefined {
  return svc.dests.find((d) => d.af === u.af && addrEqual(u.af, d.addr, u.addr) && d.port === u.port);
}

/** The checks ip_vs_add_dest and ip_vs_edit_dest share, in their order. */
function checkDest(u: UDest): void {
  if (u.weight < 0) throw new Refused(E.ERANGE);
  if (u.lThresh > u.uThresh) throw new Refused(E.ERANGE);
  if (u.tunType === 1 /* IP_VS_CONN_F_TUNNEL_TYPE_GUE */ && u.tunPort === 0) throw new Refused(E.EINVAL);
}

/** ip_vs_add_dest (+ ip_vs_new_dest's address check: IPv4 unicast or local, IPv6 unicast). */
function addDest(svc: Svc, u: UDest): void {
  checkDest(u);
  if (lookupDest(svc, u)) throw new Refused(E.EEXIST);
  if (!unicast(u.af, u.addr)) throw new Refused(E.EINVAL);
  svc.dests.unshift({ af: u.af, addr: normAddr(u.af, u.addr), port: u.port, fwd: u.fwd, weight: u.weight, uThresh: u.uThresh, lThresh: u.lThresh });
}

/** ip_vs_edit_dest: same checks, then the destination must exist (ENOENT); it keeps its place. */
function editDest(svc: Svc, u: UDest): void {
  checkDest(u);
  const d = lookupDest(svc, u);
  if (!d) throw new Refused(E.ENOENT);
  Object.assign(d, { fwd: u.fwd, weight: u.weight, uThresh: u.uThresh, lThresh: u.lThresh });
}

/**
 * ip_vs_new_dest's address check, as far as it does not depend on the namespace's routes: IPv4 must
 * be what inet_addr_type calls RTN_UNICAST or RTN_LOCAL, so not 0.0.0.0/8 or 255.255.255.255
 * (RTN_BROADCAST) and not 224.0.0.0/4 (RTN_MULTICAST); IPv6 must be unicast and not link-local
 * (ipv6_addr_type), so not ::, ff00::/8 or fe80::/10. (A subnet's own broadcast address, which the
 * kernel also refuses, depends on routes the fake does not have.)
 */
function unicast(af: number, a: Buffer): boolean {
  if (af === AF_INET) return a[0] !== 0 && !(a[0]! >= 224 && a[0]! <= 239) && !a.subarray(0, 4).equals(Buffer.from([255, 255, 255, 255]));
  const linkLocal = a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
  return a[0] !== 0xff && !linkLocal && !a.equals(Buffer.alloc(16));
}

/** ip_vs_genl_fill_dest: attributes in the kernel's order, nests without NLA_F_NESTED, no connections. */
function fillDest(d: Dest): Buffer {
  return encodeDestNest({
    addr: d.addr, port: d.port, fwdMethod: d.fwd, weight: d.weight >>> 0, tunType: 0, tunPort: 0, tunFlags: 0,
    uThresh: d.uThresh, lThresh: d.lThresh, activeConns: 0, inactConns: 0, persistConns: 0, af: d.af, stats: zeroStats(),
  }, false);
}

/** A GenlTransport into a FakeIpvsKernel: each request becomes the exact bytes a socket would send (REQUEST|ACK, seq from 1, a fixed port). */
export class FakeGenlTransport implements GenlTransport {
  private seq = 1;
  private closed = false;
  /** Every request datagram sent, for tests that look at the bytes. */
  readonly sent: Buffer[] = [];

  constructor(
    readonly kernel: FakeIpvsKernel,
    readonly netns = 'fake netns',
    /** nlmsg_pid the socket would have. */
    readonly port = 4242,
  ) {}

  async request(type: number, payload: Buffer, opts: { dump: boolean; op: string }): Promise<NlMsg[]> {
    if (this.closed) throw new KernelError('EBADF', `${opts.op} in ${this.netns}`, 'the generic netlink socket was closed');
    const flags = NLM_F_REQUEST | NLM_F_ACK | (opts.dump ? NLM_F_DUMP : 0);
    const bytes = encodeNlMsg({ type, flags, seq: this.seq++, port: this.port, payload });
    this.sent.push(bytes);
    return this.kernel.handle(bytes).flatMap((d) => parseNlMsgs(d));
  }

  close(): void {
    this.closed = true;
  }
}

/** An Ipvs over a fake kernel (a fresh one unless given): what controller tests use. */
export function openFakeIpvs(kernel = new FakeIpvsKernel(), netns?: string): Promise<Ipvs> {
  return Ipvs.over(new FakeGenlTransport(kernel, netns));
}
