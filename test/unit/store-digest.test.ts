// Store digests: equal for equal live entries whatever the order they arrived in, different when one
// node lacks an entry or holds an older version, blind to entries newer than the cutoff.
import t from 'tap';
import { sameDigests, StoreDigest } from '../../src/store/digest.js';
import type { Entry } from '../../src/store/entry.js';

const NOW = 1_800_000_000_000;
const e = (key: string, wall: number, value: unknown = key, deleted = false): Entry => (deleted ? { table: 'tasks', key, deleted, version: { wall, counter: 0, node: 'n1' } } : { table: 'tasks', key, deleted, value, version: { wall, counter: 0, node: 'n1' } });

t.test('digests track live entries incrementally', async (t) => {
  const a = new StoreDigest(() => NOW);
  const b = new StoreDigest(() => NOW);
  a.update(e('x', NOW - 10_000)); a.update(e('y', NOW - 9_000));
  b.update(e('y', NOW - 9_000)); b.update(e('x', NOW - 10_000));
  t.ok(sameDigests(a.asOf(NOW), b.asOf(NOW)), 'the same entries in another order: the same digest');
  b.update(e('x', NOW - 8_000));
  t.notOk(sameDigests(a.asOf(NOW), b.asOf(NOW)), 'a newer version of x on b: different');
  a.update(e('x', NOW - 8_000));
  t.ok(sameDigests(a.asOf(NOW), b.asOf(NOW)), 'a catches up: equal again');
  a.update(e('y', NOW - 7_000, undefined, true));
  t.notOk(sameDigests(a.asOf(NOW), b.asOf(NOW)), 'a deleted y, b did not hear: different');
  b.update(e('y', NOW - 7_000, undefined, true));
  t.same(a.asOf(NOW), b.asOf(NOW));
  a.update(e('z', NOW - 1_000));
  t.ok(sameDigests(a.asOf(NOW - 2_000), b.asOf(NOW - 2_000)), 'an entry newer than the cutoff is not counted (still spreading)');
  t.notOk(sameDigests(a.asOf(NOW), b.asOf(NOW)), 'but it is as of now');
  t.ok(a.covers(NOW - 10_000));
  t.notOk(a.covers(NOW - 3_600_000), 'a cutoff far back cannot be answered exactly');
});
