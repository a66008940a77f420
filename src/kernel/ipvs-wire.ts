// The bytes of IPVS over generic netlink: netlink and genl headers, attributes (with their 4-byte
// alignment and nesting), the IPVS service / destination / config attributes, the nlctrl family
// lookup, and the decoding of what the kernel answers (replies, multi-part dumps, NLMSG_DONE,
// NLMSG_ERROR with an errno). Pure: no sockets, no kernel. Every number below is written from the
// Linux uapi headers (linux/netlink.h, linux/genetlink.h, linux/ip_vs.h; Debian 12 linux-libc-dev
// 6.1) and cited next to its value. Bad bytes become an EBADMSG KernelError, never a crash.
import { KernelError } from './errors.js';

// ---- linux/netlink.h ----
/** sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid. */
export const NLMSG_HDRLEN = 16;
/** NLA_HDRLEN: u16 nla_len, u16 nla_type. */
export const NLA_HDRLEN = 4;
export const NLMSG_NOOP = 0x1;
export const NLMSG_ERROR = 0x2;
export const NLMSG_DONE = 0x3;
/** NLMSG_MIN_TYPE: types below are control messages. */
export const NLMSG_MIN_TYPE = 0x10;
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
/** NLM_F_ROOT | NLM_F_MATCH. */
export const NLM_F_DUMP = 0x300;
/** On an NLMSG_ERROR: the echoed request was cut to its header (always so for an ACK). */
export const NLM_F_CAPPED = 0x100;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// ---- linux/genetlink.h ----
/** sizeof(struct genlmsghdr): u8 cmd, u8 version, u16 reserved (GENL_HDRLEN, already 4-aligned). */
export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = NLMSG_MIN_TYPE;
export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
/** The version we put in requests to nlctrl (libnl and the kernel's own genl tools send 1; the kernel ignores it). */
export const CTRL_REQUEST_VERSION = 1;

// ---- linux/ip_vs.h ----
export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 0x1;
/** IP_VS_VERSION_CODE: 1.2.1. */
export const IP_VS_VERSION_CODE = 0x010201;
export const IP_VS_SCHEDNAME_MAXLEN = 16;
export const IP_VS_PENAME_MAXLEN = 16;

export const IP_VS_SVC_F_PERSISTENT = 0x0001;
/** Set by the kernel on every service it has in its tables; it comes back in dumps. */
export const IP_VS_SVC_F_HASHED = 0x0002;
export const IP_VS_SVC_F_ONEPACKET = 0x0004;

export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_BYPASS = 0x0004;

/** enum IPVS_CMD_* */
export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

/** enum IPVS_CMD_ATTR_* (first level of every IPVS message). */
export const IPVS_CMD_ATTR = { SERVICE: 1, DEST: 2, DAEMON: 3, TIMEOUT_TCP: 4, TIMEOUT_TCP_FIN: 5, TIMEOUT_UDP: 6 } as const;
export const IPVS_CMD_ATTR_MAX = 6;

/** enum IPVS_SVC_ATTR_* (inside IPVS_CMD_ATTR_SERVICE). */
export const IPVS_SVC_ATTR = {
  AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9, STATS: 10, PE_NAME: 11, STATS64: 12,
} as const;

/** enum IPVS_DEST_ATTR_* (inside IPVS_CMD_ATTR_DEST). */
export const IPVS_DEST_ATTR = {
  ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, PERSIST_CONNS: 9,
  STATS: 10, ADDR_FAMILY: 11, STATS64: 12, TUN_TYPE: 13, TUN_PORT: 14, TUN_FLAGS: 15,
} as const;

/** enum IPVS_STATS_ATTR_* (inside the STATS and STATS64 nests). */
export const IPVS_STATS_ATTR = {
  CONNS: 1, INPKTS: 2, OUTPKTS: 3, INBYTES: 4, OUTBYTES: 5, CPS: 6, INPPS: 7, OUTPPS: 8, INBPS: 9, OUTBPS: 10, PAD: 11,
} as const;

/** enum IPVS_INFO_ATTR_* (top level of the GET_INFO reply). */
export const IPVS_INFO_ATTR = { VERSION: 1, CONN_TAB_SIZE: 2 } as const;

