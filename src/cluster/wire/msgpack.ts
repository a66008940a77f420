// A msgpack codec shaped like Go's go-msgpack as memberlist uses it: the encoder writes strings and
// byte arrays alike as old-spec raw strings (fixstr/str16/str32, never str8 or bin), map keys sorted,
// non-negative integers in unsigned forms. The decoder takes every format, returns raw strings as
// bytes (callers convert the fields they know are text), decodes one value at an offset for streams,
// and throws only WireError, checking every length against the input.
import { WireError } from './errors.js';

export type MsgValue = null | boolean | number | bigint | Uint8Array | string | MsgExt | MsgValue[] | MsgMap;
/** Decoded maps keep keys as JS strings (map keys are always text in memberlist; numbers and booleans are stringified). */
export interface MsgMap { [key: string]: MsgValue }

/** A msgpack extension value (fixext/ext8/16/32): no memberlist message uses one, but they decode. */
export class MsgExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** Deepest nesting of arrays and maps the decoder follows before giving up with TOO_DEEP. */
export const MAX_DEPTH = 32;
const U64_MAX = (1n << 64n) - 1n;

export class Encoder {
  private buf = Buffer.allocUnsafe(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** A non-negative integer in the smallest unsigned form (positive fixint, cc, cd, ce, cf), as go-msgpack 0.5 writes every non-negative integer. */
  uint(n: number | bigint): this {
    if (typeof n === 'bigint') {
      if (n < 0n || n > U64_MAX) throw new WireError('BAD_FIELD', `cannot encode ${n} as an unsigned 64-bit integer`);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.ensure(9);
        this.buf[this.len++] = 0xcf;
        this.buf.writeBigUInt64BE(n, this.len);
        this.len += 8;
        return this;
      }
      n = Number(n);
    }
    if (!Number.isSafeInteger(n) || n < 0) throw new WireError('BAD_FIELD', `cannot encode ${n} as an unsigned integer`);
    this.ensure(9);
    if (n < 128) this.buf[this.len++] = n;
    else if (n < 0x100) { this.buf[this.len++] = 0xcc; this.buf[this.len++] = n; }
    else if (n < 0x10000) { this.buf[this.len++] = 0xcd; this.buf.writeUInt16BE(n, this.len); this.len += 2; }
    else if (n < 0x100000000) { this.buf[this.len++] = 0xce; this.buf.writeUInt32BE(n, this.len); this.len += 4; }
    else { this.buf[this.len++] = 0xcf; this.buf.writeBigUInt64BE(BigInt(n), this.len); this.len += 8; }
    return this;
  }

  /** Any integer: non-negative ones unsigned (see uint), negative ones in the smallest signed form (negative fixint, d0, d1, d2, d3). */
  int(n: number | bigint): this {
    if (n >= 0) return this.uint(n);
    const v = BigInt(n);
    if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new WireError('BAD_FIELD', `cannot encode ${n} as an integer`);
    if (v < -(1n << 63n)) throw new WireError('BAD_FIELD', `cannot encode ${n} as a signed 64-bit integer`);
    this.ensure(9);
    const x = Number(v);
    if (x >= -32) this.buf[this.len++] = 0x100 + x;
    else if (x >= -0x80) { this.buf[this.len++] = 0xd0; this.buf.writeInt8(x, this.len); this.len += 1; }
    else if (x >= -0x8000) { this.buf[this.len++] = 0xd1; this.buf.writeInt16BE(x, this.len); this.len += 2; }
    else if (x >= -0x80000000) { this.buf[this.len++] = 0xd2; this.buf.writeInt32BE(x, this.len); this.len += 4; }
    else { this.buf[this.len++] = 0xd3; this.buf.writeBigInt64BE(v, this.len); this.len += 8; }
    return this;
  }

