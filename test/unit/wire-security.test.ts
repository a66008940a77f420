// memberlist encryption (§1.8): a keyring of AES-GCM keys that rotates without a restart, the UDP
// blob [vsn][nonce][ciphertext][tag] with the label as AAD, the TCP frame [10][len][blob] with its
// header as AAD, and the padded version 0. (The real key and packets are in wire-captures.)
import { createCipheriv, randomBytes } from 'node:crypto';
import t from 'tap';
import { decryptPacket, decryptStream, ENCRYPT_OVERHEAD, encryptPacket, encryptStream, Keyring } from '../../src/cluster/wire/security.js';

const plain = Buffer.from('0085a44e6f6465a5616c706861a55365714e6f01', 'hex');

t.test('keys are 16, 24 or 32 bytes; the first is primary', async (t) => {
  for (const n of [16, 24, 32]) {
    const ring = new Keyring([randomBytes(n)]);
    t.same(decryptPacket(ring, encryptPacket(ring, plain)), plain, `AES-${n * 8}-GCM`);
  }
  for (const n of [0, 8, 31, 33, 64]) t.throws(() => new Keyring([randomBytes(n)]), { code: 'BAD_FIELD', message: /16, 24 or 32/ }, `${n} bytes refused`);
  const [k1, k2] = [randomBytes(32), randomBytes(32)];
  const ring = new Keyring([k1]);
  ring.add(k2);
  ring.add(k2);
  t.equal(ring.size, 2, 'adding a key twice keeps one');
  t.same(ring.primary, k1, 'adding does not change the primary');
  t.same(Keyring.fromBase64([k2.toString('base64')]).primary, k2);
  t.throws(() => encryptPacket(new Keyring(), plain), { code: 'DECRYPT', message: /no primary key/ });
  t.throws(() => decryptPacket(new Keyring(), encryptPacket(ring, plain)), { code: 'DECRYPT', message: /no key is configured/ });
});

t.test('rotation without a restart: add everywhere, use, remove', async (t) => {
  const [k1, k2] = [randomBytes(32), randomBytes(16)];
  const a = new Keyring([k1]);
  const b = new Keyring([k1]);
  const old = encryptPacket(a, plain);
  a.add(k2);
  b.add(k2);
  a.use(k2);
  t.same(a.primary, k2, 'a encrypts with the new key');
  const fresh = encryptPacket(a, plain);
  t.same(decryptPacket(new Keyring([k2]), fresh), plain, 'new packets are under the new key');
  t.same(decryptPacket(b, fresh), plain, 'b, still on the old primary, reads them: every key is tried');
  t.same(decryptPacket(a, encryptPacket(b, plain)), plain, "and a reads b's old-key packets");
  t.same(decryptPacket(a, old), plain);
  t.throws(() => a.remove(k2), { code: 'BAD_FIELD', message: /primary/ }, 'the primary cannot be removed');
  t.throws(() => a.use(randomBytes(32)), { code: 'BAD_FIELD', message: /add it first/ });
  a.remove(k1);
  t.same(a.list(), [k2]);
  t.throws(() => decryptPacket(a, old), { code: 'DECRYPT' }, 'once removed, the old key no longer decrypts');
});

t.test('UDP: [1][nonce 12][ciphertext][tag 16], AAD = the label or nothing', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const blob = encryptPacket(ring, plain);
  t.equal(blob.length, plain.length + ENCRYPT_OVERHEAD, 'version 1 adds exactly 29 bytes');
  t.equal(ENCRYPT_OVERHEAD, 29);
  t.equal(blob[0], 1);
  t.not(encryptPacket(ring, plain).subarray(1, 13).toString('hex'), blob.subarray(1, 13).toString('hex'), 'a fresh random nonce each time');
  const nonce = Buffer.alloc(12, 9);
  t.same(encryptPacket(ring, plain, undefined, { nonce }), encryptPacket(ring, plain, undefined, { nonce }), 'a fixed nonce gives fixed bytes');
  t.throws(() => encryptPacket(ring, plain, undefined, { nonce: Buffer.alloc(8) }), { code: 'BAD_FIELD' });

  const label = Buffer.from('lab');
  const labelled = encryptPacket(ring, plain, label);
  t.same(decryptPacket(ring, labelled, label), plain);
  t.throws(() => decryptPacket(ring, labelled), { code: 'DECRYPT' }, 'the label is authenticated');
  t.throws(() => decryptPacket(ring, labelled, Buffer.from('other')), { code: 'DECRYPT' });
  t.same(decryptPacket(ring, blob, Buffer.alloc(0)), plain, 'an empty label is no AAD');

  const tampered = Buffer.from(blob);
  tampered[20]! ^= 1;
  t.throws(() => decryptPacket(ring, tampered), { code: 'DECRYPT' });
  t.throws(() => decryptPacket(ring, blob.subarray(0, 28)), { code: 'DECRYPT', message: /shorter/ });
  t.throws(() => decryptPacket(ring, Buffer.concat([Uint8Array.of(2), blob.subarray(1)])), { code: 'DECRYPT', message: /version 2/ });
  t.throws(() => decryptPacket(ring, Buffer.alloc(0)), { code: 'DECRYPT' });
});