/** linux/socket.h: the families IPVS takes (AF_INET6 changes how NETMASK travels). */
const AF_INET6 = 10;

/** sizeof(union nf_inet_addr): the kernel always answers addresses in 16 bytes, IPv4 in the first 4. */
export const NF_INET_ADDR_LEN = 16;

// ---- alignment ----

/** NLMSG_ALIGN / NLA_ALIGN: round up to 4. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

function bad(what: string): KernelError {
  return new KernelError('EBADMSG', 'decode netlink message', what);
}

// ---- attributes ----

/** One attribute: header, value, zero padding to 4. nla_len counts header + value, not the padding. */
export function nlAttr(type: number, value: Uint8Array): Buffer {
  const len = NLA_HDRLEN + value.length;
  if (len > 0xffff) throw new KernelError('E2BIG', 'encode netlink attribute', `attribute ${type} is ${len} bytes, more than an nla_len can say`);
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(value, NLA_HDRLEN);
  return out;
}

export function u8Attr(type: number, v: number): Buffer {
  return nlAttr(type, Buffer.of(v & 0xff));
}

export function u16Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return nlAttr(type, b);
}

/** A u32 in host order (little endian on every machine shoal runs on). */
export function u32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return nlAttr(type, b);
}

export function be16Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return nlAttr(type, b);
}

export function be32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return nlAttr(type, b);
}

export function u64Attr(type: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return nlAttr(type, b);
}

/** A NUL-terminated string (NLA_NUL_STRING / NLA_STRING as libnl's nla_put_string sends it). */
export function stringAttr(type: number, s: string): Buffer {
  return nlAttr(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]));
}

/** A nested attribute. nested=true sets NLA_F_NESTED (what we send); the kernel's own replies leave it off. */
export function nestAttr(type: number, children: readonly Buffer[], nested = true): Buffer {
  return nlAttr(nested ? type | NLA_F_NESTED : type, Buffer.concat(children));
}

export interface NlAttrView {
  /** The type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
  type: number;
  nested: boolean;
  value: Buffer;
}

/** Every attribute in buf, in order. Trailing bytes shorter than a header are ignored (as nla_parse does). */
export function parseAttrs(buf: Buffer): NlAttrView[] {
  const out: NlAttrView[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) throw bad(`attribute type ${rawType & NLA_TYPE_MASK} at offset ${off} says ${len} bytes, ${buf.length - off} are left`);
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, value: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** type -> value; a repeated type keeps the last one, as the kernel's nla_parse does. */
export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrs(buf)) m.set(a.type, a.value);
  return m;
}

function need(v: Buffer, n: number, what: string): Buffer {
  if (v.length < n) throw bad(`${what} is ${v.length} bytes, expected ${n}`);
  return v;
}

export const readU8 = (v: Buffer, what = 'u8 attribute'): number => need(v, 1, what).readUInt8(0);
export const readU16 = (v: Buffer, what = 'u16 attribute'): number => need(v, 2, what).readUInt16LE(0);
export const readU32 = (v: Buffer, what = 'u32 attribute'): number => need(v, 4, what).readUInt32LE(0);
export const readBe16 = (v: Buffer, what = 'be16 attribute'): number => need(v, 2, what).readUInt16BE(0);
export const readBe32 = (v: Buffer, what = 'be32 attribute'): number => need(v, 4, what).readUInt32BE(0);

/** A u64 attribute, or a u32 one (the STATS nest mixes both). */
export function readU64(v: Buffer, what = 'u64 attribute'): bigint {
  if (v.length >= 8) return v.readBigUInt64LE(0);
  return BigInt(need(v, 4, what).readUInt32LE(0));
}

/** A string attribute up to its first NUL. */
export function readString(v: Buffer): string {
  const nul = v.indexOf(0);
  return v.subarray(0, nul < 0 ? v.length : nul).toString('utf8');
}

// ---- messages ----

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  /** nlmsg_pid: the sender's port id (0 from the kernel in requests, the socket's in replies). */
  port: number;
  payload: Buffer;
}

