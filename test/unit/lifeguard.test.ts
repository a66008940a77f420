// Membership timing against memberlist's published LAN figures (memberlist.md §3.4): suspicion
// timeouts, confirmations, retransmit limits, push-pull scaling, awareness, and the suspicion timer.
import t from 'tap';
import { Awareness } from '../../src/cluster/awareness.js';
import { defaultMembershipConfig as lan, pushPullIntervalFor, retransmitLimit } from '../../src/cluster/config.js';
import { Suspicion, suspicionMinMs, suspicionTimeoutMs, wantedConfirmations } from '../../src/cluster/suspicion.js';

t.test('LAN suspicion figures match memberlist: min, max, k, after one confirmation', async (t) => {
  const rows: [number, number, number, number, number | undefined][] = [
    // n, min ms, max ms, k, timeout after 1 confirmation (ms)
    [2, 4000, 24000, 0, undefined],
    [3, 4000, 24000, 0, undefined],
    [4, 4000, 24000, 2, 11381],
    [10, 4000, 24000, 2, 11381],
    [33, 6072, 36432, 2, 17276], // memberlist.md: 6.07 s, 36.4 s, 17.3 s,
    [100, 8000, 48000, 2, 22762],
    [1000, 12000, 72000, 2, 34144], // 12 s, 72 s, 34.1 s,
  ];
  for (const [n, min, max, k, after1] of rows) {
    const m = suspicionMinMs(lan.suspicionMult, n, lan.probeIntervalMs);
    t.equal(m, min, `n=${n} min`);
    t.equal(m * lan.suspicionMaxTimeoutMult, max, `n=${n} max`);
    t.equal(wantedConfirmations(lan.suspicionMult, n), k, `n=${n} k`);
    if (after1 !== undefined) t.equal(suspicionTimeoutMs(1, k, min, max), after1, `n=${n} after 1 confirmation`);
    t.equal(suspicionTimeoutMs(k, k, min, max), min, `n=${n} after k confirmations the timeout is the minimum`);
  }
});

t.test('retransmit limits and push-pull intervals scale like memberlist', async (t) => {
  t.same([2, 9, 10, 33, 100, 1000].map((n) => retransmitLimit(lan.retransmitMult, n)), [4, 4, 8, 8, 12, 16]);
  t.same([3, 32, 33, 100, 1000, 10000].map((n) => pushPullIntervalFor(lan.pushPullIntervalMs, n) / 1000), [30, 30, 60, 90, 180, 300]);
});

t.test('awareness stays within [0, max-1] and scales timeouts', async (t) => {
  const a = new Awareness(8);
  a.apply(-1);
  t.equal(a.healthScore, 0);
  for (let i = 0; i < 20; i++) a.apply(1);
  t.equal(a.healthScore, 7);
  t.equal(a.scale(1000), 8000);
  a.apply(-3);
  t.equal(a.scale(500), 2500);
});

t.test('a suspicion fires at max without confirmations, earlier with them, once', async (t) => {
  let now = 0;
  const fired: number[] = [];
  const s = new Suspicion('accuser', 2, 40, 240, (c) => fired.push(c), () => now);
  t.notOk(s.confirm('accuser'), 'the original accuser does not count');
  now = 10;
  t.ok(s.confirm('b'), 'a new member confirms');
  t.notOk(s.confirm('b'), 'not twice');
  t.equal(s.confirmations, 1);
  // timeout after 1 confirmation: 240 - 0.6309 * 200 = 113 ms from the start; 10 ms have passed
  await new Promise((r) => setTimeout(r, 60));
  t.same(fired, [], 'not yet');
  now = 200; // the clock used for the deadline has moved past the minimum
  t.ok(s.confirm('c'), 'a second confirmation');
  await new Promise((r) => setTimeout(r, 5));
  t.same(fired, [2], 'fires at once when the shrunk deadline has already passed');
  t.notOk(s.confirm('d'), 'no confirmations after firing');
});

t.test('a cancelled suspicion never fires', async (t) => {
  let fired = false;
  const s = new Suspicion('a', 0, 20, 120, () => (fired = true));
  s.cancel();
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(fired);
});
