// memberlist's messages: the type byte and the msgpack body of each (shared/reference/memberlist.md
// §2), as typed objects with camelCase fields. Bodies encode byte-for-byte as Go does: keys in
// sorted order, strings and []byte as raw, IPs as 4 or 16 raw bytes, Vsn as 6 raw bytes.
import { isIPv4, isIPv6 } from 'node:net';
import { WireError } from './errors.js';
import { decodeAt, Encoder, MsgExt, type MsgMap, type MsgValue } from './msgpack.js';

export const MsgType = {
  ping: 0,
  indirectPing: 1,
  ack: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nack: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const;

export type Vsn = [number, number, number, number, number, number];

export interface Ping { node: string; seqNo: number; sourceAddr?: string; sourcePort?: number; sourceNode?: string }
export interface IndirectPing { seqNo: number; target: string; port: number; node: string; nack: boolean; sourceAddr?: string; sourcePort?: number; sourceNode?: string }
export interface Ack { seqNo: number; payload: Uint8Array | null }
export interface Nack { seqNo: number }
export interface Suspect { incarnation: number; node: string; from: string }
export interface Alive { incarnation: number; node: string; addr: string; port: number; meta: Uint8Array; vsn: Vsn }
export interface Dead { incarnation: number; node: string; from: string }
export interface PushPullHeader { nodes: number; userStateLen: number; join: boolean }
export interface PushNodeState { name: string; addr: string; port: number; meta: Uint8Array; incarnation: number; state: number; vsn: Vsn }
export interface UserMsgHeader { userMsgLen: number }
export interface ErrResp { error: string }
export interface Compress { algo: number; buf: Uint8Array }

/** One decoded packet-level message (not a wrapper: compound, compress, CRC and encryption are unwrapped elsewhere). */
export type Message =
  | ({ type: 'ping' } & Ping)
  | ({ type: 'indirectPing' } & IndirectPing)
  | ({ type: 'ack' } & Ack)
  | ({ type: 'nack' } & Nack)
  | ({ type: 'suspect' } & Suspect)
  | ({ type: 'alive' } & Alive)
  | ({ type: 'dead' } & Dead)
  | { type: 'user'; payload: Uint8Array };

// ---- IP addresses as raw bytes ----

/** The raw bytes Go writes for an IP: 4 for IPv4 (an IPv4-mapped IPv6 address included, as Go's To4 does), else 16. */
export function ipToBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new WireError('BAD_FIELD', `'${ip}' is not an IP address`);
  const b = ipv6Bytes(ip);
  return isV4Mapped(b) ? b.slice(12) : b;
}

