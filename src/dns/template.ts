// Pre-encoded answers. A Template is the whole reply to one question in one view, encoded once
// (header with ID 0, the question in lowercase, the answer records with their owner name as a
// pointer to the question, SRV targets' addresses as additional records). Serving a query copies the
// template and patches it: the client's ID, flags and question case, the records that fit the
// client's size (TC when answers had to go), our OPT, and a fresh order for shuffled A records.
import { normalizeName, TYPE_A, TYPE_PTR, TYPE_SRV, type Answer } from './lookup.js';
import {
  CLASSIC_UDP_SIZE,
  encodeName,
  FLAG_AA,
  FLAG_TC,
  HEADER_SIZE,
  OPT_RECORD_SIZE,
  RCODE_NOERROR,
  replyFlags,
  writeOpt,
  type ParsedQuery,
} from './wire.js';

/**
 * The largest reply a template holds: a DNS message is at most 65,535 bytes (TCP's length field),
 * and the OPT record is added when serving. An answer longer than that (about 4,000 A records) is
 * cut at a whole record and always served with TC.
 */
export const MAX_TEMPLATE_BYTES = 0xffff - OPT_RECORD_SIZE;

/** Owner name of every answer record: a pointer to the question name at offset 12. */
const POINTER_TO_QUESTION = 0xc00c;
const A_RECORD_SIZE = 16;

export class Template {
  constructor(
    /** Header (ID 0, counts of the full answer), question, answers, additionals. */
    readonly bytes: Buffer,
    /** Offset where the question section ends and the first answer starts. */
    readonly questionEnd: number,
    /** End offset of each answer record: a reply cut after any of them is whole. */
    readonly answerEnds: readonly number[],
    /** End offset of each additional record. */
    readonly additionalEnds: readonly number[],
    /** A records whose RDATA is reordered on every use (0 = no shuffling). */
    readonly shuffleCount: number,
    /** False when answers had to be left out to stay within MAX_TEMPLATE_BYTES: every reply then has TC. */
    readonly complete = true,
  ) {}

  /** The question this template answers: the lowercase name, qtype and qclass, as the cache compares them. */
  questionKey(): Buffer {
    return this.bytes.subarray(HEADER_SIZE, this.questionEnd);
  }
}

export interface TemplateInput {
  /** The query's question section, name already lowercased. */
  question: Uint8Array;
  answer: Exclude<Answer, { kind: 'forward' }>;
  ttlSeconds: number;
}

/** Encodes the full reply; records whose data cannot be encoded (a bad SRV target) are left out. */
export function buildTemplate({ question, answer, ttlSeconds }: TemplateInput): Template {
  const records: Buffer[] = [];
  const additional: Buffer[] = [];
  let shuffleCount = 0;
  if (answer.kind === 'a') {
    for (const ip of answer.addresses) records.push(recordA(POINTER_TO_QUESTION, ip, ttlSeconds));
    shuffleCount = answer.shuffle && records.length > 1 ? records.length : 0;
  } else if (answer.kind === 'srv') {
    const targetOffsets = new Map<string, number>();
    let at = HEADER_SIZE + question.length;
    for (const r of answer.records) {
      const rec = recordSrv(r, ttlSeconds);
      if (rec === undefined) continue;
      // The target name starts after owner (2), type, class, TTL, rdlength (10) and priority, weight, port (6).
      const key = normalizeName(r.target);
      if (!targetOffsets.has(key) && at + 18 < 0x4000) targetOffsets.set(key, at + 18);
      records.push(rec);
      at += rec.length;
    }
    for (const t of answer.targets) {
      const offset = targetOffsets.get(normalizeName(t.name));
      if (offset === undefined) continue;
      for (const ip of t.addresses) additional.push(recordA(0xc000 | offset, ip, ttlSeconds));
    }
  } else if (answer.kind === 'ptr') {
    const rec = recordPtr(answer.target, ttlSeconds);
    if (rec !== undefined) records.push(rec);
  }

  const complete = capRecords(HEADER_SIZE + question.length, records, additional);
  if (shuffleCount > records.length) shuffleCount = records.length;
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  header.writeUInt16BE(additional.length, 10);
  const bytes = Buffer.concat([header, question, ...records, ...additional]);
  const questionEnd = HEADER_SIZE + question.length;
  return new Template(bytes, questionEnd, runningEnds(questionEnd, records), runningEnds(questionEnd + sum(records), additional), shuffleCount, complete);
}

/** Drops additional records, then trailing answers, until the whole fits MAX_TEMPLATE_BYTES; false if answers went. */
function capRecords(start: number, records: Buffer[], additional: Buffer[]): boolean {
  let total = start + sum(records) + sum(additional);
  while (total > MAX_TEMPLATE_BYTES && additional.length > 0) total -= additional.pop()!.length;
  let complete = true;
  while (total > MAX_TEMPLATE_BYTES && records.length > 0) {
    total -= records.pop()!.length;
    complete = false;
  }
  return complete;
}

