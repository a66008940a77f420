// The gossip key rotation's rules: applying a desired keyring to a live one, and a rotation moving
// on only when every alive node has confirmed the step before.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { applyKeyring, fingerprint, initialKeyring, nextRotationStep, primaryFirst, reportOf, RotationError, startRotation } from '../../src/cluster/gossip-keys.js';
import { Keyring } from '../../src/cluster/wire/security.js';

const key = () => randomBytes(32).toString('base64');
const T0 = '2026-12-01T00:00:00.000Z';

t.test('applyKeyring makes the live keyring equal the desired one, primary first', async (t) => {
  const [a, b, c] = [key(), key(), key()];
  const live = Keyring.fromBase64([a, c]);
  t.equal(applyKeyring(live, { keys: [a, b], primary: b, rotatedAt: T0 }), true, 'a change is reported');
  t.same(reportOf(live), { keys: [fingerprint(b), fingerprint(a)], primary: fingerprint(b) }, 'b added and primary, c removed');
  t.equal(applyKeyring(live, { keys: [a, b], primary: b, rotatedAt: T0 }), false, 'applying it again changes nothing');
  t.equal(live.primary!.toString('base64'), b, 'the Keyring object itself encrypts with b now');
});

t.test('a rotation: install everywhere, then use everywhere, then retire the old key', async (t) => {
  const [old, neu] = [key(), key()];
  const k0 = initialKeyring(old, T0);
  const k1 = startRotation(k0, neu, T0);
  t.same(k1.keys, [old, neu]);
  t.equal(k1.primary, old, 'nobody encrypts with the new key before everyone has it');
  t.equal(k1.rotation?.phase, 'install');
  t.throws(() => startRotation(k1, key(), T0), RotationError, 'one rotation at a time');

  const has = (keys: string[], primary: string) => ({ keys: keys.map(fingerprint), primary: fingerprint(primary) });
  t.equal(nextRotationStep(k1, [has([old, neu], old), has([old], old)], T0), undefined, 'one node lacks the new key: wait');
  const k2 = nextRotationStep(k1, [has([old, neu], old), has([neu, old], old)], T0)!;
  t.equal(k2.primary, neu, 'all hold it: switch');
  t.equal(k2.rotation?.phase, 'use');
  t.same(k2.keys, [old, neu], 'the old key still decrypts');

  t.equal(nextRotationStep(k2, [has([neu, old], neu), has([old, neu], old)], T0), undefined, 'one node still sends with the old key: keep it');
  const k3 = nextRotationStep(k2, [has([neu, old], neu), has([neu, old], neu)], '2026-12-01T01:00:00.000Z')!;
  t.same(k3, { keys: [neu], primary: neu, rotatedAt: '2026-12-01T01:00:00.000Z' }, 'done: only the new key');
  t.equal(nextRotationStep(k3, [], T0), undefined, 'nothing under way, nothing to do');
  t.same(primaryFirst(k2), [neu, old]);
});