function isV4Mapped(b: Uint8Array): boolean {
  return b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** 16 bytes of an IPv6 literal (validated by isIPv6): '::' expanded, a trailing dotted IPv4 part allowed. */
function ipv6Bytes(ip: string): Uint8Array {
  const groupsOf = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const [head = '', tail] = ip.split('::');
  const h = groupsOf(head);
  const t = tail === undefined ? [] : groupsOf(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** RFC 5952 text of 16 address bytes: lowercase, the longest run of two or more zero groups as '::'. */
function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function bytesToIp(b: Uint8Array, field: string): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) return isV4Mapped(b) ? [...b.subarray(12)].join('.') : ipv6Text(b);
  throw new WireError('BAD_FIELD', `${field} holds ${b.length} bytes, not an IPv4 (4) or IPv6 (16) address`);
}

// ---- reading fields out of a decoded map ----

function fieldBytes(m: MsgMap, key: string, what: string): Uint8Array {
  const v = m[key];
  if (v === undefined || v === null) return new Uint8Array();
  if (v instanceof Uint8Array) return v;
  throw new WireError('BAD_FIELD', `${what}.${key} must be a string of bytes`);
}

function fieldString(m: MsgMap, key: string, what: string): string {
  return Buffer.from(fieldBytes(m, key, what)).toString('utf8');
}

function fieldUint(m: MsgMap, key: string, what: string, max = 0xffffffff): number {
  const v = m[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new WireError('BAD_FIELD', `${what}.${key} must be an integer in 0..${max}`);
  return v;
}

function fieldBool(m: MsgMap, key: string, what: string): boolean {
  const v = m[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new WireError('BAD_FIELD', `${what}.${key} must be a boolean`);
  return v;
}

function fieldVsn(m: MsgMap, what: string): Vsn {
  const b = fieldBytes(m, 'Vsn', what);
  if (b.length !== 6) throw new WireError('BAD_VSN', `${what}.Vsn holds ${b.length} bytes; memberlist requires exactly 6`);
  return [...b] as Vsn;
}

function optionalIp(m: MsgMap, key: string, what: string): string | undefined {
  const b = fieldBytes(m, key, what);
  return b.length === 0 ? undefined : bytesToIp(b, `${what}.${key}`);
}

function asMap(v: MsgValue, what: string): MsgMap {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v instanceof MsgExt || Array.isArray(v)) throw new WireError('BAD_FIELD', `${what} body is not a map`);
  return v;
}

// ---- bodies ----

function vsnBytes(v: Vsn): Uint8Array {
  if (v.length !== 6 || v.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new WireError('BAD_VSN', `Vsn must be 6 numbers in 0..255, got [${v.join(',')}]`);
  return Uint8Array.from(v);
}

/** Writes [type][body]. Fields whose value is undefined are left out (Go's omitempty). */
function message(type: number, body: { [k: string]: MsgValue | undefined }): Buffer {
  const e = new Encoder();
  e.uint(type);
  return e.map(body).finish();
}

const src = (addr?: string, port?: number, node?: string) => ({
  SourceAddr: addr ? ipToBytes(addr) : undefined,
  SourceNode: node || undefined,
  SourcePort: port || undefined,
});

export function encodePing(p: Ping): Buffer {
  return message(MsgType.ping, { Node: p.node, SeqNo: p.seqNo, ...src(p.sourceAddr, p.sourcePort, p.sourceNode) });
}

export function encodeIndirectPing(p: IndirectPing): Buffer {
  return message(MsgType.indirectPing, { Nack: p.nack, Node: p.node, Port: p.port, SeqNo: p.seqNo, Target: ipToBytes(p.target), ...src(p.sourceAddr, p.sourcePort, p.sourceNode) });
}

export function encodeAck(a: Ack): Buffer {
  return message(MsgType.ack, { Payload: a.payload, SeqNo: a.seqNo });
}

export function encodeNack(n: Nack): Buffer {
  return message(MsgType.nack, { SeqNo: n.seqNo });
}

export function encodeSuspect(s: Suspect): Buffer {
  return message(MsgType.suspect, { From: s.from, Incarnation: s.incarnation, Node: s.node });
}

export function encodeAlive(a: Alive): Buffer {
  return message(MsgType.alive, { Addr: ipToBytes(a.addr), Incarnation: a.incarnation, Meta: a.meta, Node: a.node, Port: a.port, Vsn: vsnBytes(a.vsn) });
}

export function encodeDead(d: Dead): Buffer {
  return message(MsgType.dead, { From: d.from, Incarnation: d.incarnation, Node: d.node });
}

export function encodeUser(payload: Uint8Array): Buffer {
  return Buffer.concat([Uint8Array.of(MsgType.user), payload]);
}

export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case 'ping': return encodePing(m);
    case 'indirectPing': return encodeIndirectPing(m);
    case 'ack': return encodeAck(m);
    case 'nack': return encodeNack(m);
    case 'suspect': return encodeSuspect(m);
    case 'alive': return encodeAlive(m);
    case 'dead': return encodeDead(m);
    case 'user': return encodeUser(m.payload);
  }
}

/** The msgpack bodies of a push/pull: header, then each node state (no type byte). */
export function encodePushPullHeader(h: PushPullHeader): Buffer {
  return new Encoder().map({ Join: h.join, Nodes: h.nodes, UserStateLen: h.userStateLen }).finish();
}

export function encodePushNodeState(n: PushNodeState): Buffer {
  return new Encoder().map({ Addr: ipToBytes(n.addr), Incarnation: n.incarnation, Meta: n.meta, Name: n.name, Port: n.port, State: n.state, Vsn: vsnBytes(n.vsn) }).finish();
}

/** Types whose [type][msgpack body] is a whole message on UDP (user messages are opaque bytes). */
const BODY_TYPES: ReadonlySet<number> = new Set([MsgType.ping, MsgType.indirectPing, MsgType.ack, MsgType.nack, MsgType.suspect, MsgType.alive, MsgType.dead]);

/** Go's struct name for each type byte, for error messages. */
const GO_NAMES: Record<number, string> = { 0: 'ping', 1: 'indirectPingReq', 2: 'ackResp', 3: 'suspect', 4: 'alive', 5: 'dead', 6: 'pushPull', 7: 'compound', 8: 'user', 9: 'compress', 10: 'encrypt', 11: 'nackResp', 12: 'hasCrc', 13: 'errResp', 244: 'hasLabel' };

export function decodeBody(type: number, body: MsgValue): Message {
  const what = GO_NAMES[type] ?? `type ${type}`;
  if (!BODY_TYPES.has(type)) throw new WireError('BAD_TYPE', `message type ${type} (${what}) has no msgpack body here`);
  const m = asMap(body, what);
  switch (type) {
    case MsgType.ping:
      return { type: 'ping', node: fieldString(m, 'Node', what), seqNo: fieldUint(m, 'SeqNo', what), sourceAddr: optionalIp(m, 'SourceAddr', what), sourcePort: fieldUint(m, 'SourcePort', what, 0xffff) || undefined, sourceNode: fieldString(m, 'SourceNode', what) || undefined };
    case MsgType.indirectPing:
      return { type: 'indirectPing', seqNo: fieldUint(m, 'SeqNo', what), target: bytesToIp(fieldBytes(m, 'Target', what), `${what}.Target`), port: fieldUint(m, 'Port', what, 0xffff), node: fieldString(m, 'Node', what), nack: fieldBool(m, 'Nack', what), sourceAddr: optionalIp(m, 'SourceAddr', what), sourcePort: fieldUint(m, 'SourcePort', what, 0xffff) || undefined, sourceNode: fieldString(m, 'SourceNode', what) || undefined };
    case MsgType.ack:
      return { type: 'ack', seqNo: fieldUint(m, 'SeqNo', what), payload: m.Payload === null || m.Payload === undefined ? null : fieldBytes(m, 'Payload', what) };
    case MsgType.nack:
      return { type: 'nack', seqNo: fieldUint(m, 'SeqNo', what) };
    case MsgType.suspect:
      return { type: 'suspect', incarnation: fieldUint(m, 'Incarnation', what), node: fieldString(m, 'Node', what), from: fieldString(m, 'From', what) };
    case MsgType.dead:
      return { type: 'dead', incarnation: fieldUint(m, 'Incarnation', what), node: fieldString(m, 'Node', what), from: fieldString(m, 'From', what) };
    case MsgType.alive:
      return { type: 'alive', incarnation: fieldUint(m, 'Incarnation', what), node: fieldString(m, 'Node', what), addr: bytesToIp(fieldBytes(m, 'Addr', what), `${what}.Addr`), port: fieldUint(m, 'Port', what, 0xffff), meta: fieldBytes(m, 'Meta', what), vsn: fieldVsn(m, what) };
    default:
      throw new WireError('BAD_TYPE', `message type ${type} has no msgpack body here`);
  }
}

/** Decodes a single [type][body] message (user messages keep their opaque payload). */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length === 0) throw new WireError('TRUNCATED', 'empty message');
  const type = buf[0]!;
  if (type === MsgType.user) return { type: 'user', payload: buf.subarray(1) };
  if (!BODY_TYPES.has(type)) throw new WireError('BAD_TYPE', `message type ${type} (${GO_NAMES[type] ?? 'unknown'}) is not a message that can be decoded on its own`);
  // Like Go's decoder (one value read from the part), bytes after the body are ignored.
  return decodeBody(type, decodeAt(buf, 1).value);
}

