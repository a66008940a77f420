// The compress wrapper: [9] + msgpack {Algo: 0 (LZW), Buf: compressed bytes}. Any other Algo is
// refused, as Go does.
import { WireError } from './errors.js';
import { lzwCompress, lzwDecompress, MAX_DECOMPRESSED } from './lzw.js';
import { decodeCompress, encodeCompress, MsgType } from './messages.js';
import { decodeAt } from './msgpack.js';

export const LZW_ALGO = 0;

export function compressMessage(msg: Uint8Array): Buffer {
  return encodeCompress({ algo: LZW_ALGO, buf: lzwCompress(msg) });
}

/** The decompressed payload of a compress message (buf starts with the type byte 9). */
export function decompressMessage(buf: Uint8Array, maxOutput = MAX_DECOMPRESSED): Buffer {
  if (buf[0] !== MsgType.compress) throw new WireError(buf.length === 0 ? 'TRUNCATED' : 'BAD_TYPE', 'not a compress message');
  // As in Go, one msgpack value is read after the type byte; anything after it is ignored.
  const c = decodeCompress(decodeAt(buf, 1).value);
  if (c.algo !== LZW_ALGO) throw new WireError('BAD_FIELD', `unknown compression algorithm ${c.algo} (only 0, LZW, exists)`);
  return lzwDecompress(c.buf, maxOutput);
}
