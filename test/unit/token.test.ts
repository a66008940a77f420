// IDs and join tokens in Docker's formats; parsing errors say what is wrong and what to do.
import t from 'tap';
import { base36, isId, newId, shortId } from '../../src/cluster/ids.js';
import { caDigest, formatToken, newSecret, parseToken, secretsEqual } from '../../src/cluster/token.js';

t.test('IDs are 25 base-36 characters and random', async (t) => {
  const ids = new Set(Array.from({ length: 1000 }, newId));
  t.equal(ids.size, 1000);
  t.same([...ids].filter((id) => !isId(id)), [], 'every one is 25 base-36 characters');
  t.notOk(isId('ijiiozx9qim84b7ky1k33et3'), '24 characters is not an ID');
  t.equal(shortId('ijiiozx9qim84b7ky1k33et30'), 'ijiiozx9qim8');
  t.equal(base36(Uint8Array.from([0xff, 0xff]), 6), '001ekf');
  t.equal(base36(new Uint8Array(16).fill(0xff), 25), 'f5lxx1zz5pnorynqglhzmsp33', '2^128-1 fits 25 characters');
});

t.test('tokens round-trip and carry the CA digest', async (t) => {
  const digest = caDigest(Buffer.from('not really a certificate'));
  t.equal(digest.length, 50);
  const secret = newSecret();
  const token = formatToken(digest, secret);
  t.match(token, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  t.same(parseToken(`  ${token}\n`), { caDigest: digest, secret });
  t.not(caDigest(Buffer.from('another certificate')), digest);
});

t.test('malformed tokens are refused with the reason', async (t) => {
  const good = formatToken(caDigest(Buffer.from('x')), newSecret());
  t.throws(() => parseToken('hello'), { name: 'TokenError', message: /must look like SWMTKN-1-/ });
  t.throws(() => parseToken(good.replace('SWMTKN-1', 'SWMTKN-2')), { message: /unsupported join token version 2/ });
  t.throws(() => parseToken(good.slice(0, -1)), { message: /secret must be 25 base-36 characters/ });
  const [, , digest, secret] = good.split('-');
  t.throws(() => parseToken(`SWMTKN-1-${digest!.toUpperCase()}-${secret}`), { message: /CA digest must be 50 base-36/ });
  t.throws(() => parseToken(`SWMTKN-1-${digest!.slice(1)}-${secret}`), { message: /CA digest must be 50 base-36/ });
});

t.test('secrets compare exactly', async (t) => {
  const s = newSecret();
  t.ok(secretsEqual(s, s));
  t.notOk(secretsEqual(s, newSecret()));
  t.notOk(secretsEqual(s, s.slice(1)));
});
