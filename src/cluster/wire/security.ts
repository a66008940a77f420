// Encryption as memberlist does it: AES-GCM with keys from a keyring (16, 24 or 32 bytes). The
// primary key encrypts; every key is tried to decrypt, so keys can be rotated without a restart
// (add the new key everywhere, make it primary, then remove the old one).
// UDP: [vsn][nonce 12][ciphertext][tag 16], AAD = label or nothing. TCP: [10][u32 BE len][blob],
// AAD = those 5 header bytes. Version 1 has no padding; version 0 (protocol 1) pads PKCS#7.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { WireError } from './errors.js';
import { MsgType } from './messages.js';

const NONCE = 12;
const TAG = 16;
export const ENCRYPT_VERSION = 1;
/** Bytes encryption adds to a UDP packet (version 1). */
export const ENCRYPT_OVERHEAD = 1 + NONCE + TAG;

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16: return 'aes-128-gcm';
    case 24: return 'aes-192-gcm';
    case 32: return 'aes-256-gcm';
    default: throw new WireError('BAD_FIELD', `an encryption key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

export class Keyring {
  private keys: Buffer[] = [];

  /** Keys in order, the first one primary. */
  constructor(keys: readonly Uint8Array[] = []) {
    for (const k of keys) this.add(k);
  }

  static fromBase64(keys: readonly string[]): Keyring {
    return new Keyring(keys.map((k) => Buffer.from(k, 'base64')));
  }

  get primary(): Buffer | undefined {
    return this.keys[0];
  }

  get size(): number {
    return this.keys.length;
  }

  list(): Buffer[] {
    return [...this.keys];
  }

  /** Adds a key for decryption (primary if it is the first). */
  add(key: Uint8Array): void {
    cipherName(key);
    if (!this.keys.some((k) => k.equals(key))) this.keys.push(Buffer.from(key));
  }

  /** Makes an installed key the one we encrypt with. */
  use(key: Uint8Array): void {
    const i = this.keys.findIndex((k) => k.equals(key));
    if (i < 0) throw new WireError('BAD_FIELD', 'cannot use a key that is not in the keyring: add it first');
    this.keys.unshift(...this.keys.splice(i, 1));
  }

  /** Removes a key; the primary cannot be removed (make another primary first). */
  remove(key: Uint8Array): void {
    if (this.keys[0]?.equals(key)) throw new WireError('BAD_FIELD', 'cannot remove the primary key: use another key first');
    this.keys = this.keys.filter((k) => !k.equals(key));
  }
}

export interface SealOptions {
  /** Encryption version: 1 (memberlist protocol >= 2, what Serf uses) or 0 (protocol 1, PKCS#7 padded). */
  vsn?: 0 | 1;
  /** A fixed nonce, only for reproducing captured bytes in tests; normally 12 random bytes. */
  nonce?: Uint8Array;
}

/** Smallest valid blob: version, nonce, tag, and for version 0 one block of padding. */
function minLength(vsn: number): number {
  return ENCRYPT_OVERHEAD + (vsn === 0 ? 16 : 0);
}

function seal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array | undefined, { vsn = ENCRYPT_VERSION, nonce = randomBytes(NONCE) }: SealOptions): Buffer {
  if (nonce.length !== NONCE) throw new WireError('BAD_FIELD', `a GCM nonce is ${NONCE} bytes, got ${nonce.length}`);
  const c = createCipheriv(cipherName(key), key, nonce);
  if (aad && aad.length > 0) c.setAAD(aad);
  const body = vsn === 0 ? pkcs7Pad(plain) : plain;
  return Buffer.concat([Uint8Array.of(vsn), nonce, c.update(body), c.final(), c.getAuthTag()]);
}

function open(keys: readonly Uint8Array[], blob: Uint8Array, aad: Uint8Array | undefined): Buffer {
  if (blob.length === 0) throw new WireError('DECRYPT', 'empty encrypted payload');
  const vsn = blob[0]!;
  if (vsn > 1) throw new WireError('DECRYPT', `unsupported encryption version ${vsn}`);
  if (blob.length < minLength(vsn)) throw new WireError('DECRYPT', `encrypted payload of ${blob.length} bytes is shorter than the ${minLength(vsn)} bytes version ${vsn} needs`);
  const nonce = blob.subarray(1, 1 + NONCE);
  const ct = blob.subarray(1 + NONCE, blob.length - TAG);
  const tag = blob.subarray(blob.length - TAG);
  for (const key of keys) {
    try {
      const d = createDecipheriv(cipherName(key), key, nonce);
      if (aad && aad.length > 0) d.setAAD(aad);
      d.setAuthTag(tag);
      const plain = Buffer.concat([d.update(ct), d.final()]);
      return vsn === 0 ? pkcs7Unpad(plain) : plain;
    } catch {
      // try the next key
    }
  }
  throw new WireError('DECRYPT', keys.length === 0 ? 'an encrypted payload arrived but no key is configured' : `no key in the keyring (${keys.length}) decrypts this payload`);
}

function pkcs7Pad(b: Uint8Array): Buffer {
  const n = 16 - (b.length % 16);
  return Buffer.concat([b, Buffer.alloc(n, n)]);
}

function pkcs7Unpad(b: Buffer): Buffer {
  const n = b[b.length - 1] ?? 0;
  if (n < 1 || n > 16 || n > b.length) throw new WireError('DECRYPT', 'bad PKCS#7 padding');
  return b.subarray(0, b.length - n);
}

/** A UDP packet's encrypted form: [vsn][nonce][ciphertext][tag], AAD = the label (if any). */
export function encryptPacket(ring: Keyring, plain: Uint8Array, label?: Uint8Array, opts: SealOptions = {}): Buffer {
  const key = ring.primary;
  if (!key) throw new WireError('DECRYPT', 'no primary key to encrypt with');
  return seal(key, plain, label, opts);
}

export function decryptPacket(ring: Keyring, blob: Uint8Array, label?: Uint8Array): Buffer {
  return open(ring.list(), blob, label);
}

/** [10][u32 BE length][encrypted blob] for a TCP stream. */
export function encryptStream(ring: Keyring, plain: Uint8Array, label?: Uint8Array, opts: SealOptions = {}): Buffer {
  const key = ring.primary;
  if (!key) throw new WireError('DECRYPT', 'no primary key to encrypt with');
  const vsn = opts.vsn ?? ENCRYPT_VERSION;
  const header = Buffer.allocUnsafe(5);
  header[0] = MsgType.encrypt;
  header.writeUInt32BE(ENCRYPT_OVERHEAD + plain.length + (vsn === 0 ? 16 - (plain.length % 16) : 0), 1);
  const aad = label ? Buffer.concat([header, label]) : header;
  return Buffer.concat([header, seal(key, plain, aad, opts)]);
}

/** The plaintext of an encrypted stream message (buf starts with [10][len]); also returns bytes consumed. */
export function decryptStream(ring: Keyring, buf: Uint8Array, label?: Uint8Array, maxLen = 20 * 1024 * 1024): { plain: Buffer; end: number } {
  if (buf.length < 5) throw new WireError('TRUNCATED', 'encrypted stream header is cut short');
  const len = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readUInt32BE(1);
  if (len > maxLen) throw new WireError('TOO_LARGE', `encrypted stream of ${len} bytes exceeds ${maxLen}`);
  if (buf.length < 5 + len) throw new WireError('TRUNCATED', `encrypted stream declares ${len} bytes, ${buf.length - 5} arrived`);
  const header = buf.subarray(0, 5);
  const aad = label ? Buffer.concat([header, label]) : header;
  return { plain: open(ring.list(), buf.subarray(5, 5 + len), aad), end: 5 + len };
}
