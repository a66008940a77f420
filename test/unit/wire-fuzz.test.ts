// Fuzz: 20 000 random and mutated packets through the incoming pipelines. Seeds are the captured
// Serf packets and streams; mutations are also re-wrapped (CRC recomputed, recompressed,
// re-encrypted with the key) so they get past the outer checks and reach the inner decoders. Mixed
// in: lying lengths at every layer, deep nesting (msgpack, compound, compress) and compression
// bombs. Only WireError may come out, and the whole run takes a few seconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { makeCompound } from '../../src/cluster/wire/compound.js';
import { compressMessage, decompressMessage } from '../../src/cluster/wire/compress.js';
import { wrapCrc } from '../../src/cluster/wire/crc.js';
import { WireError } from '../../src/cluster/wire/errors.js';
import { encodeUser } from '../../src/cluster/wire/messages.js';
import { encode } from '../../src/cluster/wire/msgpack.js';
import { decodeCompleteStream, decodePacket, decodeStream, MAX_PACKET_EXPANSION } from '../../src/cluster/wire/packet.js';
import { lzwDecompress, MAX_DECOMPRESSED } from '../../src/cluster/wire/lzw.js';
import { decryptPacket, encryptPacket, encryptStream, Keyring } from '../../src/cluster/wire/security.js';
import { projectRoot } from '../../src/util/paths.js';
import { readPcap } from '../lib/pcap.js';

const dir = join(projectRoot, 'test', 'fixtures', 'memberlist');
const serf = readPcap(join(dir, 'serf.pcap'));
const enc = readPcap(join(dir, 'enc.pcap'));
const ring = Keyring.fromBase64([readFileSync(join(dir, 'enc.key'), 'utf8').trim()]);

/** xorshift32: the same inputs on every run, so a failure can be replayed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

const INTERESTING = [0x00, 0x07, 0x09, 0x0a, 0x0c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc9, 0xcf, 0xd3, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xf4, 0xff];

function mutate(src: Uint8Array, r: (n: number) => number): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + r(4);
  for (let k = 0; k < ops && b.length > 0; k++) {
    const at = r(b.length);
    switch (r(6)) {
      case 0: b[at] = r(256); break;
      case 1: b[at] = INTERESTING[r(INTERESTING.length)]!; break;
      case 2: b = b.subarray(0, at); break;
      case 3: b = Buffer.concat([b.subarray(0, at), Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff].slice(0, 1 + r(5))), b.subarray(at)]); break;
      case 4: b = Buffer.concat([b.subarray(0, at), b.subarray(r(b.length))]); break;
      default: b[at] = b[at]! ^ (1 << r(8));
    }
  }
  return b;
}

/** The densest LZW stream there is: per table a literal, then each code as it is being defined (KwKwK), ~7.4 MB of one byte from ~5.7 KiB. */
function lzwBomb(tables: number, byte: number): Buffer {
  const out: number[] = [];
  let bits = 0;
  let n = 0;
  const put = (code: number, width: number) => {
    bits |= code << n;
    n += width;
    while (n >= 8) { out.push(bits & 0xff); bits >>>= 8; n -= 8; }
  };
  for (let k = 0; k < tables; k++) {
    put(256, k === 0 ? 9 : 12);
    put(byte, 9);
    let width = 9;
    for (let next = 258; next < 4096; ) {
      put(next, width);
      next++;
      if (next === 1 << width && width < 12) width++;
    }
  }
  put(257, 12);
  if (n > 0) out.push(bits & 0xff);
  return Buffer.from(out);
}

