// CRC-32/IEEE (Go's crc32.ChecksumIEEE) and memberlist's hasCrc wrapper: [12][crc u32 BE][payload].
import { WireError } from './errors.js';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const HAS_CRC_MSG = 12;

export function wrapCrc(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = HAS_CRC_MSG;
  out.writeUInt32BE(crc32(payload), 1);
  out.set(payload, 5);
  return out;
}

/** The payload of a hasCrc packet after checking its CRC. */
export function unwrapCrc(packet: Uint8Array): Uint8Array {
  if (packet.length < 5) throw new WireError('TRUNCATED', `CRC packet of ${packet.length} bytes is shorter than its 5-byte header`);
  const payload = packet.subarray(5);
  const want = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).readUInt32BE(1);
  const got = crc32(payload);
  if (want !== got) throw new WireError('BAD_CRC', `CRC mismatch: packet says ${want.toString(16)}, payload gives ${got.toString(16)}`);
  return payload;
}
