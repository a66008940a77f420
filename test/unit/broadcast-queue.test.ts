// The transmit-limited broadcast queue: budget per packet, ordering, retransmit limit, replacement.
import t from 'tap';
import { BroadcastQueue } from '../../src/cluster/broadcast-queue.js';

const msg = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

t.test('each broadcast goes out retransmitLimit times, then leaves the queue', async (t) => {
  const q = new BroadcastQueue(4, () => 3, 4096); // limit 4 * ceil(log10(4)) = 4
  const finished: string[] = [];
  q.queue({ message: msg(10), finished: (r) => finished.push(r) });
  for (let i = 0; i < 4; i++) t.equal(q.take(2, 1400).length, 1, `transmit ${i + 1}`);
  t.equal(q.length, 0);
  t.same(finished, ['sent']);
  t.same(q.take(2, 1400), [], 'nothing left');
});

t.test('a packet takes what fits, fewest transmits first, then larger, then newer', async (t) => {
  const q = new BroadcastQueue(4, () => 3, 4096);
  q.queue({ message: msg(100, 1) });
  q.queue({ message: msg(300, 2) });
  q.queue({ message: msg(100, 3) });
  const first = q.take(3, 410); // room for 300+3 and one 100+3
  t.same(first.map((m) => [m.length, m[0]]), [[300, 2], [100, 3]], 'larger first, then the newer of equal size');
  const second = q.take(3, 410);
  t.same(second.map((m) => [m.length, m[0]]), [[100, 1], [300, 2]], 'the one not yet sent goes first');
});

t.test('an update about the same subject replaces the queued one', async (t) => {
  const q = new BroadcastQueue(4, () => 3, 4096);
  const finished: string[] = [];
  q.queue({ subject: 'node-a', message: msg(5, 1), finished: (r) => finished.push(`old:${r}`) });
  q.queue({ subject: 'node-b', message: msg(5, 2) });
  q.queue({ subject: 'node-a', message: msg(5, 3) });
  t.equal(q.length, 2);
  t.same(finished, ['old:replaced']);
  t.same(q.take(0, 100).map((m) => m[0]).sort(), [2, 3]);
});

t.test('the retransmit limit grows with the cluster', async (t) => {
  let n = 3;
  const q = new BroadcastQueue(4, () => n, 4096);
  q.queue({ message: msg(1) });
  n = 50; // limit 4 * ceil(log10(51)) = 8
  let sends = 0;
  while (q.take(0, 100).length > 0) sends++;
  t.equal(sends, 8);
});

t.test('the queue stays within its depth, dropping the most-sent then the oldest', async (t) => {
  const q = new BroadcastQueue(4, () => 3, 3);
  const finished: string[] = [];
  const add = (tag: number, subject?: string) => q.queue({ ...(subject ? { subject } : {}), message: msg(5, tag), finished: (r) => finished.push(`${tag}:${r}`) });
  add(1);
  add(2);
  q.take(0, 12); // sends 1 and 2 once each (both fit)
  add(3);
  add(4, 's');
  t.equal(q.length, 3, 'never more than the depth');
  t.same(finished, ['1:dropped'], 'the oldest of the most-sent went first');
  add(5);
  t.same(finished, ['1:dropped', '2:dropped'], 'then the next one that had been sent');
  add(6);
  t.same(finished, ['1:dropped', '2:dropped', '3:dropped'], 'then the oldest unsent');
  add(7, 's');
  t.same(finished.at(-1), '4:replaced', 'a subject is still replaced, not dropped');
  t.equal(q.dropped, 3, 'drops are counted');
  t.same(q.take(0, 100).map((m) => m[0]).sort(), [5, 6, 7], 'what is left goes out');
});