/** Headers whose lengths promise more than follows, at every layer a packet or stream has. */
function lying(r: (n: number) => number): { input: Buffer; stream: boolean } {
  const big = [0xffff, 0xffffffff, 1 << 20, 20 * 1024 * 1024 + 1, 255][r(5)]!;
  const be32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
  const be16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
  switch (r(8)) {
    case 0: return { input: Buffer.concat([Buffer.from([7, 1 + r(255)]), be16(big & 0xffff), Buffer.alloc(r(40))]), stream: false }; // compound length table
    case 1: return { input: Buffer.concat([Buffer.from([0, 0x81, 0xa4]), Buffer.from('Node'), Buffer.from([0xdb]), be32(big)]), stream: false }; // str32 claim
    case 2: return { input: Buffer.concat([Buffer.from([0, 0xdf]), be32(big), Buffer.alloc(r(8))]), stream: false }; // map32 claim
    case 3: return { input: Buffer.concat([Buffer.from([9, 0x82, 0xa4]), Buffer.from('Algo'), Buffer.from([0, 0xa3]), Buffer.from('Buf'), Buffer.from([0xdb]), be32(big), Buffer.alloc(r(16))]), stream: false }; // compress Buf
    case 4: return { input: Buffer.concat([Buffer.from([10]), be32(big), Buffer.alloc(r(64))]), stream: true }; // encrypted frame length
    case 5: return { input: Buffer.concat([Buffer.from([6]), encode({ Join: true, Nodes: r(2) ? big : 1 << 20, UserStateLen: r(20 * 1024 * 1024) })]), stream: true }; // push/pull header
    case 6: return { input: Buffer.concat([Buffer.from([8]), encode({ UserMsgLen: big }), Buffer.alloc(r(32))]), stream: true }; // reliable user message
    default: return { input: Buffer.concat([Buffer.from([244, 1 + r(255)]), Buffer.from('lab')]), stream: r(2) === 0 }; // label
  }
}

/** Valid nesting, far deeper than any sender makes: msgpack containers, compounds in compounds, compress in compress, mixed. */
function deep(r: (n: number) => number, seed: Buffer): { input: Buffer; stream: boolean } {
  const depth = 1 + r(100);
  const containers = () => {
    const parts: Buffer[] = [];
    for (let d = 0; d < depth; d++) parts.push(r(2) ? Buffer.from([0x91]) : Buffer.from([0x81, 0xa1, 0x6b]));
    return Buffer.concat([...parts, Buffer.from([1])]);
  };
  switch (r(5)) {
    case 0: return { input: Buffer.concat([Buffer.from([r(14)]), containers()]), stream: false };
    case 1: return { input: Buffer.concat([Buffer.from([6]), encode({ Join: true, Nodes: 1, UserStateLen: 0 }), containers()]), stream: true };
    default: {
      let b = seed;
      for (let d = 0; d < Math.min(depth, 24); d++) {
        const how = r(3);
        b = how === 0 || (how === 2 && r(2)) ? makeCompound([b, ...(r(2) ? [seed] : [])]) : compressMessage(b);
      }
      return { input: r(4) ? b : wrapCrc(b), stream: false };
    }
  }
}

