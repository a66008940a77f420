// src/kernel/inflight.ts: the in-flight limiter's two bounds, its order, and dumps running alone.
import t from 'tap';
import { InFlightLimiter } from '../../src/kernel/inflight.js';

/** A task that finishes when told to, recording when it started. */
function controllable(log: string[], name: string): { task: () => Promise<string>; finish: () => void; fail: (e: Error) => void } {
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<string>((res, rej) => {
    finish = () => res(name);
    fail = rej;
  });
  return { task: () => { log.push(name); return done; }, finish: () => finish(), fail: (e) => fail(e) };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('no more than maxTasks run at once; the rest start in arrival order', async (t) => {
  const limiter = new InFlightLimiter({ maxTasks: 3 });
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const work = Array.from({ length: 20 }, (_, i) => limiter.run(async () => {
    order.push(i);
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 1 + (i % 3)));
    running--;
    return i;
  }));
  t.same(await Promise.all(work), Array.from({ length: 20 }, (_, i) => i), 'each caller gets its own result');
  t.equal(peak, 3, 'peak concurrency is the limit');
  t.same(order, Array.from({ length: 20 }, (_, i) => i), 'started in order');
  t.match(limiter.stats, { inFlight: 0, queued: 0, peakInFlight: 3, completed: 20, cost: 0 });
});

t.test('costs stay within capacity; a task costing more than all of it still runs, alone', async (t) => {
  const limiter = new InFlightLimiter({ maxTasks: 100, capacity: 10 });
  const log: string[] = [];
  const a = controllable(log, 'a');
  const b = controllable(log, 'b');
  const c = controllable(log, 'c');
  const big = controllable(log, 'big');
  const pa = limiter.run(a.task, { cost: 4 });
  const pb = limiter.run(b.task, { cost: 4 });
  const pc = limiter.run(c.task, { cost: 4 });
  const pbig = limiter.run(big.task, { cost: 50 });
  await tick();
  t.same(log, ['a', 'b'], 'a third 4 would pass 10');
  t.equal(limiter.stats.cost, 8);
  a.finish();
  await pa;
  await tick();
  t.same(log, ['a', 'b', 'c'], 'c starts when a frees room');
  b.finish();
  c.finish();
  await Promise.all([pb, pc]);
  await tick();
  t.same(log, ['a', 'b', 'c', 'big'], 'the oversized task runs once nothing else does');
  big.finish();
  await pbig;
  t.equal(limiter.stats.peakCost, 50);
});

t.test('an exclusive task waits for the running ones and holds back those queued after it', async (t) => {
  const limiter = new InFlightLimiter({ maxTasks: 10 });
  const log: string[] = [];
  const s1 = controllable(log, 's1');
  const dump = controllable(log, 'dump');
  const s2 = controllable(log, 's2');
  const p1 = limiter.run(s1.task);
  const pd = limiter.run(dump.task, { kind: 'exclusive' });
  const p2 = limiter.run(s2.task);
  await tick();
  t.same(log, ['s1'], 'the dump waits for s1, and s2 waits behind the dump');
  s1.finish();
  await p1;
  await tick();
  t.same(log, ['s1', 'dump'], 'the dump runs alone');
  t.equal(limiter.stats.inFlight, 1);
  dump.finish();
  await pd;
  await tick();
  t.same(log, ['s1', 'dump', 's2'], 's2 after the dump');
  s2.finish();
  await p2;
});

t.test('failures reach the caller and free the slot', async (t) => {
  const limiter = new InFlightLimiter({ maxTasks: 1 });
  const failing = limiter.run(async () => { throw new Error('boom'); });
  const throwingSync = limiter.run(() => { throw new Error('sync boom'); });
  const after = limiter.run(async () => 'ran');
  await t.rejects(failing, /boom/);
  await t.rejects(throwingSync, /sync boom/, 'a task that throws instead of rejecting');
  t.equal(await after, 'ran', 'the next task still runs');
  t.equal(limiter.stats.inFlight, 0);
});

t.test('bad limits are refused', async (t) => {
  t.throws(() => new InFlightLimiter({ maxTasks: 0 }), RangeError);
  t.throws(() => new InFlightLimiter({ maxTasks: 1.5 }), RangeError);
  t.throws(() => new InFlightLimiter({ maxTasks: 1, capacity: 0 }), RangeError);
});
