// The compress wrapper: [9] + msgpack {Algo: 0 (LZW), Buf: compressed bytes}.
import { WireError } from './errors.js';
import { lzwCompress, lzwDecompress, MAX_DECOMPRESSED } from './lzw.js';
import { decodeCompress, encodeCompress } from './messages.js';
import { decodeAt } from './msgpack.js';

const LZW_ALGO = 0;

export function compressMessage(msg: Uint8Array): Buffer {
  return encodeCompress({ algo: LZW_ALGO, buf: lzwCompress(msg) });
}

/** The decompressed payload of a compress message (buf starts with the type byte 9). */
export function decompressMessage(buf: Uint8Array, maxOutput = MAX_DECOMPRESSED): Buffer {
  const { value, end } = decodeAt(buf, 1);
  if (end !== buf.length) throw new WireError('BAD_FIELD', 'stray bytes after a compress message');
  const c = decodeCompress(value);
  if (c.algo !== LZW_ALGO) throw new WireError('BAD_FIELD', `unknown compression algorithm ${c.algo} (only 0, LZW, exists)`);
  return lzwDecompress(c.buf, maxOutput);
}
