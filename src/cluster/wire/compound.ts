// Compound messages: [7][count u8][count x u16 BE lengths][parts...], several messages in one UDP
// packet. A part cut short by the packet's end is reported, and the complete ones before it kept.
import { WireError } from './errors.js';
import { MsgType } from './messages.js';

export const COMPOUND_HEADER = 2;
export const COMPOUND_PART_OVERHEAD = 2;
const MAX_PARTS = 255;

export function makeCompound(parts: readonly Uint8Array[]): Buffer {
  if (parts.length > MAX_PARTS) throw new WireError('TOO_LARGE', `a compound holds at most ${MAX_PARTS} parts, got ${parts.length}`);
  const head = Buffer.allocUnsafe(COMPOUND_HEADER + COMPOUND_PART_OVERHEAD * parts.length);
  head[0] = MsgType.compound;
  head[1] = parts.length;
  parts.forEach((p, i) => {
    if (p.length > 0xffff) throw new WireError('TOO_LARGE', `compound part of ${p.length} bytes exceeds 65535`);
    head.writeUInt16BE(p.length, COMPOUND_HEADER + COMPOUND_PART_OVERHEAD * i);
  });
  return Buffer.concat([head, ...parts]);
}

/** Splits messages into as few compounds (or lone messages) as fit, each at most `limit` bytes. */
export function packMessages(messages: readonly Uint8Array[], limit: number): Buffer[] {
  const out: Buffer[] = [];
  let batch: Uint8Array[] = [];
  let size = COMPOUND_HEADER;
  const flush = () => {
    if (batch.length === 1) out.push(Buffer.from(batch[0]!));
    else if (batch.length > 1) out.push(makeCompound(batch));
    batch = [];
    size = COMPOUND_HEADER;
  };
  for (const m of messages) {
    const cost = m.length + COMPOUND_PART_OVERHEAD;
    if (batch.length > 0 && (size + cost > limit || batch.length === MAX_PARTS)) flush();
    batch.push(m);
    size += cost;
  }
  flush();
  return out;
}

export interface DecodedCompound {
  parts: Uint8Array[];
  /** Parts declared but cut off by the end of the packet. */
  truncated: number;
}

/** The parts of a compound message (buf starts with the type byte 7). */
export function decodeCompound(buf: Uint8Array): DecodedCompound {
  if (buf.length < COMPOUND_HEADER) throw new WireError('TRUNCATED', 'compound message has no part count');
  const n = buf[1]!;
  const tableEnd = COMPOUND_HEADER + COMPOUND_PART_OVERHEAD * n;
  if (buf.length < tableEnd) throw new WireError('TRUNCATED', `compound declares ${n} parts but its length table is cut short`);
  const parts: Uint8Array[] = [];
  let off = tableEnd;
  for (let i = 0; i < n; i++) {
    const len = (buf[COMPOUND_HEADER + 2 * i]! << 8) | buf[COMPOUND_HEADER + 2 * i + 1]!;
    if (off + len > buf.length) return { parts, truncated: n - i };
    parts.push(buf.subarray(off, off + len));
    off += len;
  }
  return { parts, truncated: 0 };
}
