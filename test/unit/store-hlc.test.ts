// Hybrid logical clock: monotonic, follows remote clocks, refuses a clock far in the future.
import t from 'tap';
import { compareHlc, HlcClock } from '../../src/store/hlc.js';

t.test('versions from one clock always increase, even when wall time stands still or goes back', async (t) => {
  let wall = 1000;
  const c = new HlcClock('a', () => wall);
  const v1 = c.now();
  const v2 = c.now();
  wall = 900; // the wall clock steps back
  const v3 = c.now();
  wall = 2000;
  const v4 = c.now();
  t.ok(compareHlc(v2, v1) > 0 && compareHlc(v3, v2) > 0 && compareHlc(v4, v3) > 0);
  t.same(v3, { wall: 1000, counter: 2, node: 'a' });
  t.same(v4, { wall: 2000, counter: 0, node: 'a' });
});

t.test('witnessing a remote version orders our next write after it', async (t) => {
  const a = new HlcClock('a', () => 1000);
  const remote = { wall: 5000, counter: 7, node: 'b' };
  t.ok(a.witness(remote));
  const next = a.now();
  t.ok(compareHlc(next, remote) > 0, 'our next version is newer than what we saw');
  t.same(next, { wall: 5000, counter: 8, node: 'a' });
});

t.test('a version too far in the future is not followed', async (t) => {
  const a = new HlcClock('a', () => 1000, 60_000);
  t.notOk(a.witness({ wall: 1000 + 60_001, counter: 0, node: 'b' }));
  t.equal(a.now().wall, 1000);
});

t.test('ties on wall and counter are broken by node name, the same way everywhere', async (t) => {
  const x = { wall: 1, counter: 1, node: 'a' };
  const y = { wall: 1, counter: 1, node: 'b' };
  t.ok(compareHlc(x, y) < 0);
  t.ok(compareHlc(y, x) > 0);
  t.equal(compareHlc(x, { ...x }), 0);
});