/** nlmsghdr + payload. nlmsg_len counts both; the payload is padded to 4 (genl payloads already are). */
export function encodeNlMsg(m: NlMsg): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + align4(m.payload.length));
  out.writeUInt32LE(NLMSG_HDRLEN + m.payload.length, 0);
  out.writeUInt16LE(m.type, 4);
  out.writeUInt16LE(m.flags, 6);
  out.writeUInt32LE(m.seq >>> 0, 8);
  out.writeUInt32LE(m.port >>> 0, 12);
  out.set(m.payload, NLMSG_HDRLEN);
  return out;
}

/** Every message in one datagram (the kernel packs several dump parts into one). */
export function parseNlMsgs(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) throw bad(`message at offset ${off} says ${len} bytes, ${buf.length - off} are left`);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      port: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length && buf.subarray(off).some((b) => b !== 0)) throw bad(`${buf.length - off} stray bytes after the last message`);
  return out;
}

export interface GenlMsg {
  cmd: number;
  version: number;
  /** The attributes after the genl header. */
  attrs: Buffer;
}

/** genlmsghdr + attributes: the payload of a generic netlink message. */
export function encodeGenl(cmd: number, version: number, attrs: readonly Buffer[] = []): Buffer {
  const hdr = Buffer.alloc(GENL_HDRLEN);
  hdr.writeUInt8(cmd, 0);
  hdr.writeUInt8(version, 1);
  return Buffer.concat([hdr, ...attrs]);
}

export function parseGenl(payload: Buffer): GenlMsg {
  need(payload, GENL_HDRLEN, 'generic netlink payload');
  return { cmd: payload.readUInt8(0), version: payload.readUInt8(1), attrs: payload.subarray(GENL_HDRLEN) };
}

/**
 * The payload of an NLMSG_ERROR: struct nlmsgerr { int error; struct nlmsghdr msg; } then, unless
 * capped, the rest of the request. error is 0 for an ACK, else a negative errno.
 */
export function encodeNlErr(errno: number, request: Buffer, capped: boolean): Buffer {
  const echoed = capped ? request.subarray(0, NLMSG_HDRLEN) : request.subarray(0, Math.max(NLMSG_HDRLEN, request.readUInt32LE(0)));
  const out = Buffer.alloc(4 + echoed.length);
  out.writeInt32LE(errno === 0 ? 0 : -Math.abs(errno), 0);
  out.set(echoed, 4);
  return out;
}

/** The positive errno of an NLMSG_ERROR payload (0 for an ACK). */
export function parseNlErr(payload: Buffer): { errno: number; requestSeq: number | undefined } {
  need(payload, 4, 'NLMSG_ERROR payload');
  const error = payload.readInt32LE(0);
  const requestSeq = payload.length >= 4 + NLMSG_HDRLEN ? payload.readUInt32LE(4 + 8) : undefined;
  return { errno: -error, requestSeq };
}

/** What a request got back: its genl messages, or the errno the kernel refused it with. */
export type Reply = { ok: true; messages: GenlMsg[] } | { ok: false; errno: number };

/**
 * Interprets the messages answering one request: genl messages (a reply, or a dump's parts), ended
 * by an ACK, NLMSG_DONE (whose int is the dump's error, 0 when it went well) or an NLMSG_ERROR. The
 * netlink package hands dumps over with NLMSG_DONE already removed, and a reply without its ACK;
 * both are accepted. Messages of another seq are not ours and are skipped.
 */
export function interpretReply(msgs: readonly NlMsg[], family: number, seq?: number): Reply {
  const messages: GenlMsg[] = [];
  for (const m of msgs) {
    if (seq !== undefined && m.seq !== seq) continue;
    if (m.type === NLMSG_ERROR) {
      const { errno } = parseNlErr(m.payload);
      if (errno !== 0) return { ok: false, errno };
      break;
    }
    if (m.type === NLMSG_DONE) {
      const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
      if (errno !== 0) return { ok: false, errno };
      break;
    }
    if (m.type === NLMSG_NOOP) continue;
    if (m.type !== family) throw bad(`a reply of type ${m.type} to a request to family ${family}`);
    messages.push(parseGenl(m.payload));
  }
  return { ok: true, messages };
}

// ---- nlctrl: resolving a family name ----

/** CTRL_CMD_GETFAMILY for a family name (e.g. 'IPVS'); the payload of a message to GENL_ID_CTRL. */
export function encodeGetFamily(name: string): Buffer {
  return encodeGenl(CTRL_CMD_GETFAMILY, CTRL_REQUEST_VERSION, [stringAttr(CTRL_ATTR_FAMILY_NAME, name)]);
}