t.test('fuzz: 20 000 random or mutated inputs raise only WireError', async (t) => {
  const r = rng(0x5eed);
  const udpSeeds = serf.udp.map((d) => d.payload);
  const encPlain = enc.udp.map((d) => decryptPacket(ring, d.payload));
  const streamSeeds = serf.tcp.map((f) => f.payload);
  // Compression bombs: a few KiB that expand past the 1 MiB a UDP packet may take (alone, split
  // over compound parts, or compress inside compress), and one past the 40 MiB of a stream.
  const zeros = Buffer.alloc(2 * MAX_PACKET_EXPANSION);
  const half = compressMessage(zeros.subarray(0, MAX_PACKET_EXPANSION / 2));
  const udpBombs = [compressMessage(zeros), makeCompound([half, half, half]), compressMessage(compressMessage(zeros)), compressMessage(encodeUser(zeros))];
  t.ok(udpBombs.every((b) => b.length < 8192), `UDP bombs of ${udpBombs.map((b) => b.length).join(', ')} bytes`);
  const bomb = lzwBomb(6, 6);
  t.ok(bomb.length < 40_000, `a ${bomb.length}-byte LZW stream expanding to 6 x 7.4 MB`);
  t.equal(lzwDecompress(lzwBomb(1, 6)).length, (3839 * 3840) / 2, 'one table of the bomb: 1 + 2 + ... + 3839 bytes');
  t.throws(() => lzwDecompress(bomb), { code: 'TOO_LARGE', message: new RegExp(String(MAX_DECOMPRESSED)) });
  const streamBomb = Buffer.concat([Buffer.from([9]), encode({ Algo: 0, Buf: bomb })]);
  const byCode: Record<string, number> = {};
  const others: string[] = [];
  let decoded = 0;
  const run = (fn: () => unknown) => {
    try {
      fn();
      decoded++;
    } catch (err) {
      if (err instanceof WireError) byCode[err.code] = (byCode[err.code] ?? 0) + 1;
      else if (others.length < 5) others.push(err instanceof Error ? err.stack ?? err.message : String(err));
      else others.push('');
    }
  };
  const counts = { random: 0, mutated: 0, lying: 0, deep: 0, bombs: 0, streamBombs: 0 };
  const started = performance.now();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const kind = i % 10;
    let input: Buffer;
    let stream = false;
    if (kind === 0) {
      counts.random++;
      input = Buffer.alloc(r(200));
      for (let k = 0; k < input.length; k++) input[k] = r(256);
    } else if (kind === 1 || kind === 2) {
      counts.mutated++;
      input = mutate(udpSeeds[r(udpSeeds.length)]!, r);
    } else if (kind === 3) {
      counts.mutated++;
      // a mutated message under a valid CRC, so the inner decoders see it
      input = wrapCrc(mutate(udpSeeds[r(udpSeeds.length)]!.subarray(5), r));
    } else if (kind === 4) {
      counts.mutated++;
      // mutated, then compressed: through LZW to the decoders
      input = compressMessage(mutate(udpSeeds[r(udpSeeds.length)]!, r));
    } else if (kind === 5) {
      counts.mutated++;
      // a mutated plaintext, encrypted with the pool's key (or a mutated ciphertext)
      input = r(2) ? encryptPacket(ring, mutate(encPlain[r(encPlain.length)]!, r)) : mutate(enc.udp[r(enc.udp.length)]!.payload, r);
    } else if (kind === 6 || kind === 7) {
      counts.mutated++;
      stream = true;
      const s = streamSeeds[r(streamSeeds.length)]!;
      // kind 7: the push/pull inside mutated, then compressed again
      input = kind === 6 ? mutate(s, r) : compressMessage(mutate(decompressMessage(s), r));
    } else if (kind === 8) {
      ({ input, stream } = r(2) ? (counts.lying++, lying(r)) : (counts.deep++, deep(r, udpSeeds[r(udpSeeds.length)]!)));
    } else if (i === 9) {
      // once: a stream that would expand past 40 MiB (each run of it costs a few hundred ms)
      counts.streamBombs++;
      stream = true;
      input = streamBomb;
    } else if (r(8) === 0) {
      counts.bombs++;
      const b = udpBombs[r(udpBombs.length)]!;
      input = [b, wrapCrc(b), encryptPacket(ring, b)][r(3)]!;
    } else if (r(7) === 0) {
      counts.mutated++;
      // a mutated bomb: the cut-off and corrupted forms of a large expansion
      input = mutate(udpBombs[r(udpBombs.length)]!, r);
    } else {
      counts.mutated++;
      // a mutated compound of captured messages, compressed
      input = compressMessage(makeCompound([mutate(udpSeeds[r(udpSeeds.length)]!, r), udpSeeds[r(udpSeeds.length)]!]));
    }
    if (!stream) {
      run(() => decodePacket(input));
      if (kind === 5 || kind === 9) run(() => decodePacket(input, { keyring: ring }));
      if (kind === 0) run(() => decodePacket(input, { keyring: ring, verifyIncoming: false, label: r(2) ? 'lab' : '' }));
    } else {
      run(() => decodeStream(input));
      run(() => decodeCompleteStream(input));
      if (kind === 7) run(() => decodeStream(encryptStream(ring, input), { keyring: ring }));
      if (kind === 8) run(() => decodeStream(input, { keyring: ring, verifyIncoming: false, label: 'lab', labelHeader: r(2) === 0 }));
    }
  }
  const ms = performance.now() - started;
  t.same(others.filter(Boolean), [], 'no exception other than WireError');
  t.equal(others.length, 0);
  const rejected = Object.values(byCode).reduce((a, b) => a + b, 0);
  t.ok(rejected > 5000, `${rejected} rejected as ${JSON.stringify(byCode)}; ${decoded} decoded`);
  t.ok(decoded > 1000, 'many mutations still decode (the fuzzer reaches past the outer layers)');
  t.equal(Object.values(counts).reduce((a, b) => a + b, 0), N, `inputs: ${JSON.stringify(counts)}`);
  for (const code of ['TRUNCATED', 'BAD_CRC', 'BAD_TYPE', 'DECRYPT', 'BAD_FIELD', 'TOO_DEEP', 'TOO_LARGE', 'BAD_LABEL']) t.ok((byCode[code] ?? 0) > 0, `${code} seen`);
  // How fast is a benchmark's question (bench/gossip), not this test's: it only reports the time.
  t.comment(`${N} inputs in ${Math.round(ms)} ms`);
});