export function decodePushPullHeader(v: MsgValue): PushPullHeader {
  const m = asMap(v, 'pushPullHeader');
  return { join: fieldBool(m, 'Join', 'pushPullHeader'), nodes: fieldUint(m, 'Nodes', 'pushPullHeader', 1 << 20), userStateLen: fieldUint(m, 'UserStateLen', 'pushPullHeader', 20 * 1024 * 1024) };
}

export function decodePushNodeState(v: MsgValue): PushNodeState {
  const w = 'pushNodeState';
  const m = asMap(v, w);
  return { name: fieldString(m, 'Name', w), addr: bytesToIp(fieldBytes(m, 'Addr', w), `${w}.Addr`), port: fieldUint(m, 'Port', w, 0xffff), meta: fieldBytes(m, 'Meta', w), incarnation: fieldUint(m, 'Incarnation', w), state: fieldUint(m, 'State', w, 3), vsn: fieldVsn(m, w) };
}

export function decodeCompress(v: MsgValue): Compress {
  const m = asMap(v, 'compress');
  return { algo: fieldUint(m, 'Algo', 'compress', 255), buf: fieldBytes(m, 'Buf', 'compress') };
}

export function encodeCompress(c: Compress): Buffer {
  return message(MsgType.compress, { Algo: c.algo, Buf: c.buf });
}

export function decodeErrResp(v: MsgValue): ErrResp {
  return { error: fieldString(asMap(v, 'errResp'), 'Error', 'errResp') };
}

export function encodeErrResp(e: ErrResp): Buffer {
  return message(MsgType.err, { Error: e.error });
}

/** The msgpack body of a reliable (TCP) user message header, without its type byte. */
export function encodeUserMsgHeader(h: UserMsgHeader): Buffer {
  return new Encoder().map({ UserMsgLen: h.userMsgLen }).finish();
}

export function decodeUserMsgHeader(v: MsgValue): UserMsgHeader {
  return { userMsgLen: fieldUint(asMap(v, 'userMsgHeader'), 'UserMsgLen', 'userMsgHeader', 20 * 1024 * 1024) };
}