function runningEnds(start: number, parts: readonly Buffer[]): number[] {
  const ends: number[] = [];
  let at = start;
  for (const p of parts) ends.push((at += p.length));
  return ends;
}

function sum(parts: readonly Buffer[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}

function recordHeader(owner: number, type: number, ttl: number, rdlength: number): Buffer {
  const b = Buffer.alloc(12 + rdlength);
  b.writeUInt16BE(owner, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4); // IN
  b.writeUInt32BE(ttl, 6);
  b.writeUInt16BE(rdlength, 10);
  return b;
}

function recordA(owner: number, ip: string, ttl: number): Buffer {
  const b = recordHeader(owner, TYPE_A, ttl, 4);
  const octets = ip.split('.');
  for (let i = 0; i < 4; i++) b[12 + i] = Number(octets[i]);
  return b;
}

function recordSrv(r: { priority: number; weight: number; port: number; target: string }, ttl: number): Buffer | undefined {
  const target = encodeName(r.target);
  if (target === undefined || !isU16(r.priority) || !isU16(r.weight) || !isU16(r.port)) return undefined;
  const b = recordHeader(POINTER_TO_QUESTION, TYPE_SRV, ttl, 6 + target.length);
  b.writeUInt16BE(r.priority, 12);
  b.writeUInt16BE(r.weight, 14);
  b.writeUInt16BE(r.port, 16);
  target.copy(b, 18);
  return b;
}

function recordPtr(name: string, ttl: number): Buffer | undefined {
  const target = encodeName(name);
  if (target === undefined) return undefined;
  const b = recordHeader(POINTER_TO_QUESTION, TYPE_PTR, ttl, target.length);
  target.copy(b, 12);
  return b;
}

function isU16(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffff;
}

/**
 * The reply to query msg (scanned into q) from template t, within limit bytes, with prefix free bytes
 * in front (2 on TCP, where they hold the length). isTruncated() tells whether answers had to go.
 */
export function serveTemplate(t: Template, msg: Uint8Array, q: ParsedQuery, limit: number, prefix: number, ednsUdpSize: number): Buffer {
  const optSize = q.edns ? OPT_RECORD_SIZE : 0;
  const room = Math.max(limit, CLASSIC_UDP_SIZE) - optSize;
  let len = t.bytes.length;
  let ancount = t.answerEnds.length;
  let arcount = t.additionalEnds.length;
  let extra = t.complete ? FLAG_AA : FLAG_AA | FLAG_TC;
  if (len > room) {
    const answersEnd = ancount > 0 ? t.answerEnds[ancount - 1]! : t.questionEnd;
    if (answersEnd <= room) {
      // Additional records are optional (RFC 2181 9): drop what does not fit, no TC.
      arcount = countFitting(t.additionalEnds, room);
      len = arcount > 0 ? t.additionalEnds[arcount - 1]! : answersEnd;
    } else {
      ancount = countFitting(t.answerEnds, room);
      arcount = 0;
      len = ancount > 0 ? t.answerEnds[ancount - 1]! : t.questionEnd;
      extra |= FLAG_TC;
    }
  }
  if (t.shuffleCount > 0) shuffleARecords(t.bytes, t.questionEnd, t.shuffleCount);

  const out = Buffer.allocUnsafe(prefix + len + optSize);
  t.bytes.copy(out, prefix, 0, len);
  const h = prefix;
  out[h] = msg[0]!;
  out[h + 1] = msg[1]!;
  const flags = replyFlags(q.flags, extra, RCODE_NOERROR);
  out[h + 2] = flags >> 8;
  out[h + 3] = flags & 0xff;
  out[h + 6] = ancount >> 8;
  out[h + 7] = ancount & 0xff;
  const ar = arcount + (optSize > 0 ? 1 : 0);
  out[h + 10] = ar >> 8;
  out[h + 11] = ar & 0xff;
  // The question as the client wrote it (case and all); the template holds it lowercased.
  for (let i = HEADER_SIZE; i < q.nameEnd; i++) out[h + i] = msg[i]!;
  if (optSize > 0) writeOpt(out, h + len, ednsUdpSize, q.ednsDo);
  if (prefix === 2) {
    const n = len + optSize;
    out[0] = n >> 8;
    out[1] = n & 0xff;
  }
  return out;
}

/** Whether the reply serveTemplate made had TC set. */
export function isTruncated(reply: Uint8Array, prefix: number): boolean {
  return (reply[prefix + 2]! & (FLAG_TC >> 8)) !== 0;
}

function countFitting(ends: readonly number[], room: number): number {
  let n = 0;
  while (n < ends.length && ends[n]! <= room) n++;
  return n;
}

/** Fisher-Yates over the 4-byte RDATA of count consecutive A records starting at first. */
function shuffleARecords(b: Buffer, first: number, count: number): void {
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    if (j === i) continue;
    const pi = first + i * A_RECORD_SIZE + 12;
    const pj = first + j * A_RECORD_SIZE + 12;
    for (let k = 0; k < 4; k++) {
      const tmp = b[pi + k]!;
      b[pi + k] = b[pj + k]!;
      b[pj + k] = tmp;
    }
  }
}