export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  hdrSize: number;
  maxAttr: number;
}

export function decodeFamily(msg: GenlMsg): GenlFamily {
  const a = attrMap(msg.attrs);
  const id = a.get(CTRL_ATTR_FAMILY_ID);
  if (id === undefined) throw bad('CTRL_CMD_NEWFAMILY without CTRL_ATTR_FAMILY_ID');
  const opt = (t: number): number => (a.has(t) ? readU32(a.get(t)!) : 0);
  return {
    id: readU16(id),
    name: readString(a.get(CTRL_ATTR_FAMILY_NAME) ?? Buffer.alloc(0)),
    version: opt(CTRL_ATTR_VERSION),
    hdrSize: opt(CTRL_ATTR_HDRSIZE),
    maxAttr: opt(CTRL_ATTR_MAXATTR),
  };
}

/** What nlctrl answers (CTRL_CMD_NEWFAMILY; the fake answers with this, without the ops and groups lists). */
export function encodeFamilyReply(f: GenlFamily, ctrlVersion = 2): Buffer {
  return encodeGenl(CTRL_CMD_NEWFAMILY, ctrlVersion, [
    stringAttr(CTRL_ATTR_FAMILY_NAME, f.name),
    u16Attr(CTRL_ATTR_FAMILY_ID, f.id),
    u32Attr(CTRL_ATTR_VERSION, f.version),
    u32Attr(CTRL_ATTR_HDRSIZE, f.hdrSize),
    u32Attr(CTRL_ATTR_MAXATTR, f.maxAttr),
  ]);
}

// ---- IPVS services and destinations, as numbers and bytes ----

/** struct ip_vs_flags: the flags to set and which bits of them count. */
export interface IpvsFlags {
  flags: number;
  mask: number;
}

/** IPVS stats as the kernel reports them (STATS64 when present, else STATS). */
export interface IpvsStats {
  conns: bigint;
  inpkts: bigint;
  outpkts: bigint;
  inbytes: bigint;
  outbytes: bigint;
  cps: bigint;
  inpps: bigint;
  outpps: bigint;
  inbps: bigint;
  outbps: bigint;
}

/** The IPVS_SVC_ATTR_* of one service; absent attributes are undefined. */
export interface WireService {
  af?: number;
  protocol?: number;
  /** 16 bytes (union nf_inet_addr) or fewer. */
  addr?: Buffer;
  port?: number;
  fwmark?: number;
  schedName?: string;
  peName?: string;
  flags?: IpvsFlags;
  /** Persistence timeout in seconds. */
  timeout?: number;
  /**
   * IPv4: a mask, e.g. 0xffffff00 for /24, travelling in network order; IPv6: a prefix length 1-128,
   * travelling in host order. The attribute is a __be32 in ip_vs_ctl.c, but for IPv6 it holds the
   * prefix length read back with a (__force __u32) cast, so its bytes are host order (ipvsadm sends
   * 128 as 80 00 00 00, and the kernel answers the same).
   */
  netmask?: number;
  stats?: IpvsStats;
}

/** The IPVS_DEST_ATTR_* of one destination. */
export interface WireDest {
  addr?: Buffer;
  port?: number;
  fwdMethod?: number;
  weight?: number;
  uThresh?: number;
  lThresh?: number;
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
  af?: number;
  tunType?: number;
  tunPort?: number;
  tunFlags?: number;
  stats?: IpvsStats;
}

/** An address in the 16 bytes of union nf_inet_addr (IPv4 in the first 4, the rest zero), as the kernel answers it. */
export function inetAddr(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(NF_INET_ADDR_LEN);
  out.set(bytes.subarray(0, NF_INET_ADDR_LEN));
  return out;
}

/**
 * The IPVS_CMD_ATTR_SERVICE nest of a request: AF, then FWMARK or PROTOCOL+ADDR+PORT, then the
 * settings that are present (SCHED_NAME, PE_NAME, FLAGS, TIMEOUT, NETMASK), in the kernel's
 * attribute order. Identify-only requests (delete, list destinations) leave the settings out.
 */
