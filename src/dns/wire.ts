// DNS wire format for the server's hot path: a strict, allocation-free scanner for incoming queries
// (header, the one question, the records after it, EDNS0 OPT) that also hashes the lowercased
// question for the answer cache, and small writers for names, OPT records and error replies.
// Anything the scanner does not accept is dropped by the caller and counted as malformed.
import { TYPE_OPT } from './lookup.js';

export const HEADER_SIZE = 12;
/** Largest UDP answer to a client without EDNS0 (RFC 1035 4.2.1). */
export const CLASSIC_UDP_SIZE = 512;
/** Largest DNS message at all: TCP's 2-byte length (and the most a UDP datagram can carry anyway). */
export const MAX_MESSAGE_SIZE = 65535;
/** Bytes of the OPT record we append: root name, type, class, TTL, empty RDATA. */
export const OPT_RECORD_SIZE = 11;
const MAX_NAME_WIRE = 255;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;
const OPCODE_MASK = 0x7800;

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;
/** Extended RCODE 16 (BADVERS): high bits 1 in the OPT TTL, low bits 0 in the header. */
const EXT_RCODE_BADVERS_HIGH = 1;

export const PARSE_OK = 0;
export const PARSE_MALFORMED = 1;
/** A well-formed message that is not a standard query (opcode != QUERY): answered NOTIMP. */
export const PARSE_NOTIMP = 2;
/** EDNS version above 0: answered BADVERS (RFC 6891 6.1.3). */
export const PARSE_BADVERS = 3;

/** What the scanner learned about one query. One instance is reused for every query of a server. */
export class ParsedQuery {
  id = 0;
  flags = 0;
  /** Offset just past the question name; the question ends 4 bytes later. */
  nameEnd = 0;
  qtype = 0;
  qclass = 0;
  /** FNV-1a of the lowercased question name, qtype and qclass, as a small integer (a Map key). */
  hash = 0;
  edns = false;
  /** The client's advertised UDP size, at least 512. */
  ednsUdpSize = CLASSIC_UDP_SIZE;
  ednsVersion = 0;
  /** DNSSEC OK bit, copied into our OPT (RFC 3225). */
  ednsDo = false;

  get questionEnd(): number {
    return this.nameEnd + 4;
  }

