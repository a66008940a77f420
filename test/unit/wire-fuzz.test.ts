// Fuzz: 20 000 random and mutated packets through the incoming pipelines. Seeds are the captured
// Serf packets and streams; mutations are also re-wrapped (CRC recomputed, recompressed,
// re-encrypted with the key) so they get past the outer checks and reach the inner decoders.
// Only WireError may come out, and the whole run takes a few seconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { compressMessage, decompressMessage } from '../../src/cluster/wire/compress.js';
import { wrapCrc } from '../../src/cluster/wire/crc.js';
import { WireError } from '../../src/cluster/wire/errors.js';
import { decodeCompleteStream, decodePacket, decodeStream } from '../../src/cluster/wire/packet.js';
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

t.test('fuzz: 20 000 random or mutated inputs raise only WireError', async (t) => {
  const r = rng(0x5eed);
  const udpSeeds = serf.udp.map((d) => d.payload);
  const encPlain = enc.udp.map((d) => decryptPacket(ring, d.payload));
  const streamSeeds = serf.tcp.map((f) => f.payload);
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
  const started = performance.now();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const kind = i % 8;
    let input: Buffer;
    if (kind === 0) {
      input = Buffer.alloc(r(200));
      for (let k = 0; k < input.length; k++) input[k] = r(256);
    } else if (kind === 1 || kind === 2) {
      input = mutate(udpSeeds[r(udpSeeds.length)]!, r);
    } else if (kind === 3) {
      // a mutated message under a valid CRC, so the inner decoders see it
      input = wrapCrc(mutate(udpSeeds[r(udpSeeds.length)]!.subarray(5), r));
    } else if (kind === 4) {
      // mutated, then compressed: through LZW to the decoders
      input = compressMessage(mutate(udpSeeds[r(udpSeeds.length)]!, r));
    } else if (kind === 5) {
      // a mutated plaintext, encrypted with the pool's key (or a mutated ciphertext)
      input = r(2) ? encryptPacket(ring, mutate(encPlain[r(encPlain.length)]!, r)) : mutate(enc.udp[r(enc.udp.length)]!.payload, r);
    } else {
      const s = streamSeeds[r(streamSeeds.length)]!;
      // kind 7: the push/pull inside mutated, then compressed again
      input = kind === 6 ? mutate(s, r) : compressMessage(mutate(decompressMessage(s), r));
    }
    if (kind <= 5) {
      run(() => decodePacket(input));
      if (kind === 5) run(() => decodePacket(input, { keyring: ring }));
      if (kind === 0) run(() => decodePacket(input, { keyring: ring, verifyIncoming: false, label: r(2) ? 'lab' : '' }));
    } else {
      run(() => decodeStream(input));
      run(() => decodeCompleteStream(input));
      if (kind === 7) run(() => decodeStream(encryptStream(ring, input), { keyring: ring }));
    }
  }
  const ms = performance.now() - started;
  t.same(others.filter(Boolean), [], 'no exception other than WireError');
  t.equal(others.length, 0);
  const rejected = Object.values(byCode).reduce((a, b) => a + b, 0);
  t.ok(rejected > 5000, `${rejected} rejected as ${JSON.stringify(byCode)}; ${decoded} decoded`);
  t.ok(decoded > 1000, 'many mutations still decode (the fuzzer reaches past the outer layers)');
  for (const code of ['TRUNCATED', 'BAD_CRC', 'BAD_TYPE', 'DECRYPT', 'BAD_FIELD']) t.ok((byCode[code] ?? 0) > 0, `${code} seen`);
  t.ok(ms < 15_000, `${N} inputs in ${Math.round(ms)} ms`);
});