export function encodeServiceNest(s: WireService, nested = true): Buffer {
  const A = IPVS_SVC_ATTR;
  const parts: Buffer[] = [];
  if (s.af !== undefined) parts.push(u16Attr(A.AF, s.af));
  if (s.fwmark !== undefined) parts.push(u32Attr(A.FWMARK, s.fwmark));
  if (s.protocol !== undefined) parts.push(u16Attr(A.PROTOCOL, s.protocol));
  if (s.addr !== undefined) parts.push(nlAttr(A.ADDR, s.addr));
  if (s.port !== undefined) parts.push(be16Attr(A.PORT, s.port));
  if (s.schedName !== undefined) parts.push(stringAttr(A.SCHED_NAME, s.schedName));
  if (s.peName !== undefined) parts.push(stringAttr(A.PE_NAME, s.peName));
  if (s.flags !== undefined) parts.push(nlAttr(A.FLAGS, encodeIpvsFlags(s.flags)));
  if (s.timeout !== undefined) parts.push(u32Attr(A.TIMEOUT, s.timeout));
  if (s.netmask !== undefined) parts.push(s.af === AF_INET6 ? u32Attr(A.NETMASK, s.netmask) : be32Attr(A.NETMASK, s.netmask));
  if (s.stats !== undefined) parts.push(encodeStatsNest(A.STATS, s.stats, false, nested), encodeStatsNest(A.STATS64, s.stats, true, nested));
  return nestAttr(IPVS_CMD_ATTR.SERVICE, parts, nested);
}

/** struct ip_vs_flags { __u32 flags; __u32 mask; } in host order. */
export function encodeIpvsFlags(f: IpvsFlags): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(f.flags >>> 0, 0);
  b.writeUInt32LE(f.mask >>> 0, 4);
  return b;
}

/** The contents of an IPVS_CMD_ATTR_SERVICE nest. */
export function decodeServiceNest(nest: Buffer): WireService {
  const A = IPVS_SVC_ATTR;
  const a = attrMap(nest);
  const s: WireService = {};
  const v = (t: number): Buffer | undefined => a.get(t);
  if (v(A.AF)) s.af = readU16(v(A.AF)!, 'IPVS_SVC_ATTR_AF');
  if (v(A.PROTOCOL)) s.protocol = readU16(v(A.PROTOCOL)!, 'IPVS_SVC_ATTR_PROTOCOL');
  if (v(A.ADDR)) s.addr = inetAddr(v(A.ADDR)!);
  if (v(A.PORT)) s.port = readBe16(v(A.PORT)!, 'IPVS_SVC_ATTR_PORT');
  if (v(A.FWMARK)) s.fwmark = readU32(v(A.FWMARK)!, 'IPVS_SVC_ATTR_FWMARK');
  if (v(A.SCHED_NAME)) s.schedName = readString(v(A.SCHED_NAME)!);
  if (v(A.PE_NAME)) s.peName = readString(v(A.PE_NAME)!);
  if (v(A.FLAGS)) {
    const f = need(v(A.FLAGS)!, 8, 'IPVS_SVC_ATTR_FLAGS');
    s.flags = { flags: f.readUInt32LE(0), mask: f.readUInt32LE(4) };
  }
  if (v(A.TIMEOUT)) s.timeout = readU32(v(A.TIMEOUT)!, 'IPVS_SVC_ATTR_TIMEOUT');
  if (v(A.NETMASK)) s.netmask = s.af === AF_INET6 ? readU32(v(A.NETMASK)!, 'IPVS_SVC_ATTR_NETMASK') : readBe32(v(A.NETMASK)!, 'IPVS_SVC_ATTR_NETMASK');
  const stats = v(A.STATS64) ?? v(A.STATS);
  if (stats) s.stats = decodeStats(stats);
  return s;
}