  /** An extension value, in the fixext form when its length allows. */
  ext(e: MsgExt): this {
    const n = e.data.length;
    if (e.type < -128 || e.type > 127 || !Number.isInteger(e.type)) throw new WireError('BAD_FIELD', `extension type ${e.type} is not an int8`);
    this.ensure(6);
    const fix = [1, 2, 4, 8, 16].indexOf(n);
    if (fix >= 0) this.buf[this.len++] = 0xd4 + fix;
    else if (n < 0x100) { this.buf[this.len++] = 0xc7; this.buf[this.len++] = n; }
    else if (n < 0x10000) { this.buf[this.len++] = 0xc8; this.buf.writeUInt16BE(n, this.len); this.len += 2; }
    else { this.buf[this.len++] = 0xc9; this.buf.writeUInt32BE(n, this.len); this.len += 4; }
    this.buf.writeInt8(e.type, this.len++);
    this.bytes(e.data);
    return this;
  }

  /** An old-spec raw string: what Go writes for both string and []byte. */
  raw(b: Uint8Array): this {
    const n = b.length;
    this.ensure(5);
    if (n < 32) this.buf[this.len++] = 0xa0 | n;
    else if (n < 0x10000) { this.buf[this.len++] = 0xda; this.buf.writeUInt16BE(n, this.len); this.len += 2; }
    else { this.buf[this.len++] = 0xdb; this.buf.writeUInt32BE(n, this.len); this.len += 4; }
    this.bytes(b);
    return this;
  }

  str(s: string): this {
    return this.raw(Buffer.from(s, 'utf8'));
  }

  nil(): this {
    this.byte(0xc0);
    return this;
  }

  bool(v: boolean): this {
    this.byte(v ? 0xc3 : 0xc2);
    return this;
  }

  float64(v: number): this {
    this.ensure(9);
    this.buf[this.len++] = 0xcb;
    this.buf.writeDoubleBE(v, this.len);
    this.len += 8;
    return this;
  }

  mapHeader(n: number): this {
    if (n < 16) this.byte(0x80 | n);
    else if (n < 0x10000) { this.ensure(3); this.buf[this.len++] = 0xde; this.buf.writeUInt16BE(n, this.len); this.len += 2; }
    else { this.ensure(5); this.buf[this.len++] = 0xdf; this.buf.writeUInt32BE(n, this.len); this.len += 4; }
    return this;
  }

  arrayHeader(n: number): this {
    if (n < 16) this.byte(0x90 | n);
    else if (n < 0x10000) { this.ensure(3); this.buf[this.len++] = 0xdc; this.buf.writeUInt16BE(n, this.len); this.len += 2; }
    else { this.ensure(5); this.buf[this.len++] = 0xdd; this.buf.writeUInt32BE(n, this.len); this.len += 4; }
    return this;
  }