t.test('version 0 (memberlist protocol 1): PKCS#7 padded', async (t) => {
  const key = randomBytes(16);
  const ring = new Keyring([key]);
  // Built with node:crypto directly, as a protocol-1 Go node would: pad to 16, seal, [0][nonce][ct][tag].
  const nonce = randomBytes(12);
  const pad = 16 - (plain.length % 16);
  const c = createCipheriv('aes-128-gcm', key, nonce);
  const padded = Buffer.concat([plain, Buffer.alloc(pad, pad)]);
  const go = Buffer.concat([Uint8Array.of(0), nonce, c.update(padded), c.final(), c.getAuthTag()]);
  t.same(decryptPacket(ring, go), plain, 'decrypts and strips the padding');
  const ours = encryptPacket(ring, plain, undefined, { vsn: 0, nonce });
  t.same(ours, go, 'and we can write it too');
  t.equal(encryptPacket(ring, Buffer.alloc(16), undefined, { vsn: 0 }).length, 1 + 12 + 32 + 16, 'a full block of padding when already aligned');
  t.throws(() => decryptPacket(ring, go.subarray(0, 44)), { code: 'DECRYPT', message: /45 bytes/ }, 'version 0 needs at least 45 bytes');
  const c2 = createCipheriv('aes-128-gcm', key, nonce);
  const badPad = Buffer.concat([Uint8Array.of(0), nonce, c2.update(Buffer.alloc(16, 0)), c2.final(), c2.getAuthTag()]);
  t.throws(() => decryptPacket(ring, badPad), { code: 'DECRYPT' }, 'padding byte 0 is invalid');
});

t.test('TCP: [10][u32 BE len][blob], AAD = those 5 bytes (+ label)', async (t) => {
  const ring = new Keyring([randomBytes(32)]);
  const frame = encryptStream(ring, plain);
  t.equal(frame[0], 10);
  t.equal(frame.readUInt32BE(1), plain.length + 29);
  t.equal(frame.length, 5 + plain.length + 29);
  t.same(decryptStream(ring, frame), { plain, end: frame.length });
  t.same(decryptStream(ring, Buffer.concat([frame, Buffer.from('next')])).end, frame.length, 'only the frame is consumed');
  const header = frame.subarray(0, 5);
  t.same(encryptStream(ring, plain, undefined, { nonce: frame.subarray(6, 18) }), frame, 'reproducible with the nonce');
  const moved = Buffer.from(frame);
  moved[0] = 10;
  moved.writeUInt32BE(plain.length + 28, 1);
  t.throws(() => decryptStream(ring, moved), { code: 'DECRYPT' }, 'a changed header fails authentication');
  t.ok(header.equals(frame.subarray(0, 5)));
  t.throws(() => decryptStream(ring, frame.subarray(0, 30)), { code: 'TRUNCATED' });
  t.throws(() => decryptStream(ring, frame.subarray(0, 3)), { code: 'TRUNCATED' });
  const huge = Buffer.from('0a02000000', 'hex');
  t.throws(() => decryptStream(ring, huge), { code: 'TOO_LARGE' }, 'more than 20 MiB is refused before waiting for it');
  const label = Buffer.from('lab');
  const lf = encryptStream(ring, plain, label);
  t.same(decryptStream(ring, lf, label).plain, plain);
  t.throws(() => decryptStream(ring, lf), { code: 'DECRYPT' }, 'the label is part of the AAD');
  const v0 = encryptStream(ring, plain, undefined, { vsn: 0 });
  t.equal(v0.readUInt32BE(1), v0.length - 5, 'version 0 frames count the padding');
  t.same(decryptStream(ring, v0).plain, plain);
});
