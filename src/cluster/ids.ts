// Identifiers in Docker's shapes: node, service and task IDs are 25 base-36 characters of a random
// 128-bit number; cluster IDs the same. Short forms (12 characters) are for tables.
import { randomBytes } from 'node:crypto';

/** Base-36 of a big-endian byte string, left-padded with zeros to `width`. */
export function base36(bytes: Uint8Array, width: number): string {
  const n = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  return n.toString(36).padStart(width, '0');
}

/** A new 25-character ID, as swarmkit's identity.NewID makes them. */
export function newId(): string {
  return base36(randomBytes(16), 25);
}

export function isId(s: string): boolean {
  return /^[0-9a-z]{25}$/.test(s);
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