/** The IPVS_CMD_ATTR_DEST nest, in the kernel's attribute order; absent fields are left out. */
export function encodeDestNest(d: WireDest, nested = true): Buffer {
  const A = IPVS_DEST_ATTR;
  const parts: Buffer[] = [];
  if (d.addr !== undefined) parts.push(nlAttr(A.ADDR, d.addr));
  if (d.port !== undefined) parts.push(be16Attr(A.PORT, d.port));
  if (d.fwdMethod !== undefined) parts.push(u32Attr(A.FWD_METHOD, d.fwdMethod));
  if (d.weight !== undefined) parts.push(u32Attr(A.WEIGHT, d.weight));
  if (d.tunType !== undefined) parts.push(u8Attr(A.TUN_TYPE, d.tunType));
  if (d.tunPort !== undefined) parts.push(be16Attr(A.TUN_PORT, d.tunPort));
  if (d.tunFlags !== undefined) parts.push(u16Attr(A.TUN_FLAGS, d.tunFlags));
  if (d.uThresh !== undefined) parts.push(u32Attr(A.U_THRESH, d.uThresh));
  if (d.lThresh !== undefined) parts.push(u32Attr(A.L_THRESH, d.lThresh));
  if (d.activeConns !== undefined) parts.push(u32Attr(A.ACTIVE_CONNS, d.activeConns));
  if (d.inactConns !== undefined) parts.push(u32Attr(A.INACT_CONNS, d.inactConns));
  if (d.persistConns !== undefined) parts.push(u32Attr(A.PERSIST_CONNS, d.persistConns));
  if (d.af !== undefined) parts.push(u16Attr(A.ADDR_FAMILY, d.af));
  if (d.stats !== undefined) parts.push(encodeStatsNest(A.STATS, d.stats, false, nested), encodeStatsNest(A.STATS64, d.stats, true, nested));
  return nestAttr(IPVS_CMD_ATTR.DEST, parts, nested);
}

export function decodeDestNest(nest: Buffer): WireDest {
  const A = IPVS_DEST_ATTR;
  const a = attrMap(nest);
  const d: WireDest = {};
  const v = (t: number): Buffer | undefined => a.get(t);
  if (v(A.ADDR)) d.addr = inetAddr(v(A.ADDR)!);
  if (v(A.PORT)) d.port = readBe16(v(A.PORT)!, 'IPVS_DEST_ATTR_PORT');
  if (v(A.FWD_METHOD)) d.fwdMethod = readU32(v(A.FWD_METHOD)!, 'IPVS_DEST_ATTR_FWD_METHOD');
  if (v(A.WEIGHT)) d.weight = readU32(v(A.WEIGHT)!, 'IPVS_DEST_ATTR_WEIGHT');
  if (v(A.U_THRESH)) d.uThresh = readU32(v(A.U_THRESH)!, 'IPVS_DEST_ATTR_U_THRESH');
  if (v(A.L_THRESH)) d.lThresh = readU32(v(A.L_THRESH)!, 'IPVS_DEST_ATTR_L_THRESH');
  if (v(A.ACTIVE_CONNS)) d.activeConns = readU32(v(A.ACTIVE_CONNS)!);
  if (v(A.INACT_CONNS)) d.inactConns = readU32(v(A.INACT_CONNS)!);
  if (v(A.PERSIST_CONNS)) d.persistConns = readU32(v(A.PERSIST_CONNS)!);
  if (v(A.ADDR_FAMILY)) d.af = readU16(v(A.ADDR_FAMILY)!, 'IPVS_DEST_ATTR_ADDR_FAMILY');
  if (v(A.TUN_TYPE)) d.tunType = readU8(v(A.TUN_TYPE)!);
  if (v(A.TUN_PORT)) d.tunPort = readBe16(v(A.TUN_PORT)!);
  if (v(A.TUN_FLAGS)) d.tunFlags = readU16(v(A.TUN_FLAGS)!);
  const stats = v(A.STATS64) ?? v(A.STATS);
  if (stats) d.stats = decodeStats(stats);
  return d;
}

const STATS_FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes', 'cps', 'inpps', 'outpps', 'inbps', 'outbps'] as const;

export function zeroStats(): IpvsStats {
  return { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n };
}

/**
 * A STATS nest (u32 counters except INBYTES/OUTBYTES, u64) or a STATS64 nest (all u64), as
 * ip_vs_genl_fill_stats / _stats64 write them on x86_64 (no IPVS_STATS_ATTR_PAD: u64 need no
 * alignment there).
 */
