// LZW as Go's compress/lzw writes and reads it with LSB bit order and 8-bit literals: codes start
// at 9 bits, 256 clears the table, 257 ends the stream, codes grow to 12 bits; the writer opens with
// a clear code and, when the table is full, emits a clear code and starts over.
import { WireError } from './errors.js';

const CLEAR = 256;
const EOF = 257;
const FIRST = 258;
const MAX_WIDTH = 12;
const MAX_CODE = (1 << MAX_WIDTH) - 1; // 4095
export const MAX_DECOMPRESSED = 40 * 1024 * 1024;

export function lzwDecompress(input: Uint8Array, maxOutput = MAX_DECOMPRESSED): Buffer {
  // prefix[code] and suffix[code] describe every table entry; entries are expanded into `out` on use.
  const prefix = new Int32Array(1 << MAX_WIDTH);
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  const length = new Int32Array(1 << MAX_WIDTH);
  const head = new Uint8Array(1 << MAX_WIDTH); // first byte of each entry's string
  for (let i = 0; i < 256; i++) { suffix[i] = i; head[i] = i; length[i] = 1; prefix[i] = -1; }
  let out = Buffer.allocUnsafe(Math.min(Math.max(input.length * 4, 256), maxOutput));
  let outLen = 0;
  let width = 9;
  let next = FIRST;
  let last = -1;
  let bits = 0;
  let nbits = 0;
  let pos = 0;
  const grow = (n: number) => {
    if (outLen + n > maxOutput) throw new WireError('TOO_LARGE', `LZW output exceeds ${maxOutput} bytes`);
    if (outLen + n <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.min(Math.max(out.length * 2, outLen + n), maxOutput));
    out.copy(bigger, 0, 0, outLen);
    out = bigger;
  };
  const emit = (code: number) => {
    const n = length[code]!;
    grow(n);
    let c = code;
    for (let i = outLen + n - 1; i >= outLen; i--) { out[i] = suffix[c]!; c = prefix[c]!; }
    outLen += n;
  };
  for (;;) {
    while (nbits < width) {
      if (pos >= input.length) throw new WireError('TRUNCATED', 'LZW stream ends without an EOF code');
      bits |= input[pos++]! << nbits;
      nbits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nbits -= width;
    if (code === EOF) break;
    if (code === CLEAR) { width = 9; next = FIRST; last = -1; continue; }
    if (code < 256) {
      emit(code);
    } else if (code < next && code >= FIRST) {
      emit(code);
    } else if (code === next && last >= 0) {
      // KwKwK: the code being defined is the previous string plus its own first byte.
      prefix[code] = last; suffix[code] = head[last]!; head[code] = head[last]!; length[code] = length[last]! + 1;
      emit(code);
      last = code; // entry already added
      next++;
      if (next > (1 << width) - 1 && width < MAX_WIDTH) width++;
      continue;
    } else {
      throw new WireError('BAD_FIELD', `LZW code ${code} is not defined (next is ${next})`);
    }
    if (last >= 0 && next <= MAX_CODE) {
      prefix[next] = last; suffix[next] = head[code]!; head[next] = head[last]!; length[next] = length[last]! + 1;
      next++;
      if (next > (1 << width) - 1 && width < MAX_WIDTH) width++;
    }
    last = code;
  }
  return out.subarray(0, outLen);
}

// The writer's string table: an open-addressing hash of (prefix code << 8 | byte) -> code, shared
// by all calls (compression is synchronous) and emptied in O(1) by bumping the generation.
const SLOTS = 1 << 14; // 4x the 4096 codes, so probes stay short
const SLOT_KEY = new Int32Array(SLOTS);
const SLOT_CODE = new Uint16Array(SLOTS);
const SLOT_GEN = new Uint32Array(SLOTS);
let generation = 0;

function newTable(): void {
  generation++;
  if (generation === 0x100000000) { SLOT_GEN.fill(0); generation = 1; }
}

/** The slot holding `key`, or the one's complement of the free slot where it would go. */
function find(key: number): number {
  let h = ((key >>> 12) ^ key) & (SLOTS - 1);
  for (;;) {
    if (SLOT_GEN[h] !== generation) return ~h;
    if (SLOT_KEY[h] === key) return h;
    h = (h + 1) & (SLOTS - 1);
  }
}

export function lzwCompress(input: Uint8Array): Buffer {
  // Each code takes at most 12 bits for at least one input byte, plus the clear/EOF codes and the
  // clear codes of table resets (one per ~3800 codes): 1.5 bytes per input byte is always enough.
  const out = Buffer.allocUnsafe(Math.ceil(input.length * 1.5) + 8);
  let o = 0;
  let bits = 0;
  let nbits = 0;
  let width = 9;
  const put = (code: number) => {
    bits |= code << nbits;
    nbits += width;
    while (nbits >= 8) { out[o++] = bits & 0xff; bits >>>= 8; nbits -= 8; }
  };
  // hi is the code the last entry got; the code width grows when hi reaches 2^width, and when hi
  // would reach 4095 the table is cleared instead (exactly when Go's writer does, so Go's reader,
  // which widens in step with it, reads our stream).
  let hi = EOF;
  let overflow = 1 << width;
  newTable();
  /** After emitting a code: returns false when the table was reset (and the entry must not be added). */
  const incHi = (): boolean => {
    hi++;
    if (hi === overflow) { width++; overflow <<= 1; }
    if (hi === MAX_CODE) {
      put(CLEAR);
      width = 9;
      hi = EOF;
      overflow = 1 << width;
      newTable();
      return false;
    }
    return true;
  };
  put(CLEAR);
  let w = -1;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (w < 0) { w = b; continue; }
    const key = (w << 8) | b;
    const slot = find(key);
    if (slot >= 0) { w = SLOT_CODE[slot]!; continue; }
    put(w);
    if (incHi()) { const free = ~slot; SLOT_KEY[free] = key; SLOT_CODE[free] = hi; SLOT_GEN[free] = generation; }
    w = b;
  }
  if (w >= 0) {
    put(w);
    incHi();
  }
  put(EOF);
  if (nbits > 0) out[o++] = bits & 0xff;
  if (o > out.length) throw new Error(`lzwCompress: output estimate ${out.length} too small for ${o} bytes`);
  return Buffer.from(out.subarray(0, o));
}