  /** Any value: integers unsigned when non-negative (signed otherwise), other numbers float64, strings and bytes as raw, objects as maps with sorted keys. Undefined fields are left out. */
  value(v: MsgValue | undefined): this {
    if (v === null || v === undefined) return this.nil();
    if (typeof v === 'boolean') return this.bool(v);
    if (typeof v === 'number') return Number.isSafeInteger(v) ? this.int(v) : this.float64(v);
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof Uint8Array) return this.raw(v);
    if (v instanceof MsgExt) return this.ext(v);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const x of v) this.value(x);
      return this;
    }
    return this.map(v);
  }

  /** A map with keys in byte-wise sorted order, as Go encodes structs; undefined values are omitted. */
  map(m: { [key: string]: MsgValue | undefined }): this {
    const keys = Object.keys(m).filter((k) => m[k] !== undefined).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    this.mapHeader(keys.length);
    for (const k of keys) this.str(k).value(m[k]);
    return this;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

export function encode(v: MsgValue): Buffer {
  return new Encoder().value(v).finish();
}

/** Decodes one value starting at `offset`; returns it and the offset just past it (streams are back-to-back values). */
export function decodeAt(buf: Uint8Array, offset = 0): { value: MsgValue; end: number } {
  const d = new Decoder(buf, offset);
  const value = d.read(0);
  return { value, end: d.pos };
}

/** Decodes exactly one value that fills the whole buffer. */
export function decode(buf: Uint8Array): MsgValue {
  const { value, end } = decodeAt(buf);
  if (end !== buf.length) throw new WireError('BAD_FIELD', `${buf.length - end} bytes after the msgpack value`);
  return value;
}

class Decoder {
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    public pos: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new WireError('TRUNCATED', `msgpack value needs ${n} more bytes at offset ${this.pos}, ${this.buf.length - this.pos} left`);
  }

  private u8(): number { this.need(1); return this.buf[this.pos++]!; }
  private u16(): number { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; return v; }
  private u32(): number { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v; }

  private bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private u64(): number | bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private i64(): number | bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  }

  /** A container can hold no more elements than bytes remain (each takes at least `per` bytes): checked before any element is read. */
  private count(n: number, per: number): number {
    if (n * per > this.buf.length - this.pos) throw new WireError('TRUNCATED', `msgpack container claims ${n} elements with ${this.buf.length - this.pos} bytes left`);
    return n;
  }

  private ext(n: number): MsgExt {
    this.need(1 + n);
    const type = this.view.getInt8(this.pos++);
    return new MsgExt(type, this.bytes(n));
  }

  read(depth: number): MsgValue {
    if (depth > MAX_DEPTH) throw new WireError('TOO_DEEP', `msgpack nesting deeper than ${MAX_DEPTH}`);
    const b = this.u8();
    if (b < 0x80) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return this.readMap(b & 0x0f, depth);
    if ((b & 0xf0) === 0x90) return this.readArray(b & 0x0f, depth);
    if ((b & 0xe0) === 0xa0) return this.bytes(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: case 0xd9: return this.bytes(this.u8());
      case 0xc5: case 0xda: return this.bytes(this.u16());
      case 0xc6: case 0xdb: return this.bytes(this.u32());
      case 0xca: { this.need(4); const v = this.view.getFloat32(this.pos); this.pos += 4; return v; }
      case 0xcb: { this.need(8); const v = this.view.getFloat64(this.pos); this.pos += 8; return v; }
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return this.u64();
      case 0xd0: { this.need(1); const v = this.view.getInt8(this.pos); this.pos += 1; return v; }
      case 0xd1: { this.need(2); const v = this.view.getInt16(this.pos); this.pos += 2; return v; }
      case 0xd2: { this.need(4); const v = this.view.getInt32(this.pos); this.pos += 4; return v; }
      case 0xd3: return this.i64();
      case 0xd4: return this.ext(1);
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xc7: return this.ext(this.u8());
      case 0xc8: return this.ext(this.u16());
      case 0xc9: return this.ext(this.u32());
      case 0xdc: return this.readArray(this.u16(), depth);
      case 0xdd: return this.readArray(this.u32(), depth);
      case 0xde: return this.readMap(this.u16(), depth);
      case 0xdf: return this.readMap(this.u32(), depth);
      default: // 0xc1, the one byte msgpack never uses
        throw new WireError('BAD_FIELD', `invalid msgpack type byte 0x${b.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  private readArray(n: number, depth: number): MsgValue[] {
    const out: MsgValue[] = [];
    for (let i = this.count(n, 1); i > 0; i--) out.push(this.read(depth + 1));
    return out;
  }

  private readMap(n: number, depth: number): MsgMap {
    const out: MsgMap = Object.create(null) as MsgMap;
    for (let i = this.count(n, 2); i > 0; i--) {
      const k = this.read(depth + 1);
      let key: string;
      if (k instanceof Uint8Array) key = Buffer.from(k).toString('utf8');
      else if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') key = String(k);
      else throw new WireError('BAD_FIELD', 'msgpack map key is not a string or a number');
      out[key] = this.read(depth + 1);
    }
    return out;
  }
}