export function encodeStatsNest(type: number, s: IpvsStats, wide: boolean, nested: boolean): Buffer {
  const parts = STATS_FIELDS.map((f, i) => {
    const attr = i + 1;
    const v = s[f];
    return wide || f === 'inbytes' || f === 'outbytes' ? u64Attr(attr, v) : u32Attr(attr, Number(BigInt.asUintN(32, v)));
  });
  return nestAttr(type, parts, nested);
}

export function decodeStats(nest: Buffer): IpvsStats {
  const a = attrMap(nest);
  const s = zeroStats();
  STATS_FIELDS.forEach((f, i) => {
    const v = a.get(i + 1);
    if (v) s[f] = readU64(v, `IPVS stats ${f}`);
  });
  return s;
}

/** The TIMEOUT_* attributes of SET_CONFIG / the GET_CONFIG reply, in seconds; 0 leaves one unchanged. */
export interface IpvsTimeouts {
  tcp?: number;
  tcpFin?: number;
  udp?: number;
}

/** The payload (genl header + attributes) of an IPVS request. */
export function encodeIpvsRequest(cmd: number, parts: { service?: WireService; dest?: WireDest; timeouts?: IpvsTimeouts } = {}): Buffer {
  const attrs: Buffer[] = [];
  if (parts.service) attrs.push(encodeServiceNest(parts.service));
  if (parts.dest) attrs.push(encodeDestNest(parts.dest));
  const t = parts.timeouts;
  if (t?.tcp !== undefined) attrs.push(u32Attr(IPVS_CMD_ATTR.TIMEOUT_TCP, t.tcp));
  if (t?.tcpFin !== undefined) attrs.push(u32Attr(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin));
  if (t?.udp !== undefined) attrs.push(u32Attr(IPVS_CMD_ATTR.TIMEOUT_UDP, t.udp));
  return encodeGenl(cmd, IPVS_GENL_VERSION, attrs);
}

/** The services of GET_SERVICE replies (IPVS_CMD_NEW_SERVICE, one IPVS_CMD_ATTR_SERVICE nest each). */
export function decodeServices(msgs: readonly GenlMsg[]): WireService[] {
  return msgs.map((m) => {
    const nest = attrMap(m.attrs).get(IPVS_CMD_ATTR.SERVICE);
    if (!nest) throw bad(`IPVS message cmd ${m.cmd} without IPVS_CMD_ATTR_SERVICE`);
    return decodeServiceNest(nest);
  });
}

/** The destinations of GET_DEST dump parts (IPVS_CMD_NEW_DEST, one IPVS_CMD_ATTR_DEST nest each). */
export function decodeDests(msgs: readonly GenlMsg[]): WireDest[] {
  return msgs.map((m) => {
    const nest = attrMap(m.attrs).get(IPVS_CMD_ATTR.DEST);
    if (!nest) throw bad(`IPVS message cmd ${m.cmd} without IPVS_CMD_ATTR_DEST`);
    return decodeDestNest(nest);
  });
}

export interface IpvsInfoWire {
  versionCode: number;
  connTabSize: number;
}

/** The GET_INFO reply (IPVS_CMD_SET_INFO): top-level IPVS_INFO_ATTR_*. */
export function decodeInfo(msg: GenlMsg): IpvsInfoWire {
  const a = attrMap(msg.attrs);
  const version = a.get(IPVS_INFO_ATTR.VERSION);
  const size = a.get(IPVS_INFO_ATTR.CONN_TAB_SIZE);
  if (!version || !size) throw bad('IPVS GET_INFO reply without VERSION or CONN_TAB_SIZE');
  return { versionCode: readU32(version), connTabSize: readU32(size) };
}

/** The GET_CONFIG reply (IPVS_CMD_SET_CONFIG): top-level TIMEOUT_* in seconds. */
export function decodeTimeouts(msg: GenlMsg): Required<IpvsTimeouts> {
  const a = attrMap(msg.attrs);
  const get = (t: number): number => (a.has(t) ? readU32(a.get(t)!) : 0);
  return { tcp: get(IPVS_CMD_ATTR.TIMEOUT_TCP), tcpFin: get(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN), udp: get(IPVS_CMD_ATTR.TIMEOUT_UDP) };
}

/** '1.2.1' from IP_VS_VERSION_CODE-style 0x010201. */
export function versionText(code: number): string {
  return `${(code >> 16) & 0xff}.${(code >> 8) & 0xff}.${code & 0xff}`;
}