  /** A copy for a query that outlives this one (the scanner's instance is reused). */
  clone(): ParsedQuery {
    return Object.assign(new ParsedQuery(), this);
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** ASCII lowercase of one byte; label lengths (< 64) and non-letters pass through. */
export function lowerByte(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/**
 * Scans msg[0, len) as a query into q. Accepts exactly one question whose name has no compression
 * pointer (nothing legitimate precedes it), then every record the counts announce, each fully inside
 * the message, with at most one OPT (root name, in the additional section). Bytes after the last
 * record are ignored. Never throws and never reads past len.
 */
export function parseQuery(msg: Uint8Array, len: number, q: ParsedQuery): number {
  if (len < HEADER_SIZE) return PARSE_MALFORMED;
  const flags = (msg[2]! << 8) | msg[3]!;
  if ((flags & FLAG_QR) !== 0) return PARSE_MALFORMED;
  const qdcount = (msg[4]! << 8) | msg[5]!;
  if (qdcount !== 1) return PARSE_MALFORMED;
  q.id = (msg[0]! << 8) | msg[1]!;
  q.flags = flags;

  let p = HEADER_SIZE;
  let h = FNV_OFFSET;
  for (;;) {
    if (p >= len) return PARSE_MALFORMED;
    const labelLen = msg[p]!;
    if (labelLen > 63) return PARSE_MALFORMED; // a pointer (0xc0) or a reserved label type
    const next = p + 1 + labelLen;
    if (next - HEADER_SIZE > MAX_NAME_WIRE || next > len) return PARSE_MALFORMED;
    h = Math.imul(h ^ labelLen, FNV_PRIME);
    for (let i = p + 1; i < next; i++) h = Math.imul(h ^ lowerByte(msg[i]!), FNV_PRIME);
    p = next;
    if (labelLen === 0) break;
  }
  if (p + 4 > len) return PARSE_MALFORMED;
  q.nameEnd = p;
  q.qtype = (msg[p]! << 8) | msg[p + 1]!;
  q.qclass = (msg[p + 2]! << 8) | msg[p + 3]!;
  for (let i = p; i < p + 4; i++) h = Math.imul(h ^ msg[i]!, FNV_PRIME);
  q.hash = (h >>> 0) & 0x3fffffff;
  q.edns = false;
  q.ednsUdpSize = CLASSIC_UDP_SIZE;
  q.ednsVersion = 0;
  q.ednsDo = false;

  const ancount = (msg[6]! << 8) | msg[7]!;
  const nscount = (msg[8]! << 8) | msg[9]!;
  const arcount = (msg[10]! << 8) | msg[11]!;
  p += 4;
  const total = ancount + nscount + arcount;
  for (let r = 0; r < total; r++) {
    const start = p;
    p = skipName(msg, len, p);
    if (p < 0 || p + 10 > len) return PARSE_MALFORMED;
    const type = (msg[p]! << 8) | msg[p + 1]!;
    const rdlen = (msg[p + 8]! << 8) | msg[p + 9]!;
    if (type === TYPE_OPT) {
      const inAdditional = r >= ancount + nscount;
      if (!inAdditional || q.edns || p !== start + 1) return PARSE_MALFORMED;
      q.edns = true;
      q.ednsUdpSize = Math.max(CLASSIC_UDP_SIZE, (msg[p + 2]! << 8) | msg[p + 3]!);
      q.ednsVersion = msg[p + 5]!;
      q.ednsDo = (msg[p + 6]! & 0x80) !== 0;
    }
    p += 10 + rdlen;
    if (p > len) return PARSE_MALFORMED;
  }
  if ((flags & OPCODE_MASK) !== 0) return PARSE_NOTIMP;
  if (q.edns && q.ednsVersion !== 0) return PARSE_BADVERS;
  return PARSE_OK;
}

/**
 * Offset past the name at p, or -1. A compression pointer ends the name and must point backwards,
 * before this name starts (so the name it stands for exists and no loop can form).
 */
function skipName(msg: Uint8Array, len: number, p: number): number {
  const start = p;
  for (;;) {
    if (p >= len) return -1;
    const b = msg[p]!;
    if (b === 0) return p + 1;
    if ((b & 0xc0) === 0xc0) {
      if (p + 2 > len) return -1;
      const target = ((b & 0x3f) << 8) | msg[p + 1]!;
      return target < start && target >= HEADER_SIZE ? p + 2 : -1;
    }
    if (b > 63) return -1;
    p += 1 + b;
    if (p - start > MAX_NAME_WIRE) return -1;
  }
}

/** The largest answer this client takes: 512 without EDNS0, its advertised size with it, 65535 on TCP. */
export function responseLimit(q: ParsedQuery, tcp: boolean): number {
  if (tcp) return MAX_MESSAGE_SIZE;
  return q.edns ? Math.min(q.ednsUdpSize, MAX_MESSAGE_SIZE) : CLASSIC_UDP_SIZE;
}

/** Our OPT record at out[at]: root name, our UDP size, extended rcode high bits, version 0, DO copied. */
export function writeOpt(out: Uint8Array, at: number, udpSize: number, dnssecOk: boolean, extRcodeHigh = 0): number {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = TYPE_OPT;
  out[at + 3] = udpSize >> 8;
  out[at + 4] = udpSize & 0xff;
  out[at + 5] = extRcodeHigh;
  out[at + 6] = 0;
  out[at + 7] = dnssecOk ? 0x80 : 0;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
  return at + OPT_RECORD_SIZE;
}

/** The flags of a reply to a query with these flags: QR, RA, RD and CD copied, and the rcode. */
export function replyFlags(queryFlags: number, extra: number, rcode: number): number {
  return FLAG_QR | FLAG_RA | (queryFlags & (FLAG_RD | FLAG_CD)) | extra | (rcode & 0xf);
}

/** The name encoded for the wire (no compression), or undefined when it is not a valid DNS name. */
export function encodeName(name: string): Buffer | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const out = Buffer.alloc(labels.reduce((n, l) => n + 1 + Buffer.byteLength(l), 1));
  let p = 0;
  for (const label of labels) {
    const bytes = Buffer.from(label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) return undefined;
    out[p++] = bytes.length;
    bytes.copy(out, p);
    p += bytes.length;
  }
  out[p] = 0;
  return out.length <= MAX_NAME_WIRE ? out : undefined;
}

/**
 * The question name of a scanned query as a lowercase dotted string without the trailing dot, or
 * undefined when a label holds a dot or a byte outside printable ASCII (no zone can hold such a name).
 */
export function questionName(msg: Uint8Array, q: ParsedQuery): string | undefined {
  let s = '';
  let p = HEADER_SIZE;
  for (;;) {
    const labelLen = msg[p]!;
    if (labelLen === 0) return s;
    if (s !== '') s += '.';
    for (let i = p + 1; i <= p + labelLen; i++) {
      const b = msg[i]!;
      if (b <= 0x20 || b >= 0x7f || b === 0x2e) return undefined;
      s += String.fromCharCode(lowerByte(b));
    }
    p += 1 + labelLen;
    if (p >= q.nameEnd) return s;
  }
}

/**
 * A reply with no records to a scanned query: the header (opcode kept) and its question, our OPT when
 * it sent one, and rcode. prefix bytes are left free in front (2 for a TCP length, filled in).
 */
export function emptyReply(msg: Uint8Array, q: ParsedQuery, rcode: number, ednsUdpSize: number, prefix: number): Buffer {
  const qEnd = q.questionEnd;
  const len = qEnd + (q.edns ? OPT_RECORD_SIZE : 0);
  const out = Buffer.allocUnsafe(prefix + len);
  out.set(msg.subarray(0, qEnd), prefix);
  out.writeUInt16BE(replyFlags(q.flags, q.flags & OPCODE_MASK, rcode), prefix + 2);
  out.writeUInt16BE(1, prefix + 4);
  out.writeUInt32BE(0, prefix + 6);
  out.writeUInt16BE(q.edns ? 1 : 0, prefix + 10);
  if (q.edns) writeOpt(out, prefix + qEnd, ednsUdpSize, q.ednsDo, rcode >> 4);
  if (prefix === 2) out.writeUInt16BE(len, 0);
  return out;
}

export function badversReply(msg: Uint8Array, q: ParsedQuery, ednsUdpSize: number, prefix: number): Buffer {
  return emptyReply(msg, q, EXT_RCODE_BADVERS_HIGH << 4, ednsUdpSize, prefix);
}

/** Offset just past the (single, uncompressed) question of a message, or -1. */
export function questionEndOf(msg: Uint8Array): number {
  if (msg.length < HEADER_SIZE || ((msg[4]! << 8) | msg[5]!) !== 1) return -1;
  let p = HEADER_SIZE;
  for (;;) {
    if (p >= msg.length) return -1;
    const n = msg[p]!;
    if (n > 63) return -1;
    p += 1 + n;
    if (p - HEADER_SIZE > MAX_NAME_WIRE) return -1;
    if (n === 0) break;
  }
  return p + 4 <= msg.length ? p + 4 : -1;
}

/** Whether two messages ask the same question (name case-insensitively). */
export function sameQuestion(a: Uint8Array, b: Uint8Array): boolean {
  const end = questionEndOf(a);
  if (end < 0 || questionEndOf(b) !== end) return false;
  for (let i = HEADER_SIZE; i < end - 4; i++) if (lowerByte(a[i]!) !== lowerByte(b[i]!)) return false;
  for (let i = end - 4; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A copy of reply that fits no client limit: header and question only, TC set, our OPT if the client sent one. */
export function truncatedRelay(reply: Uint8Array, query: Uint8Array, q: ParsedQuery, ednsUdpSize: number): Buffer {
  const rcode = reply[3]! & 0x0f;
  const out = emptyReply(query, q, rcode, ednsUdpSize, 0);
  const keep = ((reply[2]! << 8) | reply[3]!) & (FLAG_AA | FLAG_RA | 0x0020); // AA, RA, AD as the upstream said
  const flags = (((out[2]! << 8) | out[3]!) & ~(FLAG_AA | FLAG_RA)) | keep | FLAG_TC;
  out.writeUInt16BE(flags, 2);
  return out;
}
